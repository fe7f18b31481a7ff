"""Throughput and latency of the sidecar's access decision over HTTP at concurrency 1, 16 and
64, next to the same server stack answering a constant response (the framework's floor),
measured in one run from a separate load process on loopback.

    python benchmarks/bench_sidecar.py [--duration 4] [--rounds 3] [--concurrency 1,16,64]

The policy and requests are those of ../shared/conformance/10-access.yaml (as in
bench_access.py); each request carries its `now`. Targets, in turn within each round:

  floor      the constant-response app, served by `tenet.server.runner.uvicorn_config`
  decisions  POST /v1/decisions/access.allow: the full decision document
  data       POST /v1/data/access/allow: OPA's shape, {"result": ..., "decision_id": ...}

each of the last two twice: from `tenet serve` as it starts by default, whose decision cache
answers the 11 requests (repeated byte for byte) after their first time, and from a second
`tenet serve --decision-cache 0`, which evaluates every request: the figure for inputs that
never repeat.

Throughput and latency are the best of the rounds (noise on a shared machine only ever slows
a run down). The share of the floor is the median over the rounds of the target's throughput
over the floor's in the same round, seconds apart, so that a drift of the machine's speed
between rounds does not skew it; the lowest and highest follow. Every server and the load
process are this script's children, bound to 127.0.0.1, and stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from tenet.server.runner import announced_port

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "conformance" / "10-access.yaml"
LOAD = Path(__file__).with_name("bench_sidecar_load.py")
PY = sys.executable


# ---- processes -----------------------------------------------------------------------------


class Child:
    """A server this script started; `port` is read from its first line of output, or given."""

    def __init__(self, name: str, cmd: Sequence[str], port: int | None = None) -> None:
        self.name = name
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            list(cmd), cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, start_new_session=True
        )
        try:
            self.port = port if port is not None else self._announced_port(30)
        except BaseException:
            self.stop()
            raise

    def _announced_port(self, deadline: float) -> int:
        try:
            return announced_port(self.proc, deadline)
        except RuntimeError as err:
            raise RuntimeError(f"{self.name}: {err}: {self.output()}") from None

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def post(port: int, path: str, body: Any, timeout: float = 10) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data else None
    finally:
        conn.close()


def wait_answering(port: int, path: str, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            if post(port, path, {}, timeout=2)[0] == 200:
                return
        except (OSError, http.client.HTTPException, ValueError):
            pass
        if time.monotonic() > end:
            raise RuntimeError(f"nothing answers on port {port}")
        time.sleep(0.05)


WARMUP = 0.5  # seconds of load before measuring


def load(
    port: int,
    path: str,
    bodies: Path,
    concurrency: int,
    duration: float,
    pid: int | None = None,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """One run of the load generator, in its own process. With the server's `pid`, also the
    CPU used meanwhile, as shares of one core over the load's time (`"cpu"`): by the server,
    by its child processes (the audit writer), and by the load generator."""
    server = cpu_seconds(pid) if pid is not None else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [PY, str(LOAD), "--port", str(port), "--path", path, "--bodies", str(bodies),
         "--concurrency", str(concurrency), "--duration", str(duration),
         "--warmup", str(WARMUP), *extra],
        capture_output=True, text=True, timeout=duration + 60, check=True,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, Any] = json.loads(out.stdout)
    if server is not None and pid is not None:
        (own0, kids0), (own1, kids1) = server, cpu_seconds(pid)
        spent = duration + WARMUP  # the server is idle while the load process starts
        load_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        result["cpu"] = {
            "server": (own1 - own0) / spent,
            "children": (kids1 - kids0) / spent,
            "load": load_cpu / spent,
        }
    return result


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by a process and by its running children (Linux's /proc;
    zeros elsewhere)."""

    def used(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    return used(pid), sum(used(int(k)) for k in kids)


def measure(
    targets: list[tuple[str, int, str]],
    bodies: Path,
    concurrencies: list[int],
    rounds: int,
    duration: float,
    pids: dict[str, int] | None = None,
    extra: Sequence[str] = (),
) -> dict[tuple[str, int], dict[str, Any]]:
    """Best of `rounds` per (target, concurrency), with every round's throughput under
    `"rounds"`, in order; targets take turns within each round. With the servers' `pids` (by
    target name), each round also reports the CPU each process used. `extra`: more options for
    the load generator."""
    best: dict[tuple[str, int], dict[str, Any]] = {}
    runs: dict[tuple[str, int], list[float]] = {}
    for r in range(rounds):
        for c in concurrencies:
            for name, port, path in targets:
                result = load(port, path, bodies, c, duration, (pids or {}).get(name), extra)
                cpu = result.get("cpu")
                print(
                    f"  round {r + 1}  c={c:<3} {name:<24} {result['throughput']:>9.0f} req/s"
                    f"  p50 {result['p50_us']:>8.1f} us  p99 {result['p99_us']:>8.1f} us"
                    f"  errors {result['errors']}"
                    + (
                        f"  cpu: server {cpu['server']:.0%}, its children {cpu['children']:.0%},"
                        f" load {cpu['load']:.0%}"
                        if cpu
                        else ""
                    ),
                    file=sys.stderr,
                    flush=True,
                )
                if result["errors"]:
                    raise RuntimeError(f"{name} answered with errors: {result}")
                key = (name, c)
                runs.setdefault(key, []).append(result["throughput"])
                if key not in best or result["throughput"] > best[key]["throughput"]:
                    best[key] = result
    for key, result in best.items():
        result["rounds"] = runs[key]
    return best


def table(best: dict[tuple[str, int], dict[str, Any]], floor: str, concurrencies: list[int]) -> str:
    """The best round of each target, and its throughput as a share of the floor's: the
    median, over the rounds, of the two measured in the same round (seconds apart), with the
    lowest and highest. The machine's speed drifts between rounds; a round's pair shares it."""
    names = list(dict.fromkeys(n for n, _ in best))
    lines = [
        f"{'conc':>4}  {'target':<24} {'req/s':>9} {'p50 us':>9} {'p99 us':>9}"
        f"  {'of floor':>8}  {'rounds':>9}"
    ]
    for c in concurrencies:
        base = best[(floor, c)]["rounds"]
        for n in names:
            r = best[(n, c)]
            shares = sorted(x / b for x, b in zip(r["rounds"], base, strict=True))
            lines.append(
                f"{c:>4}  {n:<24} {r['throughput']:>9.0f} {r['p50_us']:>9.1f} {r['p99_us']:>9.1f}"
                f"  {statistics.median(shares):>7.0%}  {shares[0]:>3.0%}-{shares[-1]:<4.0%}"
            )
    return "\n".join(lines)


# ---- the access bundle ---------------------------------------------------------------------


def access_bundle(into: Path) -> tuple[Path, list[dict[str, Any]], list[bool]]:
    """The conformance access policy as a bundle folder; request bodies and expected answers."""
    doc = yaml.safe_load(CASES.read_text("utf-8"))
    root = into / "access-bundle"
    for name, text in doc["files"].items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, "utf-8")
    (root / "data.json").write_text(json.dumps(doc["data"]), "utf-8")
    (root / "tenet.yaml").write_text("name: access-bench\nversion: 1.0.0\n", "utf-8")
    bodies = [{"input": c["input"], "now": c["now"]} for c in doc["cases"]]
    expected = [c["expect"]["allowed"] for c in doc["cases"]]
    return root, bodies, expected


def options(
    doc: str | None,
    duration: float = 4.0,
    concurrency: str = "1,16,64",
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[argparse.Namespace, list[int]]:
    """The sidecar benchmarks' command line (`more` adds a script's own options), checked;
    and the concurrencies asked for."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=duration, help="seconds per run (at most 60)")
    p.add_argument("--rounds", type=int, default=3, help="rounds (at most 10)")
    p.add_argument("--concurrency", default=concurrency)
    if more is not None:
        more(p)
    args = p.parse_args()
    if not 0 < args.duration <= 60 or not 1 <= args.rounds <= 10:
        p.error("--duration must be in (0, 60] and --rounds 1 to 10")
    return args, [int(c) for c in args.concurrency.split(",")]


def main() -> None:
    args, concurrencies = options(__doc__)
    with tempfile.TemporaryDirectory(prefix="tenet-bench-sidecar-") as tmp:
        root, bodies, expected = access_bundle(Path(tmp))
        bodies_file = Path(tmp) / "bodies.json"
        bodies_file.write_text(json.dumps(bodies), "utf-8")
        children: list[Child] = []
        try:
            tenet = Child(
                "tenet serve",
                [PY, "-m", "tenet.cli", "serve", "--bundle", str(root), "--addr", "127.0.0.1:0",
                 "--log-level", "warning"],
            )  # fmt: skip
            children.append(tenet)
            uncached = Child(
                "tenet serve --decision-cache 0",
                [PY, "-m", "tenet.cli", "serve", "--bundle", str(root), "--addr", "127.0.0.1:0",
                 "--log-level", "warning", "--decision-cache", "0"],
            )  # fmt: skip
            children.append(uncached)
            floor = Child("floor", [PY, str(Path(__file__).with_name("bench_sidecar_floor.py"))])
            children.append(floor)
            wait_answering(floor.port, "/")
            for server in (tenet, uncached):
                wait_answering(server.port, "/v1/data/access/allow")
                for _ in range(2):  # the second time from the cache
                    for body, allowed in zip(bodies, expected, strict=True):
                        status, doc = post(server.port, "/v1/decisions/access.allow", body)
                        assert status == 200 and doc["allowed"] is allowed, (body, doc)
                        status, doc = post(server.port, "/v1/data/access/allow", body)
                        assert status == 200 and doc["result"] is allowed, (body, doc)
            print(
                f"{len(bodies)} access requests in turn, {args.rounds} rounds of "
                f"{args.duration:g} s per target and concurrency, best round shown:",
                flush=True,
            )
            targets = [
                ("floor (constant)", floor.port, "/"),
                ("decisions (document)", tenet.port, "/v1/decisions/access.allow"),
                ("data (OPA shape)", tenet.port, "/v1/data/access/allow"),
                ("decisions, uncached", uncached.port, "/v1/decisions/access.allow"),
                ("data, uncached", uncached.port, "/v1/data/access/allow"),
            ]
            best = measure(targets, bodies_file, concurrencies, args.rounds, args.duration)
            print(table(best, "floor (constant)", concurrencies))
        finally:
            for child in children:
                child.stop()


if __name__ == "__main__":
    main()
