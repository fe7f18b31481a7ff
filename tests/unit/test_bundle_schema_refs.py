"""`$ref` in a bundle's schemas: references between the bundle's own files resolve, by
relative path or by `$id`; anything else is a load error, and nothing is ever fetched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tenet
from tenet.diagnostics import PolicyError
from tests.unit.bundle_helpers import make_bundle

REQUEST = "schemas/deployment_request.schema.json"
MODEL = {
    "$defs": {"id": {"type": "string", "pattern": "^[a-z]+$"}},
    "type": "object",
    "required": ["model_id"],
    "properties": {"model_id": {"$ref": "#/$defs/id"}},
}


def request_schema(**properties: Any) -> str:
    return json.dumps({"type": "object", "required": ["model"], "properties": properties})


def load(tmp_path: Path, **files: str) -> tenet.Bundle:
    return tenet.load_bundle(make_bundle(tmp_path / "b", **files))


def errors(b: tenet.Bundle, doc: Any) -> list[str]:
    d = b.decide("deploy.staging", doc, now=0).to_dict()
    return [e["message"] for e in d["errors"]]


def load_errors(tmp_path: Path, **files: str) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load(tmp_path, **files)
    return [d.message for d in raised.value.diagnostics]


def test_a_relative_reference_names_a_file_of_the_bundle(tmp_path: Path) -> None:
    b = load(
        tmp_path,
        **{
            REQUEST: request_schema(
                model={"$ref": "common/model.json"},
                owner={"$ref": "common/model.json#/$defs/id"},
            ),
            "schemas/common/model.json": json.dumps(MODEL),
        },
    )
    assert errors(b, {"model": {"model_id": "Churn!"}, "owner": 3}) == [
        '/model/model_id: "Churn!" does not match "^[a-z]+$"',
        '/owner: 3 is not of type "string"',
    ]
    assert errors(b, {"model": {}}) == ['/model: "model_id" is a required property']


def test_a_schema_is_found_by_its_own_id(tmp_path: Path) -> None:
    model = {**MODEL, "$id": "https://schemas.example.com/model.json"}
    b = load(
        tmp_path,
        **{
            REQUEST: request_schema(model={"$ref": "https://schemas.example.com/model.json"}),
            "schemas/model.schema.json": json.dumps(model),
        },
    )
    assert errors(b, {"model": {"model_id": 7}}) == ['/model/model_id: 7 is not of type "string"']


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("http://127.0.0.1:9/model.json", "which is not a JSON file of the bundle"),
        ("missing.schema.json", "which is not a JSON file of the bundle"),
        ("../tenet.yaml", "which is not a JSON file of the bundle"),
        ("#/$defs/nothing", "which points at nothing in it"),
    ],
)
def test_any_other_reference_is_a_load_error(tmp_path: Path, ref: str, why: str) -> None:
    found = load_errors(tmp_path, **{REQUEST: request_schema(model={"$ref": ref})})
    assert found == [f"schema `{REQUEST}` refers to `{ref}`, {why}"]


def test_a_ref_key_inside_data_is_not_a_reference(tmp_path: Path) -> None:
    schema = request_schema(model={"const": {"$ref": "nowhere.json"}, "examples": [{"$ref": 1}]})
    b = load(tmp_path, **{REQUEST: schema})
    assert errors(b, {"model": {"$ref": "nowhere.json"}}) == []


def test_matches_schema_follows_references_too(tmp_path: Path) -> None:
    b = load(
        tmp_path,
        **{
            "schemas/owner.schema.json": json.dumps({"$ref": "model.schema.json#/$defs/id"}),
            "schemas/model.schema.json": json.dumps(MODEL),
            "owners/owner.tenet": (
                'package owners\n\nowner_ok if { matches_schema(input.owner, "owner") }\n'
            ),
        },
    )
    ok = b.decide("owners.owner_ok", {"owner": "alice"}, now=0)
    bad = b.decide("owners.owner_ok", {"owner": "Alice"}, now=0)
    assert (ok.result, bad.defined) == (True, False)
