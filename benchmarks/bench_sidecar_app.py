"""The decision log's cost inside the sidecar, without HTTP: the ASGI app (`tenet.server.app`)
called directly on uvloop by concurrent in-process clients, with no log and with an SQLite log
(its real writer process), on the access bundle of bench_sidecar.py.

    python benchmarks/bench_sidecar_app.py [--requests 100000] [--concurrency 16,64] [--unique]

The 11 requests repeat, so the app answers them from its decision cache, as
bench_sidecar_audit.py's default does; `--unique` gives every request an input of its own
(a `request_id`), so that every one is evaluated. For each case it prints the CPU the app's
process spends per request (the event loop: routing, the cache or the evaluation, the
record built and handed over, the wait for its commit) and the writer process's CPU per
record, measured in the same run, and the app's CPU with the log as a multiple of without.
With HTTP (uvicorn, httptools, the sockets) each request costs the server about 27 µs more,
the same with the log or without.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from bench_sidecar import access_bundle

from tenet.audit import AuditLog
from tenet.server.app import Sidecar
from tenet.server.audit import SidecarAudit
from tenet.server.reload import BundleWatcher

PATH = "/v1/decisions/access.allow"


def process_cpu(pid: int) -> float:
    """Seconds of CPU a process has used (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(app: Sidecar, bodies: list[bytes], conc: int, n: int, ids: Any) -> None:
    """`n` requests from `conc` clients, each sending its next as soon as it has an answer."""
    left = n

    async def client(offset: int) -> None:
        nonlocal left
        k = offset
        while left > 0:
            left -= 1
            body = bodies[k % len(bodies)]
            k += 1
            if ids is not None:  # {"input": {...}} -> {"input": {"request_id": ..., ...}}
                body = b'{"input":{"request_id":%d,' % next(ids) + body[len(b'{"input":{') :]
            sent: list[Any] = []

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any], sent: list[Any] = sent) -> None:
                sent.append(message)

            scope = {"type": "http", "method": "POST", "path": PATH, "headers": []}
            await app(scope, receive, send)
            if sent[0]["status"] != 200:
                raise RuntimeError(f"answered {sent[0]['status']}: {sent[1]['body']!r}")

    await asyncio.gather(*(client(i) for i in range(conc)))


def measure(
    root: Path, bodies: list[bytes], log: str | None, conc: int, n: int, unique: bool
) -> tuple[float, float]:
    """The app's and the writer's CPU per request, in µs."""
    watcher = BundleWatcher.open(str(root))
    audit = None
    if log is not None:
        audit = SidecarAudit(AuditLog.open(log), "bench")
        audit.activated(None, watcher.bundle)
        audit.start()
    gc.collect()
    gc.freeze()  # as `tenet serve` does once the bundle is loaded
    app = Sidecar(watcher, audit=audit)
    ids = itertools.count() if unique else None
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(drive(app, bodies, conc, min(n, 2000), ids))  # warm up
        writer = audit.writer.pid if audit is not None else None
        w0 = process_cpu(writer) if writer else 0.0
        t0 = time.process_time()
        loop.run_until_complete(drive(app, bodies, conc, n, ids))
        spent = time.process_time() - t0
        written = process_cpu(writer) - w0 if writer else 0.0
    finally:
        loop.close()
        if audit is not None:
            audit.close()
        gc.unfreeze()
    return spent / n * 1e6, written / n * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--concurrency", default="16,64")
    p.add_argument("--unique", action="store_true", help="every input its own request_id")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, docs, _ = access_bundle(Path(tmp))
        bodies = [
            json.dumps({"input": d["input"], "now": d["now"]}, separators=(",", ":")).encode()
            for d in docs
        ]
        kind = "evaluated (--unique)" if args.unique else "answered from the decision cache"
        print(f"{args.requests} requests, {kind}; CPU per request, µs:")
        print(f"{'conc':>4}  {'app, no log':>11}  {'app, log':>8}  {'writer':>6}  app log/no log")
        for conc in (int(c) for c in args.concurrency.split(",")):
            off, _ = measure(root, bodies, None, conc, args.requests, args.unique)
            url = f"sqlite:///{tmp}/audit-{conc}.db"
            on, writer = measure(root, bodies, url, conc, args.requests, args.unique)
            print(f"{conc:>4}  {off:>11.1f}  {on:>8.1f}  {writer:>6.1f}  {on / off:>13.2f}x")


if __name__ == "__main__":
    main()
