"""Golden-output tests of the authoring commands `tenet test`, `tenet check` and `tenet fmt`.

Layout (paths as the commands are run, from this folder):
  bundle/                 a bundle with policy tests: passing, failing and broken cases
  lint/                   a bundle that loads but draws every warning of `tenet check`
  broken/                 policies with compile errors (and warnings)
  fmt/NAME.tenet          policies to format; fmt/NAME.expected is the formatted text
  expected/NAME.*         the expected stdout of each command below

Regenerate after an intended change of output:

    TENET_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden/authoring

then read every changed file before committing it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tenet.cli import main
from tenet.syntax.format import format_text
from tests.conftest import assert_valid_decision

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected"
FMT = HERE / "fmt"
UPDATE = os.environ.get("TENET_UPDATE_GOLDEN") == "1"
VARYING = ("decision_id", "evaluated_at", "duration_us")


def _compare(expected_file: Path, actual: str) -> None:
    if UPDATE:
        expected_file.parent.mkdir(parents=True, exist_ok=True)
        expected_file.write_text(actual, encoding="utf-8")
        return
    assert expected_file.is_file(), f"{expected_file} is missing; run with TENET_UPDATE_GOLDEN=1"
    expected = expected_file.read_text(encoding="utf-8")
    assert actual == expected, (
        f"output differs from {expected_file.relative_to(HERE)}\n"
        f"--- expected\n{expected}\n--- actual\n{actual}"
    )


def _blank(value: Any) -> Any:
    """The JSON with each decision's varying fields blanked (and checked against the schema)."""
    if isinstance(value, dict):
        if "decision_id" in value:
            assert_valid_decision(value)
        return {k: ("<varies>" if k in VARYING else _blank(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return value


@dataclass(frozen=True)
class Case:
    name: str  # expected/NAME.<suffix>
    args: tuple[str, ...]
    exit_code: int
    kind: str = "text"  # text, json, junit


CASES = [
    Case("test", ("test", "bundle"), 1),
    Case("test_verbose", ("test", "bundle", "-v"), 1),
    Case("test", ("test", "bundle", "--format", "json"), 1, "json"),
    Case("test", ("test", "bundle", "--format", "junit"), 1, "junit"),
    Case("test_one_file", ("test", "bundle/tests/access_test.yaml", "-v"), 0),
    Case("test_coverage", ("test", "bundle", "--coverage", "--threshold", "90"), 1),
    Case("test_coverage", ("test", "bundle", "--coverage", "--format", "json"), 1, "json"),
    Case(
        "test_coverage_checks",
        ("test", "bundle", "--threshold", "75", "--threshold-checks", "--format", "junit"),
        1,
        "junit",
    ),
    Case("check_lint", ("check", "lint"), 1),
    Case("check_lint_strict", ("check", "lint", "--strict"), 1),
    Case("check_lint", ("check", "lint", "--format", "json"), 1, "json"),
    Case("check_broken", ("check", "broken"), 1),
    Case("check_broken_data", ("check", "broken_data"), 1),
    Case("check_broken_data", ("check", "broken_data", "--format", "json"), 1, "json"),
    Case("check_one_file", ("check", "lint/access/models.tenet"), 1),
    Case("fmt_check", ("fmt", "--check", "fmt"), 1),
    Case("fmt_diff", ("fmt", "--diff", "fmt/access.tenet"), 0),
]


def _suffix(kind: str) -> str:
    return {"text": "txt", "json": "json", "junit": "junit.xml"}[kind]


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{c.name}-{c.kind}") for c in CASES])
def test_command_output(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)
    result = CliRunner().invoke(main, list(case.args), catch_exceptions=False)
    assert "Traceback" not in result.output
    assert result.exit_code == case.exit_code, result.output
    out = result.stdout
    if case.kind == "json":
        out = json.dumps(_blank(json.loads(out)), indent=2, ensure_ascii=False) + "\n"
    elif case.kind == "junit":
        ET.fromstring(out.encode("utf-8"))  # well-formed
        out = re.sub(r'time="[0-9.]+"', 'time="<varies>"', out)
    _compare(EXPECTED / f"{case.name}.{_suffix(case.kind)}", out)


def test_closing_line_of_tenet_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)
    for args in (["test", "bundle"], ["test", "bundle", "--coverage"]):
        result = CliRunner().invoke(main, args)
        assert result.stdout.splitlines()[-1] == "7 passed, 2 failed"


def _fmt_cases() -> list[Any]:
    return [pytest.param(p, id=p.stem) for p in sorted(FMT.glob("*.tenet"))]


def test_fmt_cases_are_present() -> None:
    assert len(_fmt_cases()) >= 3


@pytest.mark.parametrize("path", _fmt_cases())
def test_fmt_output(path: Path) -> None:
    out = format_text(path.read_text("utf-8"), path.name)
    _compare(path.with_suffix(".expected"), out)
    assert format_text(out) == out


def test_fmt_rewrites_files_to_the_expected_text(tmp_path: Path) -> None:
    work = tmp_path / "fmt"
    shutil.copytree(FMT, work)
    for p in work.glob("*.expected"):
        p.unlink()
    result = CliRunner().invoke(main, ["fmt", str(work)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for p in sorted(FMT.glob("*.tenet")):
        assert (work / p.name).read_text("utf-8") == p.with_suffix(".expected").read_text("utf-8")
    again = CliRunner().invoke(main, ["fmt", "--check", str(work)])
    assert again.exit_code == 0, again.output


def test_expected_files_have_a_case() -> None:
    wanted = {f"{c.name}.{_suffix(c.kind)}" for c in CASES}
    present = {p.name for p in EXPECTED.iterdir()} if EXPECTED.is_dir() else set()
    assert present <= wanted, f"stale expected files: {sorted(present - wanted)}"
    stale = {p.stem for p in FMT.glob("*.expected")} - {p.stem for p in FMT.glob("*.tenet")}
    assert not stale, f"stale expected files: {sorted(stale)}"
