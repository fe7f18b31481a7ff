"""The data API's documents: rule values, package objects with undefined rules left out and
sub-packages nested, functions excluded, and errors failing closed."""

from __future__ import annotations

from pathlib import Path

import pytest

import tenet
from tenet.audit import AuditLog, AuditStore
from tests.server.helpers import ADMIN, make_bundle


class _Discard(AuditStore):
    url = "discard:"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tenet.Bundle:
    return tenet.load_bundle(make_bundle(tmp_path_factory.mktemp("docs") / "gates"))


def test_a_rule_gives_its_value(bundle: tenet.Bundle) -> None:
    doc = bundle.evaluate_document("access.allow", ADMIN)
    assert (doc.defined, doc.value, doc.errors, doc.outcome) == (True, True, [], "allow")
    out = doc.to_dict()
    assert out["result"] is True and out["decision_id"] == doc.decision_id
    assert bundle.evaluate_document("access.allow", {}).to_dict()["result"] is False


def test_a_set_is_a_sorted_array(bundle: tenet.Bundle) -> None:
    assert bundle.evaluate_document("access.roles", ADMIN).value == ["a", "b"]


def test_an_undefined_rule_has_no_result(bundle: tenet.Bundle) -> None:
    doc = bundle.evaluate_document("access.level", {})
    assert not doc.defined and doc.outcome == "deny"
    assert "result" not in doc.to_dict()


def test_a_package_is_an_object_of_its_defined_rules(bundle: tenet.Bundle) -> None:
    # `level` is undefined and left out; the function `is_admin` never appears
    assert bundle.evaluate_document("access", {"user": {"role": "dev"}}).value == {
        "allow": False,
        "roles": [],
    }
    assert bundle.evaluate_document("access", ADMIN).value == {
        "allow": True,
        "level": 3,
        "roles": ["a", "b"],
    }


def test_packages_below_are_nested(bundle: tenet.Bundle) -> None:
    assert bundle.evaluate_document("deploy", {"accuracy": 0.95}).value == {
        "staging": {"ready": True}
    }
    root = bundle.evaluate_document("", {"accuracy": 0.5}).value
    assert root == {"access": {"allow": False, "roles": []}, "deploy": {"staging": {}}}


def test_an_evaluation_error_fails_closed(bundle: tenet.Bundle) -> None:
    for path in ("access.clash", "access", ""):
        doc = bundle.evaluate_document(path, {"clash": True})
        assert not doc.defined and doc.value is None and doc.outcome == "error"
        assert [e["code"] for e in doc.errors] == ["conflict"]
        out = doc.to_dict()
        assert "result" not in out and out["errors"] == doc.errors


def test_input_schemas_and_limits_apply(bundle: tenet.Bundle) -> None:
    doc = bundle.evaluate_document("deploy.staging.ready", {"accuracy": "high"})
    assert not doc.defined and doc.errors[0]["code"] == "input_schema"
    deep: dict[str, object] = {}
    for _ in range(150):
        deep = {"a": deep}
    doc = bundle.evaluate_document("access", deep)
    assert not doc.defined and doc.errors[0]["code"] == "invalid_input"


def test_unknown_paths_and_functions_raise(bundle: tenet.Bundle) -> None:
    with pytest.raises(tenet.QueryError, match=r"did you mean `access\.allow`"):
        bundle.evaluate_document("access.alow")
    with pytest.raises(tenet.QueryError, match="is a function"):
        bundle.evaluate_document("access.is_admin")
    with pytest.raises(ValueError, match="RFC 3339"):
        bundle.evaluate_document("access.allow", {}, now="yesterday")


def test_now_is_the_decision_clock(tmp_path: Path) -> None:
    policy = 'package clock\nlate if { now() > time("2026-01-01T00:00:00Z") }\n'
    b = tenet.load_bundle(make_bundle(tmp_path / "b", **{"clock/main.tenet": policy}))
    assert b.evaluate_document("clock.late", now="2027-01-01T00:00:00Z").value is True
    assert not b.evaluate_document("clock.late", now="2025-01-01T00:00:00Z").defined


@pytest.mark.parametrize(
    ("path", "input", "outcome"),
    [
        ("access", ADMIN, "allow"),  # no checks: an object of values is no denial
        ("access", {}, "allow"),
        ("deploy", {"accuracy": 0.5}, "deny"),  # `deploy.staging.accuracy` is blocking
        ("deploy.staging", {"accuracy": 0.9}, "allow"),
        ("", {"accuracy": 0.5}, "deny"),  # every package: every check of the bundle
        ("", {"accuracy": 0.9}, "allow"),
    ],
)
def test_a_package_read_has_the_outcome_its_decision_has(
    bundle: tenet.Bundle, path: str, input: dict[str, object], outcome: str
) -> None:
    doc = bundle.evaluate_document(path, input)
    assert doc.outcome == outcome and doc.errors == [] and doc.defined
    log = AuditLog(_Discard(), b"k" * 16)
    assert log.document_entry(bundle, doc, input, "ops")["outcome"] == outcome  # as recorded
    if path:  # as `tenet eval` records the same query
        assert bundle.decide(path, input).outcome == outcome
