"""Signals and shutdown at the edges: a signal sent as soon as the address is announced, and
requests that reached the server but were not read yet when SIGTERM came."""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.server.helpers import ADMIN, Server, make_bundle, poll, read_to_end

# `tenet serve`, with a decision on `{"hold": true}` that holds the event loop until the
# server has handled SIGTERM (the file given first is created when it starts): what a long
# decision does, at a known moment
HOLDING = """\
import sys, threading, time
from pathlib import Path

import tenet.bundle
from tenet.server import runner

started, bundle = Path(sys.argv[1]), sys.argv[2]
terminated = threading.Event()
decide = tenet.bundle.Bundle.decide
handle_exit = runner._Server.handle_exit


def holding(self, query, input=None, *args):
    if isinstance(input, dict) and input.get("hold"):
        started.touch()
        while not terminated.is_set():  # signal handlers run between these sleeps
            time.sleep(0.005)
    return decide(self, query, input, *args)


def handled(self, sig, frame):
    handle_exit(self, sig, frame)
    terminated.set()


tenet.bundle.Bundle.decide = holding
runner._Server.handle_exit = handled
runner.serve(
    runner.ServeOptions(bundle=bundle, addr="127.0.0.1:0"),
    lambda line: print(line, flush=True),
)
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("shutdown") / "gates")


def test_requests_sent_while_a_decision_holds_the_loop_are_answered_at_sigterm(
    root: Path, tmp_path: Path
) -> None:
    """They were sent whole before SIGTERM but not read (not even accepted) when it came."""
    started = tmp_path / "started"
    script = tmp_path / "holding.py"
    script.write_text(HOLDING)
    command = [sys.executable, str(script), str(started), str(root)]
    s = Server([], tmp_path / "log", command=command)
    try:
        held: dict[str, Any] = {}
        hold = {"input": {"hold": True}}
        holder = threading.Thread(
            target=lambda: held.update(r=s.post("/v1/decisions/access.allow", hold))
        )
        holder.start()
        poll(started.exists, what="the held decision")
        waiting = [s.connection() for _ in range(3)]
        for conn in waiting:
            conn.request("POST", "/v1/data/access/allow", body=json.dumps({"input": ADMIN}))
        s.proc.send_signal(signal.SIGTERM)
        holder.join(30)
        assert held["r"][0] == 200
        for conn in waiting:
            response = conn.getresponse()
            assert response.status == 200
            assert response.getheader("connection") == "close"  # shutting down
            assert json.loads(response.read())["result"] is True
            conn.close()
        assert s.proc.wait(20) == 0
    finally:
        s.kill()


def test_a_request_begun_but_never_finished_gets_a_json_503_at_the_shutdown_timeout(
    root: Path, tmp_path: Path
) -> None:
    """Its headers never end, so it never reaches the app: the server answers it itself."""
    s = Server(["--bundle", str(root), "--shutdown-timeout", "1"], tmp_path / "log")
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=20) as sock:
            sock.sendall(b"POST /v1/data/access HTTP/1.1\r\nHost: x\r\n")
            s.proc.send_signal(signal.SIGTERM)
            head, body = read_to_end(sock)
        assert s.proc.wait(20) == 0
    finally:
        s.kill()
    assert head.startswith(b"HTTP/1.1 503 "), head
    assert b"content-type: application/json" in head and b"connection: close" in head
    assert json.loads(body)["error"]["code"] == "shutting_down"


def _audited(root: Path, tmp_path: Path) -> Server:
    # the decision log's writer process starts after the announcement: the moments between
    # are the ones a supervisor's signal must not kill the server in
    log = f"jsonl://{tmp_path / 'audit.jsonl'}"
    args = ["--bundle", str(root), "--decision-log", log]
    return Server(args, tmp_path / "log", ready=False)


def test_sigterm_right_after_the_announcement_shuts_down_gracefully(
    root: Path, tmp_path: Path
) -> None:
    s = _audited(root, tmp_path)
    try:
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(30) == 0
    finally:
        s.kill()


def test_sighup_right_after_the_announcement_reloads(root: Path, tmp_path: Path) -> None:
    s = _audited(root, tmp_path)
    try:
        s.proc.send_signal(signal.SIGHUP)
        poll(lambda: "reloaded bundle gates" in s.log.read_text(), what="the reload")
        s.wait_ready(30)
        assert s.get("/v1/bundle")[2]["reloads"] == 1
    finally:
        assert s.stop() == 0
