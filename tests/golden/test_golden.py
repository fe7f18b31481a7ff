"""Golden-file tests: compile diagnostics and `tenet eval` output compared with files on disk.

Layout:
  errors/NAME.tenet            a one-file bundle (loaded from a temporary folder as NAME.tenet)
  errors/NAME/                 a bundle folder, loaded as it is
  errors/NAME.expected         the exact `str(PolicyError)` of loading it
  eval/bundle/                 the fixed bundle the `tenet eval` cases run against
  eval/bundle_every/           the one the cases of a failed `every` run against
  eval/inputs/*.yaml           the inputs
  eval/expected/CASE.txt|json  the expected stdout (JSON with the varying fields blanked)

Regenerate the expected files after an intended change of output:

    TENET_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden

then read every changed file (`git diff tests/golden`) before committing it: a golden file
is only as right as the last person who checked it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import tenet
from tenet.cli import main
from tests.conftest import assert_valid_decision
from tests.golden.compare import UPDATE, compare

HERE = Path(__file__).resolve().parent
ERRORS = HERE / "errors"
EVAL = HERE / "eval"
INPUTS = EVAL / "inputs"
EXPECTED = EVAL / "expected"
NOW = "2026-06-01T00:00:00Z"
VARYING = ("decision_id", "evaluated_at", "duration_us")
BLANK = "<varies>"


# ---- compile errors ---------------------------------------------------------------------------


def _error_cases() -> list[Any]:
    cases = []
    for p in sorted(ERRORS.iterdir()):
        if p.suffix == ".tenet" or (p.is_dir() and not p.name.startswith((".", "__"))):
            name = p.stem if p.is_file() else p.name
            cases.append(pytest.param(p, id=name))
    return cases


def test_error_cases_are_present() -> None:
    # a broken glob must fail, not silently run nothing
    assert len(_error_cases()) >= 20
    for case in _error_cases():
        p: Path = case.values[0]
        name = p.stem if p.is_file() else p.name
        assert (ERRORS / f"{name}.expected").is_file() or UPDATE, f"{name}.expected is missing"


@pytest.mark.parametrize("case", _error_cases())
def test_compile_error(case: Path, tmp_path: Path) -> None:
    if case.is_file():
        root = tmp_path / "bundle"
        root.mkdir()
        shutil.copyfile(case, root / case.name)
        name = case.stem
    else:
        root = case
        name = case.name
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    err = info.value
    assert err.diagnostics, "a PolicyError must carry its diagnostics"
    assert all(d.severity == "error" for d in err.diagnostics)
    compare(ERRORS / f"{name}.expected", str(err) + "\n")


# ---- tenet eval -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalCase:
    name: str
    query: str
    input: str
    exit_code: int
    explain: str = "summary"
    formats: tuple[str, ...] = ("text", "json")
    bundle: str = "bundle"  # a folder of eval/


EVAL_CASES = [
    EvalCase("all_pass", "deploy.gates", "all_pass.yaml", 0),
    EvalCase("blocking_violation", "deploy.gates", "blocking_violation.yaml", 1),
    EvalCase("warning_only", "deploy.gates", "warning_only.yaml", 0),
    EvalCase("forbid_bindings", "deploy.gates", "forbid_bindings.yaml", 1),
    EvalCase("waived", "deploy.gates", "waived.yaml", 0),
    EvalCase("not_applicable", "deploy.gates", "not_applicable.yaml", 0),
    EvalCase("eval_error", "deploy.risk", "eval_error.yaml", 1),
    EvalCase("rule_query", "access.allow", "rule_query.yaml", 1),
    EvalCase("rule_query_allowed", "access.allow", "rule_query_allowed.yaml", 0),
    EvalCase("explain_full_rule", "access.allow", "rule_query.yaml", 1, explain="full"),
    EvalCase("explain_full_package", "deploy.gates", "blocking_violation.yaml", 1, "full"),
    # a failed `every` names the first element it failed for and the inner condition there
    EvalCase("every_failed", "datasets.gates", "every_failed.yaml", 1, bundle="bundle_every"),
    EvalCase(
        "every_failed_nested",
        "datasets.access.allow",
        "every_failed.yaml",
        1,
        bundle="bundle_every",
    ),
    EvalCase(
        "every_failed_member",
        "datasets.access.allow",
        "every_failed_region.yaml",
        1,
        bundle="bundle_every",
    ),
]


def _blank(doc: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for key in VARYING:
        assert key in out, f"decision lacks `{key}`"
        out[key] = BLANK
    return out


@pytest.mark.parametrize(
    ("case", "fmt"),
    [pytest.param(c, f, id=f"{c.name}-{f}") for c in EVAL_CASES for f in c.formats],
)
def test_eval_output(case: EvalCase, fmt: str) -> None:
    args = [
        "eval",
        case.query,
        "--bundle",
        str(EVAL / case.bundle),
        "--input",
        str(INPUTS / case.input),
        "--now",
        NOW,
        "--explain",
        case.explain,
        "--format",
        fmt,
    ]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == case.exit_code, result.output
    assert result.stderr == ""
    if fmt == "json":
        doc = json.loads(result.stdout)
        assert_valid_decision(doc)
        assert doc["evaluated_at"] == NOW
        assert isinstance(doc["duration_us"], int) and doc["duration_us"] >= 0
        actual = json.dumps(_blank(doc), indent=2, ensure_ascii=False) + "\n"
        compare(EXPECTED / f"{case.name}.json", actual)
    else:
        compare(EXPECTED / f"{case.name}.txt", result.stdout)


def test_expected_files_have_a_case() -> None:
    # an expected file whose case was removed is stale and must go too
    wanted = {f"{c.name}.{'txt' if f == 'text' else 'json'}" for c in EVAL_CASES for f in c.formats}
    present = {p.name for p in EXPECTED.iterdir()} if EXPECTED.is_dir() else set()
    assert present <= wanted, f"stale expected files: {sorted(present - wanted)}"
    errors = {p.stem for p in ERRORS.glob("*.expected")}
    cases = {p.stem if p.is_file() else p.name for p in (c.values[0] for c in _error_cases())}
    assert errors <= cases, f"stale expected files: {sorted(errors - cases)}"
