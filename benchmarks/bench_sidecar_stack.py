"""Choosing the sidecar's server: the constant-response floor of each candidate stack, measured
in one run from a separate load process on loopback, at concurrency 1, 16 and 64.

    python benchmarks/bench_sidecar_stack.py [--duration 3] [--rounds 3]

Candidates (each serving `benchmarks.bench_sidecar_floor:app`, a raw ASGI app that reads the
body and answers constant JSON, with one worker process):

  uvicorn    httptools on uvloop, the settings `tenet serve` uses
  granian    Rust HTTP server, ASGI interface, uvloop, HTTP/1 only
  hypercorn  uvloop worker

Only uvicorn (with httptools and uvloop) is a dependency; install the others to compare:
`.venv/bin/pip install granian hypercorn`. A candidate that is not installed is skipped. The
faster stack is the one with the larger geometric mean of its best throughputs.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import tempfile
from pathlib import Path

from bench_sidecar import (
    PY,
    Child,
    access_bundle,
    free_port,
    measure,
    options,
    table,
    wait_answering,
)

FLOOR = Path(__file__).with_name("bench_sidecar_floor.py")
APP = "benchmarks.bench_sidecar_floor:app"


def candidates() -> list[tuple[str, list[str] | None, bool]]:
    """(name, command with {port}, or None for the announced port; installed?)"""
    has = importlib.util.find_spec
    granian = [
        PY, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", "{port}",
        "--workers", "1", "--loop", "uvloop", "--no-ws", "--http", "1", "--log-level", "warning",
        APP,
    ]  # fmt: skip
    return [
        ("uvicorn+httptools+uvloop", [PY, str(FLOOR)], bool(has("uvicorn") and has("httptools"))),
        ("granian (asgi, uvloop)", granian, bool(has("granian"))),
        (
            "hypercorn (uvloop)",
            [PY, "-m", "hypercorn", "-k", "uvloop", "-w", "1", "-b", "127.0.0.1:{port}", APP],
            bool(has("hypercorn")),
        ),
    ]


def main() -> None:
    args, concurrencies = options(__doc__, duration=3.0)
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="tenet-bench-stack-") as tmp:
        _, bodies, _ = access_bundle(Path(tmp))
        bodies_file = Path(tmp) / "bodies.json"
        bodies_file.write_text(json.dumps(bodies), "utf-8")
        try:
            targets = []
            for name, cmd, installed in candidates():
                if not installed:
                    print(f"skipped {name}: not installed", file=sys.stderr)
                    continue
                assert cmd is not None
                if cmd[1] == str(FLOOR):
                    child = Child(name, cmd)
                else:
                    port = free_port()
                    child = Child(name, [c.replace("{port}", str(port)) for c in cmd], port)
                children.append(child)
                wait_answering(child.port, "/")
                targets.append((name, child.port, "/"))
            print(
                f"constant-response floor, {args.rounds} rounds of {args.duration:g} s per "
                "server and concurrency, best round shown:",
                flush=True,
            )
            best = measure(targets, bodies_file, concurrencies, args.rounds, args.duration)
        finally:
            for child in children:
                child.stop()
    print(table(best, targets[0][0], concurrencies))
    means = {
        name: math.exp(sum(math.log(best[(name, c)]["throughput"]) for c in concurrencies)
                       / len(concurrencies))
        for name, _, _ in targets
    }  # fmt: skip
    for name, mean in sorted(means.items(), key=lambda kv: -kv[1]):
        print(f"geometric mean {name:<26} {mean:>9.0f} req/s")
    print(f"faster: {max(means, key=lambda n: means[n])}")


if __name__ == "__main__":
    main()
