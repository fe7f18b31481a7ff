"""Golden-file tests of the CI formats of `tenet eval` (text of several inputs, JUnit, SARIF,
GitHub annotations) and of `tenet fairness compute`, compared with files on disk.

Layout:
  ci/bundle/                  a bundle of model-registration checks, with an input schema
  ci/inputs/                  registrations: YAML, a tab-indented JSON, one failing the schema
  ci/predictions.csv          predictions for `tenet fairness compute`
  ci/expected/CASE.FORMAT     the expected stdout, the varying parts blanked
  (the cases also run the bundle and inputs of eval/)

The commands run from the repository root with relative paths, as in a CI job, so the files
name the inputs the way a pipeline would. Regenerate after an intended change of output:

    TENET_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden/test_ci_golden.py

then read every changed file before committing it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tenet.cli import main
from tests.conftest import REPO
from tests.golden.compare import compare
from tests.unit.test_ci_formats import assert_valid_sarif

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "ci" / "expected"
NOW = "2026-06-01T00:00:00Z"
BLANK = "<varies>"
SUFFIX = {"text": "txt", "junit": "junit.xml", "sarif": "sarif.json", "github": "github.txt"}


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    exit_code: int
    formats: tuple[str, ...] = ("junit", "sarif", "github")


CASES = [
    Case(
        "registrations",
        ("registration", "--bundle", "tests/golden/ci/bundle",
         "--input", "tests/golden/ci/inputs/*"),
        1,
        ("text", "junit", "sarif", "github"),
    ),
    Case(
        "gates",
        ("deploy.gates", "--bundle", "tests/golden/eval/bundle",
         "--input", "tests/golden/eval/inputs/blocking_violation.yaml",
         "--input", "tests/golden/eval/inputs/forbid_bindings.yaml",
         "--input", "tests/golden/eval/inputs/waived.yaml",
         "--input", "tests/golden/eval/inputs/warning_only.yaml",
         "--input", "tests/golden/eval/inputs/not_applicable.yaml"),
        1,
        ("text", "junit", "sarif", "github"),
    ),
    Case(
        "gates_warning",
        ("deploy.gates", "--bundle", "tests/golden/eval/bundle",
         "--input", "tests/golden/eval/inputs/warning_only.yaml", "--fail-on", "warning"),
        1,
    ),
    Case(
        "eval_error",
        ("deploy.risk", "--bundle", "tests/golden/eval/bundle",
         "--input", "tests/golden/eval/inputs/eval_error.yaml"),
        1,
    ),
    Case(
        "rule_query",
        ("access.allow", "--bundle", "tests/golden/eval/bundle",
         "--input", "tests/golden/eval/inputs/rule_query*.yaml"),
        1,
    ),
    Case(
        "never",
        ("registration", "--bundle", "tests/golden/ci/bundle",
         "--input", "tests/golden/ci/inputs/malformed.yaml", "--fail-on", "never"),
        0,
    ),
]  # fmt: skip


def _blank(fmt: str, out: str) -> str:
    if fmt == "junit":
        out = re.sub(r' time="[0-9.]+"', f' time="{BLANK}"', out)
        return re.sub(r'(name="decision_id" value=)"[^"]+"', rf'\1"{BLANK}"', out)
    if fmt == "sarif":
        log = json.loads(out)
        assert_valid_sarif(log)
        for d in log["runs"][0]["properties"]["decisions"]:
            d["decision_id"] = BLANK
        return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
    return out


@pytest.fixture(autouse=True)
def _at_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize(
    ("case", "fmt"), [pytest.param(c, f, id=f"{c.name}-{f}") for c in CASES for f in c.formats]
)
def test_ci_format(case: Case, fmt: str) -> None:
    args = ["eval", *case.args, "--now", NOW, "--format", fmt]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == case.exit_code, result.output
    assert result.stderr == ""
    compare(EXPECTED / f"{case.name}.{SUFFIX[fmt]}", _blank(fmt, result.stdout))


FAIRNESS = [
    "fairness", "compute", "--predictions", "tests/golden/ci/predictions.csv",
    "--label", "label", "--prediction", "prediction", "--group", "sex", "--score", "score",
]  # fmt: skip


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_fairness_compute(fmt: str) -> None:
    result = CliRunner().invoke(main, [*FAIRNESS, "--format", fmt], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    compare(EXPECTED / f"fairness.{fmt}", result.stdout)


def test_expected_files_have_a_case() -> None:
    wanted = {f"{c.name}.{SUFFIX[f]}" for c in CASES for f in c.formats}
    wanted |= {"fairness.yaml", "fairness.json"}
    present = {p.name for p in EXPECTED.iterdir()} if EXPECTED.is_dir() else set()
    assert present <= wanted, f"stale expected files: {sorted(present - wanted)}"
