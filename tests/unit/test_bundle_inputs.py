"""Input schemas: an input that fails the schema its query maps to is an `error` decision that
lists every failure with its JSON path, and nothing is evaluated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tenet
from tests.conftest import assert_valid_decision
from tests.unit.bundle_helpers import PASSING, make_bundle

SCHEMA_FILE = "schemas/deployment_request.schema.json"


@pytest.fixture
def bundle(tmp_path: Path) -> tenet.Bundle:
    return tenet.load_bundle(make_bundle(tmp_path / "b"))


def _decide(b: tenet.Bundle, query: str, doc: Any) -> dict[str, Any]:
    d = b.decide(query, doc, now="2026-06-01T00:00:00Z").to_dict()
    assert_valid_decision(d)
    return d


def test_an_invalid_input_lists_every_schema_error_with_its_path(bundle: tenet.Bundle) -> None:
    d = _decide(bundle, "deploy.staging", {"evaluation": {"accuracy": "high", "latency_p99": []}})
    assert d["outcome"] == "error"
    assert d["allowed"] is False
    assert d["checks"] == []  # nothing evaluated
    assert d["errors"] == [
        {
            "code": "input_schema",
            "message": '/: "model" is a required property',
            "location": f"{SCHEMA_FILE}#/required",
            "path": "",
        },
        {
            "code": "input_schema",
            "message": '/evaluation/accuracy: "high" is not of type "number"',
            "location": f"{SCHEMA_FILE}#/properties/evaluation/properties/accuracy/type",
            "path": "/evaluation/accuracy",
        },
        {
            "code": "input_schema",
            "message": '/evaluation/latency_p99: [] is not of type "number"',
            "location": f"{SCHEMA_FILE}#/properties/evaluation/properties/latency_p99/type",
            "path": "/evaluation/latency_p99",
        },
    ]
    assert d["summary"]["errors"] == 3


def test_a_valid_input_is_evaluated(bundle: tenet.Bundle) -> None:
    d = _decide(bundle, "deploy.staging", PASSING)
    assert d["outcome"] == "allow"
    assert d["errors"] == []
    assert len(d["checks"]) == 2


def test_the_schema_of_a_parent_package_applies_to_queries_below_it(tmp_path: Path) -> None:
    manifest = f"inputs:\n  access: schemas/access.schema.json\n  deploy.staging: {SCHEMA_FILE}\n"
    b = tenet.load_bundle(
        make_bundle(
            tmp_path / "b",
            **{
                "tenet.yaml": manifest,
                "schemas/access.schema.json": '{"type": "object", "required": ["user"]}',
            },
        )
    )
    # access.allow (a rule) is covered by the schema mapped to `access` (its package)
    d = _decide(b, "access.allow", {"usr": {}})
    assert d["outcome"] == "error"
    assert d["result"] is None
    assert [e["path"] for e in d["errors"]] == [""]
    # deploy.staging has its own mapping
    assert _decide(b, "deploy.staging", {"model": {}})["errors"][0]["path"] == ""


def test_a_query_without_a_schema_is_not_validated(tmp_path: Path) -> None:
    b = tenet.load_bundle(make_bundle(tmp_path / "b"))
    d = _decide(b, "access.allow", {"anything": ["goes"]})
    assert d["outcome"] == "deny"
    assert d["errors"] == []


def test_a_rule_query_under_a_mapped_package_is_validated(bundle: tenet.Bundle) -> None:
    # `deploy` maps the schema; a query of a rule anywhere below it is checked too
    d = _decide(bundle, "deploy", {"model": 3, "evaluation": {}})
    assert d["outcome"] == "error"
    assert d["errors"][0]["message"] == '/model: 3 is not of type "object"'


def test_errors_are_ordered_by_input_path_with_indexes_in_numeric_order(tmp_path: Path) -> None:
    schema = (
        '{"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}'
    )
    manifest = "inputs:\n  access: schemas/tags.schema.json\n"
    b = tenet.load_bundle(
        make_bundle(tmp_path / "b", **{"tenet.yaml": manifest, "schemas/tags.schema.json": schema})
    )
    tags: list[Any] = ["ok"] * 12
    tags[2] = 2
    tags[10] = 10
    d = _decide(b, "access.allow", {"tags": tags})
    assert [e["path"] for e in d["errors"]] == ["/tags/2", "/tags/10"]


def test_a_value_matching_no_form_of_a_one_of_says_why_each_form_failed(tmp_path: Path) -> None:
    schema = """{"type": "object", "properties": {"target": {"oneOf": [
        {"properties": {"kind": {"const": "model"}, "id": {"type": "string"}},
         "required": ["kind", "id"]},
        {"properties": {"kind": {"const": "dataset"}, "name": {"type": "string"}},
         "required": ["kind", "name"]},
        {"type": "string"}, {"type": "integer"}, {"type": "boolean"}]}}}"""
    manifest = "inputs:\n  access: schemas/target.schema.json\n"
    b = tenet.load_bundle(
        make_bundle(
            tmp_path / "b", **{"tenet.yaml": manifest, "schemas/target.schema.json": schema}
        )
    )
    d = _decide(b, "access.allow", {"target": {"kind": "model", "id": 3}})
    (error,) = d["errors"]
    assert error["path"] == "/target"
    assert error["message"] == (
        "/target: matches none of the 5 allowed forms ("
        'form 1: /target/id: 3 is not of type "string"; '
        'form 2: /target/kind: "dataset" was expected; '
        'form 3: /target: {"id": 3, "kind": "model"} is not of type "string"; and 2 more)'
    )


def test_an_input_beyond_the_limits_is_reported_by_evaluation_not_the_schema(
    bundle: tenet.Bundle,
) -> None:
    d = _decide(bundle, "deploy.staging", {"model": {"x": float("nan")}})
    assert d["outcome"] == "error"
    assert [e["code"] for e in d["errors"]] == ["invalid_input"]


def test_an_invalid_input_renders_in_text_with_its_paths(bundle: tenet.Bundle) -> None:
    from tenet.report import render_text

    text = render_text(
        bundle.decide("deploy.staging", {"evaluation": {"accuracy": "high"}}).to_dict()
    )
    assert 'error [input_schema] at /evaluation/accuracy: /evaluation/accuracy: "high"' in text
    assert text.splitlines()[-1].startswith("ERROR")


# ---- messages write values as JSON, not as Python ----------------------------------------------

MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "training_code": {"type": "object"},
        "tags": {"type": "array"},
        "stage": {"enum": ["dev", "staging", "prod"]},
        "approved": {"const": True},
        "owner": {"type": ["string", "null"], "pattern": "^[a-z]+$"},
        "score": {"minimum": 0.5, "maximum": 1, "multipleOf": 0.25},
        "extra": {"type": "object", "properties": {"k": {}}, "additionalProperties": False},
        "features": {"minItems": 1, "uniqueItems": True},
        "pair": {"prefixItems": [{}], "items": False},
        "kind": {"oneOf": [{"type": "integer"}, {"type": "number"}]},
        "name": {"not": {"const": "root"}},
    },
    "required": ["model_id"],
    "dependentRequired": {"owner": ["team"]},
}


def _messages(doc: Any) -> list[str]:
    import jsonschema

    from tenet.bundle.inputs import input_errors

    validator = jsonschema.Draft202012Validator(MESSAGE_SCHEMA)
    return [e.message for e in input_errors(("s.json", validator), doc)]


def test_schema_messages_write_values_as_json() -> None:
    assert _messages(
        {
            "training_code": None,
            "tags": {"a": 1, "b": [True, None]},
            "stage": "production",
            "approved": False,
            "owner": "Root!",
            "score": 0.6,
            "extra": {"k": 1, "y": 2, "x": None},
            "features": [],
            "pair": [1, "two", None],
            "kind": 3,
            "name": "root",
        }
    ) == [
        '/: "team" is required when "owner" is given',
        '/: "model_id" is a required property',
        "/approved: true was expected",
        '/extra: additional properties are not allowed ("x", "y" were unexpected)',
        "/features: [] should be non-empty",
        "/kind: 3 matches more than one of the 2 allowed forms",
        '/name: "root" should not be valid under {"const": "root"}',
        '/owner: "Root!" does not match "^[a-z]+$"',
        '/pair: expected at most 1 item, but found 2 more: ["two", null]',
        "/score: 0.6 is not a multiple of 0.25",
        '/stage: "production" is not one of ["dev", "staging", "prod"]',
        '/tags: {"a": 1, "b": [true, null]} is not of type "array"',
        '/training_code: null is not of type "object"',
    ]
    assert _messages(
        {"model_id": "m", "approved": 1, "score": 2, "owner": 3, "features": [1, 1]}
    ) == [
        '/: "team" is required when "owner" is given',
        "/approved: true was expected",
        "/features: [1, 1] has non-unique elements",
        '/owner: 3 is not of type "string", "null"',
        "/score: 2 is greater than the maximum of 1",
    ]


def test_unevaluated_and_false_property_errors_read_as_json_at_their_place(
    tmp_path: Path,
) -> None:
    schema = (
        '{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",'
        ' "properties": {"ui": {"prefixItems": [{}], "unevaluatedItems": false},'
        ' "ue": {"unevaluatedProperties": false, "properties": {"a": {}}}, "fs": false}}'
    )
    manifest = "inputs:\n  access: schemas/s.schema.json\n"
    b = tenet.load_bundle(
        make_bundle(tmp_path / "b", **{"tenet.yaml": manifest, "schemas/s.schema.json": schema})
    )
    d = _decide(
        b,
        "access.allow",
        {"ui": [1, None, True], "ue": {"a": 1, "b": None, "c": False}, "fs": {"x": [None]}},
    )
    assert [(e["path"], e["message"]) for e in d["errors"]] == [
        ("/fs", '/fs: no value is allowed here, and {"x": [null]} is given'),
        ("/ue", '/ue: unevaluated properties are not allowed ("b", "c" were unexpected)'),
        ("/ui", "/ui: unevaluated items are not allowed (null, true were unexpected)"),
    ]
    assert d["errors"][0]["location"] == "schemas/s.schema.json#/properties/fs"


def test_a_package_query_is_checked_against_the_schemas_below_it(tmp_path: Path) -> None:
    # the package's own checks and its sub-packages' run on the input: theirs must hold too
    schema = '{"type": "object", "required": ["ticket"]}'
    sub = 'package acc.sub\n\nrequire admin blocking { input.role == "admin" }\n'
    b = tenet.load_bundle(
        make_bundle(
            tmp_path / "b",
            **{
                "tenet.yaml": "inputs:\n  acc.sub: schemas/t.schema.json\n",
                "schemas/t.schema.json": schema,
                "acc/sub/s.tenet": sub,
            },
        )
    )
    for query in ("acc", "acc.sub"):
        d = _decide(b, query, {"role": "admin"})
        assert d["outcome"] == "error" and d["errors"][0]["code"] == "input_schema", query
    for path in ("", "acc", "acc.sub"):
        doc = b.evaluate_document(path, {"role": "admin"}).to_dict()
        assert "result" not in doc and doc["errors"][0]["code"] == "input_schema", path
    assert _decide(b, "acc", {"role": "admin", "ticket": "T-1"})["outcome"] == "allow"


def _schema_bundle(tmp_path: Path, schema: str) -> tenet.Bundle:
    manifest = "inputs:\n  access: schemas/s.schema.json\n"
    return tenet.load_bundle(
        make_bundle(tmp_path / "b", **{"tenet.yaml": manifest, "schemas/s.schema.json": schema})
    )


def test_schema_patterns_are_matched_by_re2_in_linear_time(tmp_path: Path) -> None:
    # Python's `re` takes minutes on `^(a+)+$` against 30 `a`s and a `b`; RE2 no time at all
    b = _schema_bundle(
        tmp_path,
        '{"type": "object", "properties": {"name": {"pattern": "^(a+)+$"}},'
        ' "patternProperties": {"^(x+)+$": {"type": "integer"}}}',
    )
    d = _decide(b, "access.allow", {"name": "a" * 30 + "b", "x" * 30 + "y": "any"})
    assert [e["message"] for e in d["errors"]] == [
        '/name: "' + "a" * 30 + 'b" does not match "^(a+)+$"'
    ]


@pytest.mark.parametrize(
    ("schema", "doc"),
    [
        # RE2's `\d` is ASCII, as ECMA-262's (JSON Schema's dialect); Python's takes `٣` too
        ('{"properties": {"n": {"pattern": "^\\\\d$"}}}', {"n": "٣"}),
        ('{"patternProperties": {"^\\\\d$": false}}', {"3": 1}),
        ('{"patternProperties": {"^\\\\d$": {}}, "additionalProperties": false}', {"٣": 1}),
        (
            '{"$schema": "https://json-schema.org/draft/2020-12/schema",'
            ' "patternProperties": {"^\\\\d$": {}}, "unevaluatedProperties": false}',
            {"٣": 1},
        ),
        (
            '{"$schema": "http://json-schema.org/draft-07/schema#",'
            ' "patternProperties": {"^\\\\d$": {}}, "additionalProperties": false}',
            {"٣": 1},
        ),
    ],
)
def test_every_keyword_that_reads_a_pattern_reads_it_as_re2_does(
    tmp_path: Path, schema: str, doc: dict[str, Any]
) -> None:
    d = _decide(_schema_bundle(tmp_path, schema), "access.allow", doc)
    assert len(d["errors"]) == 1 and d["errors"][0]["code"] == "input_schema", d["errors"]


def test_a_schema_pattern_re2_cannot_take_is_a_load_error_at_the_pattern(tmp_path: Path) -> None:
    schema = '{\n  "properties": {\n    "name": {"pattern": "^(?=a)\\\\w+$"}\n  }\n}'
    with pytest.raises(tenet.PolicyError) as caught:
        _schema_bundle(tmp_path, schema)
    (d,) = caught.value.diagnostics
    assert (d.code, d.file, d.line, d.column) == ("schema", "schemas/s.schema.json", 3, 14)
    assert d.message == (
        "schema `schemas/s.schema.json` at /properties/name/pattern: pattern `^(?=a)\\w+$` is "
        "not RE2 syntax: invalid perl operator: (?="
    )
    assert d.help is not None and "without lookaround or backreferences" in d.help


def test_a_schema_pattern_in_re2_syntax_that_python_cannot_read_loads(tmp_path: Path) -> None:
    # Unicode classes: the meta-schema's `regex` format check, by Python's `re`, refused them
    b = _schema_bundle(tmp_path, '{"properties": {"name": {"pattern": "^[^\\\\p{Cf}]+$"}}}')
    assert _decide(b, "access.allow", {"name": "alice"})["errors"] == []
    d = _decide(b, "access.allow", {"name": "ali\u200bce"})
    assert [e["path"] for e in d["errors"]] == ["/name"]


@pytest.mark.parametrize(
    "draft",
    ["https://json-schema.org/draft/2020-12/schema", "http://json-schema.org/draft-07/schema#"],
)
def test_a_schema_file_reached_by_ref_that_names_its_draft_is_matched_by_re2(
    tmp_path: Path, draft: str
) -> None:
    # jsonschema validates a subschema with a `$schema` of its own by that draft's stock class,
    # which matched with Python's `re`: backtracking, and `\d` taking `٣`
    files = {
        "tenet.yaml": "inputs:\n  access: schemas/s.schema.json\n",
        "schemas/s.schema.json": '{"properties": {"n": {"$ref": "digit.schema.json"}}}',
        "schemas/digit.schema.json": f'{{"$schema": "{draft}", "pattern": "^\\\\d$"}}',
    }
    b = tenet.load_bundle(make_bundle(tmp_path / "b", **files))
    d = _decide(b, "access.allow", {"n": "٣"})
    assert [e["message"] for e in d["errors"]] == ['/n: "٣" does not match "^\\\\d$"']


def test_each_value_a_false_schema_refuses_is_placed_at_its_own_key(tmp_path: Path) -> None:
    # jsonschema reports them at the parent, without the key: two of equal value included
    schema = (
        '{"$schema": "https://json-schema.org/draft/2020-12/schema",'
        ' "properties": {"a": false, "b": false, "list": {"prefixItems": [{}, false]}},'
        ' "patternProperties": {"^x_": false}}'
    )
    d = _decide(
        _schema_bundle(tmp_path, schema),
        "access.allow",
        {"a": 1, "b": 1, "list": [0, "no"], "x_1": True, "y": 2},
    )
    assert [(e["path"], e["message"]) for e in d["errors"]] == [
        ("/a", "/a: no value is allowed here, and 1 is given"),
        ("/b", "/b: no value is allowed here, and 1 is given"),
        ("/list/1", '/list/1: no value is allowed here, and "no" is given'),
        ("/x_1", "/x_1: no value is allowed here, and true is given"),
    ]
    assert [e["location"].split("#")[1] for e in d["errors"]] == [
        "/properties/a",
        "/properties/b",
        "/properties/list/prefixItems/1",
        "/patternProperties/^x_",
    ]
