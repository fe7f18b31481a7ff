"""The decision log as a library: opened from several threads at once, a batch writer that
one bad entry or one cancelled future cannot stop, and arguments that do not belong
together refused."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import tenet
from tenet.audit import AuditLog, BatchWriter, StoreError, open_store, verify
from tests.audit.test_audit_core import DATA, DEPLOY, INPUT, MANIFEST, POLICY
from tests.conftest import write_bundle


@pytest.fixture
def bundle(tmp_path: Path) -> tenet.Bundle:
    files = {"tenet.yaml": MANIFEST, "access.tenet": POLICY, "deploy.tenet": DEPLOY}
    return tenet.load_bundle(write_bundle(tmp_path / "b", files, DATA))


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
def test_a_new_log_opened_from_several_threads_at_once_has_one_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    monkeypatch.delenv("TENET_AUDIT_KEY", raising=False)
    for trial in range(10):
        url = f"{scheme}:///{tmp_path}/audit{trial}.{scheme}"
        start = threading.Barrier(6)

        def open_it(_: int, url: str = url, start: threading.Barrier = start) -> bytes:
            start.wait()
            log = AuditLog.open(url)
            log.close()
            return log.key

        with ThreadPoolExecutor(6) as pool:
            keys = set(pool.map(open_it, range(6)))
        assert len(keys) == 1 and len(next(iter(keys))) >= 16


def test_a_key_shorter_than_16_bytes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="the audit key is 3 bytes"):
        AuditLog(open_store(f"jsonl:///{tmp_path}/a.jsonl"), b"abc")


def test_an_entry_that_is_not_json_is_refused_alone(tmp_path: Path, bundle: tenet.Bundle) -> None:
    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db")
    writer = BatchWriter(log, max_batch=64)
    good = [
        log.decision_entry(bundle, bundle.decide("deploy", INPUT(i)), INPUT(i), "ci")
        for i in range(20)
    ]
    bad = log.event_entry("error", {"tags": {"a", "set"}}, "ci")
    with pytest.raises(StoreError, match="cannot be written as JSON"):
        writer.submit(bad)
    futures = [writer.submit(e) for e in good]
    assert all(f.result(30)["kind"] == "decision" for f in futures)
    writer.close()
    assert verify(log.store) == []


def test_a_cancelled_future_does_not_stop_the_writer(tmp_path: Path, bundle: tenet.Bundle) -> None:
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    writer = BatchWriter(log)
    entries = [
        log.decision_entry(bundle, bundle.decide("deploy", INPUT(i)), INPUT(i), "ci")
        for i in range(50)
    ]
    futures = [writer.submit(e) for e in entries]
    futures[10].cancel()  # its caller gave up waiting
    later = writer.submit(entries[0])
    assert later.result(30)["kind"] == "decision"
    writer.close()
    # the cancelled one is written only when its batch had begun before it was cancelled
    assert len(list(log.store.records())) in (50, 51)


def test_an_entry_cancelled_before_its_batch_began_is_not_written(bundle: tenet.Bundle) -> None:
    import json

    from tenet.audit import AuditStore
    from tenet.audit.linking import Prepared, link_all

    class GatedStore(AuditStore):  # holds a commit until the gate opens
        url = "memory:"

        def __init__(self) -> None:
            self.lines: list[str] = []
            self.tails: dict[str, Any] = {}
            self.gate = threading.Event()

        def append_prepared(self, entries: list[Prepared]) -> list[dict[str, Any]]:
            self.gate.wait(30)
            linked = link_all(entries, self.tails)
            self.lines += [text.decode() for _, text in linked]
            return [record for record, _ in linked]

        def records(self) -> Any:
            return (json.loads(line) for line in self.lines)

    store = GatedStore()
    log = AuditLog(store, b"k" * 32)
    writer = BatchWriter(log)
    first, second = INPUT(0), INPUT(1)
    made = [bundle.decide("deploy", first), bundle.decide("deploy", second)]
    running = writer.submit(log.decision_entry(bundle, made[0], first, "ci"))
    for _ in range(500):  # until the writer holds the first batch at the gate
        if running.running():
            break
        threading.Event().wait(0.01)
    queued = writer.submit(log.decision_entry(bundle, made[1], second, "ci"))
    assert queued.cancel() and not running.cancel()  # a batch begun cannot be
    store.gate.set()
    assert running.result(30)["id"] == made[0].decision_id
    writer.close()
    assert [r["id"] for r in store.records()] == [made[0].decision_id]


def test_submit_after_close_and_a_full_queue_are_errors(
    tmp_path: Path, bundle: tenet.Bundle
) -> None:
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    entry: dict[str, Any] = log.decision_entry(
        bundle, bundle.decide("deploy", INPUT()), INPUT(), "ci"
    )
    writer = BatchWriter(log, max_queue=1)
    writer.close()
    with pytest.raises(StoreError, match="the batch writer is closed"):
        writer.submit(entry)
    with pytest.raises(ValueError, match="at least 1"):
        BatchWriter(log, max_queue=0)


def test_a_decision_of_another_bundle_is_refused(tmp_path: Path, bundle: tenet.Bundle) -> None:
    other = tenet.load_bundle(
        write_bundle(tmp_path / "o", {"tenet.yaml": "name: o\nversion: 2.0.0\n", "p.tenet": POLICY})
    )
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    with pytest.raises(ValueError, match=r"made by bundle o 2\.0\.0, not audited 1\.0\.0"):
        log.record(bundle, other.decide("access.allow", INPUT()), INPUT(), "ci")
    with pytest.raises(ValueError, match="`decision` is not an event"):
        log.event_entry("decision", {}, "ci")


def test_a_decision_of_another_build_of_the_same_version_names_both_digests(
    tmp_path: Path, bundle: tenet.Bundle
) -> None:
    root = tmp_path / "b2"
    write_bundle(
        root, {"tenet.yaml": MANIFEST, "access.tenet": POLICY + "\n", "deploy.tenet": DEPLOY}
    )
    other = tenet.load_bundle(root)
    assert (other.info.name, other.info.version) == (bundle.info.name, bundle.info.version)
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    with pytest.raises(ValueError) as caught:
        log.record(bundle, other.decide("access.allow", INPUT()), INPUT(), "ci")
    assert str(caught.value) == (
        f"the decision was made by bundle audited 1.0.0 built as {other.digest}, "
        f"not the build {bundle.digest}"
    )


def test_a_decision_recorded_with_another_input_is_refused(
    tmp_path: Path, bundle: tenet.Bundle
) -> None:
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    decided = INPUT(0)
    decision = bundle.decide("deploy", decided)
    with pytest.raises(ValueError, match="made on another input"):
        log.record(bundle, decision, INPUT(1), "ci")
    assert verify(log.store) == [] and list(log.store.records()) == []  # nothing written
    log.record(bundle, decision, decided, "ci")  # the same object
    log.record(bundle, bundle.decide("deploy", decided), INPUT(0), "ci")  # an equal copy
    # decided on no input: {} and None are the same
    log.record(bundle, bundle.decide("deploy"), None, "ci")
    log.record(bundle, bundle.decide("deploy"), {}, "ci")
    assert len(list(log.store.records())) == 4


def test_a_decision_is_recorded_once(tmp_path: Path, bundle: tenet.Bundle) -> None:
    # a record's id is its decision's: a second record of it would give two records one id
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    decision = bundle.decide("deploy", INPUT(0))
    first = log.record(bundle, decision, INPUT(0), "ci")
    with pytest.raises(ValueError, match=f"decision {decision.decision_id} is already recorded"):
        log.record(bundle, decision, INPUT(0), "ci")
    assert [r["id"] for r in log.store.records()] == [first["id"]]
    # a write that failed did not record it: it may be tried again
    again = bundle.decide("deploy", INPUT(0))
    write = log.write

    def fail(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise StoreError("the disk is full")

    log.write = fail  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        log.record(bundle, again, INPUT(0), "ci")
    log.write = write  # type: ignore[method-assign]
    assert log.record(bundle, again, INPUT(0), "ci")["id"] == again.decision_id


@pytest.mark.parametrize("actor", ["", "   ", "\u200b", "a\x00", "a\nb"])
def test_an_actor_that_names_nobody_is_refused(
    tmp_path: Path, bundle: tenet.Bundle, actor: str
) -> None:
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    decision = bundle.decide("deploy", INPUT(0))
    with pytest.raises(ValueError, match="is not a name"):
        log.record(bundle, decision, INPUT(0), actor)
    with pytest.raises(ValueError, match="is not a name"):
        log.event_entry("error", {}, actor)
    assert list(log.store.records()) == []
    (record,) = [log.record(bundle, decision, INPUT(0))]  # None: the user running it
    assert record["actor"].strip()


def test_a_jsonl_prune_leaves_out_a_torn_last_line(tmp_path: Path) -> None:
    from tenet.audit import prune

    path = tmp_path / "audit.jsonl"
    store = open_store(f"jsonl:///{path}")
    old = {"class": "c", "kind": "decision", "time": "2020-01-01T00:00:00Z", "keep_seconds": 1}
    store.append([{**old, "id": "a"}, {**old, "id": "b"}])
    with path.open("a", encoding="utf-8") as f:
        f.write('{"actor":"torn')  # a writer killed mid-line
    assert prune(store, 1.7e9, "ops") == {"c": 2}
    assert [r["kind"] for r in store.records()] == ["checkpoint"]


def test_closing_a_store_closes_every_thread_s_connection(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    store = open_store(f"sqlite:///{db}")
    entry = {"class": "c", "kind": "decision", "time": "2026-01-01T00:00:00Z"}
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: store.append([{**entry, "id": str(i)}]), range(8)))
        store.close()

        def open_files() -> list[str]:
            found = []
            for fd in os.listdir("/proc/self/fd"):
                try:
                    found.append(os.readlink(f"/proc/self/fd/{fd}"))
                except OSError:  # the fd listing itself, closed once listed
                    pass
            return found

        assert not [f for f in open_files() if f.startswith(str(db))]


def test_the_package_says_it_is_typed() -> None:
    assert (Path(tenet.__file__).parent / "py.typed").is_file()


def test_a_store_answering_the_wrong_number_of_links_is_a_store_error(
    bundle: tenet.Bundle,
) -> None:
    from tenet.audit import AuditStore
    from tenet.audit.linking import link_all

    class Lossy(AuditStore):  # a sink that answers for one entry however many it was given
        def __init__(self) -> None:
            self.tails: dict[str, Any] = {}

        def append_prepared(self, entries: list[Any]) -> list[Any]:
            return [chained for chained, _ in link_all(entries, self.tails)][:1]

    log = AuditLog(Lossy(), key=b"k" * 32)
    decision = bundle.decide("deploy", INPUT(0))
    log.record(bundle, decision, INPUT(0))  # one entry, one link: fine
    with pytest.raises(StoreError, match=r"store `Lossy` answered 1 for the 2 entries written"):
        log.write([log.decision_entry(bundle, decision, INPUT(0), "ci")] * 2)
    with pytest.raises(StoreError, match="one link per entry"):
        Lossy().append([log.decision_entry(bundle, decision, INPUT(0), "ci")] * 3)


@pytest.mark.parametrize("how", ["key file replaced", "moved without its key"])
def test_recording_with_another_key_than_the_records_is_refused(
    tmp_path: Path, bundle: tenet.Bundle, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # one person would get two tokens in one log, and a query by name would find half
    monkeypatch.delenv("TENET_AUDIT_KEY", raising=False)
    url = f"sqlite:///{tmp_path}/audit.db"
    log = AuditLog.open(url)
    log.record(bundle, bundle.decide("access.allow", INPUT()), INPUT(), "ci")
    written_with = log.key_id
    log.close()
    if how == "key file replaced":
        (tmp_path / "audit.db.key").write_text("another key, long enough to be one")
    else:
        (tmp_path / "audit.db.key").unlink()
        monkeypatch.setenv("TENET_AUDIT_KEY", "another key, long enough to be one")
    with pytest.raises(StoreError) as caught:
        AuditLog.open(url)
    assert f"holds records written with another key ({written_with}) than the one" in str(
        caught.value
    )
    assert len(list(open_store(url).records())) == 1  # nothing written


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ({"bob", "alice"}, "{'alice', 'bob'}"),
        (bytearray(b"alice"), "bytearray(b'alice')"),
        (("alice",), "('alice',)"),
        ([{"a@x"}], ["{'a@x'}"]),
    ],
)
def test_a_refused_input_with_no_json_at_a_kept_or_personal_path_is_recorded(
    tmp_path: Path, bundle: tenet.Bundle, value: Any, kept: Any
) -> None:
    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db")
    at_kept = {**INPUT(0), "model": {"model_id": value}}
    at_personal = {**INPUT(0), "subject": {"id": value}}
    records = []
    for refused in (at_kept, at_personal):
        decision = bundle.decide("deploy", refused)
        assert decision.errors[0]["code"] == "invalid_input"
        records.append(log.record(bundle, decision, refused, actor="ci"))
    assert records[0]["input"]["input.model.model_id"] == kept
    assert records[1]["input"]["input.subject.id"].startswith("hmac:")
    writer = BatchWriter(log)
    assert writer.submit(log.decision_entry(bundle, decision, refused, "ci")).result(30)
    writer.close()
    assert verify(log.store) == []


def test_a_cyclic_input_is_refused_and_recorded_at_once(
    tmp_path: Path, bundle: tenet.Bundle
) -> None:
    cyclic: dict[str, Any] = {**INPUT(0)}
    cyclic["model"] = {"model_id": "m", "parent": cyclic, "siblings": [cyclic, cyclic]}
    decision = bundle.decide("deploy", cyclic)
    assert decision.errors[0]["code"] == "invalid_input"
    assert decision.input_digest.startswith("sha256:")
    assert decision.to_dict()["input_digest"] == decision.input_digest
    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db")
    record = log.record(bundle, decision, cyclic, actor="ci")
    assert record["input"]["input.model.model_id"] == "m"
    assert verify(log.store) == []


def test_the_audit_api_takes_a_key_file_as_text_and_names_wrong_argument_types(
    tmp_path: Path, bundle: tenet.Bundle
) -> None:
    key = tmp_path / "audit.key"
    key.write_bytes(b"k" * 32)
    log = AuditLog.open(f"sqlite:///{tmp_path}/audit.db", key_file=str(key))
    assert log.key == b"k" * 32
    where = tmp_path / "other.db"
    with pytest.raises(StoreError) as info:
        AuditLog.open(where)  # type: ignore[arg-type]
    assert str(info.value) == (
        "a log URL is text such as `sqlite:///path/audit.db`, not PosixPath: "
        f"write `sqlite://{where}` or `jsonl://{where}`"
    )
    with pytest.raises(StoreError, match=r"a log URL is text .*, not NoneType$"):
        AuditLog.open(None)  # type: ignore[arg-type]
    decision = bundle.decide("deploy", INPUT(0))
    with pytest.raises(TypeError, match=r"^`bundle` must be a loaded `Bundle`, not str$"):
        log.record(str(tmp_path / "b"), decision, INPUT(0), "ci")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^`decision` must be the `Decision` that `decide`"):
        log.decision_entry(bundle, decision.to_dict(), INPUT(0), "ci")  # type: ignore[arg-type]
