"""`tenet test`: test files, data overrides (as OPA's `with`), case results, the text, JSON and
JUnit reports, and exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import tenet
from tenet.cli import main
from tenet.testing.expect import Mismatch, compare, compare_case, unknown_expect_keys
from tenet.testing.runner import (
    OverrideError,
    apply_data,
    override_path,
    read_test_file,
    run_tests,
)
from tests.conftest import write_bundle

POLICY = """\
package gate

import data.limits

default allow = false

allow if { input.score >= limits.min_score }

require score_floor {
    input.score >= limits.min_score
} message "score {input.score} is below {limits.min_score}"

require owner warning {
    input.owner
} message "name an owner"

forbid banned {
    some tag in input.tags
    tag in limits.banned
} message "tag {tag} is banned"
"""

DATA = {"limits": {"min_score": 0.8, "banned": ["pii"], "other": {"keep": 1}}}


def _bundle(tmp_path: Path, tests: dict[str, str]) -> Path:
    files = {"gate.tenet": POLICY, **{f"tests/{k}": v for k, v in tests.items()}}
    return write_bundle(tmp_path / "b", files, DATA)


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


PASSING = """\
cases:
  - name: a good score passes
    query: gate
    input: {score: 0.9, owner: ann}
    expect: {outcome: allow, passed: [gate.score_floor, gate.owner, gate.banned]}
  - name: the rule says the same
    query: gate.allow
    input: {score: 0.9}
    expect: {result: true}
"""


# ---- data overrides ------------------------------------------------------------------------


def test_apply_data_merges_deeply_and_leaves_the_original_alone() -> None:
    data = {"limits": {"min_score": 0.8, "banned": ["pii"], "other": {"keep": 1}}}
    out = apply_data(data, {"limits": {"min_score": 0.9, "other": {"new": 2}}})
    assert out == {"limits": {"min_score": 0.9, "banned": ["pii"], "other": {"keep": 1, "new": 2}}}
    assert data["limits"]["min_score"] == 0.8
    assert data["limits"]["other"] == {"keep": 1}


def test_apply_data_takes_dotted_paths_with_or_without_data() -> None:
    data = {"limits": {"min_score": 0.8}}
    assert apply_data(data, {"limits.min_score": 0.5}) == {"limits": {"min_score": 0.5}}
    assert apply_data(data, {"data.limits.min_score": 0.5}) == {"limits": {"min_score": 0.5}}
    # a key the data lacks may be added, to a mapping it has
    assert apply_data(data, {"limits.max": 1}) == {"limits": {"min_score": 0.8, "max": 1}}
    assert apply_data(data, {"waivers": []}) == {"limits": {"min_score": 0.8}, "waivers": []}


def test_a_key_holding_a_dot_is_written_in_brackets() -> None:
    data = {"licenses": {"cc-by-4.0": ["a"], "mit": ["b"]}}
    assert override_path('licenses["cc-by-4.0"]') == ["licenses", "cc-by-4.0"]
    assert override_path('data.licenses["cc-by-4.0"]') == ["licenses", "cc-by-4.0"]
    assert override_path('["a.b"].c') == ["a.b", "c"]
    assert apply_data(data, {'licenses["cc-by-4.0"]': ["z"]}) == {
        "licenses": {"cc-by-4.0": ["z"], "mit": ["b"]}
    }
    with pytest.raises(OverrideError) as info:
        apply_data(data, {"licenses.cc-by-4.0": ["z"]})
    assert str(info.value) == (
        "override `licenses.cc-by-4.0`: the bundle's data has no `data.licenses.cc-by-4`: "
        'did you mean `data.licenses["cc-by-4.0"]`? A key that holds a `.` is written in brackets'
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "licencse.mit",
            "override `licencse.mit`: the bundle's data has no `data.licencse`: "
            "did you mean `data.licenses`?",
        ),
        ("new.deep.key", "override `new.deep.key`: the bundle's data has no `data.new`"),
        (
            "thr.min",
            "override `thr.min`: `data.thr` is a number, not a mapping the override could go into",
        ),
        (
            "secs.extra",
            "override `secs.extra`: `data.secs` is a list, not a mapping the override could go "
            "into",
        ),
        (
            "a..b",
            "`a..b` is not a data path: write keys joined by `.`, and a key that holds `.`, `[` "
            'or `"` as `["…"]`, like `licenses["cc-by-4.0"]`',
        ),
    ],
)
def test_an_override_that_names_no_place_of_the_data_is_refused(key: str, message: str) -> None:
    data = {"licenses": {"mit": ["b"]}, "thr": 0.5, "secs": [1]}
    with pytest.raises(OverrideError) as info:
        apply_data(data, {key: 1})
    assert str(info.value) == message


def test_apply_data_replaces_what_is_not_a_mapping() -> None:
    data = {"limits": {"banned": ["pii", "ssn"], "x": {"a": 1}}}
    out = apply_data(data, {"limits": {"banned": ["email"], "x": 3}})
    assert out == {"limits": {"banned": ["email"], "x": 3}}


def test_a_case_override_changes_that_case_only(tmp_path: Path) -> None:
    root = _bundle(
        tmp_path,
        {
            "t.yaml": """\
cases:
  - name: stricter
    query: gate
    data: {limits.min_score: 0.95}
    input: {score: 0.9, owner: ann}
    expect: {outcome: deny, messages: ["score 0.9 is below 0.95"]}
  - name: not stricter
    query: gate
    input: {score: 0.9, owner: ann}
    expect: {outcome: allow}
  - name: mocked waiver list and banned tags
    query: gate
    data:
      limits: {banned: [internal]}
    input: {score: 0.9, owner: ann, tags: [pii, internal]}
    expect: {violated: [gate.banned], messages: ["tag internal is banned"]}
"""
        },
    )
    run_ = run_tests(tenet.load_bundle(root))
    assert [r.status for r in run_.results] == ["passed", "passed", "passed"], [
        r.mismatches for r in run_.results
    ]


def test_a_misspelt_override_is_an_error_of_its_case(tmp_path: Path) -> None:
    root = _bundle(
        tmp_path,
        {
            "t.yaml": """\
cases:
  - name: typo
    query: gate
    data: {limits.min_scroe.x: 0.95}
    input: {score: 0.9, owner: ann}
    expect: {outcome: allow}
"""
        },
    )
    r = run("test", str(root))
    assert r.exit_code == 1
    assert r.stdout.splitlines()[0] == (
        "ERROR tests/t.yaml:2 typo: override `limits.min_scroe.x`: the bundle's data has no "
        "`data.limits.min_scroe`: did you mean `data.limits.min_score`?"
    )


def test_file_data_applies_to_every_case_and_cases_merge_on_top(tmp_path: Path) -> None:
    root = _bundle(
        tmp_path,
        {
            "t.yaml": """\
data:
  limits: {min_score: 0.5, banned: [x]}
cases:
  - name: file data
    query: gate.allow
    input: {score: 0.6}
    expect: {result: true}
  - name: case data over file data
    query: gate
    data: {limits: {min_score: 0.7}}
    input: {score: 0.6, owner: a, tags: [x]}
    expect: {violated: [gate.score_floor, gate.banned]}
"""
        },
    )
    results = run_tests(tenet.load_bundle(root)).results
    assert [r.status for r in results] == ["passed", "passed"], [r.mismatches for r in results]


def test_variants_are_compiled_once_per_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenet.testing import runner

    calls: list[Any] = []
    real = runner.compile_program

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "compile_program", counting)
    case = """\
  - name: c{i}
    query: gate.allow
    data: {{limits.min_score: {v}}}
    input: {{score: 0.6}}
    expect: {{defined: true}}
"""
    text = "cases:\n" + "".join(case.format(i=i, v=v) for i, v in enumerate([0.5, 0.5, 0.7, 0.5]))
    root = _bundle(tmp_path, {"t.yaml": text})
    run_ = run_tests(tenet.load_bundle(root))
    assert run_.passed == 4
    assert len(calls) == 2  # two distinct overrides; cases without one use the bundle


def test_an_override_that_breaks_the_bundle_is_a_case_error(tmp_path: Path) -> None:
    text = """\
cases:
  - name: a malformed waiver
    query: gate
    data: {waivers: [{check: gate.nothing}]}
    input: {}
    expect: {outcome: deny}
"""
    run_ = run_tests(tenet.load_bundle(_bundle(tmp_path, {"t.yaml": text})))
    (result,) = run_.results
    assert result.status == "error"
    assert result.error is not None and "waiver" in result.error


# ---- expectations ------------------------------------------------------------------------


def test_compare_reports_expected_and_actual() -> None:
    doc = {
        "outcome": "deny",
        "allowed": False,
        "defined": True,
        "result": None,
        "checks": [
            {"id": "p.a", "status": "violated", "message": "m", "controls": []},
            {"id": "p.b", "status": "passed", "controls": []},
        ],
        "errors": [],
    }
    got = compare({"outcome": "allow", "passed": ["p.a"], "messages": ["m"]}, doc)
    assert got == [
        Mismatch("outcome", "allow", "deny"),
        Mismatch("passed", ["p.a"], ["p.b"]),
    ]
    assert got[0].describe() == 'outcome: expected "allow", got "deny"'


ERRING = """\
package e

require c { input.n > 1 } message "m"

err = 1 if { input.n > 1 }

nothing = 1 if { input.nope }

nil = null
"""


def test_a_case_fails_when_its_decision_is_an_error_it_does_not_expect(tmp_path: Path) -> None:
    # `violated: []`, `messages: []`, `result: null` all passed on an input that raised a
    # type error: the suite went green on a policy that errs on the very input tested
    tests = """\
cases:
  - {name: no violations, query: e, input: {n: oops}, expect: {violated: []}}
  - {name: no messages, query: e, input: {n: oops}, expect: {messages: []}}
  - {name: null result, query: e.err, input: {n: oops}, expect: {result: null}}
  - {name: denied, query: e.err, input: {n: oops}, expect: {allowed: false, defined: false}}
  - {name: expects the outcome, query: e, input: {n: oops}, expect: {outcome: error}}
  - {name: expects the text, query: e.err, input: {n: oops}, expect: {error_contains: cannot}}
  - {name: expects the check, query: e, input: {n: oops}, expect: {errored: [e.c]}}
  - {name: no error, query: e, input: {n: 2}, expect: {violated: []}}
"""
    root = write_bundle(tmp_path / "b", {"e.tenet": ERRING, "tests/t.yaml": tests})
    result = run("test", str(root))
    assert result.exit_code == 1
    failing = [line for line in result.stdout.splitlines() if not line.startswith("    ")]
    error = (
        "errors: the decision is an error: type_error at e.tenet:{}: `>` cannot order string "
        "and number (if it should be, expect `outcome: error` or `error_contains`)"
    )
    assert failing == [
        f"FAIL  tests/t.yaml:2 no violations: {error.format('3:13')}",
        f"FAIL  tests/t.yaml:3 no messages: {error.format('3:13')}",
        f"FAIL  tests/t.yaml:4 null result: {error.format('5:14')}; result: expected null, "
        "but the decision is an error",
        f"FAIL  tests/t.yaml:5 denied: {error.format('5:14')}",
        "4 passed, 4 failed",
    ]


def test_result_null_is_not_met_by_an_undefined_rule(tmp_path: Path) -> None:
    tests = """\
cases:
  - {name: undefined, query: e.nothing, expect: {result: null}}
  - {name: undefined as such, query: e.nothing, expect: {defined: false}}
  - {name: a real null, query: e.nil, expect: {result: null}}
"""
    root = write_bundle(tmp_path / "b", {"e.tenet": ERRING, "tests/t.yaml": tests})
    result = run("test", str(root), "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [c["status"] for c in doc["cases"]] == ["failed", "passed", "passed"]
    assert doc["cases"][0]["mismatches"] == [
        {"key": "result", "expected": None, "actual": None, "absent": "but the rule is undefined"}
    ]


def test_compare_case_names_every_error_and_keeps_the_conformance_reading() -> None:
    doc = {
        "outcome": "error",
        "allowed": False,
        "defined": False,
        "result": None,
        "checks": [],
        "errors": [
            {"code": "type_error", "message": "a", "location": "p.tenet:1:2"},
            {"code": "division_by_zero", "message": "b", "location": "p.tenet:3:4"},
        ],
    }
    (miss,) = compare_case({"allowed": False}, doc)
    assert miss.describe() == (
        "errors: the decision is an error: type_error at p.tenet:1:2: a; division_by_zero at "
        "p.tenet:3:4: b (if it should be, expect `outcome: error` or `error_contains`)"
    )
    assert miss.to_dict()["actual"] == doc["errors"]
    # the conformance suite compares `result` with the field as written: null when undefined
    assert compare({"result": None}, doc) == []


def test_unknown_expect_keys_are_named_with_a_suggestion() -> None:
    assert unknown_expect_keys({"outcom": "allow", "result": 1}) == [
        "unknown expect key `outcom`: did you mean `outcome`?"
    ]


def test_an_expectation_of_the_wrong_shape_is_named_not_compared(tmp_path: Path) -> None:
    # a string where a list is meant was compared letter by letter, `""` as no check at all
    cases, problems = read_test_file(
        "tests/t.yaml",
        b"""\
cases:
  - name: string for list
    query: gate
    expect: {violated: ""}
  - name: id not in a list
    query: gate
    expect: {passed: gate.owner, messages: "no owner"}
  - name: fine
    query: gate
    expect: {violated: [], passed: [], allowed: true}
  - name: null for none
    query: gate
    expect: {passed: null}
""",
    )
    assert [c.name for c in cases] == ["fine"]
    assert [(p.name, p.message) for p in problems] == [
        ("string for list", '`violated` must be a list of check ids (`[]` for none), not ""'),
        (
            "id not in a list",
            '`passed` must be a list of check ids (`[]` for none), not "gate.owner"; '
            '`messages` must be a list of messages, not "no owner"',
        ),
        ("null for none", "`passed` must be a list of check ids (`[]` for none), not null"),
    ]


def test_a_test_file_that_is_not_utf8_is_placed_at_its_first_bad_byte() -> None:
    cases, problems = read_test_file("tests/t.yaml", b'cases:\n  - name: "caf\xe9"\n')
    assert cases == []
    assert [(p.line, p.message) for p in problems] == [
        (
            2,
            "the test file is not UTF-8 text: line 2, column 15 holds the byte 0xe9 (at byte "
            "offset 21); save it as UTF-8",
        )
    ]


def test_malformed_test_files_are_failures(tmp_path: Path) -> None:
    cases, problems = read_test_file(
        "tests/t.yaml",
        b"""\
name: x
files: {a.tenet: ""}
cases:
  - name: no query
    expect: {outcome: allow}
  - name: typo
    query: gate
    expect: {outcom: allow}
  - name: fine
    query: gate
    expect: {outcome: allow}
""",
    )
    assert [c.name for c in cases] == ["fine"]
    messages = [(p.name, p.message) for p in problems]
    assert messages[0][0] is None and "`files` is not part of a bundle test file" in messages[0][1]
    assert messages[1] == ("no query", "a case needs `query`: a package or rule")
    assert messages[2] == ("typo", "unknown expect key `outcom`: did you mean `outcome`?")
    assert [p.line for p in problems] == [None, 4, 6]


def test_an_empty_expect_is_a_failure_of_its_case() -> None:
    cases, problems = read_test_file(
        "tests/t.yaml",
        b"cases:\n  - name: tests nothing\n    query: gate\n    expect: {}\n",
    )
    assert cases == []
    assert [(p.where, p.name, p.message) for p in problems] == [
        (
            "tests/t.yaml:2",
            "tests nothing",
            "`expect: {}` tests nothing: say what the decision must show "
            "(`outcome: allow`, `violated: []`, …)",
        )
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"cases: [", "not valid YAML"),
        (b"- a list", "a test file holds a mapping"),
        (b"cases: []", "non-empty list `cases`"),
        (b"\xff", "not UTF-8"),
        (b"cases:\n  - !!python/object:os.system {}\n", "is not allowed"),
    ],
)
def test_unreadable_test_files(text: bytes, message: str) -> None:
    cases, problems = read_test_file("tests/t.yaml", text)
    assert not cases
    assert message in problems[0].message


# ---- the command ---------------------------------------------------------------------------


def test_all_pass_exit_0(tmp_path: Path) -> None:
    root = _bundle(tmp_path, {"ok.yaml": PASSING})
    result = run("test", str(root))
    assert result.exit_code == 0, result.output
    assert result.stdout == "2 passed, 0 failed\n"


def test_a_failure_exit_1_with_expected_actual_and_explanation(tmp_path: Path) -> None:
    text = """\
cases:
  - name: wrong
    query: gate
    input: {score: 0.5, owner: ann}
    expect: {outcome: allow}
"""
    root = _bundle(tmp_path, {"ok.yaml": PASSING, "bad.yaml": text})
    result = run("test", str(root))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == 'FAIL  tests/bad.yaml:2 wrong: outcome: expected "allow", got "deny"'
    assert "    gate · bundle b 0.0.0" in lines[1]
    assert any("input.score = 0.5" in line for line in lines)
    assert lines[-1] == "2 passed, 1 failed"


def test_no_cases_exit_1(tmp_path: Path) -> None:
    root = _bundle(tmp_path, {})
    result = run("test", str(root))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-2:] == ["no test cases found", "0 passed, 0 failed"]


def test_the_bundle_is_the_current_folder_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _bundle(tmp_path, {"ok.yaml": PASSING})
    monkeypatch.chdir(root)
    assert run("test").stdout == "2 passed, 0 failed\n"


def test_single_test_files_find_their_bundle(tmp_path: Path) -> None:
    root = _bundle(tmp_path, {"ok.yaml": PASSING, "other.yaml": "cases: []"})
    result = run("test", str(root / "tests" / "ok.yaml"))
    assert result.exit_code == 0, result.output
    elsewhere = tmp_path / "mine.yaml"
    elsewhere.write_text(PASSING)
    assert run("test", str(elsewhere)).exit_code == 2  # outside any tests/: needs --bundle
    result = run("test", str(elsewhere), "--bundle", str(root))
    assert result.exit_code == 0, result.output


def test_a_bundle_that_does_not_load_exit_2(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"a.tenet": "package a\nallow if { nope }\n"})
    result = run("test", str(root))
    assert result.exit_code == 2
    assert "unknown name `nope`" in result.stderr


def test_an_archive_runs_its_tests(tmp_path: Path) -> None:
    root = _bundle(tmp_path, {"ok.yaml": PASSING})
    archive = tmp_path / "b.tar.gz"
    assert run("bundle", "build", str(root), "-o", str(archive)).exit_code == 0
    assert run("test", str(archive)).stdout == "2 passed, 0 failed\n"


def test_threshold_checks_needs_threshold(tmp_path: Path) -> None:
    root = _bundle(tmp_path, {"ok.yaml": PASSING})
    assert run("test", str(root), "--threshold-checks").exit_code == 2


def test_json_report(tmp_path: Path) -> None:
    bad = """\
cases:
  - name: wrong
    query: gate.allow
    input: {score: 0.5}
    expect: {result: true}
  - name: no such query
    query: gate.alow
    expect: {defined: true}
"""
    root = _bundle(tmp_path, {"bad.yaml": bad})
    result = run("test", str(root), "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert (doc["passed"], doc["failed"]) == (0, 2)
    wrong, unknown = doc["cases"]
    assert wrong["status"] == "failed"
    assert wrong["mismatches"] == [{"key": "result", "expected": True, "actual": False}]
    assert wrong["decision"]["result"] is False
    assert unknown["status"] == "error" and "did you mean `gate.allow`" in unknown["error"]


def test_junit_report_is_well_formed(tmp_path: Path) -> None:
    bad = """\
cases:
  - name: "wrong <&> \\u0001 control"
    query: gate.allow
    input: {score: 0.5}
    expect: {result: true}
  - name: broken
    expect: {}
"""
    root = _bundle(tmp_path, {"ok.yaml": PASSING, "bad.yaml": bad})
    result = run("test", str(root), "--format", "junit", "--coverage", "--threshold", "100")
    assert result.exit_code == 1
    tree = ET.fromstring(result.stdout.encode("utf-8"))
    assert tree.tag == "testsuites"
    assert (tree.get("tests"), tree.get("failures"), tree.get("errors")) == ("5", "2", "1")
    suites = {s.get("name"): s for s in tree.findall("testsuite")}
    assert set(suites) == {"tests/bad.yaml", "tests/ok.yaml", "coverage"}
    wrong = suites["tests/bad.yaml"].find("testcase")
    assert wrong is not None and wrong.get("name") == "wrong <&> \\u0001 control"
    failure = wrong.find("failure")
    assert failure is not None and "expected true, got false" in (failure.get("message") or "")
    cov = suites["coverage"].find("testcase/failure")
    assert cov is not None and "below the threshold 100%" in (cov.get("message") or "")


def test_error_contains_matches_a_message_as_written_or_its_entry_as_json() -> None:
    doc = {
        "errors": [
            {
                "code": "input_schema",
                "message": '/: "stage" is a required property',
                "location": "schemas/r.json#/required",
                "path": "",
            }
        ]
    }
    for want in ('"stage" is a required property', '\\"stage\\" is', '"code": "input_schema"'):
        assert compare({"error_contains": want}, doc) == [], want
    (miss,) = compare({"error_contains": '"version" is a required property'}, doc)
    assert miss.actual == ['/: "stage" is a required property']


def test_evidence_missing_from_a_check_is_not_shown_as_null() -> None:
    doc = {
        "checks": [
            {"id": "p.c", "status": "violated", "evidence": [{"values": {"x": None}}]},
        ],
    }
    expect = {"evidence": {"p.c": {"level": 1, "x": 2}, "p.other": {"y": 1}}}
    assert [m.describe() for m in compare(expect, doc)] == [
        "evidence p.c `level`: expected 1, but it is not in the check's evidence (never "
        "evaluated, or undefined)",
        "evidence p.c `x`: expected 2, got null",
        "evidence p.other `y`: expected 1, but the decision has no such check",
    ]


@pytest.mark.parametrize(
    "text",
    ["a: " + "[" * 100_000 + "]" * 100_000 + "\n", '{"a":' * 3000 + "1" + "}" * 3000],
)
def test_a_test_file_nesting_past_the_parser_fails_the_run_naming_it(
    tmp_path: Path, text: str
) -> None:
    root = _bundle(tmp_path, {"b.yaml": text})
    result = run("test", str(root))
    assert result.exit_code == 1
    assert (
        "ERROR tests/b.yaml: the test file is not valid YAML: the document nests too deeply to "
        "read (flatten the document: keep it to at most 100 levels)"
    ) in result.stdout


@pytest.mark.parametrize("option", ["--threshold", "--threshold-checks"])
def test_a_threshold_of_nan_is_a_usage_error(tmp_path: Path, option: str) -> None:
    root = _bundle(tmp_path, {})
    result = run(
        "test", str(root), option, "nan", *(["--threshold", "50"] * (option != "--threshold"))
    )
    assert result.exit_code == 2
    assert f"Invalid value for '{option}': 'nan' is not a number." in result.stderr


def test_a_case_name_or_query_with_a_line_break_is_shown_escaped(tmp_path: Path) -> None:
    # the test file's text must not start a line of its own in the report (`::error` in CI)
    root = write_bundle(
        tmp_path / "b",
        {
            "tenet.yaml": "name: b\nversion: 1.0.0\n",
            "p.tenet": "package p\nallow if { input.ok }\n",
            "tests/t.yaml": (
                'cases:\n  - name: "ok\\n::error file=x::pwned\\u001b[31m"\n    query: p.allow\n'
                "    input: {ok: false}\n    expect: {allowed: true}\n"
                '  - name: fine\n    query: "p.allow\\n::warning::q"\n    input: {}\n'
                "    expect: {allowed: true}\n"
            ),
        },
    )
    out = CliRunner().invoke(main, ["test", str(root)])
    assert out.exit_code == 1
    assert not [line for line in out.output.splitlines() if line.startswith("::")]
    assert "\x1b" not in out.output
    assert "ok\\n::error file=x::pwned\\u001b[31m" in out.output
