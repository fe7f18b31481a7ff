"""The audit core: chained records in SQLite and JSONL, tamper detection, pruning with a
checkpoint, redaction of personal values, and batched writes."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import tenet
from tenet.audit import AuditLog, BatchWriter, check_chains, prune, verify
from tenet.audit.records import GENESIS, canonical
from tenet.audit.stores import SqliteStore
from tests.conftest import write_bundle

MANIFEST = """name: audited
version: 1.0.0
audit:
  keep: [input.model.model_id, input.subject.id]
  personal: [input.subject.id, input.subject.email]
"""

POLICY = """package access
default allow = false
allow if {
    input.subject.role == "admin"
}
"""

DEPLOY = """package deploy
require owner {
    input.owner == input.subject.id
} message "{input.subject.id} ({input.subject.email}) does not own {input.model.model_id}"
"""

DATA = {
    "retention": {
        "classes": {
            "deployments": {"keep_for": "2555d", "query_prefixes": ["deploy"]},
            "access": {"keep_for": "730d", "query_prefixes": ["access"]},
            "config": {"keep_for": "1825d", "events": ["configuration_change"]},
        }
    }
}


@pytest.fixture
def bundle(tmp_path: Path) -> tenet.Bundle:
    root = write_bundle(
        tmp_path / "b",
        {"tenet.yaml": MANIFEST, "access.tenet": POLICY, "deploy.tenet": DEPLOY},
        DATA,
    )
    return tenet.load_bundle(root)


def INPUT(i: int = 0) -> dict[str, Any]:
    return {
        "subject": {"id": f"alice{i}", "email": f"alice{i}@example.com", "role": "user"},
        "model": {"model_id": "churn"},
        "owner": "bob",
    }


@pytest.fixture(params=["sqlite", "jsonl"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> AuditLog:
    url = f"{request.param}:///{tmp_path}/audit.{'db' if request.param == 'sqlite' else 'jsonl'}"
    return AuditLog.open(url)


def fill(log: AuditLog, bundle: tenet.Bundle, n: int = 5) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        for q in ("deploy", "access.allow"):
            d = bundle.decide(q, INPUT(i))
            out.append(log.record(bundle, d, INPUT(i), actor="ci"))
    return out


def test_records_chain_per_retention_class(log: AuditLog, bundle: tenet.Bundle) -> None:
    written = fill(log, bundle)
    assert {r["class"] for r in written} == {"deployments", "access"}
    deploys = [r for r in written if r["class"] == "deployments"]
    assert deploys[0]["prev"] == GENESIS
    assert [r["seq"] for r in deploys] == [1, 2, 3, 4, 5]
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(deploys))
    assert verify(log.store) == []
    assert check_chains(log.store).counts == {"access": 5, "deployments": 5}


def test_reading_a_log_streams_it_while_it_is_written(log: AuditLog, bundle: tenet.Bundle) -> None:
    fill(log, bundle, 3)
    reading = log.store.records()
    first = next(reading)
    fill(log, bundle, 1)  # a writer goes on while a reader is part-way through
    rest = list(reading)
    # SQLite reads one snapshot; a JSONL file is read as it grows
    assert first["seq"] == 1 and len(rest) == (5 if log.store.url.startswith("sqlite") else 7)
    assert check_chains(log.store).records == 8 and verify(log.store) == []


def test_personal_values_are_replaced_everywhere(log: AuditLog, bundle: tenet.Bundle) -> None:
    (record, _) = fill(log, bundle, 1)
    text = json.dumps(record)
    assert "alice0" not in text
    assert "alice0@example.com" not in text
    token = record["input"]["input.subject.id"]
    assert token.startswith("hmac:")
    assert record["input"]["input.model.model_id"] == "churn"  # kept as it is
    message = record["decision"]["checks"][0]["message"]
    assert message.startswith(token) and "churn" in message
    # the same value gives the same token: records can still be correlated
    again = log.record(bundle, bundle.decide("deploy", INPUT(0)), INPUT(0), actor="ci")
    assert again["input"]["input.subject.id"] == token
    assert "raw" not in record
    # the digest of an input that holds personal values is keyed: a plain one could be
    # matched by trying the few values each field takes
    plain = bundle.decide("deploy", INPUT(0)).input_digest
    assert record["input_digest"] == again["input_digest"] != plain
    assert record["input_digest"].startswith("hmac-sha256:")
    assert record["decision"]["input_digest"] == record["input_digest"]
    assert plain not in json.dumps(record)


def _rows(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_sqlite_tampering_is_found(tmp_path: Path, bundle: tenet.Bundle) -> None:
    db = tmp_path / "audit.db"
    log = AuditLog.open(f"sqlite:///{db}")
    written = [r for r in fill(log, bundle) if r["class"] == "deployments"]
    conn = _rows(db)

    # modified: an edited body
    body = json.loads(
        conn.execute("SELECT body FROM records WHERE id = ?", (written[2]["id"],)).fetchone()[0]
    )
    body["outcome"] = "allow"
    conn.execute("UPDATE records SET body = ? WHERE id = ?", (json.dumps(body), written[2]["id"]))
    (problem,) = verify(log.store)
    assert (problem.kind, problem.record_id) == ("modified", written[2]["id"])
    conn.execute(
        "UPDATE records SET body = ? WHERE id = ?",
        (json.dumps(written[2], sort_keys=True, separators=(",", ":")), written[2]["id"]),
    )
    assert verify(log.store) == []

    # reordered: two rows swap places
    a, b = (
        conn.execute("SELECT position FROM records WHERE id = ?", (written[i]["id"],)).fetchone()[0]
        for i in (1, 2)
    )
    conn.execute("UPDATE records SET position = -1 WHERE position = ?", (a,))
    conn.execute("UPDATE records SET position = ? WHERE position = ?", (a, b))
    conn.execute("UPDATE records SET position = ? WHERE position = -1", (b,))
    (problem,) = verify(log.store)
    assert problem.kind == "reordered"
    conn.execute("UPDATE records SET position = -1 WHERE position = ?", (a,))
    conn.execute("UPDATE records SET position = ? WHERE position = ?", (a, b))
    conn.execute("UPDATE records SET position = ? WHERE position = -1", (b,))
    assert verify(log.store) == []

    # deleted: a row removed
    conn.execute("DELETE FROM records WHERE id = ?", (written[3]["id"],))
    (problem,) = verify(log.store)
    assert (problem.kind, problem.record_id) == ("deleted", written[3]["id"])


def test_an_inserted_record_is_found(tmp_path: Path, bundle: tenet.Bundle) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.open(f"jsonl:///{path}")
    fill(log, bundle, 3)
    lines = path.read_text().splitlines()
    # a forger copies a record, links it properly after the first and re-hashes it
    from tenet.audit.records import record_hash

    first = json.loads(lines[0])
    forged = {**first, "id": "forged", "outcome": "allow", "seq": 2, "prev": first["hash"]}
    forged["prev_id"] = first["id"]
    forged["hash"] = record_hash(forged)
    lines.insert(1, canonical(forged).decode())  # written as the writer writes, or it is
    path.write_text("\n".join(lines) + "\n")  # caught as not stored as hashed
    (problem,) = verify(log.store)
    assert (problem.kind, problem.record_id) == ("inserted", "forged")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("hash", "sha256:" + "0" * 64),
        ("class", "access"),
        ("seq", 1),
        ("id", "not-the-id"),
        ("kind", "event"),
        ("time", "2020-01-01T00:00:00Z"),
        ("query", "access.allow"),
        ("outcome", "allow"),
        ("actor", "someone-else"),
    ],
)
def test_an_edited_column_is_found_at_its_row_even_after_more_records(
    tmp_path: Path, bundle: tenet.Bundle, column: str, value: Any
) -> None:
    db = tmp_path / "audit.db"
    log = AuditLog.open(f"sqlite:///{db}")
    written = [r for r in fill(log, bundle) if r["class"] == "deployments"]
    edited = written[-1]  # its chain's last record: the next one is linked by its columns
    position = (
        _rows(db)
        .execute("SELECT position FROM records WHERE id = ?", (edited["id"],))
        .fetchone()[0]
    )
    _rows(db).execute(f"UPDATE records SET {column} = ? WHERE position = ?", (value, position))
    fill(log, bundle, 1)  # honest writes after the edit
    problems = verify(log.store)
    assert problems, f"an edited `{column}` column went unseen"
    assert (problems[0].kind, problems[0].record_id) == (
        "modified",
        value if column == "id" else edited["id"],
    )


def test_a_copied_record_is_found_as_inserted(tmp_path: Path, bundle: tenet.Bundle) -> None:
    db = tmp_path / "audit.db"
    log = AuditLog.open(f"sqlite:///{db}")
    written = [r for r in fill(log, bundle) if r["class"] == "deployments"]
    conn = _rows(db)
    # a row copied whole (stored last): intact, and linked as the original is
    conn.execute(
        "INSERT INTO records (id, class, seq, kind, time, query, outcome, actor, hash, body) "
        "SELECT id, class, seq, kind, time, query, outcome, actor, hash, body FROM records "
        "WHERE id = ?",
        (written[1]["id"],),
    )
    (problem,) = verify(log.store)
    assert (problem.kind, problem.record_id) == ("inserted", written[1]["id"])
    assert "second copy" in problem.detail

    path = tmp_path / "audit.jsonl"
    jlog = AuditLog.open(f"jsonl:///{path}")
    fill(jlog, bundle, 3)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], lines[1], *lines[2:]]) + "\n")  # line 2 twice
    (problem,) = verify(jlog.store)
    assert (problem.kind, problem.record_id) == ("inserted", json.loads(lines[1])["id"])


def test_jsonl_deleting_and_reordering_lines_is_found(tmp_path: Path, bundle: tenet.Bundle) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.open(f"jsonl:///{path}")
    written = fill(log, bundle, 3)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    (problem,) = verify(log.store)
    assert (problem.kind, problem.record_id) == ("deleted", written[2]["id"])
    lines[0], lines[2] = lines[2], lines[0]
    path.write_text("\n".join(lines) + "\n")
    assert verify(log.store)[0].kind == "reordered"


def test_prune_leaves_a_chain_that_verifies(
    log: AuditLog, bundle: tenet.Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenet.runtime.clock import parse_rfc3339

    ticks = iter(range(1_800_000_000, 1_900_000_000, 100))  # a record every 100 s
    monkeypatch.setattr("tenet.audit.log.time.time", lambda: float(next(ticks)))
    written = fill(log, bundle, 4)
    deploys = [r for r in written if r["class"] == "deployments"]
    # the clock of the prune: just past the retention of the second deployment record
    later = parse_rfc3339(deploys[1]["time"]) + deploys[1]["keep_seconds"] + 1
    removed = prune(log.store, later, "ops")
    # deployments are kept 7 years: the first two expired; access records, 2 years: all did
    assert removed == {"deployments": 2, "access": 4}
    assert verify(log.store, now=later) == []
    # verified before the time the prune was made as of, its checkpoint is from the future
    assert verify(log.store, now=later - 86400)[0].kind == "pruned early"
    remaining = [r for r in log.store.records() if r["class"] == "deployments"]
    assert remaining[0]["kind"] == "checkpoint"
    assert remaining[0]["event"]["last_removed_hash"] == deploys[1]["hash"]
    assert [r["seq"] for r in remaining] == [2, 3, 4]
    # records written after pruning still chain, and a later prune still verifies
    fill(log, bundle, 1)
    assert verify(log.store, now=later) == []
    removed = prune(log.store, later + 10 * 365 * 86400, "ops")
    assert removed["deployments"] == 3
    assert verify(log.store, now=later + 10 * 365 * 86400) == []
    # the earlier checkpoint went with the records it stood for; the new one says what it said
    (checkpoint,) = [
        r for r in log.store.records() if r["kind"] == "checkpoint" and r["class"] == "deployments"
    ]
    event = checkpoint["event"]
    assert event["removed"] == 3 and event["total_removed"] == 5
    assert event["earlier"]["actor"] == "ops" and event["earlier"]["removed"] == 2
    fill(log, bundle, 1)
    assert verify(log.store, now=later + 10 * 365 * 86400) == []


def test_configuration_changes_are_recorded(log: AuditLog, bundle: tenet.Bundle) -> None:
    (record,) = log.write([log.activation_entry(None, bundle, "ops")])
    assert record["kind"] == "configuration_change"
    assert record["class"] == "config"
    assert record["event"]["new"]["digest"] == bundle.digest
    assert verify(log.store) == []


def test_batch_writer_commits_before_reporting(tmp_path: Path, bundle: tenet.Bundle) -> None:
    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db")
    writer = BatchWriter(log, max_batch=16, max_queue=8)
    futures = []
    lock = threading.Lock()

    def work(k: int) -> None:
        for i in range(25):
            d = bundle.decide("deploy", INPUT(i))
            f = writer.submit(log.decision_entry(bundle, d, INPUT(i), f"t{k}"))
            with lock:
                futures.append(f)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = [f.result(timeout=30) for f in futures]
    writer.close()
    stored = {r["id"] for r in log.store.records()}
    assert {r["id"] for r in records} <= stored
    assert len(stored) == 100
    assert verify(log.store) == []


def test_a_failing_store_fails_every_waiter(tmp_path: Path, bundle: tenet.Bundle) -> None:
    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db")
    log.store.close()
    (tmp_path / "audit.db").unlink()
    (tmp_path / "audit.db").mkdir()  # the store can no longer be written
    writer = BatchWriter(log)
    d = bundle.decide("deploy", INPUT())
    future = writer.submit(log.decision_entry(bundle, d, INPUT(), "ci"))
    with pytest.raises(tenet.audit.StoreError):
        future.result(timeout=30)
    writer.close()


def test_a_background_checkpointer_copies_the_wal_back(
    tmp_path: Path, bundle: tenet.Bundle
) -> None:
    import os
    import time

    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db")
    store = log.store
    assert isinstance(store, SqliteStore)
    store.checkpoint_in_background(every=0.01)
    d = bundle.decide("deploy", INPUT(0))
    entry = log.decision_entry(bundle, d, INPUT(0), "ci")
    db = tmp_path / "audit.db"
    before = os.path.getsize(db)
    for _ in range(8):
        log.write([entry] * 250)  # thousands of pages: past SQLite's own checkpoint size
    deadline = time.monotonic() + 20
    while os.path.getsize(db) < before + 2_000_000:  # the pages reached the database file
        assert time.monotonic() < deadline, "the WAL was never checkpointed"
        time.sleep(0.01)
    thread = store._checkpointer[0] if store._checkpointer else None
    log.close()
    assert thread is not None and not thread.is_alive()
    assert check_chains(AuditLog.open(f"sqlite:///{db}").store).records == 2000


def test_a_star_path_keeps_and_hides_every_item_of_a_list(tmp_path: Path) -> None:
    manifest = (
        "name: approvals\nversion: 1.0.0\naudit:\n"
        "  keep: [input.approvals.*.role, input.approvals.*.user, input.ticket]\n"
        "  personal: [input.approvals.*.user]\n"
    )
    policy = (
        "package gate\n"
        "require two_approvals {\n    count(input.approvals) >= 2\n}"
        ' message "only {input.approvals[0].user} approved"\n'
    )
    root = write_bundle(tmp_path / "b", {"tenet.yaml": manifest, "gate.tenet": policy})
    bundle = tenet.load_bundle(root)
    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db")
    inp = {"approvals": [{"role": "ml_lead", "user": "dana"}], "ticket": "CHG-1"}
    record = log.record(bundle, bundle.decide("gate", inp), inp, actor="ci")
    assert "dana" not in json.dumps(record)
    kept = record["input"]
    token = kept["input.approvals.*.user"][0]
    assert kept["input.approvals.*.role"] == ["ml_lead"] and token.startswith("hmac:")
    assert kept["input.ticket"] == "CHG-1"
    assert record["decision"]["checks"][0]["message"] == f"only {token} approved"
    # a path that finds nothing keeps nothing
    none = log.record(bundle, bundle.decide("gate", {"approvals": []}), {"approvals": []})
    assert "input.approvals.*.user" not in none["input"]


def test_the_manifest_refuses_a_path_that_is_not_an_input_path(tmp_path: Path) -> None:
    manifest = 'name: bad\nversion: 1.0.0\naudit:\n  personal: ["input.approvals[0].user"]\n'
    root = write_bundle(tmp_path / "b", {"tenet.yaml": manifest, "p.tenet": POLICY})
    with pytest.raises(tenet.PolicyError) as caught:
        tenet.load_bundle(root)
    assert "`*` for every item of a list" in str(caught.value)


def _replace_text(log: AuditLog, record_id: str, text: str) -> None:
    """Store `text` as the record's stored text, in either store."""
    url = log.store.url
    path = Path(url.split(":///", 1)[1])
    if url.startswith("sqlite"):
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("UPDATE records SET body = ? WHERE id = ?", (text, record_id))
        conn.close()
    else:
        lines = path.read_text("utf-8").splitlines()
        at = next(i for i, line in enumerate(lines) if json.loads(line)["id"] == record_id)
        lines[at] = text
        path.write_text("\n".join(lines) + "\n", "utf-8")


def test_a_key_given_twice_is_an_edit_though_a_parser_reads_the_record_unchanged(
    log: AuditLog, bundle: tenet.Bundle
) -> None:
    written = fill(log, bundle, 3)
    target = next(r for r in written if r["outcome"] == "deny")
    text = canonical(target).decode()
    # SQLite's json_extract reads the first copy: to it, the record now says allow
    _replace_text(log, target["id"], '{"outcome":"allow","actor":"nobody",' + text[1:])
    (problem,) = verify(log.store)
    assert (problem.kind, problem.record_id) == ("modified", target["id"])
    assert problem.detail == (
        "it is not stored as the text its hash was taken over (a key given twice?)"
    )
    _replace_text(log, target["id"], json.dumps(target))  # the same value, laid out otherwise
    (problem,) = verify(log.store)
    assert (problem.kind, problem.record_id) == ("modified", target["id"])
    _replace_text(log, target["id"], text)
    assert verify(log.store) == []


@pytest.mark.parametrize(
    ("edit", "detail"),
    [
        (
            {"event": {"last_removed_hash": "sha256:" + "ab" * 32}},
            "its `last_removed_hash` is not the record it follows (`prev`)",
        ),
        ({"event": {"removed": 1, "total_removed": 1}}, "it says it removed 1 record(s), 1 in all"),
        ({"keep_seconds": 60}, "a checkpoint is kept for ever, and this one says otherwise"),
        ({"event": {"removed_until": "2999-01-01T00:00:00Z"}}, "it removed records made until"),
    ],
)
def test_a_checkpoint_that_says_what_cannot_all_be_true_is_modified(
    log: AuditLog, bundle: tenet.Bundle, edit: dict[str, Any], detail: str
) -> None:
    # re-hashed after the edit, as a forger would: what it says of itself gives it away
    from tenet.audit.records import record_hash

    fill(log, bundle, 2)
    later = time.time() + 10 * 365 * 86400  # when every record has expired
    prune(log.store, later, "ops")
    assert verify(log.store, later) == []
    checkpoint = next(r for r in log.store.records() if r["kind"] == "checkpoint")
    forged = {**checkpoint, **{k: v for k, v in edit.items() if k != "event"}}
    forged["event"] = {**checkpoint["event"], **edit.get("event", {})}
    forged["hash"] = record_hash(forged)
    _replace_text(log, forged["id"], canonical(forged).decode())
    if log.store.url.startswith("sqlite"):  # the row's own column too, as a forger would
        conn = sqlite3.connect(Path(log.store.url.split(":///", 1)[1]), isolation_level=None)
        conn.execute("UPDATE records SET hash = ? WHERE id = ?", (forged["hash"], forged["id"]))
        conn.close()
    (problem,) = [p for p in verify(log.store, later) if p.record_id == forged["id"]]
    assert problem.kind == "modified" and problem.detail.startswith(detail)
