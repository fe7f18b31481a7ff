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


# ---- user names: one person cannot look like two ------------------------------------------

# names people have, in the forms an identity provider may send them (composed or not)
REAL_NAMES = [
    "alice",
    "Jos\u00e9",  # composed
    "Jose\u0301",  # decomposed
    "Zo\u00eb",
    "Zoe\u0308",
    "\u738b\u5c0f\u660e",  # CJK
    "O'Brien",
    "Jean-Luc",
    "Dana Okafor",
    "Nguy\u1ec5n Th\u1ecb Lan",
    "\u0130pek",  # Turkish dotted capital I
    "I\u0307pek",  # the same, decomposed
    "\u0131\u015f\u0131k",  # Turkish dotless i
    "Z\u0307aneta",  # Polish Ż, decomposed
    "\u0141ukasz",
    "M\u00fcller",
    "\u0698\u0627\u0644\u0647",  # Persian
    "\u0411\u043e\u0440\u0438\u0441",  # Cyrillic
]

# what no identity provider sends: invisible, blank-looking, unassigned, or a dot above that
# hides on a letter or that normalisation could move off an i
REFUSED_NAMES = [
    " alice",
    "alice\u200b",  # zero-width space (format)
    "alice\u2800",  # BRAILLE PATTERN BLANK, a symbol
    "\u2800",
    "ali\u2800ce",
    "al\u115fice",  # Hangul fillers, letters
    "alice\u1160",
    "\u3164alice",
    "alice\uffa0",
    "alice\ufdd0",  # noncharacters: unassigned, which RE2's \p{C} leaves out
    "alice\ufffe",
    "alice\U0001ffff",
    "alice\u0378",  # unassigned
    "alice\U000e0080",
    "alice\ue000",  # private use
    "al\u0131\u0307ce",  # a dot above on a dotless i
    "AL\u0130\u0307CE",  # on a dotted one
    "al\u0456\u0307ce",  # on a Cyrillic і
    "Th\u1ecb\u0307",  # on ị
    "ali\u0307\u0307ce",  # beside another mark: NFKC could move it off the i
    "ali\u0323\u0307ce",
    "ali\u0307\u0323ce",
]


def _user_name(name: str) -> bool:
    return bool(_bundle().program.schemas["user_name"].is_valid(name))


@pytest.mark.parametrize("name", REAL_NAMES)
def test_a_real_name_is_a_user_name(name: str) -> None:
    assert _user_name(name)


@pytest.mark.parametrize("name", REFUSED_NAMES, ids=ascii)
def test_a_name_that_could_make_one_person_look_like_two_is_refused(name: str) -> None:
    assert not _user_name(name)


def test_re2_leaves_unassigned_code_points_out_of_p_c() -> None:
    # why the schema lists the categories a name may hold rather than refusing \p{C}
    from tenet.bundle.schema_regex import pattern_search

    assert pattern_search(r"\p{C}", "\u200b") is not None
    assert pattern_search(r"\p{C}", "\ufdd0") is None


def _registration_approved_by(user: str) -> dict[str, Any]:
    doc = load_yaml((EXAMPLES / "registration" / "churn-model-prod-pass.yaml").read_text("utf-8"))
    doc["created_by"] = "alice"
    doc["approvals"] = [{"role": "ml_lead", "user": user, "status": "approved"}]
    return _bundle().decide("registration", doc, now=EXAMPLES_NOW).to_dict()


@pytest.mark.parametrize(
    "user", ["ALICE", "AL\u0130CE", "ALI\u0307CE", "ali\u0307ce", "\uff41\uff4c\uff49\uff43\uff45"]
)
def test_the_registrant_under_another_form_of_her_name_is_no_independent_approver(
    user: str,
) -> None:
    doc = _registration_approved_by(user)
    assert doc["outcome"] == "deny"
    violated = [c["id"] for c in doc["checks"] if c["status"] == "violated"]
    assert violated == ["registration.independent_approval"]


@pytest.mark.parametrize("user", [n for n in REAL_NAMES if n != "alice"])
def test_a_real_name_other_than_the_registrants_approves(user: str) -> None:
    assert _registration_approved_by(user)["outcome"] == "allow"


def test_a_wide_feature_table_with_thousands_of_personal_data_columns_is_decided() -> None:
    # 4,000 columns, three in four personal data, as in the bundle's test of one violation
    # per column: each violation's evidence holds its own column, not the whole list (which
    # put 12 million values in the decision, past max_built_bytes)
    sample = ["tenure_months", "Email_Address", "date_of_birth", "postcode"]
    columns = [f"{sample[i % 4]}_{i // 4}" for i in range(4000)]
    doc = {"model_id": "churn-model", "training_data": {"feature_columns": columns}}
    decision = _bundle().decide("data", doc, now=EXAMPLES_NOW).to_dict()
    assert decision["errors"] == []
    violations = [c for c in decision["checks"] if c["status"] == "violated"]
    assert len(violations) == 3000
    assert {c["id"] for c in violations} == {"data.pii_feature"}
    first = min(violations, key=lambda c: c["bindings"]["i"])
    assert first["message"] == (
        "training feature Email_Address_0 of churn-model is personal data (address or online "
        "identifier, contact details) and has no approved, unexpired exception"
    )
    assert len(json.dumps(decision)) < 10_000_000


def test_the_approvers_a_production_decision_names_are_tokens_in_its_audit_record(
    tmp_path: Path,
) -> None:
    # `person()` folds a name (`trim(nfkc_casefold(...))`) and the approval checks bind and
    # quote the folded text, which is no longer the input's
    from tenet.audit import AuditLog

    bundle = _bundle()
    model = {"model_id": "churn-model", "version": "2.4.0", "author": "Zoë O'Brien"}
    input = {
        "model": {**model, "artifact_ref": "churn-model:2.4.0-d41e9a0"},
        "requested_by": "Sean Byrne",
        "staging": {
            "version": "2.4.0",
            "deployed_at": "2026-03-01T14:00:00Z",
            "error_rate": 0.0031,
            "alerts": [],
        },
        "approvals": [
            {"role": role, "user": user, "status": "approved", "at": "2026-03-02T09:30:00Z"}
            for role, user in (
                ("ml_lead", "Mallory.Qzx@Example.COM"),
                ("product_owner", "MALLORY.QZX@EXAMPLE.COM"),
            )
        ],
        "rollout": {"initial_traffic": 0.05, "rollback_target": "2.3.1"},
        "production": {"current_version": "2.3.1", "log_retention": "400d"},
    }
    decision = bundle.decide("deploy.production", input, now="2026-03-05T10:00:00Z")
    violated = {c["id"] for c in decision.to_dict()["checks"] if c["status"] == "violated"}
    assert "deploy.production.distinct_approvers" in violated
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    log.record(bundle, decision, input, actor="ci")
    text = (tmp_path / "audit.jsonl").read_text("utf-8").lower()
    assert "mallory" not in text and "qzx" not in text
