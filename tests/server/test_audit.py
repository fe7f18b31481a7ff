"""The sidecar's decision log, end to end with the real server: decisions recorded with their
callers, activation and reload records, failing open and closed, a SIGKILL of the server or of
its writer process that loses no decision reported as logged, back pressure, a graceful
shutdown; and the stores written on the event loop (`stdout:`), in process."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tenet.audit import AuditLog, StoreError, open_store, verify
from tenet.audit.linking import Chained, Prepared, link_prepared
from tenet.audit.stores import AuditStore
from tenet.runtime.clock import parse_rfc3339
from tenet.server.audit import InlineWriter, SidecarAudit
from tenet.server.http import HTTPError
from tenet.server.runner import announced_port
from tests.server.helpers import ADMIN, REPO, Server, make_bundle, poll

ALICE = "alice-token-for-tests-0001"
BOB = "bob-token-for-tests-00002"
LOGGED = "tenet-decision-logged"


def records(url: str) -> list[dict[str, Any]]:
    return list(open_store(url).records())


def decisions(url: str) -> list[dict[str, Any]]:
    return [r for r in records(url) if r["kind"] == "decision"]


def audit_verify(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tenet.cli", "audit", "verify", "--log", url],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_decisions_are_recorded_with_the_token_names_as_actors(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{ALICE} alice-service\n{BOB} bob-service\n")
    url = f"sqlite:///{tmp_path}/audit.db"
    s = Server(
        ["--bundle", str(root), "--token-file", str(tokens), "--decision-log", url,
         "--actor", "release-bot"],
        tmp_path / "log",
        headers={"authorization": f"Bearer {ALICE}"},
    )  # fmt: skip
    expected: dict[str, str] = {}  # decision id -> actor
    try:
        for token, actor in ((ALICE, "alice-service"), (BOB, "bob-service")):
            auth = {"authorization": f"Bearer {token}"}
            status, headers, doc = s.post(
                "/v1/decisions/access.allow", {"input": ADMIN}, headers=auth
            )
            assert status == 200 and headers[LOGGED] == "true" and doc["allowed"] is True
            expected[doc["decision_id"]] = actor
            status, headers, doc = s.post("/v1/data/access/allow", {"input": ADMIN}, headers=auth)
            assert status == 200 and headers[LOGGED] == "true" and doc["result"] is True
            expected[doc["decision_id"]] = actor
            low = {"query": "deploy.staging", "input": {"accuracy": 0.5}}
            batch = {"requests": [{"query": "access.allow"}, {"query": "nope"}, low]}
            status, headers, body = s.post("/v1/batch", batch, headers=auth)
            assert status == 200 and headers[LOGGED] == "true"
            for d in body["decisions"]:
                if "error" not in d:
                    expected[d["decision_id"]] = actor
        # not a decision: no header
        status, headers, _ = s.get("/v1/bundle", headers={"authorization": f"Bearer {ALICE}"})
        assert status == 200 and LOGGED not in headers
        assert s.metric('tenet_audit_records_total{result="written"}', s.headers) == 1 + 8
        assert s.metric("tenet_audit_queue_depth", s.headers) == 0
        assert s.metric("tenet_audit_failing", s.headers) == 0
    finally:
        assert s.stop() == 0
    got = records(url)
    first = got[0]
    assert first["kind"] == "configuration_change" and first["actor"] == "release-bot"
    assert first["event"]["old"] is None and first["event"]["new"]["name"] == "gates"
    found = {r["id"]: r for r in got if r["kind"] == "decision"}
    assert {i: r["actor"] for i, r in found.items()} == expected
    data_read = next(r for r in found.values() if r["decision"].get("result") is True
                     and "query" not in r["decision"])  # fmt: skip
    assert data_read["query"] == "access.allow" and data_read["outcome"] == "allow"
    assert data_read["input_digest"].startswith("sha256:")
    assert "user" not in json.dumps(data_read["input"])  # the raw input is never stored
    deny = next(r for r in found.values() if r["query"] == "deploy.staging")
    assert deny["outcome"] == "deny" and deny["decision"]["checks"][0]["status"] == "violated"
    result = audit_verify(url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified: 9 records" in result.stdout


def test_activations_and_failed_reloads_are_recorded(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    url = f"sqlite:///{tmp_path}/audit.db"
    s = Server(
        ["--bundle", str(root), "--decision-log", url, "--watch-interval", "0"], tmp_path / "log"
    )
    try:
        assert s.post("/v1/decisions/access.allow", {"input": ADMIN})[1][LOGGED] == "true"
        assert decisions(url)[0]["actor"] == "anonymous"
        old_digest = s.get("/v1/bundle")[2]["digest"]
        s.proc.send_signal(signal.SIGHUP)  # the same content again: a reload, and no change
        reloads = 'tenet_bundle_reloads_total{result="success"}'
        poll(lambda: s.metric(reloads) == 1, what="the reload of the same bundle")
        manifest = (root / "tenet.yaml").read_text().replace("1.0.0", "1.1.0")
        (root / "tenet.yaml").write_text(manifest)
        s.proc.send_signal(signal.SIGHUP)

        def changes() -> list[dict[str, Any]]:
            return [r for r in records(url) if r["kind"] == "configuration_change"]

        second = poll(lambda: changes()[1:], what="the reload's record")[0]
        assert second["event"]["old"]["version"] == "1.0.0"
        assert second["event"]["old"]["digest"] == old_digest
        assert second["event"]["new"]["version"] == "1.1.0"
        assert second["actor"] == changes()[0]["actor"]  # the user running the server
        assert len(changes()) == 2  # the start and the new version, not the same one again
        (root / "access" / "main.tenet").write_text("package access\nallow if {\n")
        s.proc.send_signal(signal.SIGHUP)
        error = poll(
            lambda: [r for r in records(url) if r["kind"] == "error"], what="the error record"
        )[0]
        assert error["event"]["action"] == "bundle reload failed"
        assert "access/main.tenet" in error["event"]["error"]
        assert error["event"]["current"]["version"] == "1.1.0"
    finally:
        assert s.stop() == 0
    result = audit_verify(url)
    assert result.returncode == 0, result.stdout + result.stderr


def _break_store(path: Path) -> None:
    """A JSONL store opens its file for each batch: a directory in its place fails every write,
    even for root (a read-only folder does not stop root). The log is moved aside, not removed:
    a removed log stays an error until the server restarts."""
    path.rename(path.with_name(path.name + ".aside"))
    path.mkdir()


def _mend_store(path: Path) -> None:
    path.rmdir()
    path.with_name(path.name + ".aside").rename(path)


def test_failing_open_answers_with_the_header_false_and_reports_it(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    store = tmp_path / "audit.jsonl"
    s = Server(["--bundle", str(root), "--decision-log", f"jsonl://{store}"], tmp_path / "log")
    try:
        assert s.post("/v1/decisions/access.allow", {"input": ADMIN})[1][LOGGED] == "true"
        assert s.get("/health")[2]["status"] == "ok"
        _break_store(store)
        status, headers, doc = s.post("/v1/decisions/access.allow", {"input": ADMIN})
        assert status == 200 and headers[LOGGED] == "false" and doc["allowed"] is True
        status, headers, body = s.post("/v1/data/access/allow", {"input": ADMIN})
        assert status == 200 and headers[LOGGED] == "false" and body["result"] is True
        health = s.get("/health")[2]
        assert health["status"] == "degraded" and health["audit"]["status"] == "failing"
        assert "audit.jsonl" in health["audit"]["last_error"]
        assert s.metric("tenet_audit_failures_total") == 2
        assert s.metric('tenet_audit_records_total{result="failed"}') == 2
        assert s.metric('tenet_audit_batches_total{result="failed"}') == 2
        assert s.metric("tenet_audit_failing") == 1
        # once the store can be written again, the log recovers
        _mend_store(store)
        assert s.post("/v1/decisions/access.allow", {"input": ADMIN})[1][LOGGED] == "true"
        assert s.get("/health")[2]["status"] == "ok"
    finally:
        assert s.stop() == 0


def test_failing_closed_answers_503_and_no_decision(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    store = tmp_path / "audit.jsonl"
    s = Server(
        ["--bundle", str(root), "--decision-log", f"jsonl://{store}", "--audit-fail-closed"],
        tmp_path / "log",
    )
    try:
        status, headers, _ = s.post("/v1/decisions/access.allow", {"input": ADMIN})
        assert status == 200 and headers[LOGGED] == "true"
        _break_store(store)
        for path, body in [
            ("/v1/decisions/access.allow", {"input": ADMIN}),
            ("/v1/data/access/allow", {"input": ADMIN}),
            ("/v1/batch", {"requests": [{"query": "access.allow", "input": ADMIN}]}),
        ]:
            status, headers, answer = s.post(path, body)
            assert status == 503 and headers[LOGGED] == "false", answer
            assert answer["error"]["code"] == "audit_unavailable"
            assert "decision_id" not in json.dumps(answer) and "result" not in answer
        assert s.get("/health")[2]["audit"]["fail_closed"] is True
        assert s.metric('tenet_http_requests_total{route="decisions",status="503"}') == 1
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
def test_a_log_removed_under_the_server_is_never_reported_logged(
    tmp_path: Path, scheme: str
) -> None:
    root = make_bundle(tmp_path / "gates")
    store = tmp_path / f"audit.{scheme}"
    s = Server(
        ["--bundle", str(root), "--decision-log", f"{scheme}://{store}", "--audit-fail-closed"],
        tmp_path / "log",
    )
    try:
        assert s.post("/v1/decisions/access.allow", {"input": ADMIN})[1][LOGGED] == "true"
        for p in tmp_path.glob(f"audit.{scheme}*"):
            p.unlink()  # the writer still has the SQLite file open
        for _ in range(3):
            status, headers, answer = s.post("/v1/decisions/access.allow", {"input": ADMIN})
            assert status == 503 and headers[LOGGED] == "false", answer
            assert (
                "removed" in answer["error"]["message"]
                or "does not exist" in (answer["error"]["message"])
            )
        assert s.get("/health")[2]["audit"]["status"] == "failing"
        assert not store.exists()  # not started anew
    finally:
        s.stop()


def _no_file_growth() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # every write past 0 bytes fails


def test_failing_closed_a_log_that_cannot_be_written_stops_the_start_before_it_is_announced(
    tmp_path: Path,
) -> None:
    # a supervisor waits for the `listening on` line: it must not come before the exit
    root = make_bundle(tmp_path / "gates")
    url = f"jsonl:///{tmp_path}/audit.jsonl"

    def serve() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tenet.cli", "serve", "--bundle", str(root),
             "--addr", "127.0.0.1:0", "--decision-log", url, "--audit-fail-closed"],
            capture_output=True, text=True, cwd=REPO, timeout=60, preexec_fn=_no_file_growth,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip

    result = serve()  # no key yet: making it fails, and the error says so
    assert result.returncode == 2 and result.stdout == ""
    assert "cannot write the new audit key file" in result.stderr
    AuditLog.open(url).close()  # the key made, the log empty
    result = serve()
    assert result.returncode == 2 and result.stdout == ""
    assert "cannot record the bundle's activation" in result.stderr
    assert "kept and written" not in result.stderr and "never recorded" not in result.stderr


def test_failing_open_a_log_that_cannot_be_written_still_starts_and_says_so(
    tmp_path: Path,
) -> None:
    # the activation is tried before the announcement, failing open as well: the server
    # still starts, says the record is kept, answers `false`, and names it when it stops
    root = make_bundle(tmp_path / "gates")
    url = f"jsonl:///{tmp_path}/audit.jsonl"
    AuditLog.open(url).close()  # the key made, the log empty
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenet.cli", "serve", "--bundle", str(root),
         "--addr", "127.0.0.1:0", "--decision-log", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, preexec_fn=_no_file_growth,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    try:
        port = announced_port(proc, 30)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/decisions/access.allow", json.dumps({"input": ADMIN}))
        answer = conn.getresponse()
        assert answer.status == 200 and answer.getheader(LOGGED) == "false"
        assert json.loads(answer.read())["result"] is True
        conn.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0
    stderr = err.decode()
    assert stderr.count("it is kept and written before the next decision") == 1
    assert stderr.count("the configuration_change event of ") == 2  # kept, then never recorded
    assert "was never recorded" in stderr.splitlines()[-1]


def test_an_unusable_decision_log_stops_startup(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")

    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tenet.cli", "serve", "--bundle", str(root), *args],
            capture_output=True, text=True, cwd=REPO, timeout=60,
        )  # fmt: skip

    other = tmp_path / "notes.yaml"  # a file that is no log
    other.write_text((root / "tenet.yaml").read_text())
    for url in (f"sqlite:///{tmp_path}/missing/audit.db", f"jsonl:///{other}"):
        result = serve("--addr", "127.0.0.1:0", "--decision-log", url)
        assert result.returncode == 2 and "cannot open the decision log" in result.stderr
        assert result.stdout == ""  # never announced as listening
    result = serve("--audit-fail-closed")
    assert result.returncode == 2 and "--audit-fail-closed needs --decision-log" in result.stderr


@contextlib.contextmanager
def logging_clients(s: Server, body: Callable[[int], Any], n: int = 8) -> Iterator[list[str]]:
    """`n` clients sending decisions on keep-alive connections until the block ends (client
    `i` sends `body(i)`); yields the ids of the decisions answered as logged, as they come. A
    client stops when the server goes away under it."""
    logged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(i: int) -> None:
        conn = s.connection(timeout=10)
        try:
            while not stop.is_set():
                status, headers, doc = s.post("/v1/decisions/access.allow", body(i), conn=conn)
                if status == 200 and headers.get(LOGGED) == "true":
                    with lock:
                        logged.append(doc["decision_id"])
        except Exception:  # the server was stopped or killed under this client
            return
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    try:
        yield logged
    finally:
        stop.set()
        for t in threads:
            t.join(15)


def test_sigkill_loses_no_decision_reported_as_logged(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    url = f"sqlite:///{tmp_path}/audit.db"
    s = Server(["--bundle", str(root), "--decision-log", url], tmp_path / "log")
    try:
        with logging_clients(
            s, lambda n: {"input": {"user": {"role": "admin" if n % 2 else "user"}}}
        ) as logged:
            poll(lambda: len(logged) >= 400, deadline=60, what="400 logged decisions")
            s.proc.send_signal(signal.SIGKILL)  # while the clients keep sending
            s.proc.wait(10)
    finally:
        s.kill()
    stored = {r["id"] for r in decisions(url)}
    assert set(logged) <= stored
    assert verify(open_store(url)) == []
    result = audit_verify(url)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- the writer process, end to end -----------------------------------------------------------


def writer_pid(server_pid: int) -> int | None:
    """The pid of the server's audit writer process, found in /proc."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if (
                ppid == server_pid
                and b"tenet.audit.writer" in (stat.parent / "cmdline").read_bytes()
            ):
                return int(stat.parent.name)
        except (OSError, ValueError, IndexError):  # a process that ended meanwhile
            continue
    return None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("fail_closed", [False, True], ids=["open", "closed"])
def test_a_killed_writer_fails_requests_in_flight_and_recovers(
    tmp_path: Path, fail_closed: bool
) -> None:
    root = make_bundle(tmp_path / "gates")
    url = f"sqlite:///{tmp_path}/audit.db"
    closed = ["--audit-fail-closed"] if fail_closed else []
    s = Server(["--bundle", str(root), "--decision-log", url, *closed], tmp_path / "log")
    path, body = "/v1/decisions/access.allow", {"input": ADMIN}
    logged: list[str] = []
    in_flight: list[tuple[int, dict[str, str], Any]] = []
    try:
        for _ in range(3):
            status, headers, doc = s.post(path, body)
            assert status == 200 and headers[LOGGED] == "true"
            logged.append(doc["decision_id"])
        pid = poll(lambda: writer_pid(s.proc.pid), what="the writer process")
        os.kill(pid, signal.SIGSTOP)  # its batches wait in the pipe: requests stay in flight

        def client() -> None:
            in_flight.append(s.post(path, body))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        poll(lambda: s.get("/health")[2]["audit"]["queue_depth"] == 4, what="4 records queued")
        os.kill(pid, signal.SIGKILL)
        for t in threads:
            t.join(30)
        assert len(in_flight) == 4
        for status, headers, answer in in_flight:
            assert headers[LOGGED] == "false"
            if fail_closed:
                assert status == 503 and answer["error"]["code"] == "audit_unavailable"
                assert "killed by signal 9" in answer["error"]["message"]
            else:
                assert status == 200 and answer["allowed"] is True
        health = s.get("/health")[2]
        assert (
            health["status"] == "degraded" and "killed by signal 9" in health["audit"]["last_error"]
        )

        def logged_once() -> str | None:
            _, headers, doc = s.post(path, body)
            return doc["decision_id"] if headers[LOGGED] == "true" else None

        logged.append(poll(logged_once, what="a decision logged by a new writer"))
        for _ in range(3):
            status, headers, doc = s.post(path, body)
            assert status == 200 and headers[LOGGED] == "true"
            logged.append(doc["decision_id"])
        assert s.get("/health")[2]["audit"]["status"] == "ok"
        new = writer_pid(s.proc.pid)
        assert new is not None and new != pid
    finally:
        assert s.stop() == 0
    assert set(logged) <= {r["id"] for r in decisions(url)}
    result = audit_verify(url)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_writer_killed_between_requests_shows_in_health_until_one_restarts_it(
    tmp_path: Path,
) -> None:
    root = make_bundle(tmp_path / "gates")
    url = f"sqlite:///{tmp_path}/audit.db"
    s = Server(["--bundle", str(root), "--decision-log", url], tmp_path / "log")
    path, body = "/v1/decisions/access.allow", {"input": ADMIN}
    try:
        assert s.post(path, body)[1][LOGGED] == "true"
        pid = poll(lambda: writer_pid(s.proc.pid), what="the writer process")
        os.kill(pid, signal.SIGKILL)

        def down() -> dict[str, Any] | None:
            health = s.get("/health")[2]
            return health if health["status"] == "degraded" else None

        health = poll(down, what="/health degraded")
        assert health["audit"]["status"] == "failing"
        assert "killed by signal 9" in health["audit"]["last_error"]
        assert poll(lambda: s.post(path, body)[1][LOGGED] == "true" or None, what="a new writer")
        assert s.get("/health")[2]["status"] == "ok"
    finally:
        assert s.stop() == 0


def test_with_a_stdout_log_the_address_is_still_the_first_line(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    s = Server(["--bundle", str(root), "--decision-log", "stdout:"], tmp_path / "log")
    try:  # the Server helper read the port from the first line
        assert s.post("/v1/decisions/access.allow", {"input": ADMIN})[1][LOGGED] == "true"
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.stdout is not None
        rest = s.proc.stdout.read().decode()  # up to the end: the server has exited
    finally:
        assert s.stop() == 0
    records = [json.loads(line) for line in rest.splitlines()]
    assert [r["kind"] for r in records] == ["configuration_change", "decision"]


def test_requests_still_waiting_at_the_shutdown_timeout_are_answered_503(
    tmp_path: Path,
) -> None:
    root = make_bundle(tmp_path / "gates")
    url = f"sqlite:///{tmp_path}/audit.db"
    args = ["--decision-log", url, "--audit-fail-closed", "--shutdown-timeout", "1"]
    s = Server(["--bundle", str(root), *args], tmp_path / "log")
    path, body = "/v1/decisions/access.allow", {"input": ADMIN}
    answers: list[tuple[int, dict[str, str], Any]] = []
    try:
        assert s.post(path, body)[1][LOGGED] == "true"
        pid = poll(lambda: writer_pid(s.proc.pid), what="the writer process")
        os.kill(pid, signal.SIGSTOP)  # a store that does not answer
        threads = [threading.Thread(target=lambda: answers.append(s.post(path, body)))]
        threads.append(threading.Thread(target=lambda: answers.append(s.post(path, body))))
        for t in threads:
            t.start()
        poll(lambda: s.get("/health")[2]["audit"]["queue_depth"] == 2, what="2 records queued")
        s.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(30)
        os.kill(pid, signal.SIGCONT)  # the writer commits what waits, then the server exits
        assert s.proc.wait(30) == 0
    finally:
        s.stop()
    assert len(answers) == 2
    for status, headers, answer in answers:
        assert status == 503 and headers[LOGGED] == "false"
        assert answer["error"]["code"] == "audit_unavailable"
        assert "cancelled (the server shutting down)" in answer["error"]["message"]
    assert "Traceback" not in s.log.read_text()


def test_a_tiny_queue_slows_requests_down_and_loses_nothing(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    url = f"sqlite:///{tmp_path}/audit.db"
    s = Server(
        ["--bundle", str(root), "--decision-log", url, "--audit-queue", "2", "--audit-batch", "2"],
        tmp_path / "log",
    )
    answers: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        conn = s.connection(timeout=30)
        try:
            for _ in range(20):
                status, headers, doc = s.post("/v1/decisions/access.allow", {"input": ADMIN},
                                              conn=conn)  # fmt: skip
                with lock:
                    answers.append(headers[LOGGED] if status == 200 else str(status))
                    if headers[LOGGED] == "true":
                        answers.append(doc["decision_id"])
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert s.get("/health")[2]["audit"]["queue_depth"] == 0
    finally:
        assert s.stop() == 0
    assert answers.count("true") == 160  # every request waited for room, none was dropped
    ids = {a for a in answers if a != "true"}
    assert {r["id"] for r in decisions(url)} == ids and len(decisions(url)) == 160


def test_a_reload_is_recorded_in_order_with_decisions(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    url = f"sqlite:///{tmp_path}/audit.db"
    s = Server(
        ["--bundle", str(root), "--decision-log", url, "--watch-interval", "0"], tmp_path / "log"
    )

    def decide() -> str:
        status, headers, doc = s.post("/v1/decisions/access.allow", {"input": ADMIN})
        assert status == 200 and headers[LOGGED] == "true"
        return str(doc["decision_id"])

    def changes() -> list[dict[str, Any]]:
        return [r for r in records(url) if r["kind"] == "configuration_change"]

    try:
        before = [decide() for _ in range(5)]
        (root / "tenet.yaml").write_text(
            (root / "tenet.yaml").read_text().replace("1.0.0", "1.1.0")
        )
        s.proc.send_signal(signal.SIGHUP)  # the watcher's thread records the activation
        event = poll(lambda: changes()[1:], what="the reload's record")[0]
        after = [decide() for _ in range(5)]
    finally:
        assert s.stop() == 0
    order = [r["id"] for r in records(url)]
    at = order.index(event["id"])
    assert {order.index(i) for i in before} == set(range(1, at))
    assert {order.index(i) for i in after} == set(range(at + 1, at + 6))
    assert [r["seq"] for r in records(url)] == list(range(1, len(order) + 1))  # one chain
    result = audit_verify(url)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_graceful_shutdown_keeps_every_decision_answered_as_logged(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    url = f"jsonl:///{tmp_path}/audit.jsonl"
    s = Server(["--bundle", str(root), "--decision-log", url], tmp_path / "log")
    try:
        pid = poll(lambda: writer_pid(s.proc.pid), what="the writer process")
        with logging_clients(s, lambda _: {"input": ADMIN}) as logged:
            poll(lambda: len(logged) >= 200, deadline=60, what="200 logged decisions")
            assert s.stop() == 0  # SIGTERM while the clients keep sending
    finally:
        s.kill()
    assert not _alive(pid)  # the writer stopped with the server
    assert set(logged) <= {r["id"] for r in decisions(url)}
    result = audit_verify(url)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- writing on the loop (stores without a writer process), in process --------------------------


class _SlowStore(AuditStore):
    """A store that takes a while per batch (and can be told to fail): the interface a
    networked store implements."""

    url = "slow:"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.written: list[dict[str, Any]] = []
        self.fail = False

    def append_prepared(self, entries: list[Prepared]) -> list[Chained]:
        time.sleep(self.delay)
        if self.fail:
            raise StoreError("the store is gone")
        links = []
        for p in entries:
            chained, text = link_prepared(p, None)
            self.written.append(json.loads(text))
            links.append(chained)
        return links


def _slow(delay: float) -> tuple[AuditLog, _SlowStore]:
    store = _SlowStore(delay)
    return AuditLog(store, b"k" * 16), store


def _n(n: int) -> dict[str, Any]:
    return {"id": str(n), "kind": "decision", "class": "default", "time": "t", "n": n}


def test_the_stdout_store_is_written_on_the_loop(capsys: pytest.CaptureFixture[str]) -> None:
    audit = SidecarAudit(AuditLog.open("stdout:"), "ops")
    assert isinstance(audit.writer, InlineWriter)  # its chains' tails live in this process
    entry = {"id": "1", "kind": "decision", "class": "default", "time": "t", "n": 1}
    try:
        assert asyncio.run(audit.record([entry])) == [(b"tenet-decision-logged", b"true")]
    finally:
        audit.close()
    line = json.loads(capsys.readouterr().out)
    assert line["n"] == 1 and line["seq"] == 1


def test_a_slow_store_slows_requests_down_without_freezing_the_loop() -> None:
    # written on the loop one batch a turn: between batches the loop turns
    log, slow = _slow(0.02)
    audit = SidecarAudit(log, "ops", max_queue=2, max_batch=2)

    async def main() -> tuple[list[list[tuple[bytes, bytes]]], int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        tick = asyncio.create_task(ticker())
        answers = await asyncio.gather(*(audit.record([_n(i)]) for i in range(40)))
        done.set()
        await tick
        return answers, ticks

    try:
        answers, ticks = asyncio.run(main())
    finally:
        audit.close()
    assert all(a == [(b"tenet-decision-logged", b"true")] for a in answers)
    assert sorted(e["n"] for e in slow.written) == list(range(40))  # none dropped
    assert ticks >= 4  # 400 ms of writes in 20 batches: the loop kept turning between them
    assert audit.writer.counts.batches == 20


def test_a_failing_store_fails_every_waiter_and_fails_closed() -> None:
    log, slow = _slow(0.0)
    slow.fail = True
    audit = SidecarAudit(log, "ops", fail_closed=True)
    try:
        with pytest.raises(HTTPError) as caught:
            asyncio.run(audit.record([_n(1), _n(2)]))
        assert caught.value.status == 503 and caught.value.code == "audit_unavailable"
        assert audit.failures == 1 and audit.last_error == "the store is gone"
        audit.fail_closed = False
        assert asyncio.run(audit.record([_n(3)])) == [(b"tenet-decision-logged", b"false")]
        slow.fail = False
        assert asyncio.run(audit.record([_n(4)])) == [(b"tenet-decision-logged", b"true")]
        assert audit.status()["status"] == "ok"
        assert audit.status()["records_failed"] == 3
    finally:
        audit.close()


def test_shutdown_writes_what_the_stopped_loop_left_queued() -> None:
    log, slow = _slow(0.0)
    audit = SidecarAudit(log, "ops", max_batch=1)
    loop = asyncio.new_event_loop()

    tasks = []

    async def queue_and_leave() -> None:
        tasks.extend(loop.create_task(audit.record([_n(i)])) for i in range(20))

    loop.run_until_complete(queue_and_leave())  # the writes are queued; the loop stops first
    loop.close()
    for task in tasks:  # they never finish: their loop is gone, as a stopped server's is
        task._log_destroy_pending = False  # type: ignore[attr-defined]
    assert audit.status()["queue_depth"] == 20 and not any(t.done() for t in tasks)
    audit.close()
    assert sorted(e["n"] for e in slow.written) == list(range(20))


# ---- bundle activations the store could not take at once ------------------------------------


def _audited_app(root: Path, fail_closed: bool) -> tuple[Any, _SlowStore, SidecarAudit]:
    """A sidecar over `root` whose decision log is a store that can be told to fail, hooked to
    its watcher as `tenet serve` hooks them."""
    from tenet.server.app import Sidecar
    from tenet.server.reload import BundleWatcher

    watcher = BundleWatcher.open(root, interval=0)
    log, store = _slow(0.0)
    audit = SidecarAudit(log, "ops", fail_closed=fail_closed)
    assert audit.activated(None, watcher.bundle)
    watcher.on_reload = audit.reloaded
    watcher.before_swap = audit.before_swap
    watcher.on_tick = audit.retry_events
    return Sidecar(watcher, audit=audit), store, audit


def _to_version(root: Path, version: str) -> None:
    manifest = (root / "tenet.yaml").read_text()
    (root / "tenet.yaml").write_text(manifest.replace("version: 1.0.0", f"version: {version}"))


@pytest.mark.parametrize("fail_closed", [True, False])
def test_an_activation_the_store_refused_is_recorded_before_the_new_bundles_decisions(
    tmp_path: Path, fail_closed: bool
) -> None:
    from tests.server.test_app import call

    root = make_bundle(tmp_path / "gates")
    app, store, audit = _audited_app(root, fail_closed)
    try:
        store.fail = True  # the store cannot be written for a moment, and a deploy happens
        _to_version(root, "2.0.0")
        reloaded_at = time.time()
        assert app.watcher.reload().ok and app.watcher.bundle.version == "2.0.0"
        assert audit.status()["events_waiting"] == 1
        assert call(app, "GET", "/health")[2]["status"] == "degraded"
        status, headers, body = call(app, "POST", "/v1/decisions/access.allow", {"input": ADMIN})
        if fail_closed:  # the new bundle does not answer while its activation is unrecorded
            assert status == 503 and body["error"]["code"] == "audit_unavailable"
        else:
            assert status == 200 and headers[b"tenet-decision-logged"] == b"false"
        store.fail = False  # the store is back: the next decision writes the activation first
        status, headers, doc = call(app, "POST", "/v1/decisions/access.allow", {"input": ADMIN})
        assert status == 200 and headers[b"tenet-decision-logged"] == b"true"
        assert doc["bundle"]["version"] == "2.0.0"
    finally:
        audit.close()
    kinds = [
        (r["kind"], (r.get("event") or {}).get("new", {}).get("version")) for r in store.written
    ]
    assert kinds == [
        ("configuration_change", "1.0.0"),
        ("configuration_change", "2.0.0"),
        ("decision", None),
    ]
    activation = store.written[1]
    assert activation["event"]["old"]["version"] == "1.0.0" and activation["actor"] == "ops"
    # dated when the bundle was activated, not when the store took it
    assert abs(parse_rfc3339(activation["time"]) - reloaded_at) < 1.0
    assert audit.status()["events_waiting"] == 0


def test_an_activation_the_store_refused_is_retried_without_traffic(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    app, store, audit = _audited_app(root, fail_closed=True)
    try:
        store.fail = True
        _to_version(root, "2.0.0")
        app.watcher.reload()
        app.watcher.tick()  # still failing: kept
        assert audit.status()["events_waiting"] == 1
        first_id = audit._events[0]["id"]
        store.fail = False
        app.watcher.tick()  # the watcher tries again on each look at the files
        status = audit.status()
        assert status["events_waiting"] == 0 and status["status"] == "ok"
    finally:
        audit.close()
    written = store.written[-1]
    assert written["event"]["new"]["version"] == "2.0.0"
    # a try that failed may have reached the store after all: a retry is a record of its own
    assert written["id"] != first_id


def test_a_reload_while_the_log_cannot_be_written_is_recorded_once_it_can(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    store = tmp_path / "audit.jsonl"
    url = f"jsonl://{store}"
    s = Server(
        ["--bundle", str(root), "--decision-log", url, "--watch-interval", "0",
         "--audit-fail-closed"],
        tmp_path / "log",
    )  # fmt: skip
    try:
        assert s.post("/v1/decisions/access.allow", {"input": ADMIN})[1][LOGGED] == "true"
        _break_store(store)
        _to_version(root, "2.0.0")
        s.proc.send_signal(signal.SIGHUP)
        poll(lambda: s.get("/v1/bundle")[2]["version"] == "2.0.0", what="the reload")
        health = poll(lambda: s.get("/health")[2], what="health")
        assert health["status"] == "degraded" and health["audit"]["events_waiting"] == 1
        status, headers, answer = s.post("/v1/decisions/access.allow", {"input": ADMIN})
        assert status == 503 and answer["error"]["code"] == "audit_unavailable"
        _mend_store(store)
        status, headers, _ = s.post("/v1/decisions/access.allow", {"input": ADMIN})
        assert status == 200 and headers[LOGGED] == "true"
        assert s.get("/health")[2]["status"] == "ok"
    finally:
        assert s.stop() == 0
    got = [
        (r["kind"], (r.get("event") or {}).get("new", {}).get("version"),
         r.get("bundle", {}).get("version"))
        for r in records(url)
    ]  # fmt: skip
    assert got == [
        ("configuration_change", "1.0.0", None),
        ("decision", None, "1.0.0"),
        ("configuration_change", "2.0.0", None),
        ("decision", None, "2.0.0"),
    ]
    result = audit_verify(url)
    assert result.returncode == 0, result.stdout + result.stderr


def _reloading_server(tmp_path: Path, flags: list[str]) -> tuple[Path, str, Server]:
    """A server on a new bundle, with a decision log, reloading on SIGHUP only."""
    root = make_bundle(tmp_path / "gates")
    url = f"sqlite:///{tmp_path}/audit.db"
    args = ["--bundle", str(root), "--decision-log", url, "--watch-interval", "0", *flags]
    return root, url, Server(args, tmp_path / "log")


def _refused(s: Server, url: str, code: str) -> str:
    """The reload error once it shows, refused with `code`, reported as any failed reload."""
    status = poll(lambda: s.get("/v1/bundle")[2]["last_reload_error"], what="a refusal")
    assert f"error[{code}]" in status
    assert s.get("/health")[2]["status"] == "degraded"
    poll(lambda: [r for r in records(url) if r["kind"] == "error"], what="its record")
    return str(status)


@pytest.mark.parametrize("allow", [False, True])
def test_a_reload_to_an_older_version_is_refused_and_recorded_unless_allowed(
    tmp_path: Path, allow: bool
) -> None:
    root, url, s = _reloading_server(tmp_path, ["--allow-downgrade"] if allow else [])
    try:
        _to_version(root, "0.9.0")
        s.proc.send_signal(signal.SIGHUP)
        if allow:
            poll(lambda: s.get("/v1/bundle")[2]["version"] == "0.9.0", what="the rollback")
        else:
            assert "older than 1.0.0" in _refused(s, url, "bundle-downgrade")
            assert s.get("/v1/bundle")[2]["version"] == "1.0.0"
    finally:
        assert s.stop() == 0
    kinds = [r["kind"] for r in records(url)]
    assert kinds == ["configuration_change", "configuration_change" if allow else "error"]


@pytest.mark.parametrize("allow", [False, True])
def test_another_build_of_the_same_version_is_refused_and_recorded_unless_allowed(
    tmp_path: Path, allow: bool
) -> None:
    # changed policy under an unchanged version number was swapped in without a word
    root, url, s = _reloading_server(tmp_path, ["--allow-same-version"] if allow else [])
    try:
        first = s.get("/v1/bundle")[2]["digest"]
        s.proc.send_signal(signal.SIGHUP)  # the same build again: taken, and no record
        reloads = 'tenet_bundle_reloads_total{result="success"}'
        poll(lambda: s.metric(reloads) == 1, what="the reload of the same build")
        (root / "access" / "main.tenet").write_text("package access\nallow if { true }\n")
        s.proc.send_signal(signal.SIGHUP)
        if allow:
            poll(lambda: s.get("/v1/bundle")[2]["digest"] != first, what="the other build")
        else:
            assert "another build of gates" in _refused(s, url, "bundle-same-version")
            assert s.get("/v1/bundle")[2]["digest"] == first
    finally:
        assert s.stop() == 0
    got = records(url)
    assert [r["kind"] for r in got] == [
        "configuration_change",
        "configuration_change" if allow else "error",
    ]
    last = got[-1]["event"]
    if allow:  # an activation as any other: the old build and the new one
        assert set(last) == {"action", "old", "new"} and last["action"] == "bundle activated"
        assert last["old"]["digest"] == first and last["new"]["version"] == "1.0.0"
    else:  # a failed reload as any other, naming the build kept
        assert set(last) == {"action", "error", "current"}
        assert last["action"] == "bundle reload failed" and last["current"]["digest"] == first
        assert "bundle-same-version" in last["error"]


def _decision_request(body: bytes) -> bytes:
    return (
        b"POST /v1/decisions/access.allow HTTP/1.1\r\nhost: x\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )


def _half_closed_requests(port: int, body: bytes, n: int) -> bytes:
    """`n` requests sent whole in a row (pipelined), then the client's side shut
    (`shutdown(SHUT_WR)`), and all that comes back until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(_decision_request(body) * n)
        sock.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    return got


@pytest.mark.parametrize("n", [1, 3])
def test_a_client_that_shuts_its_side_after_its_requests_gets_every_answer(
    tmp_path: Path, n: int
) -> None:
    # with the log on, the answer waits for its record's commit: the end of the client's
    # side came first, and closing then dropped an answer the log recorded as given
    root = make_bundle(tmp_path / "b")
    url = f"sqlite:///{tmp_path}/audit.db"
    s = Server(["--bundle", str(root), "--decision-log", url, "--access-log"], tmp_path / "log")
    try:
        got = _half_closed_requests(s.port, json.dumps({"input": ADMIN}).encode(), n)
    finally:
        s.stop()
    answers = got.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == n, got
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"200 ") and b"tenet-decision-logged: true" in head, got
        assert json.loads(body)["result"] is True
    assert b"connection: close" in answers[-1]  # and then the connection is closed
    assert len(decisions(url)) == n
    log = s.log.read_text()
    assert log.count("POST /v1/decisions/access.allow 200 ") == n and "not delivered" not in log


def test_an_answer_the_client_went_away_before_is_not_counted_or_logged_as_given(
    tmp_path: Path,
) -> None:
    # the decision is made and recorded, but the client reset the connection while its
    # record waited for the commit: the 200 was never sent, and the access log and the
    # metrics must not say it was
    root = make_bundle(tmp_path / "b")
    url = f"sqlite:///{tmp_path}/audit.db"
    s = Server(["--bundle", str(root), "--decision-log", url, "--access-log"], tmp_path / "log")
    path, body = "/v1/decisions/access.allow", {"input": ADMIN}
    try:
        assert s.post(path, body)[1][LOGGED] == "true"  # the writer process started
        pid = poll(lambda: writer_pid(s.proc.pid), what="the writer process")
        os.kill(pid, signal.SIGSTOP)  # a commit that waits
        try:
            with socket.create_connection(("127.0.0.1", s.port), timeout=30) as sock:
                sock.sendall(_decision_request(json.dumps(body).encode()))
                poll(lambda: s.get("/health")[2]["audit"]["queue_depth"] == 1, what="a record")
                # closed with a reset, not a FIN: a FIN may be a client still reading
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # the reset reached the server before this request, so it has been handled when
            # this is answered (the loop is not blocked: only the commit waits)
            assert s.get("/ready")[0] == 200
        finally:
            os.kill(pid, signal.SIGCONT)
        gone = 'tenet_http_requests_total{route="decisions",status="499"}'
        poll(lambda: s.metric(gone) == 1, what="the answer counted as not delivered")
        assert s.metric('tenet_http_requests_total{route="decisions",status="200"}') == 1
    finally:
        s.stop()
    assert len(decisions(url)) == 2  # the decision was made: its record is kept
    lines = [line for line in s.log.read_text().splitlines() if "tenet.access: POST" in line]
    assert len(lines) == 2 and " 200 " in lines[0] and " 499 " in lines[1]
    assert lines[1].endswith(
        " not delivered: the client went away before the 200 answer was written"
    )
