"""The cost of the decision log: `tenet serve` throughput on POST /v1/decisions/access.allow with
SQLite logging off and on, measured in one run from a separate load process on loopback.

    python benchmarks/bench_sidecar_audit.py [--duration 4] [--rounds 3] [--concurrency 16,64]
                                             [--audit-batch 256] [--decision-cache N]

Two servers on the access bundle of bench_sidecar.py, taking turns within each round:

  log off   tenet serve
  log on    tenet serve --decision-log sqlite:///TMP/audit.db (WAL, synchronous=NORMAL): every
            response is sent only after its record is committed (by the audit writer process)

The 11 requests repeat byte for byte, so by default both servers answer them from their
decision cache. `--unique` puts a request id no other request has into every input, as real
traffic does: the servers then evaluate every request, with their cache on as by default.
`--decision-cache 0` (passed to both) turns the cache off.

Throughput and latency are the best of the rounds; for each best round the script also shows
the CPU the server, its audit writer process and the load generator used (shares of one
core, and CPU time per request), since the three share the machine. The cost is 1 - on/off at each
concurrency, with on/off the median over the rounds of the two servers' throughputs measured in
the same round, seconds apart (the machine's speed drifts between rounds; a round's pair shares
it); the goal is under 25%. Afterwards the log is verified and must hold one record per logged
decision.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_sidecar import (
    PY,
    Child,
    access_bundle,
    measure,
    options,
    post,
    table,
    wait_answering,
)

PATH = "/v1/decisions/access.allow"
OFF = "log off"
ON = "log on (sqlite)"


def main() -> None:
    def more(p: argparse.ArgumentParser) -> None:
        p.add_argument("--audit-batch", type=int, default=256, help="tenet serve --audit-batch")
        p.add_argument(
            "--decision-cache", type=int, default=None, help="tenet serve --decision-cache (both)"
        )
        p.add_argument(
            "--unique", action="store_true", help="a request id in every input: none repeats"
        )

    args, concurrencies = options(__doc__, concurrency="16,64", more=more)
    with tempfile.TemporaryDirectory(prefix="tenet-bench-audit-") as tmp:
        root, bodies, expected = access_bundle(Path(tmp))
        bodies_file = Path(tmp) / "bodies.json"
        bodies_file.write_text(json.dumps(bodies), "utf-8")
        db = Path(tmp) / "audit.db"
        url = f"sqlite:///{db}"
        serve = [PY, "-m", "tenet.cli", "serve", "--bundle", str(root), "--addr", "127.0.0.1:0",
                 "--log-level", "warning"]  # fmt: skip
        if args.decision_cache is not None:
            serve += ["--decision-cache", str(args.decision_cache)]
        children: list[Child] = []
        try:
            off = Child(OFF, serve)
            children.append(off)
            on = Child(ON, [*serve, "--decision-log", url, "--audit-batch", str(args.audit_batch)])
            children.append(on)
            for child in children:
                wait_answering(child.port, PATH)
                for body, allowed in zip(bodies, expected, strict=True):
                    status, doc = post(child.port, PATH, body)
                    assert status == 200 and doc["allowed"] is allowed, (body, doc)
            n = args.decision_cache
            cache = ("" if n is None else f", --decision-cache {n}") + (
                ", --unique" if args.unique else ""
            )
            print(
                f"{len(bodies)} access requests in turn, {args.rounds} rounds of "
                f"{args.duration:g} s per target and concurrency{cache}, best round shown:",
                flush=True,
            )
            targets = [(OFF, off.port, PATH), (ON, on.port, PATH)]
            pids = {OFF: off.proc.pid, ON: on.proc.pid}
            extra = ["--unique"] if args.unique else []
            best = measure(
                targets, bodies_file, concurrencies, args.rounds, args.duration, pids, extra
            )
            print(table(best, OFF, concurrencies).replace("of floor", "of off"))
            print(cpu_table(best, concurrencies))
            for c in concurrencies:
                pairs = zip(best[(ON, c)]["rounds"], best[(OFF, c)]["rounds"], strict=True)
                shares = sorted(on / off for on, off in pairs)
                cost = 1 - statistics.median(shares)
                verdict = "under" if cost < 0.25 else "OVER"
                print(
                    f"c={c}: logging costs {cost:.0%} of throughput ({verdict} the 25% goal; "
                    f"{1 - shares[-1]:.0%} to {1 - shares[0]:.0%} over the rounds)"
                )
        finally:
            for child in children:
                child.stop()  # SIGTERM: the queue is flushed before the server exits
        with sqlite3.connect(db) as conn:
            (n,) = conn.execute("SELECT COUNT(*) FROM records WHERE kind = 'decision'").fetchone()
        verified = subprocess.run(
            [PY, "-m", "tenet.cli", "audit", "verify", "--log", url],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        print(f"decision log: {n} decisions recorded; {verified.stdout.strip()}")
        if verified.returncode != 0:
            print(verified.stdout + verified.stderr, file=sys.stderr)
            sys.exit(1)


def cpu_table(best: dict[tuple[str, int], dict[str, Any]], concurrencies: list[int]) -> str:
    """Where the machine's CPU went in each best round: each process's share of one core, and
    its CPU time per request."""
    lines = [
        f"{'conc':>4}  {'target':<24} {'server':>14} {'writer':>14} {'load':>14}  (cores, us/req)"
    ]
    for c in concurrencies:
        for name in (OFF, ON):
            r = best[(name, c)]
            cpu = r["cpu"]
            cells = [
                f"{cpu[k]:>6.0%} {cpu[k] / r['throughput'] * 1e6:>5.1f}us"
                for k in ("server", "children", "load")
            ]
            lines.append(f"{c:>4}  {name:<24} " + " ".join(f"{x:>14}" for x in cells))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
