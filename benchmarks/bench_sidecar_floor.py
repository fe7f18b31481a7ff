"""The framework's floor: an ASGI app that reads the request body and answers a constant JSON
response. `python benchmarks/bench_sidecar_floor.py --port 0` serves it with exactly the
settings `tenet serve` uses (`tenet.server.runner.uvicorn_config`) and prints its address;
`benchmarks.bench_sidecar_floor:app` is the same app for other servers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

BODY = b'{"result":true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    from tenet.server.runner import bind, uvicorn_config

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    import uvicorn

    sock = bind("127.0.0.1", args.port)
    print(f"floor: listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn_config(app, shutdown_timeout=5, log_level="warning")).run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
