"""The `tenet` command: exit codes 0 (allow), 1 (deny, evaluation error), 2 (could not
evaluate), messages on stderr without tracebacks, stdin input, `tenet version`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import tenet
from tenet.cli import main
from tests.conftest import assert_valid_decision, write_bundle

NOW = "2026-01-01T00:00:00Z"

POLICY = """package main

default allow = false

allow if { input.role == "admin" }

rate = input.errors / input.samples

require owner blocking {
    input.owner
} message "a model needs an owner"

require card warning {
    input.card
} message "models should link a card"
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "bundle", {"main.tenet": POLICY})


def run(*args: str, stdin: str | bytes | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def write(path: Path, text: str | bytes) -> str:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def decision_of(result: Result) -> dict[str, object]:
    doc = json.loads(result.stdout)
    assert_valid_decision(doc)
    return doc


# ---- 0 and 1: evaluated -------------------------------------------------------------------------


def test_allowed_rule_exits_0(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "role: admin\n")
    r = run("eval", "main.allow", "--bundle", str(bundle), "--input", inp, "--now", NOW)
    assert r.exit_code == 0, r.output
    assert "ALLOW" in r.stdout
    assert r.stderr == ""


def test_denied_rule_exits_1(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.json", '{"role": "guest"}')
    r = run("eval", "main.allow", "--bundle", str(bundle), "--input", inp, "--format", "json")
    assert r.exit_code == 1, r.output
    doc = decision_of(r)
    assert (doc["outcome"], doc["allowed"], doc["result"]) == ("deny", False, False)


def test_package_with_only_a_warning_violated_exits_0(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "owner: team-a\n")
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = decision_of(r)
    assert doc["outcome"] == "allow"
    assert doc["summary"]["violated"] == {"blocking": 0, "warning": 1, "info": 0}


def test_package_with_a_blocking_violation_exits_1(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "card: https://cards/x\n")
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 1, r.output
    assert "a model needs an owner" in r.stdout
    assert r.stdout.rstrip().splitlines()[-1].startswith("DENY:")


def test_a_package_with_no_check_is_allowed_and_says_that_nothing_was_checked(
    tmp_path: Path,
) -> None:
    """As the spec says, no violated blocking check is an allow; the text says why."""
    rules = "package access.models\n\ndefault allow = false\n\nallow if { input.admin }\n"
    b = write_bundle(tmp_path / "b", {"models.tenet": rules})
    inp = write(tmp_path / "in.json", "{}")
    r = run("eval", "access.models", "--bundle", str(b), "--input", inp)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[1:] == [
        "  no check in `access.models` or its packages: nothing was checked (a rule's value is "
        "read by querying the rule, e.g. `access.models.allow`)",
        "ALLOW: 0 blocking, 0 warning, 0 info violated, 0 passed, 0 not applicable, 0 waived, "
        "0 errors",
    ]
    r = run("eval", "access.models.allow", "--bundle", str(b), "--input", inp)
    assert r.exit_code == 1 and "nothing was checked" not in r.stdout


def test_evaluation_error_exits_1_with_an_error_decision(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "errors: 1\nsamples: 0\n")
    r = run("eval", "main.rate", "--bundle", str(bundle), "--input", inp, "--format", "json")
    assert r.exit_code == 1, r.output
    doc = decision_of(r)
    assert doc["outcome"] == "error" and doc["allowed"] is False
    assert [e["code"] for e in doc["errors"]] == ["division_by_zero"]  # type: ignore[union-attr]
    assert doc["errors"][0]["location"] == "main.tenet:7:8"  # type: ignore[index]


def test_invalid_input_value_exits_1_as_an_error_decision(bundle: Path, tmp_path: Path) -> None:
    # YAML can spell numbers JSON cannot hold: the input is refused by the engine, fail closed
    inp = write(tmp_path / "in.yaml", "role: admin\nscore: .nan\n")
    r = run("eval", "main.allow", "--bundle", str(bundle), "--input", inp, "--format", "json")
    assert r.exit_code == 1, r.output
    doc = decision_of(r)
    assert doc["outcome"] == "error"
    assert doc["errors"][0]["path"] == "/score"  # type: ignore[index]


def test_dash_reads_the_input_from_stdin(bundle: Path) -> None:
    r = run("eval", "main.allow", "--bundle", str(bundle), "--input", "-", stdin="role: admin\n")
    assert r.exit_code == 0, r.output
    r = run(
        "eval", "main.allow", "--bundle", str(bundle), "--input", "-", "--format", "json",
        stdin='{"role": "guest"}',
    )  # fmt: skip
    assert r.exit_code == 1, r.output
    assert decision_of(r)["result"] is False


def test_now_sets_the_decision_clock(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "role: admin\n")
    r = run(
        "eval", "main.allow", "--bundle", str(bundle), "--input", inp,
        "--now", "2030-05-06T07:08:09+02:00", "--format", "json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert decision_of(r)["evaluated_at"] == "2030-05-06T05:08:09Z"


def test_explain_full_adds_evidence_of_passed_checks(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "owner: a\ncard: b\n")
    args = ["eval", "main", "--bundle", str(bundle), "--input", inp, "--format", "json"]
    summary = decision_of(run(*args))
    full = decision_of(run(*args, "--explain", "full"))
    assert all("evidence" not in c for c in summary["checks"])  # type: ignore[union-attr]
    assert all(c["evidence"] for c in full["checks"])  # type: ignore[union-attr]


# ---- 2: could not evaluate ----------------------------------------------------------------------


def test_missing_bundle_exits_2(tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "{}\n")
    r = run("eval", "main", "--bundle", str(tmp_path / "nope"), "--input", inp)
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "nope" in r.stderr and "did not load" in r.stderr


def test_bundle_with_a_syntax_error_exits_2_with_the_diagnostic(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"main.tenet": "package main\n\nallow if { input.x == }\n"})
    inp = write(tmp_path / "in.yaml", "{}\n")
    r = run("eval", "main.allow", "--bundle", str(root), "--input", inp)
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "error[syntax]" in r.stderr
    assert "main.tenet:3:23" in r.stderr
    assert "allow if { input.x == }" in r.stderr  # the excerpt
    assert "(1 problem)" in r.stderr


def test_a_tab_inside_a_string_is_a_syntax_error_in_every_command(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"tab.tenet": 'package p\n\nx = "tab\there"\n'})
    inp = write(tmp_path / "in.json", "{}\n")
    for args in (
        ("eval", "p.x", "--bundle", str(root), "--input", inp),
        ("check", str(root)),
        ("fmt", "--check", str(root / "tab.tenet")),
    ):
        r = run(*args)
        assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.exception)
        assert "error[syntax]: a string cannot contain a tab as it is" in r.stdout + r.stderr
        assert "tab.tenet:3:9" in r.stdout + r.stderr
        assert "write `\\t` for a tab" in r.stdout + r.stderr
    assert run("eval", "p.x", "--bundle", str(root), "--input", inp).exit_code == 2


def test_every_load_problem_is_on_stderr(tmp_path: Path) -> None:
    root = write_bundle(
        tmp_path / "b",
        {
            "a.tenet": "package a\nx if { unknown_one }\n",
            "b.tenet": "package b\ny if { unknown_two }\n",
        },
    )
    inp = write(tmp_path / "in.yaml", "{}\n")
    r = run("eval", "a", "--bundle", str(root), "--input", inp)
    assert r.exit_code == 2
    assert "a.tenet:2:8" in r.stderr and "b.tenet:2:8" in r.stderr
    assert "(2 problems)" in r.stderr


def test_syntax_error_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"main.tenet": "package main\nallow if { ( }\n"})
    inp = write(tmp_path / "in.yaml", "{}\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tenet.cli",
            "eval",
            "main.allow",
            "--bundle",
            str(root),
            "--input",
            inp,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "main.tenet:2:" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_missing_input_file_exits_2(bundle: Path, tmp_path: Path) -> None:
    r = run("eval", "main", "--bundle", str(bundle), "--input", str(tmp_path / "gone.yaml"))
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "gone.yaml" in r.stderr and "cannot read" in r.stderr


def test_input_that_is_a_folder_exits_2(bundle: Path, tmp_path: Path) -> None:
    r = run("eval", "main", "--bundle", str(bundle), "--input", str(tmp_path))
    assert r.exit_code == 2
    assert "cannot read" in r.stderr


def test_input_that_is_not_utf8_exits_2(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", b"role: \xff\xfe\n")
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 2
    assert "UTF-8" in r.stderr


def test_invalid_yaml_input_names_line_and_column(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr == (
        f"error: input `{inp}` is not valid YAML at line 3, column 2: the list `[` that starts "
        "at line 2, column 4 is not closed: a `:` stands where `,` or `]` should\n"
        "  = help: separate its items with `,` and close it with `]`; quote an item that holds "
        "`: ` or `,`\n"
    )


def test_invalid_yaml_with_cr_only_line_ends_names_line_and_column(
    bundle: Path, tmp_path: Path
) -> None:
    # the lines were counted by `\n` alone: an old Mac file was all line 1
    inp = write(tmp_path / "in.yaml", "a: 1\rb: [1, 2\rc: 3\r")
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 2
    assert r.stderr.startswith(
        f"error: input `{inp}` is not valid YAML at line 3, column 2: the list `[` that starts "
        "at line 2, column 4 is not closed"
    )
    dup = write(tmp_path / "dup.json", '{"a": 1,\r "a": 2}')
    r = run("eval", "main", "--bundle", str(bundle), "--input", dup)
    assert r.exit_code == 2 and "at line 2, column 2" in r.stderr


def test_invalid_yaml_on_stdin_names_line_and_column(bundle: Path) -> None:
    r = run("eval", "main", "--bundle", str(bundle), "--input", "-", stdin="ok: true\n  bad: [\n")
    assert r.exit_code == 2
    assert "not valid YAML" in r.stderr and "line 2" in r.stderr


def test_invalid_json_input_exits_2(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.json", '{"a": NaN}')
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 2
    assert "not valid JSON" in r.stderr


def test_unknown_query_exits_2_with_a_suggestion(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "{}\n")
    r = run("eval", "main.alow", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "unknown query `main.alow`" in r.stderr
    assert "did you mean `main.allow`?" in r.stderr


@pytest.mark.parametrize("now", ["yesterday", "2026-13-01T00:00:00Z", "2026-01-01", "1700000000"])
def test_bad_now_exits_2(bundle: Path, tmp_path: Path, now: str) -> None:
    inp = write(tmp_path / "in.yaml", "role: admin\n")
    r = run("eval", "main.allow", "--bundle", str(bundle), "--input", inp, "--now", now)
    assert r.exit_code == 2
    assert r.stdout == ""
    assert now in r.stderr and "RFC 3339" in r.stderr


def test_a_bad_now_is_shown_on_one_line(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "role: admin\n")
    now = "2026-01-01T00:00:00Z\n\x1b[2J"
    r = run("eval", "main.allow", "--bundle", str(bundle), "--input", inp, "--now", now)
    assert r.exit_code == 2
    assert r.stderr == (
        "error: `2026-01-01T00:00:00Z\\n\\u001b[2J` is not an RFC 3339 timestamp such as "
        "2026-01-01T00:00:00Z\n"
    )


def test_bad_option_values_exit_2(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "in.yaml", "{}\n")
    for extra in (["--format", "xml"], ["--explain", "all"]):
        r = run("eval", "main", "--bundle", str(bundle), "--input", inp, *extra)
        assert r.exit_code == 2, extra
    r = run("eval", "main", "--bundle", str(bundle))
    assert r.exit_code == 2 and "--input" in r.stderr


# ---- version ----------------------------------------------------------------------------------


def test_version() -> None:
    r = run("version")
    assert r.exit_code == 0
    assert r.stdout == f"tenet {tenet.__version__}\n"


@pytest.mark.parametrize(
    ("name", "text"),
    [("dup.json", '{"approved": false, "approved": true}'), ("dup.yaml", "a: 1\na: 2\n")],
)
def test_an_input_with_a_key_given_twice_is_refused(
    bundle: Path, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    result = run("eval", "p.allow", "--bundle", str(bundle), "--input", str(path))
    assert result.exit_code == 2
    assert "twice" in result.output


def test_a_nan_or_infinity_kept_from_a_refused_input_is_recorded_as_its_word(
    tmp_path: Path,
) -> None:
    # not the `null` that encoding a NaN gives: the record must not say the input held null
    manifest = "name: main\nversion: 1.0.0\naudit:\n  keep: [input.role, input.scores]\n"
    bundle = write_bundle(tmp_path / "b", {"tenet.yaml": manifest, "main.tenet": POLICY})
    path = tmp_path / "in.yaml"
    path.write_text("role: .nan\nscores: [-.inf, .inf, 1.5]\n", "utf-8")
    log = f"jsonl:///{tmp_path}/audit.jsonl"
    result = run("eval", "main.allow", "--bundle", str(bundle), "--input", str(path),
                 "--decision-log", log)  # fmt: skip
    assert result.exit_code == 1 and "numbers must be finite" in result.output
    from tenet.audit import open_store, verify

    store = open_store(log, create=False)
    (record,) = store.records()
    assert record["outcome"] == "error" and verify(store) == []
    assert record["input"] == {
        "input.role": "NaN",
        "input.scores": ["-Infinity", "Infinity", 1.5],
    }


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_half_a_utf16_pair_in_the_input_is_an_error_decision_and_recorded(
    tmp_path: Path, fmt: str
) -> None:
    # JSON's `\ud800` escape decodes to no character: no UTF-8 output could hold it
    manifest = (
        "name: main\nversion: 1.0.0\naudit:\n  keep: [input.role]\n  personal: [input.meta]\n"
    )
    bundle = write_bundle(tmp_path / "b", {"tenet.yaml": manifest, "main.tenet": POLICY})
    log = f"jsonl:///{tmp_path}/audit.jsonl"
    for body in ('{"role": "\\ud800"}', '{"meta": {"\\udc00": 1}}'):
        proc = subprocess.run(
            [sys.executable, "-m", "tenet.cli", "eval", "main.allow", "--bundle", str(bundle),
             "--input", "-", "--format", fmt, "--decision-log", log],
            input=body.encode(), capture_output=True, check=False,
        )  # fmt: skip
        out = proc.stdout.decode() + proc.stderr.decode()
        assert "Traceback" not in out and proc.returncode == 1, out
        assert "lone surrogate" in out and "not recorded" not in out
    from tenet.audit import open_store, verify

    store = open_store(log, create=False)
    records = list(store.records())
    assert [r["outcome"] for r in records] == ["error", "error"] and verify(store) == []
    assert records[0]["input"] == {"input.role": "\\ud800"}  # kept, escaped as text
    decision = tenet.load_bundle(bundle).decide("main.allow", {"role": "\ud800"})
    assert decision.outcome == "error" and decision.to_json().encode()


# ---- the text report shows control characters, it does not obey them -------------------------

ECHO_POLICY = """package echo

#@ title: by {input.who}
require who blocking {
    input.who == "ok"
} message "requested by {input.who}"

allow if { input.who == "ok" }
"""

HOSTILE = "x\n::error file=evil.yaml,line=1::injected\r\x1b[31m\x00\x7f\x9b\u2028end"
HOSTILE_SHOWN = (
    "x\\n::error file=evil.yaml,line=1::injected\\r\\u001b[31m\\u0000\\u007f\\u009b\\u2028end"
)


def _assert_inert(out: str, commands: int = 0) -> None:
    for c in "\r\x1b\x00\x7f\x9b\u2028":
        assert c not in out
    assert sum(line.lstrip().startswith("::") for line in out.splitlines()) == commands


@pytest.mark.parametrize("query", ["echo", "echo.allow"])
def test_control_characters_in_input_values_are_escaped_in_the_text_report(
    tmp_path: Path, query: str
) -> None:
    bundle = write_bundle(tmp_path / "b", {"echo.tenet": ECHO_POLICY})
    inp = write(tmp_path / "in.json", json.dumps({"who": HOSTILE}))
    r = run("eval", query, "--bundle", str(bundle), "--input", inp, "--explain", "full")
    assert r.exit_code == 1
    _assert_inert(r.stdout)
    if query == "echo":
        assert f"echo.who: requested by {HOSTILE_SHOWN}\n" in r.stdout
    # the value, as JSON writes it, then DEL, C1 and U+2028, which JSON leaves raw
    assert '  input.who = "x\\n::error file=evil.yaml' in r.stdout
    assert r.stdout.endswith("\n") and r.stdout.count("\n") > 3  # the report's own lines


def test_control_characters_in_error_messages_and_paths_are_escaped(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", {"echo.tenet": ECHO_POLICY})
    evil = write(tmp_path / "a\n::error::x.json", json.dumps({"who": 1.5, "k\x1b": [10**400]}))
    good = write(tmp_path / "in.yaml", "who: ok\n")
    r = run("eval", "echo", "--bundle", str(bundle), "--input", evil, "--input", good)
    assert r.exit_code == 1
    _assert_inert(r.stdout)
    assert "== " + str(tmp_path) + "/a\\n::error::x.json\n" in r.stdout
    assert "error [invalid_input] at /k\\u001b/0: " in r.stdout


def test_control_characters_are_escaped_inside_github_annotations(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", {"echo.tenet": ECHO_POLICY})
    inp = write(tmp_path / "in.json", json.dumps({"who": HOSTILE}))
    r = run("eval", "echo", "--bundle", str(bundle), "--input", inp, "--format", "github")
    _assert_inert(r.stdout, commands=1)
    first = r.stdout.splitlines()[0]
    assert ",title=echo.who (blocking)::requested by x\\n::error file=evil.yaml" in first
    assert "\\u001b[31m\\u0000" in first


# ---- inputs: empty, encodings, positions of parse errors, the same file twice ---------------


def test_an_empty_input_path_is_said_to_be_empty(bundle: Path) -> None:
    r = run("eval", "main", "--bundle", str(bundle), "--input", "")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == (
        "error: an input path is empty: give a YAML or JSON file, or `-` for standard input\n"
    )


@pytest.mark.parametrize(
    ("name", "text", "holds"),
    [
        ("empty.yaml", "", "nothing but blanks and comments"),
        ("blank.yaml", "\n  \n# only a comment\n---\n", "nothing but blanks and comments"),
        ("null.yaml", "# nothing\nnull\n", "only `null`"),
        ("tilde.yaml", "~\n", "only `null`"),
        ("empty.json", "", "nothing but blanks"),
        ("blank.json", " \n\t\n", "nothing but blanks"),
        ("null.json", "null", "only `null`"),
    ],
)
def test_an_empty_or_null_input_is_an_input_error(
    bundle: Path, tmp_path: Path, name: str, text: str, holds: str
) -> None:
    (tmp_path / "t").mkdir()
    inp = write(tmp_path / "t" / name, text)
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == (
        f"error: input `{inp}` is empty: it holds {holds}\n"
        "  = help: give the document to decide, an object of its fields (`{}` for one with none)\n"
    )


def test_empty_standard_input_is_an_input_error(bundle: Path) -> None:
    r = run("eval", "main", "--bundle", str(bundle), "--input", "-", stdin="")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: input `-` is empty: it holds nothing but blanks")


@pytest.mark.parametrize("name", ["in.json", "in.yaml"])
def test_a_byte_order_mark_is_accepted_in_json_and_yaml(
    bundle: Path, tmp_path: Path, name: str
) -> None:
    inp = write(tmp_path / name, b'\xef\xbb\xbf{"role": "admin"}')
    r = run("eval", "main.allow", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 0, r.output
    # and it takes no column: a result is placed where an editor shows the value
    inp = write(tmp_path / name, b'\xef\xbb\xbf{"owner": false, "card": "c"}')
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp, "--format", "sarif")
    (result,) = json.loads(r.stdout)["runs"][0]["results"]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (1, 2)


def test_a_json_key_given_twice_is_placed_at_its_second_occurrence(
    bundle: Path, tmp_path: Path
) -> None:
    text = '{"model_id": "a", "version": "1.0.0",\n "stage": "prod", "model_id": "b"}'
    inp = write(tmp_path / "dup.json", text)
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 2
    assert r.stderr == (
        f"error: input `{inp}` is not valid JSON at line 2, column 19: "
        "the key `model_id` is given twice in one object\n"
        "  = help: give each key once: the last would silently replace the first\n"
    )
    # the first given twice as written, an outer key before one inside its value
    inp = write(tmp_path / "nested.json", '{"a": 1,\n"a": {"b": 1, "b": 2}}')
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp)
    assert "at line 2, column 1: the key `a` is given twice" in r.stderr


def test_a_json_syntax_error_is_placed_in_our_words(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "syn.json", '{"a": [1,\n  }')
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 2
    assert r.stderr == (
        f"error: input `{inp}` is not valid JSON at line 2, column 3: expecting value\n"
        "  = help: write a value: a string in double quotes, a number, `true`, `false`, `null`, "
        "an object or a list (JSON allows no `,` after the last item)\n"
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "in.json",
            '{"a": "\t"}',
            " at line 1, column 8: invalid control character\n"
            "  = help: write a line break in a string as `\\n` and a tab as `\\t`\n",
        ),
        (
            "in.json",
            '{"a": "abc',
            ' at line 1, column 7: unterminated string\n  = help: end the string with `"`\n',
        ),
        (
            "in.json",
            "\ufeff\ufeff{}",  # one byte order mark is taken; a second is no JSON
            " at line 1, column 1: a byte order mark stands where the document should start\n"
            "  = help: save the file as UTF-8 without a byte order mark\n",
        ),
        (
            "in.json",
            '{"a": 1' + "0" * 5000 + "}",
            " at line 1, column 7: a number has more than 4300 digits, more than is read\n"
            "  = help: quote the number if it is an identifier rather than an amount\n",
        ),
        (
            "in.yaml",
            "a: 1" + "0" * 5000 + "\n",
            " at line 1, column 4: a number has more than 4300 digits, more than is read\n"
            "  = help: quote the number if it is an identifier rather than an amount\n",
        ),
        (
            "in.yaml",
            "? [a, b]\n: 1\n",
            " at line 1, column 3: a key is a list or a mapping\n"
            "  = help: keys are text: write the key as plain text, or quote it\n",
        ),
    ],
)
def test_json_and_yaml_errors_are_whole_sentences_of_ours(
    bundle: Path, tmp_path: Path, name: str, content: str, message: str
) -> None:
    inp = write(tmp_path / name, content)
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 2
    kind = "JSON" if name.endswith(".json") else "YAML"
    assert r.stderr == f"error: input `{inp}` is not valid {kind}" + message


def test_a_manifest_number_too_long_to_read_is_a_load_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    root = tmp_path / "b"
    root.mkdir()
    (root / "p.tenet").write_text("package p\nx = 1\n")
    (root / "tenet.yaml").write_text("name: b\nversion: 1.0.0\nx-big: 1" + "0" * 5000 + "\n")
    r = run("check", str(root))
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "`tenet.yaml` is not valid YAML: a number has more than 4300 digits" in r.output


def test_an_input_that_is_not_utf8_names_line_column_and_byte(bundle: Path, tmp_path: Path) -> None:
    inp = write(tmp_path / "bad.yaml", b"owner: ok\nmodel_id: \xc3\xa9\xff\xfe\n")
    r = run("eval", "main", "--bundle", str(bundle), "--input", inp)
    assert r.exit_code == 2
    assert r.stderr == (
        f"error: input `{inp}` is not UTF-8 text: line 2, column 12 holds the byte 0xff "
        "(at byte offset 22)\n"
        "  = help: save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 IN > OUT`\n"
    )
    r = run("eval", "main", "--bundle", str(bundle), "--input", "-", stdin=b"\xff\xfea\x00")
    assert "error: input `-` is not UTF-8 text: line 1, column 1 holds the byte 0xff" in r.stderr
    assert "the start of a UTF-16 byte order mark" in r.stderr and "iconv -f utf-16" in r.stderr


def test_a_file_named_twice_in_any_spelling_is_decided_once(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    write(tmp_path / "d" / "u1.yaml", "role: admin\n")
    write(tmp_path / "d" / "u2.yaml", "role: user\n")
    r = run(
        "eval", "main.allow", "--bundle", str(bundle), "--input", "d/u1.yaml",
        "--input", "./d/u1.yaml", "--input", "./d/*.yaml", "--input", str(tmp_path / "d/u2.yaml"),
        "d//u2.yaml",
    )  # fmt: skip
    heads = [line for line in r.stdout.splitlines() if line.startswith("== ")]
    assert heads == ["== d/u1.yaml", "== ./d/u2.yaml"]
    assert r.stdout.endswith("2 inputs: 1 allow, 1 deny, 0 error\n")


@pytest.mark.parametrize("option", ["--shutdown-timeout", "--watch-interval"])
def test_serve_refuses_nan_seconds(bundle: Path, option: str) -> None:
    r = run("serve", "--bundle", str(bundle), option, "nan")
    assert r.exit_code == 2
    assert f"Invalid value for '{option}': 'nan' is not a number." in r.stderr


DRIVER = """
import click, sys
from tenet import cli

def closed(*args, **kwargs):
    raise BrokenPipeError(32, "Broken pipe")

click.echo = closed  # as a write to a pipe whose reader has gone
cli.main(sys.argv[1:])
"""


def test_a_reader_that_closes_the_pipe_early_is_no_finding() -> None:
    # exit 1 is a finding (a tampered log, a deny): a closed pipe ends as SIGPIPE would
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, "version"], capture_output=True, check=False
    )
    assert proc.returncode == 141 and proc.stderr == b""


@pytest.mark.parametrize("args", [["--help"], ["audit", "--help"], ["version"]])
def test_a_pipe_closed_before_anything_is_written_ends_as_sigpipe(args: list[str]) -> None:
    # the reader is gone before the command starts, so its first write fails, every time;
    # `tenet --help` writes while the group reads its arguments, before any command runs
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tenet.cli", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            check=False,
        )
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (141, b"")


def test_verify_piped_into_head_does_not_say_tampered(tmp_path: Path) -> None:
    log = f"jsonl:///{tmp_path}/audit.jsonl"
    bundle = write_bundle(tmp_path / "b", {"main.tenet": "package main\nallow if { input.a }\n"})
    record = [sys.executable, "-m", "tenet.cli", "eval", "main.allow", "--bundle", str(bundle)]
    for _ in range(3):
        subprocess.run(
            [*record, "--input", "-", "--decision-log", log],
            input=b'{"a": true}', capture_output=True, check=True,
        )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenet.cli", "audit", "verify", "--log", log],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=60) in (0, 141) and proc.stderr.read() == b""
    read, write = os.pipe()
    os.close(read)  # gone before verify writes its first line: 141 every time, never 1
    try:
        closed = subprocess.run(
            [sys.executable, "-m", "tenet.cli", "audit", "verify", "--log", log],
            stdout=write, stderr=subprocess.PIPE, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    assert (closed.returncode, closed.stderr) == (141, b"")
