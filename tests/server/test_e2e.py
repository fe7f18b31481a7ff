"""The real server, started as `tenet serve` on a free loopback port: decisions over HTTP,
tokens, limits, startup failures, and a graceful shutdown that finishes a request in flight."""

from __future__ import annotations

import gzip
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tenet
from tenet.bundle.signing import generate_keypair, load_private_key, sign_digest
from tests.conftest import assert_valid_decision
from tests.server.helpers import ADMIN, REPO, Server, exchange, make_bundle, poll

TOKEN = "s3cret-token-for-tests-0001"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("e2e") / "gates")


@pytest.fixture(scope="module")
def server(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(["--bundle", str(root)], tmp_path_factory.mktemp("log") / "server.log")
    yield s
    assert s.stop() == 0


def test_decisions_data_and_batch_over_http(server: Server) -> None:
    status, headers, doc = server.post("/v1/decisions/access.allow", {"input": ADMIN})
    assert status == 200 and headers["content-type"] == "application/json"
    assert_valid_decision(doc)
    assert doc["allowed"] is True and doc["bundle"]["name"] == "gates"
    status, _, body = server.post("/v1/data/access/allow", {"input": ADMIN})
    assert status == 200 and body["result"] is True
    packed = gzip.compress(json.dumps({"input": ADMIN}).encode())
    gzipped = {"content-encoding": "gzip"}
    status, _, body = server.post("/v1/data/access/allow", raw=packed, headers=gzipped)
    assert status == 200 and body["result"] is True
    status, _, body = server.post(
        "/v1/batch", {"requests": [{"query": "access.allow"}, {"query": "deploy.staging"}]}
    )
    assert [d["query"] for d in body["decisions"]] == ["access.allow", "deploy.staging"]


def test_keep_alive_connections_serve_many_requests(server: Server) -> None:
    conn = server.connection()
    try:
        for i in range(50):
            status, _, body = server.post(
                "/v1/data/access/level", {"input": {"user": {"level": i}}}, conn=conn
            )
            assert status == 200 and body["result"] == i
    finally:
        conn.close()


def test_errors_are_json_over_http(server: Server) -> None:
    cases = [
        ("POST", "/v1/decisions/access.allow", b"{", 400, "malformed_json"),
        ("POST", "/v1/decisions/nope", b"{}", 404, "unknown_query"),
        ("GET", "/v1/nothing", None, 404, "not_found"),
        ("PUT", "/v1/bundle", None, 405, "method_not_allowed"),
        ("POST", "/v1/data/access", b'{"input": ' + b"[" * 150 + b"]" * 150 + b"}", 400,
         "invalid_input"),
        # uvicorn decodes `path`: the segments are split from `raw_path`
        ("POST", "/v1/data/access%2Fallow", b"{}", 404, "unknown_query"),
    ]  # fmt: skip
    for method, path, raw, status, code in cases:
        got, headers, body = server.request(method, path, raw=raw)
        assert (got, body["error"]["code"]) == (status, code), (path, body)
        assert headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (b"\x00\x01garbage\r\n\r\n", "invalid method encountered"),
        (b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
         "url is too long: url length of 100001 bytes exceeds the maximum of 65535 bytes"),
        (b"POST /v1/data/access HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
         "invalid character in Content-Length"),
        (b"POST /v1/data/access HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 99999999999999999999999\r\n\r\n{}", "Content-Length overflow"),
        (b"POST /v1/data/access HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
         b"Content-Length: 3\r\n\r\n{}", "duplicate Content-Length"),
        (b"POST /v1/data/access HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"zz\r\n{}\r\n0\r\n\r\n", "invalid character in chunk size"),
        (b"GET /v1/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", "its URL cannot be read"),
    ],
)  # fmt: skip
def test_malformed_http_is_refused_in_json(server: Server, sent: bytes, message: str) -> None:
    head, body = exchange(server.port, sent)
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head and b"connection: close" in head
    assert json.loads(body) == {
        "error": {
            "code": "malformed_http",
            "message": f"the request is not valid HTTP/1.1: {message}",
        }
    }


def test_the_http2_preface_is_refused_in_json(server: Server) -> None:
    head, body = exchange(server.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["error"] == {
        "code": "malformed_http",
        "message": "the server speaks HTTP/1.1, not HTTP/2: send the request as HTTP/1.1",
    }


def test_head_answers_as_get_without_the_body(server: Server) -> None:
    conn = server.connection()
    try:
        for path in ("/health", "/openapi.json", "/ready"):
            conn.request("GET", path)
            got = conn.getresponse()
            body = got.read()
            conn.request("HEAD", path)  # on the same connection: no body left behind
            head = conn.getresponse()
            assert head.read() == b"" and head.status == got.status == 200
            assert head.getheader("content-length") == str(len(body))
            assert head.getheader("content-type") == got.getheader("content-type")
    finally:
        conn.close()


def test_a_body_over_the_default_limit_gets_413_before_it_is_sent(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(
            b"POST /v1/decisions/access.allow HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\n\r\n{" % (8 * 1024 * 1024 + 1)
        )
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, payload = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
    assert json.loads(payload)["error"]["code"] == "body_too_large"
    # just under the limit is read and decided
    body = b'{"input": "' + b"x" * (8 * 1024 * 1024 - 16) + b'"}'
    assert server.post("/v1/decisions/access.allow", raw=body)[0] == 200


def test_status_endpoints(server: Server, root: Path) -> None:
    status, _, body = server.get("/v1/bundle")
    assert status == 200 and body["source"] == str(root) and body["version"] == "1.0.0"
    assert server.get("/health")[2]["status"] == "ok"
    status, _, text = server.get("/metrics")
    assert status == 200 and "tenet_decisions_total{" in text
    status, _, spec = server.get("/openapi.json")
    assert status == 200 and spec["info"]["title"] == "Tenet decision sidecar"


def test_tokens_are_required_when_a_token_file_is_given(root: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# who may ask\n{TOKEN} billing-service\n")
    ok = {"Authorization": f"Bearer {TOKEN}"}
    s = Server(["--bundle", str(root), "--token-file", str(tokens)], tmp_path / "log", headers=ok)
    try:
        assert s.get("/health")[0] == 200
        status, headers, body = s.post("/v1/decisions/access.allow", {})
        assert status == 401 and body["error"]["code"] == "unauthorized"
        assert headers["www-authenticate"] == 'Bearer realm="tenet"'
        assert s.post("/v1/decisions/access.allow", {}, headers=ok)[0] == 200
        assert s.get("/metrics", headers=ok)[0] == 200
        assert s.get("/ready")[0] == 401
    finally:
        assert s.stop() == 0


def test_sighup_reloads_the_bundle_and_the_token_file(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKEN} first\n")
    ok = {"Authorization": f"Bearer {TOKEN}"}
    args = ["--bundle", str(root), "--token-file", str(tokens), "--watch-interval", "0"]
    s = Server(args, tmp_path / "log", headers=ok)
    try:
        before = s.get("/v1/bundle", headers=ok)[2]["digest"]
        (root / "extra").mkdir()
        (root / "extra" / "main.tenet").write_text("package extra\nx = 1\n")
        manifest = root / "tenet.yaml"  # a reload takes a new version
        manifest.write_text(manifest.read_text().replace("1.0.0", "1.1.0"))
        other = "another-token-0123456789"
        tokens.write_text(f"{other} second\n")
        s.proc.send_signal(signal.SIGHUP)
        new = {"Authorization": f"Bearer {other}"}
        poll(lambda: s.get("/v1/bundle", headers=new)[0] == 200, what="the new token")
        status = s.get("/v1/bundle", headers=new)[2]
        assert status["digest"] != before and status["reloads"] == 1
        assert s.get("/v1/bundle", headers=ok)[0] == 401
        assert s.post("/v1/data/extra/x", {}, headers=new)[2]["result"] == 1
        assert s.get("/health")[2]["tokens"] == {"status": "ok", "last_error": None}
        # a file that has become invalid keeps the tokens, and /health shows the failure
        tokens.write_text("short\n")
        s.proc.send_signal(signal.SIGHUP)
        health = poll(
            lambda: (h := s.get("/health")[2])["status"] == "degraded" and h, what="degraded"
        )
        assert health["tokens"]["status"] == "failing"
        assert health["tokens"]["last_error"] == (
            f"{tokens}:1: a token must have at least 16 characters (generate one with "
            "`openssl rand -hex 32`)"
        )
        assert s.get("/v1/bundle", headers=new)[0] == 200  # still the previous tokens
        tokens.write_text(f"{other} second\n")
        s.proc.send_signal(signal.SIGHUP)
        poll(lambda: s.get("/health")[2]["status"] == "ok", what="health ok again")
    finally:
        assert s.stop() == 0


def test_with_a_public_key_only_signed_bundles_are_served(tmp_path: Path) -> None:
    private_pem, public_pem = generate_keypair()
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem)
    root = make_bundle(tmp_path / "gates")
    result = _serve(["--bundle", str(root), "--public-key", str(key)])
    assert result.returncode == 2 and "not signed" in result.stderr
    digest = tenet.load_bundle(root).digest
    (root / ".signature").write_bytes(sign_digest(load_private_key(private_pem), digest).to_bytes())
    s = Server(["--bundle", str(root), "--public-key", str(key)], tmp_path / "log")
    try:
        assert s.get("/v1/bundle")[2]["digest"] == digest
    finally:
        assert s.stop() == 0


def test_a_bundle_that_does_not_load_stops_startup(tmp_path: Path) -> None:
    bad = make_bundle(tmp_path / "bad", **{"access/main.tenet": "package access\nallow if {\n"})
    result = _serve(["--bundle", str(bad)])
    assert result.returncode == 2
    assert "access/main.tenet" in result.stderr and "did not load" in result.stderr
    tokens = tmp_path / "tokens"
    tokens.write_text("short\n")
    result = _serve(["--bundle", str(make_bundle(tmp_path / "ok")), "--token-file", str(tokens)])
    assert result.returncode == 2 and "at least 16 characters" in result.stderr
    result = _serve(["--bundle", str(tmp_path / "ok"), "--addr", "127.0.0.1:http"])
    assert result.returncode == 2 and "is not a number" in result.stderr


def _serve(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tenet.cli", "serve", "--addr", "127.0.0.1:0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def _send_partly(s: Server, body: bytes, sent: int) -> socket.socket:
    """A connection with a decision request whose body is sent up to `sent` bytes."""
    slow = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    head = (
        f"POST /v1/decisions/access.allow HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    slow.sendall(head + body[:sent])
    return slow


def test_sigterm_finishes_the_request_in_flight(root: Path, tmp_path: Path) -> None:
    s = Server(["--bundle", str(root)], tmp_path / "log")
    try:
        body = json.dumps({"input": ADMIN}).encode()
        slow = _send_partly(s, body, 10)  # the rest comes after SIGTERM
        # the request is in flight once the app has it (the metrics request counts itself)
        poll(lambda: (s.metric("tenet_http_requests_in_flight") or 0) >= 2, what="in flight")
        s.proc.send_signal(signal.SIGTERM)

        def refused() -> bool:
            try:
                socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
            except OSError:
                return True
            return False

        poll(refused, what="the listener to close")  # shutting down, not taking new requests
        assert s.proc.poll() is None  # still finishing our request
        slow.sendall(body[10:])
        response = b""
        while chunk := slow.recv(65536):
            response += chunk
        slow.close()
        head_text, _, payload = response.partition(b"\r\n\r\n")
        assert head_text.startswith(b"HTTP/1.1 200"), response[:200]
        assert json.loads(payload)["allowed"] is True
        assert s.proc.wait(20) == 0
    finally:
        s.kill()


def test_a_request_still_running_at_the_shutdown_timeout_gets_a_json_503(
    root: Path, tmp_path: Path
) -> None:
    """Its body is only partly sent when SIGTERM comes, and `--shutdown-timeout 1` runs out."""
    s = Server(["--bundle", str(root), "--shutdown-timeout", "1"], tmp_path / "log")
    try:
        slow = _send_partly(s, json.dumps({"input": ADMIN}).encode(), 5)  # the rest never comes
        poll(lambda: (s.metric("tenet_http_requests_in_flight") or 0) >= 2, what="in flight")
        s.proc.send_signal(signal.SIGTERM)
        response = b""
        while chunk := slow.recv(65536):
            response += chunk
        slow.close()
        assert s.proc.wait(20) == 0
    finally:
        s.kill()
    head_text, _, payload = response.partition(b"\r\n\r\n")
    assert head_text.startswith(b"HTTP/1.1 503"), response[:200]
    assert b"content-type: application/json" in head_text.lower()
    assert json.loads(payload)["error"]["code"] == "shutting_down"
    log = s.log.read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log
