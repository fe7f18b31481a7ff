"""Runs every case of ../shared/conformance/*.yaml: the executable form of the spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import tenet
from tenet.runtime.values import equal
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


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return equal(a, b)


def _all_evidence(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = [e for c in doc["checks"] for e in c.get("evidence", [])]
    for d in doc.get("explanation", {}).get("definitions", []):
        out.extend(d["evidence"])
    return out


@pytest.mark.parametrize(("f", "doc", "case"), _cases())
def test_case(f: Path, doc: dict[str, Any], case: dict[str, Any], tmp_path_factory: Any) -> None:
    bundle = _bundle(f, doc, tmp_path_factory.mktemp("conf"))
    decision = bundle.decide(case["query"], case.get("input") or {}, now=case.get("now"))
    got = decision.to_dict()
    assert_valid_decision(got)
    expect = case["expect"]
    shown = json.dumps(got, indent=1)
    for key in ("outcome", "allowed", "defined"):
        if key in expect:
            assert got[key] == expect[key], f"{key}: {got[key]!r} != {expect[key]!r}\n{shown}"
    if "result" in expect:
        assert _json_equal(got["result"], expect["result"]), f"result\n{shown}"
    for status, key in (
        ("violated", "violated"),
        ("passed", "passed"),
        ("not_applicable", "not_applicable"),
        ("waived", "waived"),
        ("error", "errored"),
    ):
        if key in expect:
            ids = {c["id"] for c in got["checks"] if c["status"] == status}
            assert ids == set(expect[key]), f"{key}: {sorted(ids)}\n{shown}"
    if "messages" in expect:
        messages = [c["message"] for c in got["checks"] if c["status"] == "violated"]
        assert messages == expect["messages"], shown
    if "evidence" in expect:
        for check_id, refs in expect["evidence"].items():
            values: dict[str, list[Any]] = {}
            for c in got["checks"]:
                if c["id"] == check_id:
                    for e in c.get("evidence", []):
                        for k, v in e.get("values", {}).items():
                            values.setdefault(k, []).append(v)
            for ref, want in refs.items():
                assert any(_json_equal(v, want) for v in values.get(ref, [])), (
                    f"{check_id}: {ref} = {want!r} not in evidence\n{shown}"
                )
    if "undefined" in expect:
        seen = {u for e in _all_evidence(got) for u in e.get("undefined", [])}
        for ref in expect["undefined"]:
            assert ref in seen, f"undefined {ref!r} not reported ({sorted(seen)})\n{shown}"
    if "error_contains" in expect:
        texts = [json.dumps(e) for e in got["errors"]]
        assert any(expect["error_contains"] in t for t in texts), shown
    if "controls" in expect:
        for check_id, controls in expect["controls"].items():
            found = [c["controls"] for c in got["checks"] if c["id"] == check_id]
            assert found and all(x == controls for x in found), shown
    if "remediation" in expect:
        for check_id, text in expect["remediation"].items():
            found = [c.get("remediation") for c in got["checks"] if c["id"] == check_id]
            assert found and all(x == text for x in found), shown


def _matches(diag: tenet.Diagnostic, want: dict[str, Any]) -> bool:
    if "file" in want and diag.path != want["file"]:
        return False
    if "line" in want and diag.line != want["line"]:
        return False
    contains = want.get("contains", [])
    if isinstance(contains, str):
        contains = [contains]
    text = diag.render()
    return all(str(c) in text for c in contains)


def _assign(wants: list[dict[str, Any]], diags: list[tenet.Diagnostic], used: set[int]) -> bool:
    """Each expected error matched by a distinct reported one (small backtracking search)."""
    if not wants:
        return True
    for i, d in enumerate(diags):
        if i not in used and _matches(d, wants[0]):
            if _assign(wants[1:], diags, used | {i}):
                return True
    return False


@pytest.mark.parametrize("case", _load_error_cases())
def test_load_error_case(case: dict[str, Any], tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", case["files"])
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    diags = info.value.diagnostics
    rendered = "\n\n".join(d.render() for d in diags)
    assert _assign(case["errors"], diags, set()), f"expected {case['errors']}\ngot:\n{rendered}"
