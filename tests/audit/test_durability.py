"""Durability: a writer process killed with SIGKILL loses no committed record, and what it
left still verifies; the sidecar's writer process (`tenet.audit.writer`) killed with batches in
flight fails them, and the one started after it continues the chains."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tenet.audit import StoreError, open_store, verify
from tenet.audit.writer import WriterProcess
from tests.audit.test_audit_core import DATA, DEPLOY, MANIFEST, POLICY
from tests.audit.test_writer import entry
from tests.conftest import REPO, write_bundle

WRITER = """
import sys, tenet
from tenet.audit import AuditLog, BatchWriter
bundle = tenet.load_bundle(sys.argv[1])
log = AuditLog.open(sys.argv[2])
writer = BatchWriter(log, max_batch=32)
i = 0
while True:
    futures = []
    for _ in range(20):
        inp = {"subject": {"id": f"u{i}", "role": "user"}, "model": {"model_id": "m"}, "owner": "x"}
        d = bundle.decide("deploy", inp)
        futures.append(writer.submit(log.decision_entry(bundle, d, inp, "writer")))
        i += 1
    for f in futures:
        print(f.result()["id"], flush=True)  # reported only once committed
"""


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
def test_sigkill_loses_no_committed_record(tmp_path: Path, scheme: str) -> None:
    root = write_bundle(
        tmp_path / "b",
        {"tenet.yaml": MANIFEST, "access.tenet": POLICY, "deploy.tenet": DEPLOY},
        DATA,
    )
    url = f"{scheme}:///{tmp_path}/audit.{scheme}"
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    reported: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while len(reported) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        reported.append(line.strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(reported) >= 300, proc.stderr.read() if proc.stderr else ""
    store = open_store(url)
    stored = [r["id"] for r in store.records()]
    assert set(reported) <= set(stored)
    assert verify(store) == []


def test_a_torn_last_jsonl_line_is_ignored_and_repaired(tmp_path: Path) -> None:
    from tenet.audit import AuditLog

    root = write_bundle(
        tmp_path / "b",
        {"tenet.yaml": MANIFEST, "access.tenet": POLICY, "deploy.tenet": DEPLOY},
        DATA,
    )
    import tenet

    bundle = tenet.load_bundle(root)
    path = tmp_path / "audit.jsonl"
    log = AuditLog.open(f"jsonl:///{path}")
    inp = {"subject": {"id": "u"}, "owner": "x"}
    log.record(bundle, bundle.decide("deploy", inp), inp, "ci")
    with path.open("a") as f:
        f.write('{"id": "torn", "cla')  # what a SIGKILL mid-write leaves
    assert verify(log.store) == []
    log.record(bundle, bundle.decide("deploy", inp), inp, "ci")
    assert [r["seq"] for r in log.store.records()] == [1, 2]
    assert verify(log.store) == []


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
def test_a_killed_writer_process_loses_no_acknowledged_record(tmp_path: Path, scheme: str) -> None:
    url = f"{scheme}:///{tmp_path}/audit.{scheme}"
    w = WriterProcess(url, max_batch=8, restart_interval=0.05)
    w.start()
    acked: list[int] = []
    failed: list[int] = []

    async def one(n: int) -> None:
        try:
            await w.write([entry(n)])
        except StoreError:
            failed.append(n)
        else:
            acked.append(n)

    async def main() -> None:
        await asyncio.gather(*(one(n) for n in range(50)))
        pid = w.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # its batches wait in the pipe, unacknowledged
        in_flight = asyncio.gather(*(one(n) for n in range(50, 70)))
        deadline = time.monotonic() + 20
        while w.depth() < 20:
            assert time.monotonic() < deadline, "the writes were not sent"
            await asyncio.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        await in_flight
        n = 70
        while not acked or acked[-1] < 70:  # the next batches start a new child
            assert time.monotonic() < deadline + 20, "no new writer process"
            await one(n)
            n += 1
            await asyncio.sleep(0.01)
        await asyncio.gather(*(one(m) for m in range(n, n + 30)))

    try:
        asyncio.run(main())
    finally:
        w.close()
    assert set(range(50, 70)) <= set(failed) and w.restarts >= 1
    store = open_store(url)
    ns = [r["input"]["n"] for r in store.records()]
    assert set(acked) <= set(ns) and not set(range(50, 70)) & set(ns)
    assert verify(store) == []
