"""Access review from recorded evidence, and the self-contained HTML report."""

from __future__ import annotations

import json
import sqlite3
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import tenet
from tenet.audit import AuditLog
from tenet.audit.report import render_html, summarize
from tenet.audit.review import Grant, grants_of, review
from tenet.cli import main
from tenet.runtime.clock import format_rfc3339
from tests.conftest import CONFORMANCE, write_bundle


@pytest.fixture
def access(tmp_path: Path) -> tuple[tenet.Bundle, Path, list[dict[str, Any]]]:
    doc = yaml.safe_load((CONFORMANCE / "10-access.yaml").read_text("utf-8"))
    root = write_bundle(tmp_path / "access", doc["files"], doc["data"])
    return tenet.load_bundle(root), root, doc["cases"]


def record_cases(log: AuditLog, bundle: tenet.Bundle, cases: list[dict[str, Any]]) -> None:
    for case in cases:
        d = bundle.decide(case["query"], case["input"], now=case.get("now"))
        log.record(bundle, d, case["input"], actor=case["input"]["subject"]["id"])


def test_the_role_table_becomes_grants(access: Any) -> None:
    bundle, _, _ = access
    grants = grants_of(bundle.program.data)
    assert Grant("ml_engineer", "models", "prod/*", "rollback") in grants
    assert len(grants) == 7 + 11 + 1 + 1  # data scientist, ML engineer, analyst, compliance


def test_access_review_finds_the_grants_no_decision_used(access: Any, tmp_path: Path) -> None:
    bundle, root, cases = access
    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db")
    record_cases(log, bundle, cases)
    result = review(grants_of(bundle.program.data), log.store.records())
    used = set(result.used)
    # the allowed cases: a data scientist writing a dev model, an ML engineer rolling back
    # production, a compliance officer reading audit logs (break-glass uses no grant)
    assert Grant("data_scientist", "models", "dev/*", "write") in used
    assert Grant("ml_engineer", "models", "prod/*", "rollback") in used
    assert Grant("compliance_officer", "audit", "**", "read") in used
    assert Grant("data_scientist", "models", "prod/*", "read") not in used
    assert len(used) == 3
    # the break-glass allow records neither a grant nor the subject's role: it is not read as
    # an access decision of the role table
    assert result.decisions == 3
    assert result.unused_share == pytest.approx(1 - 3 / len(result.grants))

    out = CliRunner().invoke(
        main,
        [
            "audit",
            "access-review",
            "--log",
            f"sqlite:///{tmp_path}/audit.db",
            "--bundle",
            str(root),
        ],
    )
    assert out.exit_code == 0, out.output
    assert f"{len(result.grants) - 3} of {len(result.grants)} grants unused" in out.output
    assert "business_analyst  endpoints" in out.output


def test_access_review_reads_the_decisions_up_to_until(access: Any, tmp_path: Path) -> None:
    bundle, root, cases = access
    url = f"sqlite:///{tmp_path}/audit.db"
    before = format_rfc3339(time.time() - 1)
    record_cases(AuditLog.open(url), bundle, cases)
    args = ["audit", "access-review", "--log", url, "--bundle", str(root), "--format", "json"]
    for more, until, decisions in (([], None, 3), (["--until", before], before, 0)):
        out = CliRunner().invoke(main, [*args, *more])
        assert out.exit_code == 0, out.output
        doc = json.loads(out.output)
        assert doc["allowed_decisions"] == decisions
        assert until is None or doc["until"] == until


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_report_is_one_self_contained_page(access: Any, tmp_path: Path) -> None:
    bundle, _, cases = access
    url = f"jsonl:///{tmp_path}/audit.jsonl"
    log = AuditLog.open(url)
    log.write([log.activation_entry(None, bundle, "ops")])
    record_cases(log, bundle, cases)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["audit", "report", "--log", url, "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = _Page()
    page.feed(out.read_text("utf-8"))
    text = " ".join(page.text)
    assert "script" not in page.tags and not page.refs  # nothing fetched, nothing run
    assert page.tags.count("svg") >= 2
    assert "Every hash chain verifies." in text
    for heading in (
        "Decisions over time, by outcome",
        "Most violated checks",
        "Error rate by bundle version",
        "Most-used models",
        "Callers",
        "Changes made",
    ):
        assert heading in text
    assert "bundle activated" in text
    assert f"{len(cases)} decisions" in text

    summary = summarize(list(log.store.records()), 0, 4e9)
    assert summary.decisions == len(cases)
    assert sum(sum(c.values()) for c in summary.by_day.values()) == len(cases)
    assert summary.callers["alice"] == 6
    assert json.loads(json.dumps(summary.to_dict()))["decisions"] == len(cases)
    assert "<script" not in render_html(summary, url)

    # a log that does not verify: the report is still written, says so, and exits 1
    path = tmp_path / "audit.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    result = CliRunner().invoke(main, ["audit", "report", "--log", url, "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "the audit chain DOES NOT VERIFY" in result.output
    assert "Every hash chain verifies." not in out.read_text("utf-8")


def test_changes_before_an_incident(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"p.tenet": "package p\nallow if { true }\n"})
    bundle = tenet.load_bundle(root)
    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db")
    (first,) = log.write([log.activation_entry(None, bundle, "alice")])
    from tenet.runtime.clock import parse_rfc3339

    t = parse_rfc3339(first["time"])
    summary = summarize(list(log.store.records()), 0, t + 100, incident=t - 1)
    assert summary.changes == []
    summary = summarize(list(log.store.records()), 0, t + 100, incident=t + 1)
    assert [c["actor"] for c in summary.changes] == ["alice"]


VAULT = """package vault

import data.roles

require permitted blocking {
    some grant in roles[input.subject.role][input.resource.type]
    glob(grant.pattern, input.resource.path)
    input.action in grant.actions
}

require named warning {
    input.subject.id != ""
}
"""

ROLES = {
    "roles": {
        "clerk": {"ledger": [{"pattern": "branch/*", "actions": ["read"]}]},
        "auditor": {"vault": [{"pattern": "gold/*", "actions": ["inspect"]}]},
    }
}


@pytest.mark.parametrize("explain, used", [("full", 1), ("summary", 0)])
def test_a_package_decision_counts_by_the_grant_its_passed_checks_bound(
    tmp_path: Path, explain: str, used: int
) -> None:
    root = write_bundle(
        tmp_path / "vault",
        {
            "tenet.yaml": "name: vault\nversion: 1.0.0\naudit:\n"
            "  keep: [input.subject.role, input.resource.type, input.action]\n",
            "vault/p.tenet": VAULT,
        },
        ROLES,
    )
    bundle = tenet.load_bundle(root)
    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db")
    inp = {
        "subject": {"id": "u1", "role": "auditor"},
        "resource": {"type": "vault", "path": "gold/bar"},
        "action": "inspect",
    }
    decision = bundle.decide("vault", inp, explain=explain)
    assert decision.outcome == "allow"
    log.record(bundle, decision, inp, actor="u1")
    # a decision that has nothing to do with access does not count at all
    unattributed = {"subject": {"id": "u2"}}
    other = bundle.decide("vault", unattributed)
    log.record(bundle, other, unattributed, actor="u2")
    result = review(grants_of(bundle.program.data), log.store.records())
    assert result.decisions == 1 and result.unattributed == 1 - used
    assert (Grant("auditor", "vault", "gold/*", "inspect") in result.used) == bool(used)


ANALYST_READS = {
    "subject": {"id": "a", "role": "analyst"},
    "action": "read",
    "resource": {"path": "dev/x"},
}

FLAT = """package access

import data.roles

default allow = false

allow if {
    some grant in roles[input.subject.role]
    glob(grant.pattern, input.resource.path)
    input.action in grant.actions
}
"""


def test_a_role_table_without_resource_types_is_reviewed(tmp_path: Path) -> None:
    roles = {
        "roles": {
            "analyst": [{"pattern": "dev/**", "actions": ["read", "write"]}],
            "admin": [{"pattern": "**", "actions": ["deploy"]}],
        }
    }
    root = write_bundle(
        tmp_path / "flat",
        {"tenet.yaml": "name: flat\nversion: 1.0.0\n", "access/a.tenet": FLAT},
        roles,
    )
    bundle = tenet.load_bundle(root)
    grants = grants_of(bundle.program.data)
    assert grants == sorted(
        [
            Grant("admin", "*", "**", "deploy"),
            Grant("analyst", "*", "dev/**", "read"),
            Grant("analyst", "*", "dev/**", "write"),
        ]
    )
    url = f"sqlite:///{tmp_path}/audit.db"
    log = AuditLog.open(url)
    inp = ANALYST_READS
    log.record(bundle, bundle.decide("access.allow", inp), inp, actor="a")
    result = review(grants, log.store.records())
    assert result.decisions == 1 and result.unattributed == 0
    assert set(result.used) == {Grant("analyst", "*", "dev/**", "read")}
    out = CliRunner().invoke(
        main, ["audit", "access-review", "--log", url, "--bundle", str(root), "--since", "1d"]
    )
    assert out.exit_code == 0, out.output
    assert "2 of 3 grants unused (67%)" in out.output
    assert "analyst  *              dev/**   write" in out.output


def test_data_api_reads_are_named_as_such_in_the_note(tmp_path: Path) -> None:
    # their records hold OPA's answer alone: the grant cannot be read, for a reason of its own
    manifest = (
        "name: flat\nversion: 1.0.0\n"
        "audit:\n  keep: [input.subject.role, input.action, input.resource.path]\n"
    )
    roles = {"roles": {"analyst": [{"pattern": "dev/**", "actions": ["read"]}]}}
    root = write_bundle(tmp_path / "flat", {"tenet.yaml": manifest, "access/a.tenet": FLAT}, roles)
    bundle = tenet.load_bundle(root)
    url = f"sqlite:///{tmp_path}/audit.db"
    log = AuditLog.open(url)
    inp = ANALYST_READS
    doc = bundle.evaluate_document("access.allow", inp)
    assert doc.to_dict()["result"] is True
    log.write([log.document_entry(bundle, doc, inp, "a") for _ in range(2)])
    result = review(grants_of(bundle.program.data), log.store.records())
    assert (result.decisions, result.unattributed, result.answers_only) == (2, 2, 2)
    args = ["audit", "access-review", "--log", url, "--bundle", str(root), "--since", "1d"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[-1] == (
        "note: 2 allowed decisions read through the data API (`/v1/data/...`), whose records "
        "hold the result alone, not which grant matched: ask the sidecar's `/v1/decisions/...` "
        "for access decisions a review must attribute"
    )
    assert "record the rule query" not in out.output
    out = CliRunner().invoke(main, [*args, "--format", "json"])
    assert json.loads(out.output)["data_api_reads"] == 2


def test_the_report_keeps_builds_of_one_version_apart() -> None:
    def record(digest: str, outcome: str) -> dict[str, Any]:
        bundle = {"name": "gov", "version": "1.0.0", "digest": "sha256:" + digest * 64}
        return {"kind": "decision", "time": "2026-01-01T00:00:00Z", "outcome": outcome,
                "bundle": bundle, "decision": {"checks": []}, "input": {}}  # fmt: skip

    summary = summarize([record("a", "allow"), record("b", "error")], 0, 4e9)
    rates = summary.to_dict()["error_rate_by_version"]
    assert set(rates) == {"gov 1.0.0 (aaaaaaaaaaaa)", "gov 1.0.0 (bbbbbbbbbbbb)"}


def test_a_single_action_written_as_text_is_one_grant() -> None:
    data = {"roles": {"viewer": [{"pattern": "**", "actions": "read"}],
                      "clerk": {"ledger": [{"pattern": "a/*", "actions": "write"}]}}}  # fmt: skip
    assert grants_of(data) == [
        Grant("clerk", "ledger", "a/*", "write"),
        Grant("viewer", "*", "**", "read"),
    ]


def test_a_role_table_without_grants_is_named_as_such(tmp_path: Path) -> None:
    files = {"tenet.yaml": "name: e\nversion: 1.0.0\n", "access/a.tenet": FLAT}
    root = write_bundle(tmp_path / "e", files, {"roles": {"admin": [], "viewer": None}})
    url = f"sqlite:///{tmp_path}/audit.db"
    AuditLog.open(url).close()
    args = ["audit", "access-review", "--log", url, "--bundle", str(root), "--since", "1d"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 2 and "has no grant in its role table" in out.output


def test_a_grant_whose_pattern_holds_a_personal_value_is_matched_with_the_log_s_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `home/ana.ortiz/**` is recorded as `home/hmac:…/**`: the review matches it by the token
    monkeypatch.delenv("TENET_AUDIT_KEY", raising=False)
    manifest = "name: flat\nversion: 1.0.0\naudit:\n  personal: [input.subject.id]\n"
    roles = {
        "roles": {
            "sandbox": [
                {"pattern": "home/ana.ortiz/**", "actions": ["write"]},
                {"pattern": "home/bob/**", "actions": ["write"]},
                {"pattern": "shared/**", "actions": ["read"]},
            ]
        }
    }
    root = write_bundle(tmp_path / "flat", {"tenet.yaml": manifest, "access/a.tenet": FLAT}, roles)
    bundle = tenet.load_bundle(root)
    url = f"sqlite:///{tmp_path}/audit.db"
    log = AuditLog.open(url)
    inp = {
        "subject": {"id": "ana.ortiz", "role": "sandbox"},
        "action": "write",
        "resource": {"path": "home/ana.ortiz/nb1"},
    }
    written = log.record(bundle, bundle.decide("access.allow", inp), inp, actor="a")
    assert "ana.ortiz" not in json.dumps(written)
    args = ["audit", "access-review", "--log", url, "--bundle", str(root), "--since", "1d"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "2 of 3 grants unused (67%)" in out.output
    assert "home/ana.ortiz/**" not in out.output and "shared/**" in out.output
    assert "note:" not in out.output
    # without the key, `home/hmac:…/**` reads as either home grant: the decision is named in
    # a note, and both stay listed, since the review cannot tell which was used
    (tmp_path / "audit.db.key").unlink()
    out = CliRunner().invoke(main, args)
    assert "3 of 3 grants unused (100%)" in out.output
    assert out.output.splitlines()[-1] == (
        "note: 1 allowed decision used a grant whose pattern holds a personal value, hidden in "
        "the log: give the log's key (the key file beside it, or TENET_AUDIT_KEY) so that the "
        "review can tell which grant it was"
    )
    out = CliRunner().invoke(main, [*args, "--format", "json"])
    assert json.loads(out.output)["grant_hidden_without_key"] == 1


def test_a_grant_not_in_the_table_reviewed_is_named_in_a_note(tmp_path: Path) -> None:
    roles = {"roles": {"analyst": [{"pattern": "dev/**", "actions": ["read"]}]}}
    root = write_bundle(
        tmp_path / "v1",
        {"tenet.yaml": "name: flat\nversion: 1.0.0\n", "access/a.tenet": FLAT},
        roles,
    )
    url = f"sqlite:///{tmp_path}/audit.db"
    log = AuditLog.open(url)
    bundle = tenet.load_bundle(root)
    log.record(bundle, bundle.decide("access.allow", ANALYST_READS), ANALYST_READS, actor="a")
    later = {"roles": {"analyst": [{"pattern": "dev/*", "actions": ["read"]}]}}
    root2 = write_bundle(
        tmp_path / "v2",
        {"tenet.yaml": "name: flat\nversion: 2.0.0\n", "access/a.tenet": FLAT},
        later,
    )
    args = ["audit", "access-review", "--log", url, "--bundle", str(root2), "--since", "1d"]
    out = CliRunner().invoke(main, args)
    assert "1 of 1 grants unused (100%)" in out.output
    assert "note: 1 allowed decision used a grant that is not in this bundle's role table" in (
        out.output
    )
    assert "flat 2.0.0" in out.output.splitlines()[-1]


def test_a_change_written_by_other_software_with_text_versions_is_reported(
    tmp_path: Path,
) -> None:
    # event_entry takes any JSON details: a report must not fail on an event it did not write
    bundle = tenet.load_bundle(write_bundle(tmp_path / "b", {"p.tenet": "package p\nx = 1\n"}))
    url = f"sqlite:///{tmp_path}/audit.db"
    log = AuditLog.open(url)
    details = {"action": "model registry switched", "old": "v1", "new": ["v2", 3]}
    log.write([log.event_entry("configuration_change", details, "change-board", bundle)])
    out = tmp_path / "r.html"
    result = CliRunner().invoke(main, ["audit", "report", "--log", url, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "model registry switched: v1 → [&quot;v2&quot;, 3]" in out.read_text("utf-8")


def test_without_the_key_a_hidden_grant_that_only_one_grant_could_be_is_matched() -> None:
    # `home/hmac:…/**` for an analyst's write: only one grant of the table has that shape
    grants = [
        Grant("analyst", "*", "home/ana.ortiz/**", "write"),
        Grant("analyst", "*", "shared/**", "write"),
    ]
    hidden = "home/hmac:" + "0" * 32 + "/**"
    record = {
        "kind": "decision",
        "outcome": "allow",
        "input": {"input.subject.role": "analyst", "input.action": "write"},
        "decision": {
            "outcome": "allow",
            "explanation": {
                "definitions": [
                    {"held": True, "evidence": [{"values": {
                        "grant": {"pattern": hidden, "actions": ["write"]}}}]}
                ]
            },
        },
    }  # fmt: skip
    result = review(grants, [record])
    assert set(result.used) == {grants[0]} and result.hidden == 0


def test_a_review_and_a_query_of_a_log_that_does_not_verify_say_so(
    access: Any, tmp_path: Path
) -> None:
    bundle, root, cases = access
    db = tmp_path / "audit.db"
    url = f"sqlite:///{db}"
    log = AuditLog.open(url)
    record_cases(log, bundle, cases)
    log.close()
    runner = CliRunner()
    review_cmd = ["audit", "access-review", "--log", url, "--bundle", str(root)]
    intact = runner.invoke(main, [*review_cmd, "--format", "json"])
    assert intact.exit_code == 0 and intact.stderr == ""
    assert json.loads(intact.stdout)["chain_problems"] == []
    assert json.loads(intact.stdout)["allowed_decisions"] == 3

    with sqlite3.connect(db) as conn:  # one allowed decision made a denial, one damaged
        first, second = [
            row[0] for row in conn.execute("SELECT id FROM records WHERE outcome = 'allow'")
        ][:2]
        conn.execute(
            'UPDATE records SET body = replace(body, \'"outcome":"allow"\', '
            '\'"outcome":"deny"\') WHERE id = ?',
            (first,),
        )
        conn.execute("UPDATE records SET body = '{not json' WHERE id = ?", (second,))
    conn.close()
    risk = (
        "a grant listed as unused may have been used by a record edited, removed or damaged since"
    )
    warning = [
        f"warning: the audit chain DOES NOT VERIFY, so {risk}:",
        f"  TAMPERED class `default`: record {first} modified: its content does not match its hash",
        "  1 damaged record (a row or line that reads as no record) left out",
        "  = help: run `tenet audit verify` on the log to see what was changed",
    ]
    out = runner.invoke(main, review_cmd)
    assert out.exit_code == 1  # as `report` exits on such a log
    assert out.stdout.splitlines()[-1] == f"note: the audit chain DOES NOT VERIFY, so {risk}"
    assert out.stderr.splitlines() == warning
    out = runner.invoke(main, [*review_cmd, "--format", "json"])
    assert out.exit_code == 1 and out.stderr.splitlines() == warning
    answer = json.loads(out.stdout)
    assert answer["chain_problems"] == [warning[1].removeprefix("  TAMPERED ")]
    assert answer["damaged_records"] == 1 and answer["allowed_decisions"] == 1

    out = runner.invoke(main, ["audit", "query", "--log", url, "--outcome", "allow"])
    assert out.exit_code == 1 and out.stdout.splitlines()[-1] == "2 records"  # of 4
    assert out.stderr.splitlines() == [
        "warning: the audit chain DOES NOT VERIFY, so records may have been edited, removed "
        "or inserted since they were written:",
        *warning[1:],
    ]
