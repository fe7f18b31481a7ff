"""The audit writer process (`tenet.audit.writer`): its frames, batches committed by the child
and acknowledged in order, back pressure, events from other threads, a store it cannot open,
a bounded restart after it dies, and a shutdown that leaves nothing queued behind."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import tenet
from tenet.audit import AuditLog, StoreError, open_store, verify
from tenet.audit.linking import Prepared, prepare
from tenet.audit.writer import (
    BATCH,
    FrameReader,
    WriterProcess,
    decode_batch,
    encode_batch,
)
from tenet.server.audit import LOGGED, SidecarAudit
from tests.conftest import write_bundle

BIG = 123456789012345678901234567890  # beyond 64 bits: orjson refuses it, and loads a float


def entry(n: Any, kind: str = "decision") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "class": "default",
        "keep_seconds": None,
        "time": "2026-01-01T00:00:00Z",
        "actor": "tests",
        "query": "q",
        "outcome": "allow",
        "input": {"n": n},
    }


def stored(url: str) -> list[dict[str, Any]]:
    return list(open_store(url).records())


def wait_until(check: Any, deadline: float = 20.0) -> Any:
    end = time.monotonic() + deadline
    while not (value := check()):
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)
    return value


def test_frames_round_trip_and_a_big_integer_stays_exact() -> None:
    events = {**entry(0, "error"), "query": None, "outcome": None, "actor": "é"}
    plain = [prepare(e) for e in (entry(1), entry(2.5), entry("é"), events)]
    big = [prepare(e) for e in (entry(1), entry(BIG), entry(-BIG))]
    reader = FrameReader()
    stream = encode_batch(plain) + encode_batch(big)
    frames = []
    for i in range(0, len(stream), 7):  # frames cut anywhere across reads
        frames += reader.feed(stream[i : i + 7])
    assert len(reader) == 0 and [k for k, _ in frames] == [BATCH, BATCH]
    assert decode_batch(*frames[0]) == plain
    assert decode_batch(*frames[1]) == big
    assert b'"input":{"n":123456789012345678901234567890}' in big[1].members[1]


def test_a_torn_or_foreign_frame_is_refused() -> None:
    ((kind, payload),) = FrameReader().feed(encode_batch([prepare(entry(1))]))
    with pytest.raises(ValueError, match=r"torn|ends inside"):
        decode_batch(kind, payload[:-3])
    with pytest.raises(ValueError, match="not a batch"):
        decode_batch(ord("J"), payload)


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
def test_a_big_integer_kept_by_the_bundle_is_stored_exactly(tmp_path: Path, scheme: str) -> None:
    root = write_bundle(
        tmp_path / "b",
        {
            "tenet.yaml": "name: big\nversion: 1.0.0\naudit:\n  keep: [input.n]\n",
            "p.tenet": "package p\ndefault allow = false\nallow if { input.n > 1 }\n",
        },
    )
    bundle = tenet.load_bundle(root)
    url = f"{scheme}:///{tmp_path}/audit.{scheme}"
    audit = SidecarAudit(AuditLog.open(url), "tests")
    assert isinstance(audit.writer, WriterProcess)
    audit.start()
    inputs = [{"n": BIG}, {"n": 7}]

    async def main() -> list[list[tuple[bytes, bytes]]]:
        entries = [
            audit.decision(bundle, d, i, "alice", d.to_dict())
            for i in inputs
            for d in [bundle.decide("p.allow", i)]
        ]
        return await asyncio.gather(*(audit.record([e]) for e in entries))

    try:
        assert asyncio.run(main()) == [LOGGED, LOGGED]
    finally:
        audit.close()
    kept = [r["input"]["input.n"] for r in stored(url) if r["kind"] == "decision"]
    assert kept == [BIG, 7] and type(kept[0]) is int
    assert verify(open_store(url)) == []


def test_batches_of_one_turn_share_a_transaction_and_are_acknowledged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    w = WriterProcess(url, max_batch=8)
    w.start()

    async def main() -> None:
        await asyncio.gather(*(w.write([entry(i)]) for i in range(20)))  # one turn: 3 batches
        await w.write([entry(i) for i in range(20, 40)])  # larger than max_batch: kept whole

    try:
        asyncio.run(main())
    finally:
        w.close()
    assert [r["input"]["n"] for r in stored(url)] == list(range(40))
    assert (w.counts.batches, w.counts.records, w.counts.failed_records, w.depth()) == (4, 40, 0, 0)
    assert verify(open_store(url)) == []


def test_a_busy_turn_sends_its_records_before_it_ends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    w = WriterProcess(url, send_at=16)
    w.start()
    left: list[int] = []

    async def main() -> None:
        writes = [asyncio.ensure_future(w.write([entry(i)])) for i in range(40)]
        await asyncio.sleep(0)  # one turn runs the 40 writes up to their wait
        left.append(w._queued_records)  # not sent yet: two batches of 16 left during the turn
        await asyncio.gather(*writes)

    try:
        asyncio.run(main())
    finally:
        w.close()
    assert left == [8]
    assert w.counts.batches == 3 and [r["input"]["n"] for r in stored(url)] == list(range(40))


def test_back_pressure_with_a_tiny_queue_loses_nothing(tmp_path: Path) -> None:
    url = f"jsonl:///{tmp_path}/audit.jsonl"
    w = WriterProcess(url, max_batch=4, max_queue=2)
    w.start()
    deepest = 0

    async def main() -> None:
        nonlocal deepest
        writes = asyncio.gather(*(w.write([entry(i)]) for i in range(100)))
        while not writes.done():
            deepest = max(deepest, w.depth())
            await asyncio.sleep(0)
        await writes

    try:
        asyncio.run(main())
    finally:
        w.close()
    assert 1 <= deepest <= 2
    assert [r["input"]["n"] for r in stored(url)] == list(range(100))  # in order, none dropped
    assert w.counts.records == 100 and w.counts.failed_records == 0


def test_an_event_from_another_thread_is_ordered_with_decisions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    direct: list[Prepared] = []
    store = open_store(url)

    def write_directly(entries: list[Prepared]) -> None:
        direct.extend(entries)
        store.append_prepared(entries)

    w = WriterProcess(url, direct=write_directly)
    w.write_event(entry("at start", "configuration_change"))  # no loop yet: written directly
    assert len(direct) == 1
    direct.clear()
    w.start()

    async def main() -> None:
        await w.write([entry("before")])
        thread = threading.Thread(target=w.write_event, args=(entry("reload", "error"),))
        thread.start()
        await asyncio.to_thread(thread.join)  # the loop runs while the thread waits
        await w.write([entry("after")])

    try:
        asyncio.run(main())
    finally:
        w.close()
    assert direct == []  # through the child, in the same queue as decisions
    assert [r["input"]["n"] for r in stored(url)] == ["at start", "before", "reload", "after"]
    assert [r["seq"] for r in stored(url)] == [1, 2, 3, 4]
    assert verify(open_store(url)) == []


def test_a_store_that_cannot_be_opened_fails_the_start(tmp_path: Path) -> None:
    w = WriterProcess(f"sqlite:///{tmp_path}/missing/audit.db")
    with pytest.raises(StoreError, match=r"the folder `.*missing` does not exist"):
        w.start()
    w.close()


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
def test_a_log_removed_while_written_fails_and_is_not_started_anew(
    tmp_path: Path, scheme: str
) -> None:
    path = tmp_path / f"audit.{scheme}"
    w = WriterProcess(f"{scheme}:///{path}", restart_interval=0)
    w.start()
    errors: list[str] = []

    async def main() -> None:
        await w.write([entry("kept")])
        for p in tmp_path.glob("audit.*"):
            p.unlink()
        with pytest.raises(StoreError) as err:
            await w.write([entry("lost")])  # the child has the removed file open
        errors.append(str(err.value))
        pid = w.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while True:  # the next child refuses to make a new, empty log
            try:
                await w.write([entry("after")])
            except StoreError as e:
                if "does not exist" in str(e):
                    errors.append(str(e))
                    return
            assert time.monotonic() < deadline, "no new writer process"
            await asyncio.sleep(0.01)

    try:
        asyncio.run(main())
    finally:
        w.close()
    assert "removed" in errors[0]
    assert "no decision log at" in errors[1] and not path.exists()


def test_a_killed_child_fails_its_batches_and_restarts_at_most_once_per_interval(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    w = WriterProcess(url, restart_interval=3600)
    w.start()

    async def main() -> list[BaseException | None]:
        await w.write([entry(0)])
        pid = w.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        results: list[BaseException | None] = []
        for i in range(3):  # within the interval: every batch fails, no new child
            try:
                await w.write([entry(i + 1)])
                results.append(None)
            except StoreError as err:
                results.append(err)
        return results

    try:
        results = asyncio.run(main())
        assert w.pid is None and w.restarts == 0
    finally:
        w.close()
    assert all(isinstance(r, StoreError) for r in results), results
    assert "killed by signal 9" in str(results[-1])
    assert [r["input"]["n"] for r in stored(url)] == [0]
    assert (w.counts.records, w.counts.failed_records) == (1, 3)


@pytest.mark.parametrize("sent", [False, True], ids=["queued", "sent"])
def test_shutdown_sends_what_is_queued_and_stops_the_child(tmp_path: Path, sent: bool) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    w = WriterProcess(url, send_at=100)
    w.start()
    pid = w.pid
    assert pid is not None
    loop = asyncio.new_event_loop()
    tasks = []

    async def queue_and_leave() -> None:
        await w.write([entry(0)])
        tasks.extend(loop.create_task(w.write([entry(i)])) for i in range(1, 21))
        if sent:  # let the batch go out, unanswered: the child is stopped
            os.kill(pid, signal.SIGSTOP)
            await asyncio.sleep(0)  # the writes queue their records...
            while w._queued_records:  # ... and the end of the turn sends them
                await asyncio.sleep(0)

    try:
        loop.run_until_complete(queue_and_leave())  # stops before the writes' answers
    finally:
        os.kill(pid, signal.SIGCONT)
    assert w.depth() == 20 and w._queued_records == (0 if sent else 20)
    loop.close()
    for task in tasks:  # they never finish: their loop is gone, as a stopped server's is
        task._log_destroy_pending = False  # type: ignore[attr-defined]
    w.close()
    assert sorted(r["input"]["n"] for r in stored(url)) == list(range(21))
    assert w.depth() == 0 and w.pid is None and w.counts.records == 21
    assert not Path(f"/proc/{pid}").exists()  # exited and reaped
