"""Runs every case of ../shared/conformance/*.yaml: the executable form of the spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import tenet
from tenet.testing.expect import (
    compare,
    load_errors_match,
    malformed_expect,
    unknown_expect_keys,
)
from tests.conftest import CONFORMANCE, assert_valid_decision, write_bundle


def _files() -> list[Path]:
    return sorted(CONFORMANCE.glob("*.yaml"))


def test_conformance_folder_is_present() -> None:
    # a missing spec folder is a failure, never a skip
    assert CONFORMANCE.is_dir(), f"conformance folder not found at {CONFORMANCE}"
    assert _files(), f"no conformance files in {CONFORMANCE}"


def _cases() -> list[Any]:
    out = []
    for f in _files():
        doc = yaml.safe_load(f.read_text("utf-8"))
        for i, case in enumerate(doc.get("cases") or []):
            out.append(pytest.param(f, doc, case, id=f"{f.stem}::{i}::{case['name']}"))
    return out


def _load_error_cases() -> list[Any]:
    out = []
    for f in _files():
        doc = yaml.safe_load(f.read_text("utf-8"))
        for i, case in enumerate(doc.get("load_error_cases") or []):
            out.append(pytest.param(case, id=f"{f.stem}::{i}::{case['name']}"))
    return out


_bundles: dict[Path, tenet.Bundle] = {}


def _bundle(f: Path, doc: dict[str, Any], tmp: Path) -> tenet.Bundle:
    if f not in _bundles:
        root = write_bundle(tmp / f.stem, doc.get("files") or {}, doc.get("data"))
        _bundles[f] = tenet.load_bundle(root)
    return _bundles[f]


@pytest.mark.parametrize(("f", "doc", "case"), _cases())
def test_case(f: Path, doc: dict[str, Any], case: dict[str, Any], tmp_path_factory: Any) -> None:
    bundle = _bundle(f, doc, tmp_path_factory.mktemp("conf"))
    decision = bundle.decide(case["query"], case.get("input") or {}, now=case.get("now"))
    got = decision.to_dict()
    assert_valid_decision(got)
    problems = unknown_expect_keys(case["expect"]) + malformed_expect(case["expect"])
    assert not problems, problems
    mismatches = compare(case["expect"], got)
    shown = json.dumps(got, indent=1)
    assert not mismatches, "\n".join(m.describe() for m in mismatches) + "\n" + shown


@pytest.mark.parametrize("case", _load_error_cases())
def test_load_error_case(case: dict[str, Any], tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", case["files"])
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    diags = info.value.diagnostics
    rendered = "\n\n".join(d.render() for d in diags)
    assert load_errors_match(case["errors"], diags), f"expected {case['errors']}\ngot:\n{rendered}"
