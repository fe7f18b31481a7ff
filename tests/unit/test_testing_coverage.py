"""Coverage of `tenet test --coverage`: what counts (a check never violated is uncovered, a
constant definition counts once), the thresholds, and that coverage changes no decision and
costs nothing when it is off."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import tenet
from tenet.analysis import check
from tenet.cli import main
from tenet.compiler import compile_program
from tenet.compiler.index import RuleIndex
from tenet.testing.coverage import CoverageReport, Item, Recorder, coverage_report
from tenet.testing.runner import run_tests
from tests.conftest import CONFORMANCE, write_bundle

POLICY = """\
package gate

limit = 10
unused_constant = 3
default level = "low"

level = "high" if { input.score > limit }

is_admin(user) if { user == "root" }

require score {
    input.score >= 5
    input.score <= limit
} message "score {input.score} is out of range"

require named when input.kind == "model" {
    input.name
} message "name it"
"""


def _run(tmp_path: Path, cases: list[dict[str, Any]], policy: str = POLICY) -> CoverageReport:
    files = {"gate.tenet": policy, "tests/t.yaml": yaml.safe_dump({"cases": cases})}
    root = write_bundle(tmp_path / "b", files)
    run = run_tests(tenet.load_bundle(root), coverage=True)
    assert run.failed == 0, [(r.case.name, r.mismatches, r.error) for r in run.results]
    assert run.coverage is not None
    return run.coverage


def _items(report: CoverageReport) -> dict[tuple[str, str], Item]:
    return {(i.kind, i.name): i for f in report.files for i in f.items if i.kind != "condition"}


def _case(query: str, input: Any, **expect: Any) -> dict[str, Any]:
    # a package query is always defined: a case that only runs the input still expects something
    expect = expect or {"defined": True}
    return {"name": f"{query} {input}", "query": query, "input": input, "expect": expect}


def test_a_check_never_violated_is_uncovered(tmp_path: Path) -> None:
    report = _run(tmp_path, [_case("gate", {"score": 7, "kind": "model", "name": "x"})])
    items = _items(report)
    score = items[("check", "score")]
    assert score.seen == {
        "passed": True,
        "violated": False,
        "not_applicable": False,
        "error": False,
    }
    assert (score.covered, score.total) == (1, 2)
    assert score.missing() == ["violated"]


def test_checks_count_two_items_each(tmp_path: Path) -> None:
    report = _run(
        tmp_path,
        [
            _case("gate", {"score": 7, "kind": "model", "name": "x"}),
            _case("gate", {"score": 70, "kind": "model"}),
            _case("gate", {"score": 7, "kind": "data"}),
        ],
    )
    items = _items(report)
    assert items[("check", "score")].covered == 2
    named = items[("check", "named")]
    assert named.covered == 2 and named.seen["not_applicable"]
    assert report.check_counts == (4, 4)
    assert report.check_percent == 100.0


def test_a_constant_definition_counts_once_when_evaluated(tmp_path: Path) -> None:
    report = _run(tmp_path, [_case("gate", {"score": 7, "kind": "data"})])
    items = _items(report)
    limit = items[("constant", "limit")]
    assert (limit.covered, limit.total) == (1, 1)
    never = items[("constant", "unused_constant")]
    assert (never.covered, never.total) == (0, 1)


def test_a_default_counts_once_when_used(tmp_path: Path) -> None:
    report = _run(tmp_path, [_case("gate.level", {"score": 20}, result="high")])
    assert _items(report)[("default", "level")].covered == 0
    report = _run(tmp_path / "2", [_case("gate.level", {"score": 1}, result="low")])
    assert _items(report)[("default", "level")].covered == 1


def test_definitions_with_a_body_count_holding_and_not_holding(tmp_path: Path) -> None:
    report = _run(tmp_path, [_case("gate.level", {"score": 20}, result="high")])
    level = _items(report)[("definition", "level")]
    assert level.seen == {"evaluated": True, "held": True, "not_held": False}
    report = _run(
        tmp_path / "2",
        [
            _case("gate.level", {"score": 20}, result="high"),
            _case("gate.level", {"score": 1}, result="low"),
        ],
    )
    assert _items(report)[("definition", "level")].covered == 2
    function = _items(report)[("definition", "is_admin")]
    assert function.covered == 0 and not function.seen["evaluated"]


def test_conditions_are_reported_but_not_counted(tmp_path: Path) -> None:
    report = _run(tmp_path, [_case("gate", {"score": 1, "kind": "data"})])
    (f,) = report.files
    conditions = {i.name: i for i in f.items if i.kind == "condition"}
    assert conditions["input.score >= 5"].seen == {"evaluated": True, "held": False}
    assert conditions["input.score <= limit"].seen == {"evaluated": False, "held": False}
    assert all(i.total == 0 for i in conditions.values())
    assert 13 in f.to_dict()["uncovered_lines"]  # the condition never evaluated


def test_the_percentage(tmp_path: Path) -> None:
    report = _run(tmp_path, [_case("gate", {"score": 7, "kind": "model", "name": "x"})])
    # items: limit 1, unused 1, default 1, level 2, is_admin 2, score 2, named 2 = 11
    # covered: limit, score passed, named passed = 3
    assert report.counts == (3, 11)
    assert report.percent == 27.3
    assert report.check_counts == (2, 4)


def test_coverage_runs_every_definition_of_an_indexed_rule(tmp_path: Path) -> None:
    """The index skips definitions the input cannot satisfy; coverage runs without it, so a
    4th definition (which turns the index on) changes nothing in what the others report."""
    policy = "package gate\n\n" + "".join(
        f'role_level = {i} if {{ input.role == "{r}"; input.ok }}\n' for i, r in enumerate("abcdef")
    )
    root = write_bundle(tmp_path / "b", {"gate.tenet": policy})
    bundle = tenet.load_bundle(root)
    assert bundle.program.rules["gate.role_level"].index is not None
    case = _case("gate.role_level", {"role": "c", "ok": True}, result=2)
    report = _run(tmp_path / "c", [case], policy)
    defs = [i for f in report.files for i in f.items if i.kind == "definition"]
    assert [(i.seen["evaluated"], i.seen["held"], i.seen["not_held"]) for i in defs] == [
        (True, False, True),
        (True, False, True),
        (True, True, False),
        (True, False, True),
        (True, False, True),
        (True, False, True),
    ]
    conditions = [(i.name, i.seen) for f in report.files for i in f.items if i.kind == "condition"]
    assert conditions[0] == ('input.role == "a"', {"evaluated": True, "held": False})
    assert conditions[1] == ("input.ok", {"evaluated": False, "held": False})
    assert conditions[5] == ("input.ok", {"evaluated": True, "held": True})
    # the same cases on the first three definitions alone (too few to index) say the same
    three = "package gate\n\n" + "".join(policy.splitlines(keepends=True)[2:5])
    fewer = _run(tmp_path / "d", [case], three)
    assert [i.seen for f in fewer.files for i in f.items][: len(defs) // 2] == [
        i.seen for f in report.files for i in f.items
    ][: len(defs) // 2]


def test_text_report_marks_uncovered_lines(tmp_path: Path) -> None:
    from tenet.testing.coverage import render_coverage

    report = _run(tmp_path, [_case("gate", {"score": 1, "kind": "data"})])
    text = render_coverage(report)
    assert "     4 ✗ unused_constant = 3\n         ^ rule `unused_constant` never evaluated" in text
    assert (
        "    13 ✗     input.score <= limit\n             ^ condition `input.score <= limit` never "
        "evaluated"
    ) in text
    assert "    11 ! require score {\n         ^ check `score` never passed" in text
    assert "check `named` never passed or violated (only not applicable)" in text
    assert text.splitlines()[-1].startswith("total: ")


def test_the_caret_is_under_each_item_not_covered_and_names_the_condition(
    tmp_path: Path,
) -> None:
    # the caret was always at column 1, and a line of two conditions did not say which one
    # was never evaluated
    from tenet.testing.coverage import render_coverage

    policy = (
        "package gate\n\nr if { input.a == 1; input.b == 2 }\n\n"
        's if {\n\tinput.c == "日本"; input.d\n}\n'
    )
    report = _run(tmp_path, [_case("gate.r", {"a": 2}, defined=False)], policy)
    lines = render_coverage(report).splitlines()
    assert lines[2:9] == [
        "    3 ! r if { input.a == 1; input.b == 2 }",
        "        ^ rule `r` never held",
        "                             ^ condition `input.b == 2` never evaluated",
        "    5 ✗ s if {",
        "        ^ rule `s` never evaluated",
        '    6 ✗ \\tinput.c == "日本"; input.d',
        '          ^ condition `input.c == "日本"` never evaluated',
    ]
    assert lines[9] == " " * (8 + 2 + 12 + 4 + 3) + "^ condition `input.d` never evaluated"


def test_thresholds_on_the_command_line(tmp_path: Path) -> None:
    cases = [_case("gate", {"score": 7, "kind": "model", "name": "x"})]
    files = {"gate.tenet": POLICY, "tests/t.yaml": yaml.safe_dump({"cases": cases})}
    root = str(write_bundle(tmp_path / "b", files))

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, ["test", root, *args], catch_exceptions=False)

    assert run("--coverage").exit_code == 0
    low = run("--threshold", "50")
    assert low.exit_code == 1
    assert "FAIL coverage 27.3% is below the threshold 50%" in low.stdout
    assert low.stdout.splitlines()[-1] == "1 passed, 0 failed"
    met = run("--threshold", "25")
    assert met.exit_code == 0
    assert "ok    coverage 27.3% meets the threshold 25%" in met.stdout
    checks_met = run("--threshold", "50", "--threshold-checks")  # checks: 2/4
    assert checks_met.exit_code == 0
    # the total (27.3%) is shown above it and not held to the threshold: the line says so
    assert (
        "ok    check coverage 50.0% meets the threshold 50% (--threshold-checks: the check "
        "items alone, not the total)"
    ) in checks_met.stdout
    checks = run("--threshold", "60", "--threshold-checks")
    assert checks.exit_code == 1
    assert "check coverage 50.0% is below the threshold 60%" in checks.stdout


# ---- coverage costs nothing when off, and changes no decision -----------------------------


def test_without_coverage_nothing_is_wrapped(tmp_path: Path) -> None:
    policy = "package gate\n\n" + "".join(
        f'r = {i} if {{ input.role == "{c}" }}\n' for i, c in enumerate("abcdef")
    )
    root = write_bundle(tmp_path / "b", {"gate.tenet": policy})
    bundle = tenet.load_bundle(root)
    rule = bundle.program.rules["gate.r"]
    assert type(rule.index) is RuleIndex
    assert all("coverage" not in (d.body.__module__ or "") for d in rule.defs if d.body)
    analysis, _ = check(bundle.modules, bundle.program.data)
    probed = compile_program(analysis, {}, None, Recorder())
    assert probed.rules["gate.r"].index is None  # coverage runs every definition
    assert all(d.body.__module__ == "tenet.testing.coverage" for d in probed.rules["gate.r"].defs)


def _conformance() -> list[Any]:
    out = []
    for f in sorted(CONFORMANCE.glob("*.yaml")):
        doc = yaml.safe_load(f.read_text("utf-8"))
        if doc.get("cases"):
            out.append(pytest.param(doc, id=f.stem))
    return out


def _essence(doc: dict[str, Any]) -> dict[str, Any]:
    keep = ("outcome", "allowed", "defined", "result", "checks", "errors", "explanation")
    return {k: doc.get(k) for k in keep}


@pytest.mark.parametrize("doc", _conformance())
def test_coverage_changes_no_decision(doc: dict[str, Any], tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", doc.get("files") or {}, doc.get("data"))
    plain = tenet.load_bundle(root)
    recorder = Recorder()
    analysis, _ = check(plain.modules, plain.program.data)
    probed = dataclasses.replace(
        plain, program=compile_program(analysis, plain.program.schemas, None, recorder)
    )
    for case in doc["cases"]:
        args = (case["query"], case.get("input") or {})
        a = plain.decide(*args, now=case.get("now"), explain="full").to_dict()
        b = probed.decide(*args, now=case.get("now"), explain="full").to_dict()
        assert _essence(a) == _essence(b), case["name"]
    report = coverage_report(plain.modules, recorder)
    assert report.counts[1] > 0


def test_the_threshold_checks_forms_of_the_issues(tmp_path: Path) -> None:
    # `--threshold-checks 100` as issue 6 writes it, and the bare flag after `--threshold`
    from click.testing import CliRunner

    from tenet.cli import main
    from tests.conftest import REPO

    bundle = str(REPO / "policies" / "ai-governance")
    for args in (
        ["--coverage", "--threshold-checks", "100", bundle],
        [bundle, "--coverage", "--threshold-checks", "100"],
        [bundle, "--threshold", "100", "--threshold-checks"],
    ):
        result = CliRunner().invoke(main, ["test", *args])
        assert result.exit_code == 0, result.output
        assert result.output.rstrip().endswith("passed, 0 failed")


def _gate_bundle(tmp_path: Path) -> str:
    # 3 of 11 items (27.27…%), checks 2 of 4 (50%)
    cases = [_case("gate", {"score": 7, "kind": "model", "name": "x"})]
    files = {"gate.tenet": POLICY, "tests/t.yaml": yaml.safe_dump({"cases": cases})}
    return str(write_bundle(tmp_path / "b", files))


@pytest.mark.parametrize(
    ("args", "code", "verdicts"),
    [
        (
            ["--threshold", "20", "--threshold-checks", "40"],
            0,
            [
                "ok    coverage 27.3% meets the threshold 20%",
                "ok    check coverage 50.0% meets the threshold 40% (--threshold-checks: the "
                "check items alone)",
            ],
        ),
        (
            ["--threshold-checks", "60", "--threshold", "20"],
            1,
            [
                "ok    coverage 27.3% meets the threshold 20%",
                "FAIL check coverage 50.0% is below the threshold 60%",
            ],
        ),
        (
            ["--threshold", "30", "--threshold-checks", "40"],
            1,
            [
                "FAIL coverage 27.3% is below the threshold 30%",
                "ok    check coverage 50.0% meets the threshold 40% (--threshold-checks: the "
                "check items alone)",
            ],
        ),
    ],
)
def test_threshold_and_threshold_checks_are_both_enforced(
    tmp_path: Path, args: list[str], code: int, verdicts: list[str]
) -> None:
    # the two could not be given together: "total >= 80% and every check both ways" needed
    # two runs
    root = _gate_bundle(tmp_path)
    result = CliRunner().invoke(main, ["test", root, *args])
    assert result.exit_code == code, result.output
    assert result.stdout.splitlines()[-3:] == [*verdicts, "1 passed, 0 failed"]
    doc = json.loads(CliRunner().invoke(main, ["test", root, *args, "--format", "json"]).stdout)
    assert (doc["threshold"]["checks_only"], doc["threshold_checks"]["checks_only"]) == (
        False,
        True,
    )
    junit = CliRunner().invoke(main, ["test", root, *args, "--format", "junit"]).stdout
    suite = ET.fromstring(junit.encode("utf-8")).find("testsuite[@name='coverage']")
    assert suite is not None
    names = [tc.get("name") for tc in suite.findall("testcase")]
    assert names == ["threshold", "threshold_checks"]
    assert suite.get("failures") == str(code)


@pytest.mark.parametrize(
    ("args", "line", "code"),
    [
        # 3/11 is 27.2727…%: shown rounded as 27.3%, but below 27.28
        (["--threshold", "27.28"], "FAIL coverage 27.27% is below the threshold 27.28%", 1),
        (["--threshold", "27.27"], "ok    coverage 27.3% meets the threshold 27.27%", 0),
        (["--threshold", "27.3"], "FAIL coverage 27.27% is below the threshold 27.3%", 1),
    ],
)
def test_a_threshold_is_compared_with_the_unrounded_coverage(
    tmp_path: Path, args: list[str], line: str, code: int
) -> None:
    root = _gate_bundle(tmp_path)
    result = CliRunner().invoke(main, ["test", root, *args])
    assert result.exit_code == code, result.output
    assert line in result.stdout.splitlines()
    doc = json.loads(CliRunner().invoke(main, ["test", root, *args, "--format", "json"]).stdout)
    assert doc["threshold"]["measured"] == 100 * 3 / 11
    assert doc["threshold"]["met"] is (code == 0)


def test_a_threshold_line_shows_the_threshold_and_the_shortfall_unrounded() -> None:
    from tenet.testing.report import Threshold

    class Counts:
        counts = (999_999, 1_000_000)
        check_counts = (1, 1)

    report: Any = Counts()
    assert Threshold(99.99999).problem(report) == (
        "coverage 99.9999% is below the threshold 99.99999%"
    )
    assert Threshold(90).problem(report) is None
