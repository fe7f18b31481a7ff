"""Helpers for the sidecar tests: a small bundle, and the real server started as a process on a
free loopback port, with a client that speaks plain HTTP/1.1."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tenet.server.runner import announced_port
from tests.conftest import write_bundle

MANIFEST = """\
name: gates
version: 1.0.0
revision: abc123
inputs:
  deploy: schemas/deploy.schema.json
"""

ACCESS = """\
package access

default allow = false

allow if {
    input.user.role == "admin"
}

roles contains r if {
    some r in input.user.roles
}

level = input.user.level

is_admin(u) if { u.role == "admin" }

clash = 1 if { input.clash }
clash = 2 if { input.clash }
"""

DEPLOY = """\
package deploy.staging

require accuracy blocking {
    input.accuracy >= 0.8
} message "accuracy {input.accuracy} is too low"

ready if { input.accuracy >= 0.9 }
"""

SCHEMA = '{"type": "object", "properties": {"accuracy": {"type": "number"}}}'

FILES = {
    "tenet.yaml": MANIFEST,
    "access/main.tenet": ACCESS,
    "deploy/staging.tenet": DEPLOY,
    "schemas/deploy.schema.json": SCHEMA,
}

ADMIN = {"user": {"role": "admin", "roles": ["b", "a"], "level": 3}}


def make_bundle(root: Path, **overrides: str) -> Path:
    return write_bundle(root, {**FILES, **overrides})


REPO = Path(__file__).resolve().parents[2]


class Server:
    """`tenet serve` as a child process; stop() sends SIGTERM and waits for it to exit.

    `command` runs instead of `tenet serve --addr 127.0.0.1:0 ARGS` (a script that serves
    the same way, announcing its address); with `ready` False the server is returned as soon
    as it has announced its address, without waiting for `/ready`."""

    def __init__(
        self,
        args: list[str],
        log: Path,
        deadline: float = 30.0,
        headers: dict[str, str] | None = None,
        command: list[str] | None = None,
        ready: bool = True,
    ) -> None:
        self.headers = headers or {}
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.log = log
        self._log_file = log.open("wb")
        serve = [sys.executable, "-m", "tenet.cli", "serve", "--addr", "127.0.0.1:0", *args]
        self.proc = subprocess.Popen(
            command or serve,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=env,
            cwd=REPO,
        )
        try:
            self.port = self._read_port(deadline)
            if ready:
                self.wait_ready(deadline)
        except BaseException:
            self.kill()
            raise

    def _read_port(self, deadline: float) -> int:
        try:
            return announced_port(self.proc, deadline)
        except RuntimeError as err:
            raise RuntimeError(f"{err}:\n{self.log.read_text()}") from None

    def wait_ready(self, deadline: float) -> None:
        end = time.monotonic() + deadline
        while True:
            try:
                if self.request("GET", "/ready", headers=self.headers)[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError(f"the server is not ready:\n{self.log.read_text()}")
            time.sleep(0.02)

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        conn: http.client.HTTPConnection | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """Status, headers (lower-cased names) and the JSON body (or text)."""
        own = conn is None
        c = conn or self.connection()
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            c.request(method, path, body=data, headers=headers or {})
            r = c.getresponse()
            payload = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if hdrs.get("content-type", "").startswith("application/json"):
                return r.status, hdrs, json.loads(payload)
            return r.status, hdrs, payload.decode()
        finally:
            if own:
                c.close()

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, dict[str, str], Any]:
        return self.request("POST", path, body, **kw)

    def get(self, path: str, **kw: Any) -> tuple[int, dict[str, str], Any]:
        return self.request("GET", path, **kw)

    def metric(self, name: str, headers: dict[str, str] | None = None) -> float | None:
        """The value of a metric line starting with `name` (labels included), or None."""
        status, _, text = self.get("/metrics", headers=headers)
        assert status == 200
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log_file.close()


def exchange(port: int, data: bytes) -> tuple[bytes, bytes]:
    """Send `data` on a new connection as it is, and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(data)
        return read_to_end(sock)


def read_to_end(sock: socket.socket) -> tuple[bytes, bytes]:
    """What the server sends until it closes the connection: the response's head (status
    line and headers) and its body."""
    response = b""
    while chunk := sock.recv(65536):
        response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return head, body


def poll(check: Any, deadline: float = 20.0, what: str = "condition") -> Any:
    """Call `check` until it returns something truthy; fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
