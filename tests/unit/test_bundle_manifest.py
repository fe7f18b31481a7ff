"""The manifest `tenet.yaml`, and hostile YAML anywhere in a bundle."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import tenet
from tenet.bundle.manifest import check_requires, parse_manifest
from tests.unit.bundle_helpers import MANIFEST, make_bundle


def _problems(tmp_path: Path, manifest: str | None = None, **files: str) -> list[tenet.Diagnostic]:
    root = make_bundle(tmp_path / "b", **({"tenet.yaml": manifest} if manifest else {}), **files)
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    return info.value.diagnostics


def _messages(tmp_path: Path, manifest: str) -> list[str]:
    return [d.message for d in _problems(tmp_path, manifest)]


# ---- fields ---------------------------------------------------------------------------------


def test_a_full_manifest_is_read() -> None:
    m, problems = parse_manifest(MANIFEST.encode(), "folder")
    assert problems == []
    assert m.to_dict() == {
        "name": "ai-governance",
        "version": "1.4.0",
        "revision": "f7a3b2c",
        "description": "AI governance policies",
        "requires": ">=0.1.0",
        "inputs": {"deploy": "schemas/deployment_request.schema.json"},
        "audit": {"keep": [], "personal": []},
    }


def test_an_empty_manifest_takes_the_defaults() -> None:
    m, problems = parse_manifest(b"", "folder")
    assert (m.name, m.version, m.revision, problems) == ("folder", "0.0.0", None, [])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("version: 1.4", "manifest field `version`: `1.4` is not a semantic version"),
        ("version: v1.4.0", "manifest field `version`: `v1.4.0` is not a semantic version"),
        ("version: 01.4.0", "manifest field `version`: `01.4.0` is not a semantic version"),
        ("name: [a, b]", 'manifest field `name` must be a non-empty string, not `["a", "b"]`'),
        ("name: 'my bundle'", "manifest field `name`: `my bundle` is not a bundle name"),
        (
            "revision: 1234567",
            "manifest field `revision` must be a non-empty string, not `1234567`",
        ),
        (
            "description: {a: 1}",
            'manifest field `description` must be a non-empty string, not `{"a": 1}`',
        ),
        (
            "requires: '>=zero'",
            "manifest field `requires`: the range `>=zero` has a bad comparator `>=zero`",
        ),
        ("inputs: [deploy]", "manifest field `inputs` must map queries to schema files"),
        (
            "inputs: {'deploy staging': x.json}",
            "manifest field `inputs`: `deploy staging` is not a package or rule name",
        ),
        ("inputs: {deploy: 3}", "manifest field `inputs.deploy` must be the path of a schema file"),
    ],
)
def test_a_bad_field_is_an_error_naming_the_field(tmp_path: Path, line: str, message: str) -> None:
    key = line.split(":")[0]
    kept = "\n".join(
        x for x in MANIFEST.splitlines() if not x.startswith(key) and "deploy:" not in x
    )
    diags = _problems(tmp_path, kept + "\n" + line + "\n")
    assert [d.message for d in diags] == [message]
    assert diags[0].path == "tenet.yaml"
    assert diags[0].line == len(kept.splitlines()) + 1  # the error points at the field


def test_an_unknown_field_is_named_with_a_suggestion(tmp_path: Path) -> None:
    (d,) = _problems(tmp_path, MANIFEST + "verison: 2.0.0\n")
    assert d.message == "unknown manifest field `verison`"
    assert d.help == "did you mean `version`?"
    assert (d.path, d.line, d.column) == ("tenet.yaml", 8, 1)


def test_an_unknown_field_without_a_close_match_lists_the_fields(tmp_path: Path) -> None:
    (d,) = _problems(tmp_path, MANIFEST + "owner: team\n")
    assert d.help is not None and "`name`, `version`, `revision`" in d.help


def test_a_manifest_that_is_not_a_mapping_or_not_yaml(tmp_path: Path) -> None:
    assert _messages(tmp_path, "- a\n- b\n") == [
        "`tenet.yaml` must hold a mapping of manifest fields"
    ]
    (msg,) = _messages(tmp_path, "name: [unclosed\n")
    assert msg.startswith("`tenet.yaml` is not valid YAML")


def test_every_manifest_problem_is_reported_at_once(tmp_path: Path) -> None:
    messages = _messages(tmp_path, "name: ok\nversion: 1\nrevison: x\ndescription: 5\n")
    assert len(messages) == 3


# ---- requires -------------------------------------------------------------------------------


def test_requires_is_checked_against_the_engine_version(tmp_path: Path) -> None:
    assert tenet.__version__ == "0.1.0"
    tenet.load_bundle(
        make_bundle(tmp_path / "ok", **{"tenet.yaml": "requires: '>=0.1.0 <1.0.0'\n"})
    )
    (d,) = _problems(tmp_path, "requires: '>=0.2.0'\n")
    assert d.code == "requires"
    assert d.message == "the bundle requires tenet `>=0.2.0`; this is tenet 0.1.0"
    assert d.help is not None and "upgrade tenet" in d.help


def test_an_excluded_engine_is_the_only_problem_reported(tmp_path: Path) -> None:
    # policies written for a newer engine are not parsed: their errors would mislead
    diags = _problems(
        tmp_path, "requires: '>=9.0.0 || <0.0.1'\n", **{"new.tenet": "package x\nnew syntax here"}
    )
    assert [d.code for d in diags] == ["requires"]


def test_check_requires_alternatives() -> None:
    m, _ = parse_manifest(b"requires: '<0.1.0 || >=0.1.0 <0.2.0'\n", "x")
    assert check_requires(m, "0.1.0") is None
    assert check_requires(m, "0.2.0") is not None


# ---- inputs ---------------------------------------------------------------------------------


def test_an_input_schema_that_is_not_in_the_bundle_is_an_error(tmp_path: Path) -> None:
    (d,) = _problems(
        tmp_path, MANIFEST.replace("deployment_request.schema", "deployment_requst.schema")
    )
    assert d.message == (
        "manifest field `inputs.deploy`: `schemas/deployment_requst.schema.json` "
        "is not a file of the bundle"
    )
    assert d.help == "did you mean `schemas/deployment_request.schema.json`?"


def test_an_input_schema_for_an_unknown_query_is_an_error(tmp_path: Path) -> None:
    (d,) = _problems(tmp_path, MANIFEST.replace("  deploy:", "  deplyo:"))
    assert d.message == "manifest field `inputs`: `deplyo` is no package or rule of the bundle"
    assert d.help == "did you mean `deploy`?"


def test_every_inputs_problem_is_told_at_once_at_its_own_entry(tmp_path: Path) -> None:
    manifest = (
        "name: r3\nversion: 1.0.0\ninputs:\n"
        "  nopkg: schemas/deployment_request.schema.json\n"
        "  deploy: schemas/deployment_request.schema.json\n"
        "  access.allow: schemas/missing.schema.json\n"
        "  bad name: x.json\n"
        "  deploy.staging: 5\n"
    )
    diags = _problems(tmp_path, manifest)
    placed = [(d.message, d.location(), d.span and d.span.text()) for d in diags]
    assert placed == [
        (
            "manifest field `inputs`: `bad name` is not a package or rule name",
            "tenet.yaml:7:3",
            "bad name",
        ),
        (
            "manifest field `inputs.deploy.staging` must be the path of a schema file",
            "tenet.yaml:8:19",
            "5",
        ),
        (
            "manifest field `inputs.access.allow`: `schemas/missing.schema.json` is not a file "
            "of the bundle",
            "tenet.yaml:6:17",
            "schemas/missing.schema.json",
        ),
        (
            "manifest field `inputs`: `nopkg` is no package or rule of the bundle",
            "tenet.yaml:4:3",
            "nopkg",
        ),
    ]
    assert all(d.help for d in diags)


def test_an_unknown_input_query_waits_for_policies_that_parse(tmp_path: Path) -> None:
    # the package `deploy.staging` may be the one that did not parse: no guess about it
    manifest = MANIFEST.replace("  deploy:", "  deploy.staging:")
    diags = _problems(
        tmp_path, manifest, **{"deploy/staging.tenet": "package deploy.staging\nallow if {\n"}
    )
    assert [d.code for d in diags] == ["syntax"]


def test_an_input_schema_that_is_not_a_schema_is_an_error(tmp_path: Path) -> None:
    diags = _problems(
        tmp_path,
        MANIFEST.replace("schemas/deployment_request.schema.json", "notes.json"),
        **{"notes.json": '{"type": 12}'},
    )
    assert [d.path for d in diags] == ["notes.json"]
    assert diags[0].message.startswith("schema `notes.json` is invalid")


# ---- hostile YAML ---------------------------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
)


@pytest.mark.parametrize("file", ["data.yaml", "tenet.yaml", "thresholds/data.yaml"])
def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path: Path, file: str) -> None:
    start = time.perf_counter()
    diags = _problems(tmp_path, **{file: BOMB})
    assert time.perf_counter() - start < 5
    assert any(
        d.path == file and "expands to more than 1000000 values" in d.message for d in diags
    ), [d.message for d in diags]


@pytest.mark.parametrize(
    "text",
    [
        "owners: !!python/object/apply:os.system ['echo pwned']\n",
        "owners: !!python/name:os.system\n",
        "owners: !!binary aGVsbG8=\n",
        "owners: !!timestamp 2026-01-01\n",
        "owners: !!set {a: null}\n",
        "owners: !custom x\n",
    ],
)
def test_yaml_tags_that_build_objects_are_refused(tmp_path: Path, text: str) -> None:
    (d,) = _problems(tmp_path, **{"data.yaml": text})
    assert d.path == "data.yaml"
    assert "is not allowed: documents hold JSON values only" in d.message


def test_object_building_tags_in_the_manifest_are_refused(tmp_path: Path) -> None:
    (d,) = _problems(tmp_path, "name: !!python/object/new:os.system [x]\n")
    assert d.path == "tenet.yaml"
    assert "is not allowed" in d.message


def test_a_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    (d,) = _problems(tmp_path, **{"data.yaml": "owners: &a [*a]\n"})
    assert "alias `*a` refers to itself" in d.message


def test_plain_aliases_still_work(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b", **{"data.yaml": "base: &b {x: 1}\nowners: [*b, *b]\n"})
    assert tenet.load_bundle(root).program.data["owners"] == [{"x": 1}, {"x": 1}]


def test_the_audit_field_lists_input_paths() -> None:
    m, diags = parse_manifest(
        b"name: b\naudit:\n  keep: [input.model.model_id]\n  personal: [input.subject.id]\n",
        "b",
    )
    assert diags == []
    assert m.audit_keep == ("input.model.model_id",)
    assert m.audit_personal == ("input.subject.id",)
    _, diags = parse_manifest(b"name: b\naudit:\n  kept: [input.a]\n", "b")
    assert "audit.kept" in diags[0].message and "keep" in (diags[0].help or "")
    _, diags = parse_manifest(b"name: b\naudit:\n  keep: [model.id]\n", "b")
    assert "`model.id` is not an input path" in diags[0].message
    assert "input paths like `input.subject.id`" in (diags[0].help or "")
    # each mistake is shown where it is: the key misspelled, the path that is no input path
    text = b"name: b\naudit:\n  keep: [input.a]\n  persnal:\n    - input.b\n    - x\n"
    _, diags = parse_manifest(text, "b")
    assert [d.span.line for d in diags if d.span is not None] == [4]
    text = b"name: b\naudit:\n  keep: [input.a]\n  personal:\n    - input.b\n    - x\n"
    _, diags = parse_manifest(text, "b")
    assert [(d.span.line, d.span.column) for d in diags if d.span is not None] == [(6, 7)]
