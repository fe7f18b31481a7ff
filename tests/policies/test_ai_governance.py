"""The shipped bundle `policies/ai-governance`: its own tests pass, every decision they make
is a valid decision document, every check is seen both passing and violated, the access
rule and the access checks agree, and every example input gets the verdict its name says."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import tenet
from tenet.syntax import ast
from tenet.testing import runner
from tenet.testing.runner import CaseResult, TestRun
from tenet.yamlutil import load_yaml
from tests.conftest import REPO, assert_valid_decision

BUNDLE = REPO / "policies" / "ai-governance"
EXAMPLES = REPO / "examples" / "ai-governance"
EXAMPLES_NOW = "2026-03-02T10:00:00Z"  # the clock the examples are written for (their README)


@cache
def _bundle() -> tenet.Bundle:
    return tenet.load_bundle(BUNDLE)


@cache
def _run() -> TestRun:
    return runner.run_tests(_bundle())


def _case_ids() -> list[Any]:
    bundle = _bundle()
    out = []
    for rel in runner.test_files(bundle):
        cases, _ = runner.read_test_file(rel, bundle.files[rel])
        for c in cases:
            out.append(pytest.param(rel, c.index, id=f"{Path(rel).stem}::{c.index}::{c.name}"))
    return out


def _result(rel: str, index: int) -> CaseResult:
    for r in _run().results:
        if r.case.file == rel and r.case.index == index:
            return r
    raise AssertionError(f"{rel} case {index} was not run")


def _checks() -> list[str]:
    """Every check of the bundle, by full id."""
    return sorted(
        ".".join((*m.package, d.name))
        for m in _bundle().modules
        for d in m.definitions
        if isinstance(d, ast.Check)
    )


def test_the_bundle_is_the_standard_one() -> None:
    bundle = _bundle()
    assert (bundle.name, bundle.version) == ("ai-governance", "1.0.0")
    assert len(runner.test_files(bundle)) >= 7
    assert _checks(), "no checks found"


def test_every_test_file_reads() -> None:
    problems = [f"{p.where}: {p.message}" for p in _run().problems]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("rel", "index"), _case_ids())
def test_case(rel: str, index: int) -> None:
    result = _result(rel, index)
    assert result.decision is not None, result.error
    assert_valid_decision(result.decision)
    shown = json.dumps(result.decision, indent=1)
    assert result.passed, "\n".join(m.describe() for m in result.mismatches) + "\n" + shown


def test_every_check_is_seen_passing_and_violated() -> None:
    seen: dict[str, set[str]] = {}
    for r in _run().results:
        for c in (r.decision or {}).get("checks", []):
            seen.setdefault(c["id"], set()).add(c["status"])
    missing = [
        f"{check}: never {status}"
        for check in _checks()
        for status in ("passed", "violated")
        if status not in seen.get(check, set())
    ]
    assert not missing, "\n".join(missing)


def test_the_access_rule_and_the_access_checks_agree() -> None:
    """`access.allow` spells out its conditions for explanations; the package `access` gives the
    same verdict through checks built on helper rules. Every access case holds them together."""
    bundle = _bundle()
    compared = 0
    for r in _run().results:
        doc = r.decision or {}
        if r.case.query not in ("access", "access.allow") or doc.get("outcome") == "error":
            continue
        rule = bundle.decide("access.allow", r.case.input, now=r.case.now).to_dict()
        package = bundle.decide("access", r.case.input, now=r.case.now).to_dict()
        assert rule["allowed"] == package["allowed"], f"{r.case.name}: rule and checks disagree"
        compared += 1
    assert compared >= 40


def _examples() -> list[Any]:
    files = sorted(EXAMPLES.glob("*/*.yaml"))
    return [pytest.param(f, id=str(f.relative_to(EXAMPLES))) for f in files]


def _query(path: Path) -> str:
    area = path.parent.name
    if area == "deploy":
        return "deploy." + path.name.split("-", 1)[0]  # staging-*.yaml, production-*.yaml
    return {"access": "access.allow", "inference": "inference.response"}.get(area, area)


def test_every_area_has_passing_and_failing_examples() -> None:
    areas = {"access", "registration", "fairness", "deploy", "inference", "data"}
    for area in sorted(areas):
        names = [f.name for f in (EXAMPLES / area).glob("*.yaml")]
        assert any(n.endswith("-pass.yaml") for n in names), f"{area}: no passing example"
        assert any(n.endswith("-fail.yaml") for n in names), f"{area}: no failing example"
    deploy = [f.name for f in (EXAMPLES / "deploy").glob("*.yaml")]
    for stage in ("staging", "production"):
        for verdict in ("pass", "fail"):
            assert f"{stage}-{verdict}.yaml" in deploy


@pytest.mark.parametrize("path", _examples())
def test_example_verdict(path: Path) -> None:
    assert path.name.endswith(("-pass.yaml", "-fail.yaml")), f"{path.name}: say -pass or -fail"
    should_pass = path.name.endswith("-pass.yaml")
    query = _query(path)
    doc = _bundle().decide(query, load_yaml(path.read_text("utf-8")), now=EXAMPLES_NOW).to_dict()
    assert_valid_decision(doc)
    assert doc["outcome"] != "error", json.dumps(doc["errors"], indent=1)
    if query == "inference.response":
        assert (doc["result"] == "ok") == should_pass, doc["result"]
        return
    assert doc["allowed"] == should_pass, json.dumps(doc, indent=1)
    if not should_pass and doc["checks"]:
        assert any(c["status"] == "violated" and c["severity"] == "blocking" for c in doc["checks"])
