"""`tenet eval` for CI: input locations, the JUnit, SARIF and GitHub formats, `--fail-on`, and
several inputs (repeated `--input`, globs) in one run."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from tenet.ci.github import escape_data, escape_property
from tenet.ci.sarif import uri_of
from tenet.cli import main
from tenet.locate import InputLocator, Region, pointer_of_reference
from tests.conftest import REPO, assert_valid_decision, write_bundle

NOW = "2026-01-01T00:00:00Z"
GOLDEN = REPO / "tests" / "golden"

# The official SARIF 2.1.0 schema is not available offline here: this is a trimmed-down copy
# of it, with the objects Tenet emits (and their official constraints) only. See its $comment.
SARIF_SUBSET = json.loads(
    (Path(__file__).parent / "sarif-2.1.0-subset.schema.json").read_text("utf-8")
)
_sarif = jsonschema.Draft7Validator(SARIF_SUBSET)


def assert_valid_sarif(log: dict[str, Any]) -> None:
    errors = sorted(_sarif.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    for run in log["runs"]:
        rules = run["tool"]["driver"]["rules"]
        assert len({r["id"] for r in rules}) == len(rules)
        for result in run["results"]:
            assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


POLICY = """package gate

#@ title: the model has an owner
#@ remediation: name an owner
require owner blocking {
    input.owner
} message "no owner for {input.name}"

require card warning {
    input.card
} message "no card"

require purpose info {
    input.purpose
} message "no purpose"

require rate blocking {
    input.errors / input.samples < 0.5
} message "error rate too high"

allow if { input.owner == "root" }
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "bundle", {"gate.tenet": POLICY})


def run(*args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


GOOD = "name: m\nowner: team\ncard: c\npurpose: p\nerrors: 0\nsamples: 10\n"


# ---- locating a JSON pointer in the input text ------------------------------------------------


YAML_TEXT = """\
name: churn
owner:
  team: retention
  emails: [a@x, b@x]
datasets:
  - name: crm
    reviewed: true
  - {name: web, reviewed: false}

"a/b": 1
"m~n": 2
"""


def span(r: Region | None) -> tuple[int, int, int, int, bool]:
    assert r is not None
    return (r.start_line, r.start_column, r.end_line, r.end_column, r.exact)


def test_yaml_regions_cover_the_key_and_its_value() -> None:
    loc = InputLocator(YAML_TEXT, is_json=False)
    assert span(loc.region("/name")) == (1, 1, 1, 12, True)
    assert span(loc.region("/owner/team")) == (3, 3, 3, 18, True)
    assert span(loc.region("/owner/emails/1")) == (4, 17, 4, 20, True)
    # a block collection's region stops at its last character, not at the blank line after
    assert span(loc.region("/owner")) == (2, 1, 4, 21, True)
    assert span(loc.region("/datasets/0/reviewed")) == (7, 5, 7, 19, True)
    assert span(loc.region("/datasets/1/name")) == (8, 6, 8, 15, True)
    assert span(loc.region("/a~1b")) == (10, 1, 10, 9, True)
    assert span(loc.region("/m~0n")) == (11, 1, 11, 9, True)
    assert span(loc.region("")) == (1, 1, 11, 9, True)


def test_a_missing_value_gives_its_nearest_enclosing_value() -> None:
    loc = InputLocator(YAML_TEXT, is_json=False)
    assert span(loc.region("/owner/email")) == (2, 1, 4, 21, False)
    assert span(loc.region("/datasets/5/name")) == (5, 1, 8, 33, False)
    assert span(loc.region("/datasets/01")) == (5, 1, 8, 33, False)  # not an array index
    assert span(loc.region("/nothing")) == (1, 1, 11, 9, False)
    assert loc.region("no-slash") is None


JSON_SPACES = (
    '{\n  "model": "churn",\n  "owner": {\n    "team": "retention"\n  },\n  "n": [1, 2]\n}\n'
)


@pytest.mark.parametrize(
    ("text", "indent"),
    [
        (JSON_SPACES, 2),  # the safe YAML loader reads it
        (JSON_SPACES.replace("  ", "\t"), 1),  # it refuses tabs: the JSON scanner reads it
    ],
    ids=["yaml-composer", "json-scanner"],
)
def test_json_regions_with_either_reader(text: str, indent: int) -> None:
    loc = InputLocator(text, is_json=True)
    assert span(loc.region("/model")) == (2, indent + 1, 2, indent + 17, True)
    assert span(loc.region("/owner/team")) == (4, 2 * indent + 1, 4, 2 * indent + 20, True)
    assert span(loc.region("/n/1")) == (6, indent + 10, 6, indent + 11, True)
    assert span(loc.region("/owner")) == (3, indent + 1, 5, indent + 2, True)


def test_json_the_yaml_loader_refuses_is_still_located() -> None:
    long_key = "k" * 1100  # YAML's implicit keys stop at 1024 characters
    text = json.dumps({long_key: 1, "b": {"c": [True, None, -1.5e3, "x\\"]}})
    loc = InputLocator(text, is_json=True)
    r = loc.region("/b/c/3")
    assert r is not None and r.exact
    assert text[r.start_column - 1 : r.end_column - 1] == json.dumps("x\\")
    assert span(loc.region(f"/{long_key}"))[:2] == (1, 2)


def test_crlf_and_unreadable_texts() -> None:
    assert span(InputLocator("a: 1\r\nb: 2\r\n", is_json=False).region("/b"))[:2] == (2, 1)
    # CR-only (old Mac) line ends are lines too, as the YAML reader and editors count them
    assert span(InputLocator("a: 1\rb:\r  c: 2\r", is_json=False).region("/b/c")) == (
        3,
        3,
        3,
        7,
        True,
    )
    assert span(InputLocator('{"a": 1,\r "b": 2}', is_json=True).region("/b"))[:2] == (2, 2)
    assert InputLocator("{", is_json=True).region("/a") is None
    assert InputLocator("a: [", is_json=False).region("/a") is None


def test_reference_to_pointer() -> None:
    assert pointer_of_reference("input.model.card_url") == "/model/card_url"
    assert pointer_of_reference('input.items[0]["a b"]["x/y"]') == "/items/0/a b/x~1y"
    assert pointer_of_reference("input.a[x].b") == "/a"
    assert pointer_of_reference("input") is None
    assert pointer_of_reference("data.thresholds") is None


def test_uri_of_paths() -> None:
    assert uri_of("registrations/a b.yaml") == "registrations/a%20b.yaml"
    assert uri_of("./x/../y.yaml") == "y.yaml"
    assert uri_of("/tmp/r.yaml") == "file:///tmp/r.yaml"


# ---- --fail-on --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "fail_on", "code"),
    [
        (GOOD, "blocking", 0),
        (GOOD.replace("purpose: p\n", ""), "warning", 0),  # an info violation never fails
        (GOOD.replace("card: c\n", ""), "blocking", 0),
        (GOOD.replace("card: c\n", ""), "warning", 1),
        (GOOD.replace("card: c\n", ""), "never", 0),
        (GOOD.replace("owner: team\n", ""), "blocking", 1),
        (GOOD.replace("owner: team\n", ""), "warning", 1),
        (GOOD.replace("owner: team\n", ""), "never", 0),
        (GOOD.replace("samples: 10", "samples: 0"), "blocking", 1),  # an evaluation error
        (GOOD.replace("samples: 10", "samples: 0"), "never", 0),
    ],
)
def test_fail_on(bundle: Path, tmp_path: Path, doc: str, fail_on: str, code: int) -> None:
    inp = write(tmp_path / "in.yaml", doc)
    for fmt in ("text", "json", "junit", "sarif", "github"):
        r = run(
            "eval", "gate", "--bundle", str(bundle), "--input", inp, "--format", fmt,
            "--fail-on", fail_on,
        )  # fmt: skip
        assert r.exit_code == code, (fmt, r.output)
        assert r.stderr == ""


def test_fail_on_for_a_rule_query_and_a_bad_value(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", GOOD)
    args = ["eval", "gate.allow", "--bundle", str(bundle), "--input", inp]
    assert run(*args).exit_code == 1
    assert run(*args, "--fail-on", "never").exit_code == 0
    r = run(*args, "--fail-on", "sometimes")
    assert r.exit_code == 2 and "--fail-on" in r.stderr


def test_never_still_exits_2_when_tenet_cannot_evaluate(bundle: Path, tmp_path: Path) -> None:
    r = run(
        "eval", "gate", "--bundle", str(bundle), "--input", str(tmp_path / "gone.yaml"),
        "--fail-on", "never",
    )  # fmt: skip
    assert r.exit_code == 2 and r.stdout == ""


# ---- several inputs ---------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "registrations"
    write(d / "b.yaml", GOOD.replace("owner: team\n", ""))
    write(d / "a.yaml", GOOD)
    write(d / "c.json", json.dumps({"name": "c", "owner": "x", "errors": 0, "samples": 1}))
    write(d / "notes.txt", "not an input")
    (d / "sub.yaml").mkdir()  # a folder matching the glob is not an input
    return d


def test_a_glob_gives_one_verdict_per_file_in_order(bundle: Path, folder: Path) -> None:
    r = run(
        "eval", "gate", "--bundle", str(bundle), "--input", str(folder / "*.yaml"),
        "--input", str(folder / "*.json"), "--format", "json", "--now", NOW,
    )  # fmt: skip
    assert r.exit_code == 1, r.output  # the worst: b.yaml has no owner
    docs = json.loads(r.stdout)
    assert isinstance(docs, list) and len(docs) == 3
    for d in docs:
        assert_valid_decision(d)
    assert [d["outcome"] for d in docs] == ["allow", "deny", "allow"]  # a, b, c


def test_shell_expanded_inputs_after_the_options(bundle: Path, folder: Path) -> None:
    a, b = str(folder / "a.yaml"), str(folder / "b.yaml")
    # what `--input registrations/*.yaml` becomes once the shell expands it
    r = run("eval", "gate", "--bundle", str(bundle), "--input", a, b, "--format", "github")
    assert r.exit_code == 1, r.output
    verdicts = [line for line in r.stdout.splitlines() if line.startswith("tenet: ")]
    assert verdicts == [f"tenet: {a}: ALLOW: " + verdicts[0].split("ALLOW: ")[1], verdicts[1]]
    assert verdicts[1].startswith(f"tenet: {b}: DENY: 1 blocking")


def test_a_file_given_twice_is_decided_once(bundle: Path, folder: Path) -> None:
    a = str(folder / "a.yaml")
    r = run(
        "eval", "gate", "--bundle", str(bundle), "--input", a, "--input", str(folder / "a.*"),
        "--format", "json",
    )  # fmt: skip
    assert r.exit_code == 0
    assert isinstance(json.loads(r.stdout), dict)  # one input: the document itself


def test_text_report_of_several_inputs(bundle: Path, folder: Path) -> None:
    r = run("eval", "gate", "--bundle", str(bundle), "--input", str(folder / "*.yaml"))
    assert r.exit_code == 1
    blocks = r.stdout.rstrip("\n").split("\n\n")
    assert blocks[0].startswith(f"== {folder / 'a.yaml'}\ngate · bundle")
    assert blocks[1].startswith(f"== {folder / 'b.yaml'}\n")
    assert blocks[-1] == "2 inputs: 1 allow, 1 deny, 0 error"


def test_a_glob_matching_nothing_is_a_usage_error(bundle: Path, folder: Path) -> None:
    r = run("eval", "gate", "--bundle", str(bundle), "--input", str(folder / "*.yml"))
    assert r.exit_code == 2 and r.stdout == ""
    assert f"no input file matches `{folder / '*.yml'}`" in r.stderr


def test_every_unreadable_input_is_reported(bundle: Path, folder: Path) -> None:
    bad = write(folder / "bad.yaml", "a: [1\n")
    r = run(
        "eval", "gate", "--bundle", str(bundle), "--input", str(folder / "a.yaml"),
        "--input", bad, "--input", str(folder / "gone.yaml"),
    )  # fmt: skip
    assert r.exit_code == 2 and r.stdout == ""
    assert "bad.yaml` is not valid YAML" in r.stderr
    assert "cannot read input" in r.stderr and "gone.yaml" in r.stderr
    assert r.stderr.count("error: ") == 2


def test_stdin_only_once(bundle: Path) -> None:
    r = run("eval", "gate", "--bundle", str(bundle), "--input", "-", "--input", "-", stdin="{}")
    assert r.exit_code == 2 and "only once" in r.stderr


def test_an_unknown_query_with_several_inputs(bundle: Path, folder: Path) -> None:
    r = run("eval", "gates", "--bundle", str(bundle), "--input", str(folder / "*.yaml"))
    assert r.exit_code == 2 and r.stdout == ""
    assert "did you mean `gate`?" in r.stderr


# ---- SARIF ------------------------------------------------------------------------------------


def sarif_of(*args: str, stdin: str | None = None) -> tuple[Result, dict[str, Any]]:
    r = run(*args, "--format", "sarif", "--now", NOW, stdin=stdin)
    assert r.exit_code in (0, 1), r.output
    log = json.loads(r.stdout)
    assert_valid_sarif(log)
    return r, log


def test_sarif_points_at_the_offending_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    r, log = sarif_of(
        "eval", "deploy.gates", "--bundle", "tests/golden/eval/bundle",
        "--input", "tests/golden/eval/inputs/blocking_violation.yaml",
    )  # fmt: skip
    (run_,) = log["runs"]
    assert run_["invocations"] == [{"executionSuccessful": True, "exitCode": r.exit_code}]
    assert [rule["id"] for rule in run_["tool"]["driver"]["rules"]] == [
        "deploy.gates.accuracy_floor",
        "deploy.gates.latency",
        "deploy.gates.bias_disparity",
        "deploy.gates.model_card",
    ]
    rule = run_["tool"]["driver"]["rules"][0]
    assert rule["help"] == {"text": "retrain, or fix the evaluation set"}
    assert rule["shortDescription"] == {"text": "accuracy meets the floor"}
    assert rule["defaultConfiguration"] == {"level": "error"}
    (result,) = run_["results"]
    assert (result["ruleId"], result["level"]) == ("deploy.gates.accuracy_floor", "error")
    assert result["message"]["text"].startswith("accuracy 0.82 is below 0.85\n")
    physical = result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {
        "uri": "tests/golden/eval/inputs/blocking_violation.yaml"
    }
    # evaluation: {accuracy: 0.82, latency_p99: 0.05} -- `accuracy: 0.82` on line 2
    assert physical["region"] == {
        "startLine": 2,
        "startColumn": 14,
        "endLine": 2,
        "endColumn": 28,
    }
    check, condition = result["relatedLocations"]
    assert check["physicalLocation"] == {
        "artifactLocation": {"uri": "tests/golden/eval/bundle/deploy/gates.tenet"},
        "region": {"startLine": 8, "startColumn": 1},
    }
    assert condition["physicalLocation"]["region"] == {"startLine": 9, "startColumn": 5}


def test_sarif_points_into_the_element_a_failed_every_failed_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    _, log = sarif_of(
        "eval", "datasets.gates", "--bundle", "tests/golden/eval/bundle_every",
        "--input", "tests/golden/eval/inputs/every_failed.yaml",
    )  # fmt: skip
    approved = next(r for r in log["runs"][0]["results"] if r["ruleId"].endswith(".approved"))
    # `approved: false` of the second dataset (line 4), not the whole `datasets` list
    region = approved["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 4, "startColumn": 25, "endLine": 4, "endColumn": 40}


CARDS = """package main

require cards blocking {
    every m in input.models {
        m.card.owner != ""
    }
} message "every model needs a card owner"

require owners blocking {
    every name, m in input.by_name {
        m.card.owner != ""
    }
} message "every model needs a card owner"
"""


def test_sarif_points_at_what_is_missing_in_the_element_a_failed_every_failed_for(
    tmp_path: Path,
) -> None:
    # the inner condition is undefined: it reads no input value, but the element's name
    # and the reference say where in the input it looked
    bundle = write_bundle(tmp_path / "b", {"main.tenet": CARDS})
    models = [{"card": {"owner": "a"}}, {"card": {}}]
    text = json.dumps(
        {"models": models, "by_name": {"churn": {"card": {"owner": "b"}}, "fraud": {}}}, indent=2
    )
    (tmp_path / "in.json").write_text(text)
    _, log = sarif_of("eval", "main", "--bundle", str(bundle), "--input", str(tmp_path / "in.json"))
    regions = {
        r["ruleId"]: r["locations"][0]["physicalLocation"]["region"]["startLine"]
        for r in log["runs"][0]["results"]
    }
    lines = text.splitlines()
    # the nearest value that is there: `"card": {}` of the second model, and `"fraud": {}`
    assert lines[regions["main.cards"] - 1].strip() == '"card": {}'
    assert lines[regions["main.owners"] - 1].strip() == '"fraud": {}'


def registrations_sarif(*inputs: str) -> dict[str, Any]:
    """The SARIF log of the golden registrations (run from the repository's root)."""
    args = [a for i in inputs for a in ("--input", i)]
    return sarif_of("eval", "registration", "--bundle", "tests/golden/ci/bundle", *args)[1]


def test_sarif_levels_rules_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    log = registrations_sarif("tests/golden/ci/inputs/*")
    results = log["runs"][0]["results"]
    levels = {(r["ruleId"], r["level"]) for r in results}
    assert levels == {
        ("registration.owner", "error"),
        ("registration.intended_use", "note"),
        ("registration.parity", "error"),
        ("registration.unreviewed_dataset", "warning"),
        ("tenet/input_schema", "error"),
    }
    schema_errors = [r for r in results if r["ruleId"] == "tenet/input_schema"]
    regions = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in schema_errors]
    assert regions == [1, 3, 1]  # /, /datasets/0, /model
    # churn.json is indented with tabs: located by the JSON scanner, `"owner": {` on line 3
    churn = [r for r in results if "churn.json" in json.dumps(r["locations"])]
    assert churn[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 3
    assert churn[0]["locations"][0]["message"] == {
        "text": "/owner/email is missing from this value"
    }


def _fingerprints(log: dict[str, Any]) -> list[str]:
    return [r["partialFingerprints"]["tenetFinding/v1"] for r in log["runs"][0]["results"]]


def test_sarif_fingerprints_tell_findings_apart_however_the_path_is_spelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # malformed.yaml fails the schema three times, twice at `/`: code scanning merges results
    # of one rule with one fingerprint into one alert, so each needs its own
    monkeypatch.chdir(REPO)
    log = registrations_sarif("tests/golden/ci/inputs/malformed.yaml")
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["tenet/input_schema"] * 3
    assert len(set(_fingerprints(log))) == 3
    seen = [
        _fingerprints(
            registrations_sarif(folder + "malformed.yaml", folder + "credit-scoring.yaml")
        )
        for folder in (
            "tests/golden/ci/inputs/",
            "./tests/golden/ci/inputs/",
            "tests/../tests/golden/ci/inputs/",
        )
    ]
    assert seen[0] == seen[1] == seen[2] and len(set(seen[0])) == len(seen[0]) > 3


def test_sarif_for_a_rule_query_stdin_and_an_archive(tmp_path: Path, bundle: Path) -> None:
    archive = tmp_path / "gate.tar.gz"
    assert run("bundle", "build", str(bundle), "-o", str(archive)).exit_code == 0
    _, log = sarif_of(
        "eval", "gate.allow", "--bundle", str(archive), "--input", "-", stdin="owner: me\n"
    )
    (result,) = log["runs"][0]["results"]
    assert result["ruleId"] == "gate.allow" and result["message"]["text"].startswith(
        "gate.allow is undefined"
    )
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"description": {"text": "standard input"}}
    related = result["relatedLocations"][0]["physicalLocation"]["artifactLocation"]
    assert related == {"uri": "gate.tenet", "uriBaseId": "BUNDLE"}
    assert "BUNDLE" in log["runs"][0]["originalUriBaseIds"]


def test_sarif_of_an_allowed_input_has_no_results(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "ok.yaml", GOOD)
    r, log = sarif_of("eval", "gate", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 0
    assert log["runs"][0]["results"] == []
    assert len(log["runs"][0]["tool"]["driver"]["rules"]) == 4


# ---- JUnit ------------------------------------------------------------------------------------


def junit_of(*args: str) -> ET.Element:
    r = run(*args, "--format", "junit", "--now", NOW)
    assert r.exit_code in (0, 1), r.output
    assert r.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(r.stdout)


def test_junit_suites_cases_failures_and_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    root = junit_of(
        "eval", "deploy.gates", "--bundle", "tests/golden/eval/bundle",
        "--input", "tests/golden/eval/inputs/blocking_violation.yaml",
        "--input", "tests/golden/eval/inputs/waived.yaml",
        "--input", "tests/golden/eval/inputs/not_applicable.yaml",
        "--input", "tests/golden/eval/inputs/forbid_bindings.yaml",
    )  # fmt: skip
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "tests/golden/eval/inputs/blocking_violation.yaml",
        "tests/golden/eval/inputs/waived.yaml",
        "tests/golden/eval/inputs/not_applicable.yaml",
        "tests/golden/eval/inputs/forbid_bindings.yaml",
    ]
    counts = [(s.get("tests"), s.get("failures"), s.get("skipped")) for s in suites]
    assert counts == [("4", "1", "0"), ("4", "0", "1"), ("4", "0", "1"), ("5", "2", "0")]
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("17", "3", "2")
    failure = suites[0].find("testcase/failure")
    assert failure is not None
    assert failure.get("message") == "accuracy 0.82 is below 0.85"
    assert failure.get("type") == "violated:blocking"
    assert failure.text is not None
    assert "at tests/golden/eval/inputs/blocking_violation.yaml:2:14" in failure.text
    assert "input.evaluation.accuracy = 0.82" in failure.text
    waived = suites[1].find("testcase/skipped")
    assert waived is not None and (waived.get("message") or "").startswith("waived by cro@")
    na = suites[2].find("testcase/skipped")
    assert na is not None and 'when input.target == "staging"' in (na.get("message") or "")
    names = [c.get("name") for c in suites[3].findall("testcase")]
    assert "deploy.gates.bias_disparity [metric=equalized_odds, value=0.25]" in names
    props = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert props["outcome"] == "deny" and props["query"] == "deploy.gates"


def test_junit_rule_queries_and_input_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    root = junit_of(
        "eval", "access.allow", "--bundle", "tests/golden/eval/bundle",
        "--input", "tests/golden/eval/inputs/rule_query*.yaml",
    )  # fmt: skip
    denied, allowed = root.findall("testsuite")
    assert [c.get("name") for c in denied.findall("testcase")] == ["access.allow"]
    assert denied.find("testcase/failure") is not None
    assert allowed.find("testcase/failure") is None
    root = junit_of(
        "eval", "registration", "--bundle", "tests/golden/ci/bundle",
        "--input", "tests/golden/ci/inputs/malformed.yaml",
    )  # fmt: skip
    (suite,) = root.findall("testsuite")
    assert suite.get("errors") == "3" and suite.get("tests") == "3"
    assert [e.get("type") for e in suite.iter("error")] == ["input_schema"] * 3


def test_junit_is_valid_xml_whatever_the_messages_hold(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.json", json.dumps({"name": "bell\u0007 <&> ]]>"}))
    root = junit_of("eval", "gate", "--bundle", str(bundle), "--input", inp)
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "no owner for bell\\u0007 <&> ]]>"
    # half a UTF-16 pair is no text: the input is refused, and the report is still XML
    inp = write(tmp_path / "in.json", json.dumps({"name": "\ud800"}))
    root = junit_of("eval", "gate", "--bundle", str(bundle), "--input", inp)
    error = root.find("testsuite/testcase/error")
    assert error is not None and "lone surrogate" in str(error.get("message"))


# ---- GitHub annotations -----------------------------------------------------------------------


def test_workflow_command_escaping() -> None:
    text = "100% done\r\nnext: a, b"
    assert escape_data(text) == "100%25 done%0D%0Anext: a, b"
    assert escape_property(text) == "100%25 done%0D%0Anext%3A a%2C b"


def test_annotations_levels_and_places(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "name: m\nerrors: 0\nsamples: 10\n")
    r = run("eval", "gate", "--bundle", str(bundle), "--input", inp, "--format", "github")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    prop = escape_property(inp)
    assert lines[0] == (
        f"::error file={prop},line=1,col=1,title=gate.owner (blocking)::no owner for m%0A"
        "the model has an owner%0Aundefined: input.owner  (gate.tenet:6:5)%0A"
        "  input.owner is undefined%0Aremediation: name an owner"
    )
    assert lines[1].startswith(f"::warning file={prop},line=1,col=1,title=gate.card (warning)::")
    assert lines[2].startswith("::notice ") and "title=gate.purpose (info)" in lines[2]
    assert lines[3] == f"tenet: {inp}: DENY: " + lines[3].split("DENY: ")[1]
    r = run(
        "eval", "gate", "--bundle", str(bundle), "--input", "-", "--format", "github",
        stdin="owner: o\ncard: c\nerrors: 0\nsamples: 1\n",
    )  # fmt: skip
    assert r.stdout.splitlines()[0].startswith("::notice title=gate.purpose (info)::")


def test_input_text_cannot_inject_a_workflow_command(bundle: Path, tmp_path: Path) -> None:
    name = "x\n::error file=evil.py,line=1::injected\r\n::add-mask::y %0A"
    inp = write(
        tmp_path / "in.json",
        json.dumps({"name": name, "card": "c", "purpose": "p", "errors": 0, "samples": 1}),
    )
    r = run("eval", "gate", "--bundle", str(bundle), "--input", inp, "--format", "github")
    lines = r.stdout.splitlines()
    commands = [line for line in lines if line.lstrip().startswith("::")]
    assert len(commands) == 1  # the owner annotation, with the name escaped inside it
    # shown as the text report shows it (`\\n`), so that even the decoded message has no line end
    assert "x\\n::error file=evil.py,line=1::injected\\r\\n::add-mask::y %250A" in commands[0]
    assert len(lines) == 2


def test_the_github_format_in_a_real_process(bundle: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    inp = write(tmp_path / "in.yaml", GOOD.replace("card: c\n", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "tenet.cli", "eval", "gate", "--bundle", str(bundle),
         "--input", inp, "--format", "github", "--fail-on", "warning"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("::warning file=")
    assert proc.stderr == ""


def test_a_forbid_finding_points_at_its_bound_member(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    r = run(
        "eval", "deploy.gates", "--bundle", "tests/golden/eval/bundle",
        "--input", "tests/golden/eval/inputs/forbid_bindings.yaml", "--format", "github",
    )  # fmt: skip
    places = [line.split(",title=")[0] for line in r.stdout.splitlines() if line[:2] == "::"]
    # bias: {demographic_parity: 0.12, equalized_odds: 0.25, calibration: 0.01}
    assert places == [
        "::error file=tests/golden/eval/inputs/forbid_bindings.yaml,line=3,col=8",
        "::error file=tests/golden/eval/inputs/forbid_bindings.yaml,line=3,col=34",
    ]


# ---- findings whose input value has no known place ---------------------------------------------

HELPER_POLICY = """package h

owner_ok if { input.owner == "o" }

require owner blocking {
    owner_ok
} message "no owner"

require ratio blocking {
    ratio < 2
} message "ratio too high"

ratio = 1 / input.zero
"""

# line 1 is a comment: pointing there would be a guess, and a wrong one
HELPER_INPUT = "# a registration\nowner: x\nzero: 0\n"
UNLOCATED = "the input value could not be located: the evidence names no input field"


@pytest.fixture
def unlocated(tmp_path: Path) -> tuple[str, str]:
    bundle = write_bundle(tmp_path / "hb", {"h.tenet": HELPER_POLICY})
    return str(bundle), write(tmp_path / "in.yaml", HELPER_INPUT)


def test_sarif_claims_no_line_it_does_not_know(unlocated: tuple[str, str]) -> None:
    bundle, inp = unlocated
    r, log = sarif_of("eval", "h", "--bundle", bundle, "--input", inp)
    assert r.exit_code == 1
    owner, ratio = log["runs"][0]["results"]
    for result, first in ((owner, "no owner"), (ratio, "evaluation error: division by zero")):
        (location,) = result["locations"]
        assert location == {
            "physicalLocation": {"artifactLocation": {"uri": uri_of(inp)}},
            "message": {"text": UNLOCATED},
        }
        assert result["message"]["text"].split("\n")[:2] == [first, UNLOCATED]
        # the check is still placed in the bundle
        assert result["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] > 1
    assert "h.tenet" in owner["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"]


def test_github_gives_a_file_annotation_when_the_line_is_not_known(
    unlocated: tuple[str, str],
) -> None:
    bundle, inp = unlocated
    r = run("eval", "h", "--bundle", bundle, "--input", inp, "--format", "github")
    owner, ratio = r.stdout.splitlines()[:2]
    prop = escape_property(inp)
    assert owner == (
        f"::error file={prop},title=h.owner (blocking)::no owner%0A{UNLOCATED}%0A"
        "undefined: owner_ok  (h.tenet:6:5)%0A  owner_ok is undefined"
    )
    assert ratio.startswith(f"::error file={prop},title=h.ratio (blocking)::evaluation error")
    assert "line=" not in owner + ratio and "col=" not in owner + ratio


def test_junit_says_the_line_is_not_known(unlocated: tuple[str, str]) -> None:
    bundle, inp = unlocated
    root = junit_of("eval", "h", "--bundle", bundle, "--input", inp)
    failures = root.findall("testsuite/testcase/failure")
    assert len(failures) == 2
    for failure in failures:
        lines = str(failure.text).splitlines()
        assert lines[1] == f"at {inp}, line not known ({UNLOCATED})"
        assert lines[2].startswith("check h.") and ":1" not in lines[1]
