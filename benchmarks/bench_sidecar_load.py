"""The sidecar benchmarks' load generator, run as its own process: N keep-alive connections on
loopback, each sending its next request as soon as the last response is in, for a bounded time
and count; prints throughput and latency percentiles as one JSON line.

    python benchmarks/bench_sidecar_load.py --port 8181 --path /v1/decisions/access.allow \\
        --bodies bodies.json --concurrency 16 --duration 5

`--bodies` is a JSON array of request bodies (each sent as JSON), used in turn; without it the
body is `{}`. With `--unique`, every request's `input` also gets a `request_id` no other
request of any run has, as real traffic does (a server's cache of repeated requests then
never answers). Every response must be `200` with a Content-Length; anything else counts as an
error. Uses uvloop when it is installed, so that the client stays cheaper than the server.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from typing import Any

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class Stats:
    def __init__(self) -> None:
        self.latencies: list[int] = []  # ns, of requests sent within the measured window
        self.errors = 0
        self.counting = False


class Client(asyncio.Protocol):
    """One connection slot: send, wait for the whole response, record its latency, send again.
    A server may end a keep-alive connection with `Connection: close` (hypercorn does after
    1,000 requests): the slot then reconnects. A connection lost with a request unanswered is
    an error."""

    def __init__(
        self, host: str, port: int, requests: list[bytes], offset: int, stats: Stats,
        stop_at: float, done: Any, ids: Any = None,
    ) -> None:  # fmt: skip
        self.host, self.port = host, port
        self.requests = requests
        self.ids = ids  # with --unique: where each request's id comes from
        self.next = offset
        self.stats = stats
        self.stop_at = stop_at
        self.done = done
        self.buf = b""
        self.sent_at = 0
        self.waiting = False
        self.counted = False
        self.transport: Any = None
        self.reconnecting: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buf = b""
        self._send()

    def _send(self) -> None:
        if time.perf_counter() >= self.stop_at:
            self.transport.close()
            return
        request = self.requests[self.next % len(self.requests)]
        self.next += 1
        if self.ids is not None:
            request = request.replace(PLACEHOLDER, b"%016x" % next(self.ids), 1)
        self.sent_at = time.perf_counter_ns()
        self.counted = self.stats.counting
        self.waiting = True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self.stats.errors += 1
            self.transport.close()
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else None])
        if len(self.buf) < end + 4 + length:
            return
        self.waiting = False
        if not head.startswith(b"http/1.1 200"):
            self.stats.errors += 1
        elif self.counted:
            self.stats.latencies.append(time.perf_counter_ns() - self.sent_at)
        self.buf = self.buf[end + 4 + length :]
        if b"\r\nconnection: close" in head:
            self.transport.close()  # the server is done with this connection: open another
            return
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting:
            self.stats.errors += 1
            self.waiting = False
        if time.perf_counter() < self.stop_at and self.stats.errors < 100:
            loop = asyncio.get_running_loop()
            self.reconnecting = loop.create_task(
                loop.create_connection(lambda: self, self.host, self.port)
            )
        elif not self.done.done():
            self.done.set_result(None)


PLACEHOLDER = b"REQUEST-ID-16-HX"  # as long as the ids that replace it: the length holds


def build_requests(
    host: str, port: int, path: str, bodies: list[Any], headers: list[str], unique: bool = False
) -> list[bytes]:
    extra = "".join(f"{h}\r\n" for h in headers)
    out = []
    for body in bodies:
        if unique:
            body = {
                **body,
                "input": {**(body.get("input") or {}), "request_id": PLACEHOLDER.decode()},
            }
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n{extra}\r\n"
        )
        out.append(head.encode() + data)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bodies = [{}]
    if args.bodies:
        with open(args.bodies, encoding="utf-8") as f:
            bodies = json.load(f)
    requests = build_requests(args.host, args.port, args.path, bodies, args.header, args.unique)
    # ids from the clock, so that no two runs share any
    ids = itertools.count(time.time_ns() // 1000) if args.unique else None
    loop = asyncio.get_running_loop()
    stats = Stats()
    start = time.perf_counter()
    stop_at = start + args.warmup + args.duration
    dones = []
    for i in range(args.concurrency):
        done = loop.create_future()
        dones.append(done)
        await loop.create_connection(
            lambda i=i, done=done: Client(
                args.host, args.port, requests, i, stats, stop_at, done, ids
            ),
            args.host,
            args.port,
        )
    await asyncio.sleep(max(0.0, start + args.warmup - time.perf_counter()))
    stats.counting = True
    measured_from = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*dones), args.duration + 30)
    except TimeoutError:
        stats.errors += 1
    seconds = min(time.perf_counter(), stop_at) - measured_from
    lat = sorted(stats.latencies)
    n = len(lat)

    def pct(p: float) -> float:
        return round(lat[min(n - 1, int(n * p))] / 1000, 1) if n else 0.0

    return {
        "requests": n,
        "errors": stats.errors,
        "seconds": round(seconds, 3),
        "throughput": round(n / seconds, 1) if seconds > 0 else 0.0,
        "p50_us": pct(0.50),
        "p90_us": pct(0.90),
        "p99_us": pct(0.99),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/")
    p.add_argument("--bodies", help="JSON file: an array of request bodies, used in turn")
    p.add_argument("--header", action="append", default=[], help="an extra `Name: value`")
    p.add_argument("--unique", action="store_true", help="a request id in every input")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured (at most 120)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    args = p.parse_args(argv)
    if args.host not in LOOPBACK:
        p.error("this load generator only targets loopback addresses")
    if not 0 < args.duration <= 120 or not 0 <= args.warmup <= 30:
        p.error("--duration must be in (0, 120] and --warmup in [0, 30] seconds")
    if not 1 <= args.concurrency <= 1024:
        p.error("--concurrency must be 1 to 1024")
    try:
        import uvloop

        result = uvloop.run(run(args))
    except ImportError:
        result = asyncio.run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
