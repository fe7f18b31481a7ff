"""`tenet audit verify | prune | query` on a log written through the Python API."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import tenet
from tenet.audit import AuditLog, StoreError
from tenet.audit.records import Anchor, canonical, record_hash
from tenet.cli import main
from tenet.runtime.clock import format_rfc3339, parse_rfc3339
from tests.audit.test_audit_core import DATA, DEPLOY, INPUT, MANIFEST, POLICY
from tests.conftest import write_bundle


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def make_log(tmp_path: Path) -> tuple[str, list[dict[str, Any]]]:
    root = write_bundle(
        tmp_path / "b",
        {"tenet.yaml": MANIFEST, "access.tenet": POLICY, "deploy.tenet": DEPLOY},
        DATA,
    )
    bundle = tenet.load_bundle(root)
    url = f"sqlite:///{tmp_path}/audit.db"
    log = AuditLog.open(url)
    written = []
    for i in range(3):
        inp = INPUT(i)
        if i == 1:
            inp["owner"] = inp["subject"]["id"]  # this one passes
        written.append(log.record(bundle, bundle.decide("deploy", inp), inp, actor=f"ci{i}"))
        written.append(log.record(bundle, bundle.decide("access.allow", inp), inp, actor="svc"))
    return url, written


def test_verify_passes_then_finds_tampering(tmp_path: Path) -> None:
    url, written = make_log(tmp_path)
    result = run("audit", "verify", "--log", url)
    assert result.exit_code == 0
    assert "verified: 6 records in 2 chains (access, deployments)" in result.output
    conn = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    conn.execute("DELETE FROM records WHERE id = ?", (written[2]["id"],))
    result = run("audit", "verify", "--log", url)
    assert result.exit_code == 1
    assert f"record {written[2]['id']} deleted" in result.output


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
@pytest.mark.parametrize("command", [["verify"], ["query"], ["prune"], ["report", "-o", "r.html"]])
def test_a_log_that_does_not_exist_is_an_error_not_an_empty_log(
    tmp_path: Path, scheme: str, command: list[str]
) -> None:
    missing = tmp_path / f"typo.{scheme}"
    result = run("audit", command[0], "--log", f"{scheme}:///{missing}", *command[1:])
    assert result.exit_code == 2
    assert f"no decision log at `{scheme}:///{missing}`" in result.output
    assert not missing.exists()  # nothing was created


def test_an_empty_log_verifies_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").touch()
    result = run("audit", "verify", "--log", f"jsonl:///{tmp_path}/empty.jsonl")
    assert result.exit_code == 0 and "the log holds no records yet" in result.output


def test_query_filters(tmp_path: Path) -> None:
    url, written = make_log(tmp_path)
    result = run("audit", "query", "--log", url, "--query", "deploy", "--outcome", "deny")
    assert result.exit_code == 0
    assert result.output.strip().endswith("2 records")
    assert "deploy.owner" in result.output
    result = run(
        "audit",
        "query",
        "--log",
        url,
        "--check",
        "deploy.owner",
        "--since",
        "1d",
        "--where",
        "input.model.model_id=churn",
        "--format",
        "json",
    )
    found = json.loads(result.output)
    assert {r["id"] for r in found} == {written[0]["id"], written[4]["id"]}
    result = run("audit", "query", "--log", url, "--where", "input.model.model_id=fraud")
    assert result.output.strip().endswith("0 records")


def test_bad_arguments_exit_2_without_a_traceback(tmp_path: Path) -> None:
    assert run("audit", "verify", "--log", "ftp://x").exit_code == 2
    assert run("audit", "verify", "--log", "stdout:").exit_code == 2
    url, _ = make_log(tmp_path)
    result = run("audit", "query", "--log", url, "--where", "model=churn")
    assert result.exit_code == 2
    assert "input.path=value" in result.output


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("[" * 100_000, "nests too deeply"),
        ("a\udcff", "bytes that are not UTF-8"),  # how Python hands over a byte 0xff
    ],
)
def test_a_where_value_that_cannot_be_read_is_a_usage_error(
    tmp_path: Path, value: str, said: str
) -> None:
    url, _ = make_log(tmp_path)
    result = run("audit", "query", "--log", url, "--where", f"input.subject.id={value}")
    assert result.exit_code == 2 and said in result.output


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_a_log_name_too_long_for_the_file_system_is_a_usage_error(
    tmp_path: Path, kind: str
) -> None:
    url = f"{kind}:///{tmp_path}/{'a' * 300}.log"
    for args in (("audit", "verify", "--log", url), ("audit", "query", "--log", url)):
        result = run(*args)
        assert result.exit_code == 2
        assert result.output.startswith(f"error: cannot open `{url}`: ")


def test_a_path_that_cannot_be_looked_up_is_a_usage_error_in_every_command(
    tmp_path: Path,
) -> None:
    # Path.is_dir and .resolve raise for a name longer than NAME_MAX, resolve for a loop
    url, _ = make_log(tmp_path)
    bundle, long = str(tmp_path / "b"), f"{tmp_path}/{'a' * 300}"
    (tmp_path / "b" / ".audit").mkdir()  # hidden: none of the bundle's
    (tmp_path / "b" / ".audit" / "loop").symlink_to(tmp_path / "b" / ".audit" / "loop")
    (tmp_path / "in.json").write_text(json.dumps(INPUT(0)))
    eval_ = ("eval", "deploy", "--input", str(tmp_path / "in.json"))
    for args, said in [
        ((*eval_, "--bundle", long), f"cannot read `{long}`: file name too long"),
        ((*eval_, "--bundle", long, "--decision-log", url), "file name too long"),
        ((*eval_, "--bundle", bundle, "--decision-log", f"sqlite:///{long}.db"), "too long"),
        (
            (*eval_, "--bundle", bundle, "--decision-log", f"sqlite:///{bundle}/.audit/loop"),
            "cannot open the decision log",
        ),
        (("audit", "report", "--log", url, "-o", f"{long}.html"), "file name too long"),
        (("audit", "access-review", "--log", url, "--bundle", long), "file name too long"),
    ]:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error") and said in result.output, result.output


def test_prune_reports_what_it_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr("tenet.audit.log.time.time", lambda: 1_500_000_000.0)  # records of 2017
        url, _ = make_log(tmp_path)
    result = run("audit", "prune", "--log", url, "--now", "2026-01-01T00:00:00Z", "--actor", "ops")
    assert result.exit_code == 0, result.output
    assert "access: removed 3 expired records" in result.output
    assert "deployments: removed 3 expired records" in result.output
    assert run("audit", "verify", "--log", url).exit_code == 0


@pytest.mark.parametrize("now", ["30d", "1h"])
def test_prune_as_of_a_window_back_from_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, now: str
) -> None:
    with monkeypatch.context() as m:
        m.setattr("tenet.audit.log.time.time", lambda: 1_500_000_000.0)  # records of 2017
        url, _ = make_log(tmp_path)
    result = run("audit", "prune", "--log", url, "--now", now, "--actor", "ops")
    assert result.exit_code == 0, result.output
    assert "access: removed 3 expired records" in result.output
    assert run("audit", "verify", "--log", url).exit_code == 0


def test_a_window_that_is_neither_a_duration_nor_a_time_says_both(tmp_path: Path) -> None:
    url, _ = make_log(tmp_path)
    result = run("audit", "query", "--log", url, "--since", "7x")
    assert result.exit_code == 2
    assert "`7x` is neither a window back from now such as `7d`" in result.output


def test_a_check_violated_several_times_is_listed_once_with_its_count() -> None:
    from tenet.cli_audit import _violations

    checks = [
        {"id": "data.pii_feature", "status": "violated"},
        {"id": "data.size", "status": "passed"},
        {"id": "data.pii_feature", "status": "violated"},
        {"id": "data.owner", "status": "error"},
    ]
    assert _violations({"decision": {"checks": checks}}) == "data.pii_feature ×2, data.owner"
    assert _violations({"decision": {"checks": []}}) == "-"


def test_anchors_catch_records_cut_from_the_end_and_chains_rewritten(tmp_path: Path) -> None:
    url, written = make_log(tmp_path)
    result = run("audit", "verify", "--log", url)
    anchors = [line.strip() for line in result.output.splitlines() if line.startswith("  ")]
    assert [a.split(":")[0] for a in anchors] == ["access", "deployments"]
    expires = format_rfc3339(parse_rfc3339(written[4]["time"]) + written[4]["keep_seconds"])
    assert anchors[1] == f"deployments:3:{written[4]['hash']}@{expires}"
    assert run("audit", "verify", "--log", url, "--anchor", anchors[1]).exit_code == 0
    conn = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    conn.execute("DELETE FROM records WHERE id = ?", (written[4]["id"],))  # the newest
    assert run("audit", "verify", "--log", url).exit_code == 0  # a chain alone cannot tell
    result = run("audit", "verify", "--log", url, "--anchor", anchors[1])
    assert result.exit_code == 1
    assert "the chain ends at record 2, before the anchored record 3" in result.output


def test_a_checkpoint_dated_in_the_future_is_a_prune_before_expiry(tmp_path: Path) -> None:
    url, _ = make_log(tmp_path)
    result = run("audit", "prune", "--log", url, "--now", "2099-01-01T00:00:00Z")
    assert result.exit_code == 2 and "is in the future" in result.output
    from tenet.audit import open_store, prune
    from tenet.runtime.clock import parse_rfc3339

    # as a prune made on a machine whose clock was wrong, or a forger, would leave it
    prune(open_store(url), parse_rfc3339("2099-01-01T00:00:00Z"), "ops")
    result = run("audit", "verify", "--log", url)
    assert result.exit_code == 1 and "pruned early" in result.output
    assert "dated 2099-01-01T00:00:00Z, in the future" in result.output


@pytest.mark.parametrize(
    "anchor",
    [
        "access:x:sha256:" + "0" * 64,
        ":1:sha256:" + "0" * 64,
        "access:1:sha256:00",
        "access:1:sha256:" + "0" * 64 + "@tomorrow",
    ],
)
def test_a_bad_anchor_is_a_usage_error(tmp_path: Path, anchor: str) -> None:
    url, _ = make_log(tmp_path)
    result = run("audit", "verify", "--log", url, "--anchor", anchor)
    assert result.exit_code == 2 and "is not an anchor `CLASS:SEQ:sha256:…" in result.output


def _anchors(url: str) -> list[str]:
    out = run("audit", "verify", "--log", url).output
    return [line.strip() for line in out.splitlines() if line.startswith("  ")]


def test_the_anchor_of_a_chain_pruned_whole_is_its_checkpoint_and_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr("tenet.audit.log.time.time", lambda: 1_500_000_000.0)  # records of 2017
        url, _ = make_log(tmp_path)
    assert run("audit", "prune", "--log", url).exit_code == 0
    anchors = _anchors(url)
    assert run("audit", "verify", "--log", url, *[f"--anchor={a}" for a in anchors]).exit_code == 0


def test_an_anchored_record_pruned_before_it_expired_is_found(tmp_path: Path) -> None:
    from tenet.audit import open_store, prune

    url, _ = make_log(tmp_path)
    anchor = next(a for a in _anchors(url) if a.startswith("deployments:"))
    # a prune as of a time after the records expire, its checkpoints dated (as a forger's
    # would be) today
    prune(open_store(url), time.time() + 10 * 365 * 86400, "forger")
    conn = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    for (body,) in conn.execute("SELECT body FROM records WHERE kind = 'checkpoint'").fetchall():
        forged = json.loads(body)
        forged["time"] = format_rfc3339(time.time())
        forged["hash"] = record_hash(forged)
        conn.execute(
            "UPDATE records SET body = ?, time = ?, hash = ? WHERE id = ?",
            (canonical(forged).decode(), forged["time"], forged["hash"], forged["id"]),
        )  # the columns too: a row whose columns disagree with its body is found modified
    assert run("audit", "verify", "--log", url).exit_code == 0  # consistent in itself
    result = run("audit", "verify", "--log", url, "--anchor", anchor)
    assert result.exit_code == 1 and "pruned early" in result.output
    assert f"removed record 3, anchored to be kept until {anchor.split('@')[1]}" in result.output


def test_where_matches_a_personal_value_by_its_token_with_the_log_s_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENET_AUDIT_KEY", raising=False)
    url, written = make_log(tmp_path)  # the key was made beside the log
    result = run("audit", "query", "--log", url, "--where", "input.subject.id=alice0")
    assert result.exit_code == 0 and "2 records" in result.output
    assert written[0]["input"]["input.subject.id"].startswith("hmac:")
    (tmp_path / "audit.db.key").unlink()  # without the key, only the token itself matches
    result = run("audit", "query", "--log", url, "--where", "input.subject.id=alice0")
    assert "0 records" in result.output
    assert "note: `input.subject.id` holds personal values" in result.output
    assert "TENET_AUDIT_KEY" in result.output
    token = written[0]["input"]["input.subject.id"]
    result = run("audit", "query", "--log", url, "--where", f"input.subject.id={token}")
    assert "2 records" in result.output and "note:" not in result.output
    # a path that is not personal needs no key, and gets no note
    result = run("audit", "query", "--log", url, "--where", "input.model.model_id=churn")
    assert "note:" not in result.output


def test_where_on_a_path_no_record_keeps_says_so(tmp_path: Path) -> None:
    url, _ = make_log(tmp_path)
    result = CliRunner().invoke(
        main, ["audit", "query", "--log", url, "--where", "input.owner=bob"]
    )
    assert result.exit_code == 0 and "0 records" in result.stdout
    assert "note: no record keeps `input.owner`" in result.stderr


def test_check_on_an_id_no_record_has_says_so(tmp_path: Path) -> None:
    url, written = make_log(tmp_path)
    known = next(c["id"] for r in written for c in (r.get("decision") or {}).get("checks", []))
    result = CliRunner().invoke(main, ["audit", "query", "--log", url, "--check", known])
    assert result.exit_code == 0 and "note:" not in result.stderr
    result = CliRunner().invoke(main, ["audit", "query", "--log", url, "--check", known + "x"])
    assert result.exit_code == 0 and "0 records" in result.stdout
    assert f"note: no record has a check `{known}x`, passed or not" in result.stderr


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_a_limit_below_one_is_refused(tmp_path: Path, limit: str) -> None:
    url, _ = make_log(tmp_path)
    result = run("audit", "query", "--log", url, "--limit", limit)
    assert result.exit_code == 2 and "--limit" in result.output


def test_a_control_character_in_a_value_stays_on_its_row(tmp_path: Path) -> None:
    """An actor from the Python API may be any text; the table shows it escaped."""
    _, written = make_log(tmp_path)
    from tenet.cli_audit import _table

    table = _table([{**written[0], "actor": "multi\nline"}])
    assert "multi\\nline" in table and len(table.splitlines()) == 3


@pytest.mark.parametrize("actor", ["", " ", "a\nb"])
def test_an_actor_that_is_no_name_is_refused(tmp_path: Path, actor: str) -> None:
    result = run(
        "eval", "p", "--bundle", str(tmp_path), "--input", "-", "--actor", actor,
        "--decision-log", f"sqlite:///{tmp_path}/a.db",
    )  # fmt: skip
    assert result.exit_code == 2 and "is not a name" in result.output


def test_where_on_a_star_path_matches_any_value_found() -> None:
    from tenet.audit.query import Filter

    record = {"kind": "decision", "input": {"input.approvals.*.role": ["ml_lead", "owner"]}}
    assert Filter(where=[("input.approvals.*.role", "owner")]).matches(record)
    assert Filter(where=[("input.approvals.*.role", ["ml_lead", "owner"])]).matches(record)
    assert not Filter(where=[("input.approvals.*.role", "intern")]).matches(record)


def test_where_on_a_personal_star_path_matches_the_whole_list_item_by_item() -> None:
    from tenet.audit.query import Filter
    from tenet.audit.redact import Redactor

    token = Redactor([], [], b"k" * 16).token
    record = {"kind": "decision", "input": {"input.r.*.user": [token("Rita"), token("Sam")]}}
    for value, found in [
        ("Rita", True),
        (["Rita", "Sam"], True),
        (["Sam", "Rita"], False),
        (["Rita"], False),
        (["Rita", "Sam", "Ann"], False),
    ]:
        assert Filter(where=[("input.r.*.user", value)], token=token).matches(record) is found


@pytest.mark.parametrize("option", ["--since", "--incident"])
def test_a_window_reaching_before_1970_is_a_usage_error(tmp_path: Path, option: str) -> None:
    url, _ = make_log(tmp_path)
    result = run("audit", "report", "--log", url, option, "99999999d", "-o", str(tmp_path / "r"))
    assert result.exit_code == 2 and "`99999999d` reaches back before 1970" in result.output


@pytest.mark.parametrize("option", ["--since", "--incident"])
def test_a_time_in_the_future_is_a_usage_error(tmp_path: Path, option: str) -> None:
    url, _ = make_log(tmp_path)
    later = "2999-01-01T00:00:00Z"
    result = run("audit", "report", "--log", url, option, later, "-o", str(tmp_path / "r"))
    assert result.exit_code == 2 and f"`{later}` is in the future" in result.output
    result = run("audit", "query", "--log", url, "--since", later)
    assert result.exit_code == 2 and f"`{later}` is in the future" in result.output


def test_until_ends_the_window_of_query_and_report(tmp_path: Path) -> None:
    url, written = make_log(tmp_path)
    until = written[3]["time"]  # the first four records, and not the last two
    result = run("audit", "query", "--log", url, "--until", until, "--format", "json")
    assert [r["id"] for r in json.loads(result.output)] == [r["id"] for r in written[3::-1]]
    pages = []
    for name in ("1.html", "2.html"):
        # the log grows after the window's end and the clock moves on: the same bytes
        result = run("audit", "report", "--log", url, "--until", until, "-o", str(tmp_path / name))
        assert f"4 decisions in the 30d up to {until}" in result.output
        pages.append((tmp_path / name).read_bytes())
        bundle = tenet.load_bundle(tmp_path / "b")
        AuditLog.open(url).record(bundle, bundle.decide("deploy", INPUT(9)), INPUT(9), actor="ci")
    assert pages[0] == pages[1]


def test_a_waived_check_is_listed_among_those_not_passed() -> None:
    from tenet.cli_audit import _violations

    checks = [
        {"id": "d.a", "status": "waived"},
        {"id": "d.b", "status": "violated"},
        {"id": "d.c", "status": "passed"},
    ]
    assert _violations({"decision": {"checks": checks}}) == "d.a (waived), d.b"


def test_a_record_kept_forever_is_anchored_never_and_its_pruning_found(tmp_path: Path) -> None:
    from tenet.audit.records import record_hash

    root = write_bundle(tmp_path / "f", {"tenet.yaml": MANIFEST, "access.tenet": POLICY})
    bundle = tenet.load_bundle(root)  # no retention data: one class, kept forever
    path = tmp_path / "audit.jsonl"
    log = AuditLog.open(f"jsonl:///{path}")
    written = [
        log.record(bundle, bundle.decide("access.allow", INPUT(i)), INPUT(i), "ci")
        for i in range(4)
    ]
    assert all(r["keep_seconds"] is None for r in written)
    (anchor,) = _anchors(f"jsonl:///{path}")
    assert anchor == f"{written[-1]['class']}:4:{written[-1]['hash']}@never"
    early = f"{written[1]['class']}:2:{written[1]['hash']}@never"
    assert run("audit", "verify", "--log", f"jsonl:///{path}", "--anchor", early).exit_code == 0
    # a forger replaces records 1 and 2 by a checkpoint that links as a prune's would
    checkpoint = {
        "id": "forged", "kind": "checkpoint", "class": written[1]["class"], "seq": 2,
        "time": written[-1]["time"], "actor": "ops", "keep_seconds": None,
        "prev": written[1]["hash"], "prev_id": written[1]["id"],
        "event": {"removed": 2, "total_removed": 2, "removed_until": written[1]["time"],
                  "last_removed_hash": written[1]["hash"]},
    }  # fmt: skip
    checkpoint["hash"] = record_hash(checkpoint)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([canonical(checkpoint).decode(), *lines[2:]]) + "\n")
    assert run("audit", "verify", "--log", f"jsonl:///{path}").exit_code == 0  # consistent
    result = run("audit", "verify", "--log", f"jsonl:///{path}", "--anchor", early)
    assert result.exit_code == 1 and "pruned early" in result.output
    assert "anchored as kept forever" in result.output
    # the same anchor without its `@never` cannot tell: the docs say to keep it whole
    whole = early.removesuffix("@never")
    assert run("audit", "verify", "--log", f"jsonl:///{path}", "--anchor", whole).exit_code == 0


def test_prune_says_what_waits_behind_a_record_kept_longer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bundle_keeping(days: int, name: str) -> tenet.Bundle:
        data = {"retention": {"classes": {"access": {"keep_for": f"{days}d",
                                                     "query_prefixes": ["access"]}}}}  # fmt: skip
        files = {"tenet.yaml": MANIFEST, "access.tenet": POLICY}
        return tenet.load_bundle(write_bundle(tmp_path / name, files, data))

    url = f"jsonl:///{tmp_path}/audit.jsonl"
    log = AuditLog.open(url)
    start = 1_700_000_000.0
    for days, at, name in ((730, start, "long"), (1, start + 60, "short"), (1, start + 120, "s2")):
        b = bundle_keeping(days, name)
        with monkeypatch.context() as m:
            m.setattr("tenet.audit.log.time.time", lambda at=at: at)
            log.record(b, b.decide("access.allow", INPUT(0)), INPUT(0), "ci")
    ten_days_on = format_rfc3339(start + 10 * 86400)
    result = run("audit", "prune", "--log", url, "--now", ten_days_on)
    assert result.exit_code == 0, result.output
    assert "nothing to prune: no chain begins with an expired record" in result.output
    assert "note: access: 2 records expired behind older ones that have not" in result.output
    assert run("audit", "verify", "--log", url).exit_code == 0


@pytest.mark.parametrize("actor", ["", "   ", "a\nb"])
def test_prune_refuses_an_actor_that_names_nobody(tmp_path: Path, actor: str) -> None:
    url, _ = make_log(tmp_path)
    result = run("audit", "prune", "--log", url, "--actor", actor)
    assert result.exit_code == 2 and "is not a name" in result.output


def test_records_name_their_key_and_a_query_with_another_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENET_AUDIT_KEY", raising=False)
    url, written = make_log(tmp_path)  # the key was made beside the log
    key = (tmp_path / "audit.db.key").read_bytes().strip()
    from tenet.audit.redact import key_id

    assert {r["key_id"] for r in written} == {key_id(key)}
    result = run("audit", "query", "--log", url, "--where", "input.subject.id=alice0")
    assert "2 records" in result.output and "another key" not in result.output
    # another log's key file put beside this one: an erasure search would miss every record
    (tmp_path / "audit.db.key").write_text("k" * 32)
    result = run("audit", "query", "--log", url, "--where", "input.subject.id=alice0")
    assert "0 records" in result.output
    assert "note: 6 records of the log were written with another key than the one at hand" in (
        result.output
    )
    # and a key in the environment that is not the key file's is refused outright
    monkeypatch.setenv("TENET_AUDIT_KEY", "another key, long enough to use")
    result = run("audit", "query", "--log", url, "--where", "input.subject.id=alice0")
    assert result.exit_code == 2 and "holds another key than the log's key file" in result.output


def test_a_writer_whose_key_differs_from_the_log_s_key_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENET_AUDIT_KEY", raising=False)
    url = f"jsonl:///{tmp_path}/audit.jsonl"
    AuditLog.open(url).close()  # makes the key file
    monkeypatch.setenv("TENET_AUDIT_KEY", "another key, long enough to use")
    with pytest.raises(StoreError, match="holds another key than the log's key file"):
        AuditLog.open(url)
    (tmp_path / "audit.jsonl.key").unlink()  # no record was written with it
    AuditLog.open(url).close()


def test_a_log_written_with_an_environment_key_is_not_given_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_bundle(tmp_path / "f", {"tenet.yaml": MANIFEST, "access.tenet": POLICY})
    bundle = tenet.load_bundle(root)
    url = f"sqlite:///{tmp_path}/audit.db"
    monkeypatch.setenv("TENET_AUDIT_KEY", "the key of this log, long enough")
    log = AuditLog.open(url)
    log.record(bundle, bundle.decide("access.allow", INPUT(0)), INPUT(0), "ci")
    log.close()
    assert not (tmp_path / "audit.db.key").exists()
    monkeypatch.delenv("TENET_AUDIT_KEY")  # a later run without the variable
    with pytest.raises(StoreError, match="holds records but no key is at hand"):
        AuditLog.open(url)
    assert not (tmp_path / "audit.db.key").exists()  # no second key made
    result = run("audit", "verify", "--log", url)  # reading needs no key
    assert result.exit_code == 0


def test_prune_refuses_a_now_even_a_minute_ahead_of_the_clock(tmp_path: Path) -> None:
    url, _ = make_log(tmp_path)
    ahead = format_rfc3339(time.time() + 60)
    result = run("audit", "prune", "--log", url, "--now", ahead)
    assert result.exit_code == 2 and f"`--now {ahead}` is in the future" in result.output


def test_an_anchored_record_pruned_a_minute_before_it_expired_is_found(tmp_path: Path) -> None:
    # no clock slack between an anchored expiry and the checkpoint that removed the record
    from tenet.audit import check_chains, open_store, prune
    from tenet.runtime.clock import parse_rfc3339

    url, _ = make_log(tmp_path)
    anchor = Anchor.parse(next(a for a in _anchors(url) if a.startswith("access:")))
    assert anchor.expires is not None
    expires = parse_rfc3339(anchor.expires)
    later = expires + 86400  # when the log is verified
    prune(open_store(url), later, "ops")
    conn = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    (body,) = conn.execute("SELECT body FROM records WHERE class = 'access'").fetchone()
    for dated, found in ((expires, []), (expires - 60, ["pruned early"])):
        forged = json.loads(body)
        forged["time"] = format_rfc3339(dated)
        forged["hash"] = record_hash(forged)
        conn.execute(
            "UPDATE records SET body = ?, time = ?, hash = ? WHERE class = 'access'",
            (canonical(forged).decode(), forged["time"], forged["hash"]),
        )
        checked = check_chains(open_store(url, create=False), [anchor], now=later)
        assert [p.kind for p in checked.problems] == found, dated


def test_prune_from_python_refuses_a_log_that_does_not_verify_as_the_command_does(
    tmp_path: Path,
) -> None:
    from tenet.audit import open_store, prune, verify

    url, written = make_log(tmp_path)
    conn = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    body = json.loads(
        conn.execute("SELECT body FROM records WHERE id = ?", (written[2]["id"],)).fetchone()[0]
    )
    body["outcome"] = body["decision"]["outcome"] = "deny"
    conn.execute("UPDATE records SET body = ? WHERE id = ?", (canonical(body), written[2]["id"]))
    said = "the log does not verify; prune refuses to touch it: class `deployments`: record"
    later = time.time() + 10 * 365 * 86400
    with pytest.raises(StoreError, match=said):
        prune(open_store(url), later, "ops")
    assert len(list(open_store(url).records())) == 6
    assert verify(open_store(url))[0].kind == "modified"
    result = run("audit", "prune", "--log", url)
    assert result.exit_code == 2 and f"error: {said}" in result.output


def test_prune_from_python_takes_now_as_decide_does_and_refuses_an_actor_that_names_nobody(
    tmp_path: Path,
) -> None:
    import datetime

    from tenet.audit import open_store, prune

    url, _ = make_log(tmp_path)
    for actor in ("", "  "):
        with pytest.raises(ValueError, match=f"the actor {actor!r} is not a name"):
            prune(open_store(url), time.time(), actor)
    with pytest.raises(ValueError, match="`now` must be RFC 3339 text"):
        prune(open_store(url), b"2020", "ops")  # type: ignore[arg-type]
    assert prune(open_store(url), "2020-01-01T00:00:00Z", "ops") == {}
    utc = datetime.UTC
    assert prune(open_store(url), datetime.datetime(2099, 1, 1, tzinfo=utc), "ops") == {
        "access": 3,
        "deployments": 3,
    }
    checkpoints = [r for r in open_store(url).records() if r["kind"] == "checkpoint"]
    assert [r["actor"] for r in checkpoints] == ["ops", "ops"]


@pytest.mark.parametrize(
    ("column", "named"),
    [("body", "{id} modified: it does not read as a record"),
     ("actor", "{id} modified: its `actor` column holds bytes that are not UTF-8"),
     ("class", "{id} modified: its `class` column holds bytes that are not UTF-8"),
     ("hash", "{id} modified: its `hash` column holds bytes that are not UTF-8"),
     ("id", "record at position {position} modified: its `id` column holds bytes that are "
            "not UTF-8"),
     ("id, body", "record at position {position} modified: it does not read as a record")],
)  # fmt: skip
def test_a_row_with_text_that_is_not_utf8_is_named_and_passed_by(
    tmp_path: Path, column: str, named: str
) -> None:
    # SQLite stores what it is given: a TEXT cell of raw bytes stopped every reader of the log
    url, written = make_log(tmp_path)
    db = tmp_path / "audit.db"
    with sqlite3.connect(db) as conn:
        position, record_id, cls = conn.execute(
            "SELECT position, id, class FROM records ORDER BY position LIMIT 1 OFFSET 2"
        ).fetchone()
        edits = ", ".join(f"{c} = CAST(X'7b22a0ff7d' AS TEXT)" for c in column.split(", "))
        conn.execute(f"UPDATE records SET {edits} WHERE position = ?", (position,))
    conn.close()
    result = run("audit", "verify", "--log", url)
    assert result.exit_code == 1
    said = named.format(id=f"record {record_id}", position=position)
    assert f"TAMPERED class `{cls}`: {said}\n" in result.output, result.output
    assert "\x00" not in result.output
    query = run("audit", "query", "--log", url, "--format", "json")
    assert query.exit_code == 1  # answered, with the warning that the log does not verify
    assert "1 damaged record (a row or line that reads as no record) left out" in query.stderr
    shown = json.loads(query.stdout)
    assert sorted(r["id"] for r in shown) == sorted(
        r["id"] for r in written if r["id"] != record_id
    )


def test_a_decision_log_inside_the_bundle_s_folder_is_refused(tmp_path: Path) -> None:
    # the log and its key would be files of the bundle: the bundle would change with every
    # decision, and ship the key that undoes the log's tokens
    root = write_bundle(tmp_path / "b", {"main.tenet": "package main\nallow if { input.a }\n"})
    (tmp_path / "in.json").write_text('{"a": true}')
    args = ["eval", "main.allow", "--bundle", str(root), "--input", str(tmp_path / "in.json")]
    result = run(*args, "--decision-log", f"sqlite:///{root}/audit.db")
    assert result.exit_code == 2 and "is inside the bundle's folder" in result.output
    assert not (root / "audit.db").exists() and not (root / "audit.db.key").exists()
    (root / ".audit").mkdir()  # a hidden folder is none of the bundle's
    assert run(*args, "--decision-log", f"sqlite:///{root}/.audit/audit.db").exit_code == 0
    assert tenet.load_bundle(root).manifest.name


def test_a_bundle_holding_a_decision_log_s_key_does_not_load(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"main.tenet": "package main\nallow if { input.a }\n"})
    AuditLog.open(f"sqlite:///{root}/audit.db").close()  # written there by the Python API
    assert (root / "audit.db.key").is_file()
    result = run("bundle", "build", str(root), "-o", str(tmp_path / "b.tar.gz"))
    assert result.exit_code == 2
    assert "`audit.db.key` is the key of the decision log `audit.db`" in result.output
    assert not (tmp_path / "b.tar.gz").exists()


def test_a_decision_log_s_key_is_refused_in_an_archive_and_left_alone(tmp_path: Path) -> None:
    import tarfile

    root = write_bundle(tmp_path / "b", {"main.tenet": "package main\nallow if { input.a }\n"})
    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db")
    log.close()
    key = (tmp_path / "audit.db.key").read_bytes()
    (root / "old.db.key").write_bytes(key)  # left behind by a log moved away
    result = run("bundle", "build", str(root), "-o", str(tmp_path / "b.tar.gz"))
    assert result.exit_code == 2 and "`old.db.key` is the key of a decision log" in result.output
    (root / "old.db.key").unlink()
    archive = tmp_path / "hand.tar.gz"  # made by hand, with a log and its key
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / "main.tenet", "main.tenet")
        tar.add(tmp_path / "audit.db", "audit.db")
        tar.add(tmp_path / "audit.db.key", "audit.db.key")
    with pytest.raises(tenet.PolicyError, match=r"is the key of the decision log `audit\.db`"):
        tenet.load_bundle(archive)


def test_a_write_after_a_last_record_that_is_not_utf8_is_refused_and_lets_go_of_the_log(
    tmp_path: Path,
) -> None:
    url, written = make_log(tmp_path)
    db = tmp_path / "audit.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE records SET hash = CAST(X'61ff' AS TEXT) WHERE id = ?", (written[-1]["id"],)
        )
    conn.close()
    root = tmp_path / "b"
    bundle = tenet.load_bundle(root)
    log = AuditLog.open(url)
    inp = INPUT(7)
    with pytest.raises(StoreError, match=r"damaged: the last record of class `access` does not"):
        log.record(bundle, bundle.decide("access.allow", inp), inp, actor="svc")
    # the failed write holds no lock: another writer, or prune, is not kept waiting
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    log.record(bundle, bundle.decide("deploy", inp), inp, actor="ci")  # another class's chain
    log.close()
