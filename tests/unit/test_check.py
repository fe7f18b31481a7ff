"""`tenet check`: each warning (and what does not draw it), input fields checked against the
manifest's input schemas, compile errors, `--strict`, `--format json`, exit codes, and that
loading a bundle is not affected by warnings."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import tenet
from tenet.analysis import check
from tenet.analysis.lints import LINTS, lint
from tenet.cli import main
from tenet.diagnostics import did_you_mean
from tenet.source import Source
from tenet.syntax.parser import parse
from tests.conftest import write_bundle


def lint_texts(
    files: dict[str, str], data: Any = None, schemas: dict[str, Any] | None = None
) -> list[tuple[str, int | None, str, str | None]]:
    modules = []
    for path, text in files.items():
        module, diags = parse(Source(path, text))
        assert module is not None, diags
        modules.append(module)
    analysis, errors = check(modules, data or {})
    assert not [e for e in errors if e.severity == "error"], errors
    found = lint(analysis, {q: (f"schemas/{q}.json", s) for q, s in (schemas or {}).items()})
    assert all(d.severity == "warning" and d.code in LINTS for d in found)
    return [(d.code, d.line, d.message, d.help) for d in found]


def lint_one(text: str, **kwargs: Any) -> list[tuple[str, int | None, str, str | None]]:
    return lint_texts({"p.tenet": text}, **kwargs)


def codes(text: str, **kwargs: Any) -> list[str]:
    return [c for c, *_ in lint_one(text, **kwargs)]


# ---- each warning --------------------------------------------------------------------------


def test_unused_import() -> None:
    text = """\
package p

import data.used
import data.unused
import lib as c
import data.in_message as m

r if { used.x }
f if { c.g(1) }
require k { true == input.x } message "{m.x}"
"""
    found = lint_texts({"p.tenet": text, "lib.tenet": "package lib\n\ng(x) if { x > 0 }\n"})
    assert ("unused-import", 4, "import `data.unused` is never used", "remove it") in found
    assert [c for c, *_ in found].count("unused-import") == 1


def test_an_import_hidden_by_a_local_is_unused() -> None:
    found = codes("package p\n\nimport data.x\n\nr if {\n    x := 1\n    x > 0\n}\n")
    assert "unused-import" in found and "shadowing" in found


def test_unused_local() -> None:
    text = """\
package p

r if {
    a := input.a
    b := input.b
    some k, v in input.m
    every e in input.es { e > 0 }
    xs := [y for y in input.ys]
    _skip := 1
    some _i, w in input.list
    w > b
}

val = x if { some x in input.xs }

require c {
    z := input.z
} message "{z}"
"""
    found = [(c, line, m) for c, line, m, _ in lint_one(text)]
    assert found == [
        ("unused-local", 4, "local `a` is never used"),
        ("unused-local", 6, "local `k` is never used"),
        ("unused-local", 6, "local `v` is never used"),
        ("unused-local", 8, "local `xs` is never used"),
    ]


def test_shadowing() -> None:
    text = """\
package p

import data.limits

level = 1

r if {
    level := 2
    limits := 3
    count := 4
    level + limits + count > 0
}

max = 3

f(sum) = sum if { true == true }
"""
    found = [(c, line, m) for c, line, m, _ in lint_one(text) if c == "shadowing"]
    assert found == [
        ("shadowing", 8, "local `level` shadows rule `level` of package `p`"),
        ("shadowing", 9, "local `limits` shadows import `limits`"),
        ("shadowing", 10, "local `count` shadows the built-in function `count`"),
        ("shadowing", 14, "rule `max` shadows the built-in function `max` in package `p`"),
        ("shadowing", 16, "parameter `sum` shadows the built-in function `sum`"),
    ]


def test_a_shadowing_parameter_is_placed_at_the_parameter(tmp_path: Path) -> None:
    # it was placed at the whole definition, 3:1, with a caret under all of it
    path = tmp_path / "p.tenet"
    path.write_text("package p\n\nf(x, count) = count + x\n")
    out = run(str(path)).stdout.splitlines()
    assert out[:5] == [
        "warning[shadowing]: parameter `count` shadows the built-in function `count`",
        f"  --> {path.as_posix()}:3:6",
        "    |",
        "  3 | f(x, count) = count + x",
        "    |      ^^^^^",
    ]


def test_constant_conditions() -> None:
    text = """\
package p

limit = 10
default flag = false

r if {
    1 + 1 == 2
    limit > 5
    count([1, 2]) > 5
    input.x > limit
    now() > 0
    data.flags.strict
    not flag
}

require c when "a" in ["a"] {
    input.x
} message "m"

xs = [x for x in input.xs if true]
"""
    found = [(line, m) for c, line, m, _ in lint_one(text) if c == "constant-condition"]
    assert found == [
        (7, "condition `1 + 1 == 2` is constant: it always holds"),
        (8, "condition `limit > 5` is constant: it has the same value for every input"),
        (9, "condition `count([1, 2]) > 5` is constant: it never holds"),
        (13, "condition `not flag` is constant: it has the same value for every input"),
        (16, 'the `when` condition `"a" in ["a"]` is constant: it always holds'),
        (20, "condition `true` is constant: it always holds"),
    ]


def test_a_constant_condition_that_always_raises_is_named_for_its_error() -> None:
    # it has no value at all, so "the same value for every input" was a wrong claim
    text = """\
package p

a if { count(5) > 0 }
require c { "a" + 1 == 2 } message "m"
b if { 1 / 0 > 1 }
"""
    found = [(c, line, m, h) for c, line, m, h in lint_one(text)]
    assert found == [
        (
            "constant-condition",
            3,
            "condition `count(5) > 0` raises an error wherever it is evaluated: `count` expects a "
            "string, an array, a set or an object, got number",
            "a decision that reaches it is an `error` (type_error); fix the expression, or "
            "make it read the input or data it was meant to test",
        ),
        (
            "constant-condition",
            4,
            'condition `"a" + 1 == 2` raises an error wherever it is evaluated: `+` cannot '
            "take string and number",
            "a decision that reaches it is an `error` (type_error); fix the expression, or "
            "make it read the input or data it was meant to test",
        ),
        (
            "constant-condition",
            5,
            "condition `1 / 0 > 1` raises an error wherever it is evaluated: division by zero",
            "a decision that reaches it is an `error` (division_by_zero); fix the expression, "
            "or make it read the input or data it was meant to test",
        ),
    ]


def lint_spans(text: str) -> list[tuple[str, int | None, int | None, str]]:
    """(code, line, column, message) of each warning of one file."""
    module, diags = parse(Source("p.tenet", text))
    assert module is not None, diags
    analysis, errors = check([module], {})
    assert not [e for e in errors if e.severity == "error"], errors
    return [(d.code, d.line, d.column, d.message) for d in lint(analysis)]


def test_a_value_that_raises_on_every_input_is_warned_about_where_it_is_written() -> None:
    # it loads, and every decision that evaluates the rule, function or local is an error
    text = """\
package p

limit = count(5)
label = "a" + 1
default allow = 1 / 0
allow if { input.ok }
tags contains upper(3)
risk(s) = count(5) if { s > 1 }
r if {
    n := "a" + 1
    input.x > n
}
"""
    count_error = "`count` expects a string, an array, a set or an object, got number"
    assert lint_spans(text) == [
        (
            "constant-error",
            3,
            9,
            "`count(5)`, the value of rule `limit`, raises an error wherever it is evaluated: "
            + count_error,
        ),
        (
            "constant-error",
            4,
            9,
            '`"a" + 1`, the value of rule `label`, raises an error wherever it is evaluated: '
            "`+` cannot take string and number",
        ),
        (
            "constant-error",
            5,
            17,
            "`1 / 0`, the default value of rule `allow`, raises an error wherever it is evaluated: "
            "division by zero",
        ),
        (
            "constant-error",
            7,
            15,
            "`upper(3)`, an element of set rule `tags`, raises an error wherever it is evaluated: "
            "`upper` expects a string, got number",
        ),
        (
            "constant-error",
            8,
            11,
            f"`count(5)`, the value of function `risk`, raises an error wherever it is evaluated: "
            f"{count_error}",
        ),
        (
            "constant-error",
            10,
            10,
            '`"a" + 1`, the value bound to `n`, raises an error wherever it is evaluated: '
            "`+` cannot take string and number",
        ),
    ]
    (found,) = [h for c, _, _, h in lint_one(text) if c == "constant-error"][:1]
    assert found == (
        "a decision that evaluates it is an `error` (type_error); fix the expression, or make "
        "it read the input or data it was meant to use"
    )


def test_values_that_read_something_or_can_be_worked_out_are_not_warned_about() -> None:
    text = """\
package p

import data.t

ok = count([1, 2])
big = 10 / 4
from_input = count(input.xs)
from_data = t.limit + 1
from_rule = ok + 1
half(x) = x / 2
r if {
    n := input.a + 1
    m := count([1])
    n > m
}
"""
    assert [c for c in codes(text) if c in ("constant-error", "not-a-collection")] == []


EVALUATED = "it raises an error wherever it is evaluated"


def test_iterating_a_constant_that_is_not_a_collection() -> None:
    # iterating a number, string, boolean or null is a `type_error`: it never binds
    text = """\
package p

a if {
    some x in 5
    x > input.n
}
b if { every k, v in "abc" { v == input.v; k > 0 } }
xs = [y for y in true if y]
c if { some z in count(5); z }
d if { some z in [1][3]; z == input.z }
e if { every z in null { z } }
"""
    found = [(c, line, col, m) for c, line, col, m in lint_spans(text) if c != "unused-local"]
    assert found == [
        (
            "not-a-collection",
            4,
            15,
            f"`some x in 5` iterates over a number, not a collection: {EVALUATED}",
        ),
        (
            "not-a-collection",
            7,
            22,
            f'`every k, v in "abc"` iterates over a string, not a collection: {EVALUATED}',
        ),
        (
            "not-a-collection",
            8,
            18,
            f"`for y in true` iterates over a boolean, not a collection: {EVALUATED}",
        ),
        (
            "constant-error",
            9,
            18,
            "`count(5)`, the collection of `some z in count(5)`, raises an error wherever it is "
            "evaluated: `count` expects a string, an array, a set or an object, got number",
        ),
        (
            "not-a-collection",
            10,
            18,
            "`some z in [1][3]` iterates over an undefined value on every input: it never binds",
        ),
        (
            "not-a-collection",
            11,
            19,
            f"`every z in null` iterates over a null, not a collection: {EVALUATED}",
        ),
    ]
    helps = {m: h for c, _, m, h in lint_one(text) if c == "not-a-collection"}
    assert helps[f"`some x in 5` iterates over a number, not a collection: {EVALUATED}"] == (
        "a decision that reaches it is an `error` (type_error); iterate over an array, a set or "
        "an object"
    )
    assert (
        helps["`some z in [1][3]` iterates over an undefined value on every input: it never binds"]
        == "the body never holds; iterate over the input or data it was meant to"
    )


def test_iterating_a_constant_collection_or_the_input_is_not_warned_about() -> None:
    text = """\
package p

names = {"a": 1}

a if { some x in [1, 2]; x > input.n }
b if { every k, v in names { v > input.v; k != input.k } }
c if { some s in split("a,b", ","); s == input.s }
d = [y for y in input.ys]
e if { some x in input.x; x }
"""
    assert [c for c in codes(text) if c in ("constant-error", "not-a-collection")] == []


def test_the_shipped_bundles_check_clean() -> None:
    # the new warnings must not fire on the bundles we ship (nor any other)
    root = Path(__file__).resolve().parents[2] / "policies"
    result = run(*(str(p) for p in sorted(root.iterdir()) if p.is_dir()))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.rstrip().endswith(": 0 errors, 0 warnings")


def test_a_local_named_like_a_constant_rule_is_not_constant() -> None:
    # from its binding on, the name is the local's: `limit > 1` tests the input
    text = """\
package p

limit = 10

r6 if {
    limit := input.n
    limit > 1
}

r7 if { every limit in input.xs { limit > 1 } }

r8 = [limit for limit in input.xs if limit > 1]

r9 if {
    some limit in input.xs
    limit > 1
}

r10 if { limit > 1 }
"""
    found = [(line, m) for c, line, m, _ in lint_one(text) if c == "constant-condition"]
    assert found == [
        (19, "condition `limit > 1` is constant: it has the same value for every input"),
    ]


def test_check_without_message() -> None:
    text = """\
package p

require reviewed { input.reviewed }

forbid public { input.public } message "the bucket is public"
"""
    found = lint_one(text)
    assert found == [
        (
            "no-message",
            3,
            "check `reviewed` has no message",
            'add `message "…"` saying what is wrong and how to fix it; the default, '
            "`requirement reviewed is not met`, says neither",
        )
    ]


# ---- input fields against the input schema -------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "evaluation": {
            "type": "object",
            "properties": {"accuracy": {"type": "number"}, "latency": {"type": "number"}},
        },
        "model": {"$ref": "#/$defs/model"},
        "approvals": {
            "type": "array",
            "items": {"type": "object", "properties": {"role": {}, "status": {}}},
        },
        "metrics": {"type": "object", "additionalProperties": {"properties": {"value": {}}}},
        "labels": {"type": "object"},
        "either": {"anyOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}]},
        "closed": {"type": "object", "properties": {"x": {}}, "additionalProperties": False},
        "open": {"type": "object", "properties": {"x": {}}, "additionalProperties": True},
        "prefixed": {"type": "object", "patternProperties": {"^x-": {}}},
    },
    "$defs": {"model": {"type": "object", "properties": {"id": {}, "owner": {}}}},
}


def fields(text: str, schemas: dict[str, Any] | None = None) -> list[tuple[int | None, str, str]]:
    found = lint_one(text, schemas=schemas if schemas is not None else {"deploy": SCHEMA})
    return [(line, m, h or "") for c, line, m, h in found if c == "unknown-input-field"]


def test_a_misspelt_input_field_gets_the_nearest_declared_one() -> None:
    text = (
        "package deploy.staging\n\nrequire acc {\n"
        '    input.evalution.accuracy >= 0.9\n} message "m"\n'
    )
    assert fields(text) == [
        (
            4,
            "`input.evalution.accuracy`: the input schema `schemas/deploy.json` declares no "
            "field `evalution` here",
            "did you mean `input.evaluation.accuracy`?",
        )
    ]


def test_fields_are_followed_through_refs_items_and_additional_properties() -> None:
    text = """\
package deploy

import input.model as m

r if { m.ownr }
s if { input.model.id }
t if {
    some a in input.approvals
    a.stauts == "approved"
    a.role == "cro"
}
u if {
    some name, metric in input.metrics
    metric.vlaue > name
}
v if { input.approvals[0].rol }
w if { input.evaluation["acuracy"] }
x if { x := input.evaluation; x.latncy > 1 }
y = [a.rle for a in input.approvals]
"""
    helps = [h for _, _, h in fields(text)]
    assert helps == [
        "did you mean `m.owner`?",
        "did you mean `a.status`?",
        "did you mean `metric.value`?",
        "did you mean `input.approvals[0].role`?",
        'did you mean `input.evaluation["accuracy"]`?',
        "did you mean `x.latency`?",
        "did you mean `a.role`?",
    ]


def test_open_schemas_draw_nothing() -> None:
    text = """\
package deploy

r if {
    input.labels.anything
    input.either.a
    input.either.b
    input.open.y
    input.prefixed["x-team"]
    input.evaluation.accuracy.deeper
    some k in input.approvals
    input.approvals[input.evaluation.latency].nothing
}
"""
    assert fields(text) == []


def test_closed_and_anyof_schemas() -> None:
    text = "package deploy\n\nr if { input.closed.y }\ns if { input.either.c }\n"
    assert [m.split(": ")[0] for _, m, _ in fields(text)] == [
        "`input.closed.y`",
        "`input.either.c`",
    ]


def test_only_queries_mapped_to_a_schema_are_checked() -> None:
    text = "package access\n\nallow if { input.nothing.here }\nother if { input.nothing }\n"
    assert fields(text) == []
    assert [line for line, _, _ in fields(text, {"access.allow": SCHEMA})] == [3]
    assert [line for line, _, _ in fields(text, {"access": SCHEMA})] == [3, 4]


def test_an_import_of_an_undeclared_input_field() -> None:
    text = "package deploy\n\nimport input.modle\n\nr if { modle.id }\n"
    assert fields(text) == [
        (
            3,
            "`input.modle`: the input schema `schemas/deploy.json` declares no field `modle` here",
            "did you mean `input.model`?",
        )
    ]


# ---- the command ---------------------------------------------------------------------------


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, ["check", *args], catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


MANIFEST = "name: b\nversion: 1.0.0\ninputs:\n  deploy: schemas/deploy.schema.json\n"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    files = {
        "tenet.yaml": MANIFEST,
        "schemas/deploy.schema.json": json.dumps(SCHEMA),
        "deploy/gates.tenet": "package deploy\n\nimport data.t\n\nrequire acc {\n"
        "    input.evalution.accuracy > 0.5\n}\n",
        "other/clean.tenet": 'package other\n\nallow if { input.x == "y" }\n',
    }
    return write_bundle(tmp_path / "b", files, {"t": 1})


def test_a_file_with_cr_only_line_ends_is_checked_at_its_lines(tmp_path: Path) -> None:
    # old Mac line ends: the file did not parse, as one line with `\r` in it
    text = "package p\r\rimport data.unused\r\rallow if {\r    input.a == 1\r    nope(1)\r}\r"
    root = write_bundle(
        tmp_path / "b", {"tenet.yaml": "name: b\nversion: 1.0.0\n", "p.tenet": text}
    )
    out = run(str(root)).stdout
    assert "unused-import" in out and f"--> {root.as_posix()}/p.tenet:3:1" in out
    assert f"--> {root.as_posix()}/p.tenet:7:5" in out and "7 |     nope(1)" in out


def test_warnings_alone_exit_1(bundle: Path) -> None:
    result = run(str(bundle))
    assert result.exit_code == 1  # exit 0 only when clean
    out = result.stdout
    assert "warning[unused-import]" in out and "warning[no-message]" in out
    assert "warning[unknown-input-field]" in out
    assert f"--> {bundle.as_posix()}/deploy/gates.tenet:3:1" in out
    assert out.endswith("checked 2 files: 0 errors, 3 warnings\n")


def test_strict_makes_warnings_errors(bundle: Path) -> None:
    result = run(str(bundle), "--strict")
    assert result.exit_code == 1
    assert "error[unused-import]" in result.stdout and "warning[" not in result.stdout


def test_json(bundle: Path) -> None:
    doc = json.loads(run(str(bundle), "--format", "json").stdout)
    assert (doc["errors"], doc["warnings"], doc["files"]) == (0, 3, 2)
    assert {f["code"] for f in doc["findings"]} == {
        "unused-import",
        "no-message",
        "unknown-input-field",
    }
    assert doc["findings"][0]["file"] == f"{bundle.as_posix()}/deploy/gates.tenet"


def test_a_clean_file_and_one_file_of_a_bundle(bundle: Path) -> None:
    result = run(str(bundle / "other" / "clean.tenet"))
    assert (result.exit_code, result.stdout) == (0, "checked 1 file: 0 errors, 0 warnings\n")
    result = run(str(bundle / "deploy" / "gates.tenet"))
    assert "checked 1 file: 0 errors, 3 warnings" in result.stdout


def test_input_fields_are_followed_into_other_schema_files_of_the_bundle(tmp_path: Path) -> None:
    deploy = {
        "type": "object",
        "properties": {
            "model": {"$ref": "common/model.json"},
            "owner": {"$ref": "common/model.json#/$defs/person"},
        },
    }
    model = {  # its own `$ref`s resolve in this file, not in the one that referred to it
        "type": "object",
        "properties": {"model_id": {}, "author": {"$ref": "#/$defs/person"}},
        "$defs": {"person": {"type": "object", "properties": {"login": {}, "team": {}}}},
    }
    root = write_bundle(
        tmp_path / "b",
        {
            "tenet.yaml": MANIFEST,
            "schemas/deploy.schema.json": json.dumps(deploy),
            "schemas/common/model.json": json.dumps(model),
            "deploy/gates.tenet": "package deploy\n\nrequire known {\n"
            "    input.model.modle_id\n    input.model.author.logn\n    input.owner.tema\n"
            '    input.model.author.team\n} message "m"\n',
        },
    )
    result = run(str(root))
    found = [line for line in result.stdout.splitlines() if "did you mean" in line]
    assert found == [
        "  = help: did you mean `input.model.model_id`?",
        "  = help: did you mean `input.model.author.login`?",
        "  = help: did you mean `input.owner.team`?",
    ]


def test_compile_errors_are_all_reported_exit_1(tmp_path: Path) -> None:
    root = write_bundle(
        tmp_path / "b",
        {
            "a.tenet": "package a\n\nallow if { rolez }\ndeny if { nope(1) }\n",
            "b.tenet": "package b\nallow if {\n",
        },
    )
    result = run(str(root))
    assert result.exit_code == 1
    for text in ("error[unknown-name]", "error[unknown-function]", "error[syntax]"):
        assert text in result.stdout
    assert "checked 2 files: 3 errors, 0 warnings" in result.stdout


def test_a_file_outside_any_bundle(tmp_path: Path) -> None:
    path = tmp_path / "solo.tenet"
    path.write_text("package solo\n\nr if {\n    x := 1\n    true\n}\n")
    result = run(str(path))
    assert result.exit_code == 1
    assert "local `x` is never used" in result.stdout
    assert "condition `true` is constant" in result.stdout


def test_a_folder_of_bundles_checks_each(tmp_path: Path, bundle: Path) -> None:
    other = write_bundle(tmp_path / "c", {"tenet.yaml": "name: c\n", "c.tenet": "package c\n"})
    result = run(str(tmp_path))
    assert result.exit_code == 1
    assert "checked 3 files: 0 errors, 3 warnings" in result.stdout
    assert other.exists()


@pytest.mark.parametrize(
    "args",
    [
        [".", "dup.tenet"],
        ["dup.tenet", "."],
        [".", "./dup.tenet", "sub/other.tenet"],
        [".", "sub"],
        ["sub", ".", "../folder/dup.tenet"],
    ],
)
def test_a_file_inside_a_folder_given_too_is_checked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    # `tenet check . dup.tenet` printed each finding of dup.tenet twice and counted 2 files
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "dup.tenet").write_text("package p\n\nallow if { 1 == 1 }\n")
    (folder / "sub" / "other.tenet").write_text("package q\n\nr if { 2 == 2 }\n")
    monkeypatch.chdir(folder)
    result = run(*args)
    assert result.exit_code == 1
    places = [line for line in result.stdout.splitlines() if line.startswith("  --> ")]
    assert places == ["  --> dup.tenet:3:12", "  --> sub/other.tenet:3:8"]
    assert result.stdout.endswith("checked 2 files: 0 errors, 2 warnings\n")


def test_loading_ignores_warnings(bundle: Path) -> None:
    loaded = tenet.load_bundle(bundle)  # warnings are for `tenet check` only
    assert loaded.warnings == ()
    decision = loaded.decide("deploy", {"evaluation": {"accuracy": 0.9}})
    assert decision.outcome == "deny"  # the misspelt field is missing: the check is violated


def test_unknown_control_ids_are_warned_about(tmp_path: Path) -> None:
    policy = (
        "package p\n\n"
        "#@ controls: [act/art-1, act/art-2x, law/s-1]\n"
        'require ok { input.ok } message "not ok"\n'
    )
    catalogue = "name: Act\nsource: s\ncontrols:\n  art-1: {title: One}\n  art-2: {title: Two}\n"
    root = write_bundle(tmp_path / "b", {"p.tenet": policy, "frameworks/act.yaml": catalogue})
    result = CliRunner().invoke(main, ["check", str(root), "--format", "json"])
    found = json.loads(result.output)
    warnings = found["findings"] if isinstance(found, dict) else found
    controls = [w for w in warnings if w["code"] == "unknown-control"]
    assert [(w["message"], w.get("help")) for w in controls] == [
        ("control `act/art-2x` is defined by no catalogue", "did you mean `act/art-2`?"),
        (
            "control `law/s-1` is defined by no catalogue",
            "add the catalogue `frameworks/law.yaml` to the bundle",
        ),
    ]
    assert all(w["line"] == 3 for w in controls)


def test_number_literals_out_of_range_are_load_errors_named_by_their_spelling() -> None:
    # integers are exact up to 4096 bits, decimals up to the double range; a literal past
    # either is refused by its own spelling, however long, without Python's words
    big = "1" + "0" * 1300
    longer = "1" + "0" * 5000
    text = (
        f"package p\na = {big}\nb = {longer}\nc = {longer}ms\nd = 1e400\n"
        f"e = {'9' * 1233}\nf = 1{'_000' * 300}\ng = 1{'0' * 500}%\nh = 1e300TiB\n"
    )
    module, diags = parse(Source("p.tenet", text))
    assert module is not None and not diags
    _, errors = check([module], {})
    got = [(d.code, d.line, d.column, d.message) for d in errors]
    assert got == [
        ("number", 2, 5, "the integer `10000000000000000000…` (1301 digits) is over 4096 bits"),
        ("number", 3, 5, "the integer `10000000000000000000…` (5001 digits) is over 4096 bits"),
        ("number", 4, 5, "the integer `10000000000000000000…` (5001 digits) is over 4096 bits"),
        ("number", 5, 5, "the number `1e400` is beyond the double range"),
        # within 4096 bits, but its unit takes it past the double range
        ("number", 8, 5, "the number `10000000000000000000…` is beyond the double range"),
        ("number", 9, 5, "the number `1e300TiB` is beyond the double range"),
    ]
    assert errors[0].help == (
        "integers are exact up to 4096 bits (1233 digits); write a smaller number"
    )
    assert all("sys." not in (d.help or "") for d in errors)


def load_errors(text: str) -> list[tuple[str, int | None, int | None, str, str | None]]:
    module, diags = parse(Source("p.tenet", text))
    assert module is not None and not diags
    _, errors = check([module], {})
    return [(d.code, d.line, d.column, d.message, d.help) for d in errors]


def test_an_opa_built_in_is_named_with_its_tenet_counterpart() -> None:
    got = load_errors(
        'package p\nimport data.lib\na = time.now_ns()\nb = sprintf("%v", [1])\n'
        "c = count.x(1)\nd = lob.f(1)\ne = foo.bar(1)\nf = lenn([])\n"
    )
    assert [(line, col, msg) for _, line, col, msg, _ in got] == [
        (3, 5, "unknown function `time.now_ns`"),
        (4, 5, "unknown function `sprintf`"),
        (5, 5, "unknown function `count.x`"),
        (6, 5, "unknown function `lob.f`"),
        (7, 5, "unknown function `foo.bar`"),
        (8, 5, "unknown function `lenn`"),
    ]
    assert [h for *_, h in got] == [
        "in Tenet, OPA's `time.now_ns` is `now()`, in seconds rather than nanoseconds",
        "in Tenet, OPA's `sprintf` is a message template, "
        'such as `message "{value:.1%} is over {limit}"`',
        "built-in names have no dots: call the built-in `count(…)`",
        "did you mean `lib`?",
        "`foo` is not imported: import the package that defines the function, "
        "e.g. `import some.package as foo`",
        "did you mean `len`?",
    ]


def test_a_suggestion_is_never_the_name_itself() -> None:
    # `time` is a built-in, but `time.x` is not: "did you mean `time`?" helped no one
    assert all(
        "did you mean `time`" not in (h or "")
        for *_, h in load_errors("package p\nx = time.x(1)\n")
    )
    assert did_you_mean("time", ["time", "lime"]) == "did you mean `lime`?"


# ---- no finding that follows from another -------------------------------------------------------


def _check_output(tmp_path: Path, files: dict[str, str]) -> str:
    root = write_bundle(tmp_path / "b", files)
    doc = json.loads(run(str(root), "--format", "json").stdout)
    return "\n".join(
        f"{d['severity']}[{d['code']}] {d['line']}:{d['column']} {d['message']} | {d.get('help')}"
        for d in doc["findings"]
    )


def test_a_variable_read_too_early_is_not_also_unused(tmp_path: Path) -> None:
    text = "package p\n\nallow if {\n    y > 1\n    y := input.a\n}\n\nd if {\n    not x == 1\n"
    text += "    x := 2\n}\n\ne if {\n    every v in input.xs { v > z }\n    z := input.a\n}\n"
    assert _check_output(tmp_path, {"p.tenet": text}).splitlines() == [
        "error[unsafe] 4:5 variable `y` is used before the line that binds it | move the "
        "condition below the `:=` or `some` that binds it",
        "error[unsafe] 9:9 variable `x` is used before the line that binds it | move the "
        "condition below the `:=` or `some` that binds it",
        "error[unsafe] 14:31 variable `z` is used before the line that binds it | move the "
        "condition below the `:=` or `some` that binds it",
    ]


def test_a_policy_that_does_not_parse_does_not_make_its_waiver_an_error(tmp_path: Path) -> None:
    waiver = (
        'waivers:\n  - check: p.r\n    expires: "2099-01-01T00:00:00Z"\n    approved_by: x\n'
        "    reason: y\n"
    )
    files = {"p.tenet": 'package p\n\nrequire r { input.a == } message "m"\n', "data.yaml": waiver}
    assert [line.split(" ")[0] for line in _check_output(tmp_path, files).splitlines()] == [
        "error[syntax]"
    ]
    # once it parses, a waiver for a check that is not there is still one
    files["p.tenet"] = 'package p\n\nrequire s { input.a == 1 } message "m"\n'
    assert "error[waiver]" in _check_output(tmp_path / "again", files)


def test_function_arity_and_a_parameter_named_twice_are_placed_with_help(tmp_path: Path) -> None:
    text = "package p\n\nf(a, b) = a + b\nr = f(1)\ng(x, y, x) = x\n"
    assert _check_output(tmp_path, {"p.tenet": text}).splitlines() == [
        "error[arity] 4:5 function `f` takes 2 argument(s), not 1 | it is defined as `f(a, b)` "
        "at p.tenet:3:1",
        "error[duplicate-param] 5:9 parameter `x` appears twice | give each parameter of `g` its "
        "own name",
    ]


def test_catalogue_and_schema_errors_are_placed_with_help_and_no_misleading_warning(
    tmp_path: Path,
) -> None:
    files = {
        "p.tenet": 'package p\n#@ controls: [gdpr/art-32]\nrequire r { input.a } message "m"\n',
        "schemas/s.schema.json": '{"type": "object", "properties": {"a": {"type": "strng"}}}',
        "frameworks/gdpr.yaml": "name: GDPR\ncontrols:\n  art-32: {title: Security, refrence: x}\n",
    }
    assert _check_output(tmp_path, files).splitlines() == [
        "error[framework] 1:1 `frameworks/gdpr.yaml` needs `source`, a non-empty string | say "
        "where its text is: `source: https://…` or a citation",
        "error[framework] 3:29 `frameworks/gdpr.yaml` control `art-32`: unknown field "
        "`refrence` | did you mean `reference`?",
        "error[schema] 1:41 schema `schemas/s.schema.json` is invalid at `/properties/a/type`: "
        '`"strng"` is not a valid `type` | did you mean `string`?',
    ]


DEEP_JSON = '{"a":' * 3000 + "1" + "}" * 3000
DEEP_YAML = "description: " + "[" * 100_000 + "]" * 100_000 + "\n"


@pytest.mark.parametrize(
    ("path", "text", "code", "message"),
    [
        ("x/data.json", DEEP_JSON, "data", "data file `x/data.json` is not valid JSON"),
        ("data.yaml", DEEP_YAML, "data", "data file `data.yaml` is not valid YAML"),
        ("tenet.yaml", DEEP_YAML, "manifest", "`tenet.yaml` is not valid YAML"),
        (
            "schemas/s.schema.json",
            DEEP_JSON,
            "schema",
            "schema `schemas/s.schema.json` is not valid JSON",
        ),
        (
            "frameworks/f.yaml",
            DEEP_YAML,
            "framework",
            "framework catalogue `frameworks/f.yaml` is not valid YAML",
        ),
    ],
)
def test_a_file_nesting_past_the_parser_is_a_finding_naming_it(
    tmp_path: Path, path: str, text: str, code: str, message: str
) -> None:
    files = {"p.tenet": "package p\n\nallow if { input.x }\n", path: text}
    root = write_bundle(tmp_path / "b", files)
    result = run(str(root), "--format", "json")
    assert result.exit_code == 1
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["code"] == code
    assert finding["message"] == f"{message}: the document nests too deeply to read"
    assert finding["file"] == f"{root}/{path}"


def _chain(n: int) -> str:
    lines = [f"r{i} = r{i + 1} + 1" for i in range(n)]
    return "package a\n\n" + "\n".join(lines) + f"\nr{n} = input.x\n"


def test_a_chain_of_more_than_100_rules_is_an_error_where_it_passes_the_limit(
    tmp_path: Path,
) -> None:
    root = write_bundle(tmp_path / "b", {"a.tenet": _chain(150)})
    result = run(str(root))
    assert result.exit_code == 1
    assert result.stdout.startswith(
        "error[nesting]: `a.r50` reads a chain of 101 rules and functions, each using the next "
        "(`a.r50` → `a.r51` → … → `a.r150`): more than 100\n"
        f"  --> {root}/a.tenet:53:7\n"
    )
    with pytest.raises(tenet.PolicyError, match=r"`a\.r50` reads a chain of 101"):
        tenet.load_bundle(root)


def test_a_chain_of_100_rules_loads_and_evaluates(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"a.tenet": _chain(99)})
    assert run(str(root)).exit_code == 0
    doc = tenet.load_bundle(root).decide("a.r0", {"x": 1}).to_dict()
    assert doc["result"] == 100


def test_a_chain_of_thousands_of_rules_is_reported_not_a_compile_overflow(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"a.tenet": _chain(5000)})
    result = run(str(root))
    assert result.exit_code == 1
    assert "`a.r4900` reads a chain of 101" in result.stdout
    assert f"--> {root}/a.tenet:4903:" in result.stdout


def test_a_problem_with_the_whole_bundle_names_it_once(tmp_path: Path) -> None:
    fifo = tmp_path / "in.yaml"
    os.mkfifo(fifo)
    result = run(str(fifo))
    assert result.exit_code == 1
    assert f"  --> {fifo}\n" in result.stdout


def test_a_file_name_with_a_line_break_is_shown_escaped(tmp_path: Path) -> None:
    root = tmp_path / "b"
    (root / "deploy").mkdir(parents=True)
    (root / "deploy" / "x\n::error::pwn.tenet").write_text("package zz\nbad = \n")
    result = run(str(root))
    assert result.exit_code == 1
    assert not [line for line in result.output.splitlines() if line.startswith("::")]
    # refused by its name (the digest could not tell it apart), still shown escaped
    assert f"  --> {root}/deploy/x\\n::error::pwn.tenet\n" in result.output


@pytest.mark.parametrize(
    ("schema", "line"),
    [
        (
            '{"dependentRequired": {"a": "b"}}',
            "error[schema] 1:24 schema `schemas/s.schema.json` is invalid at "
            '`/dependentRequired/a`: `dependentRequired.a` must be an array, not `"b"` | see '
            "what `dependentRequired` takes in JSON Schema (draft 2020-12 unless `$schema` says)",
        ),
        (
            '{"properties": {"type": 3}}',
            "error[schema] 1:17 schema `schemas/s.schema.json` is invalid at `/properties/type`: "
            "`properties.type` must be an object or boolean, not `3` | a schema is an object, "
            'like `{"type": "string"}`, or `true` or `false`',
        ),
    ],
)
def test_a_name_the_user_gave_in_a_schema_is_not_taken_for_a_keyword(
    tmp_path: Path, schema: str, line: str
) -> None:
    files = {"p.tenet": "package p\nx = 1\n", "schemas/s.schema.json": schema}
    assert _check_output(tmp_path, files).splitlines() == [line]


def test_a_name_cut_short_is_told_the_one_name_it_starts() -> None:
    assert did_you_mean("prod", ["production", "staging"]) == "did you mean `production`?"
    assert did_you_mean("st", ["staging"]) is None  # too short a start to mean anything
    assert did_you_mean("pro", ["production", "protected"]) is None  # which one?


def test_an_import_that_resolves_to_nothing_is_reported_once_not_at_each_use() -> None:
    # `common` is imported: a use of it is no second error, and the import's own package is
    # not suggested (importing it is an error too)
    got = load_errors(
        "package access.models\nimport access.common\nimport future.keywords\n"
        "allow if { common.is_admin(input.user) }\nok if { common.flag }\n"
    )
    assert [(code, line, msg) for code, line, _, msg, _ in got] == [
        ("unknown-import", 2, "unknown import `access.common`: no package or rule has that name"),
        ("unknown-import", 3, "unknown import `future.keywords`: no package or rule has that name"),
    ]
    assert got[0][4] != "did you mean `access.models`?"
    assert got[1][4] is not None and "always on" in got[1][4]


def test_a_recursive_function_is_called_a_function_in_the_cycle_error() -> None:
    got = load_errors("package p\nfact(n) = n * fact(n - 1) if { n > 0 }\na if { a }\n")
    assert [msg for _, _, _, msg, _ in got] == [
        "rule `p.a` depends on itself: `p.a` → `p.a`",
        "function `p.fact` depends on itself: `p.fact` → `p.fact`",
    ]


def test_two_constant_values_of_one_rule_are_a_warning(tmp_path: Path) -> None:
    text = (
        "package p\n\nlevel = 1\nlevel = 2\nsame = 1\nsame = 1.0\n"
        'names = ["a"]\nnames = ["b"]\nok = 1 if { input.a }\nok = 2 if { input.b }\n'
        "f(x) = 1\nf(x) = 2\n"
    )
    two = "has two values on every input"
    assert [(c, line, m) for c, line, m, _ in lint_one(text)] == [
        ("conflicting-values", 4, f"rule `level` {two}: `1` (p.tenet:3:1) and `2` here"),
        ("conflicting-values", 8, f'rule `names` {two}: `["a"]` (p.tenet:7:1) and `["b"]` here'),
    ]
    # the warning says what evaluation does
    b = tenet.load_bundle(write_bundle(tmp_path / "b", {"p.tenet": text}))
    assert b.decide("p.level", {}).to_dict()["errors"][0]["code"] == "conflict"


@pytest.mark.parametrize(
    ("message", "at", "width"),
    [
        ('"accuracy {input.a is low"', 10, 1),  # the `{` never closed
        ('"{input.a} {}"', 11, 2),  # the empty hole
        ('"too low}"', 8, 1),  # a single `}`
        ('"a \\"quoted\\" {input.a"', 0, 23),  # with escapes: the whole string
    ],
)
def test_a_bad_message_template_points_at_its_brace(message: str, at: int, width: int) -> None:
    text = f"package p\nrequire r {{ input.a }} message {message}\n"
    module, diags = parse(Source("p.tenet", text))
    assert module is not None and not diags
    _, errors = check([module], {})
    (d,) = errors
    assert d.code == "template" and (d.line, d.column) == (2, text.index(message) - 9 + at)
    assert d.span is not None and d.span.end - d.span.start == width
