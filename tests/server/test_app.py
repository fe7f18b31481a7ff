"""The sidecar's routes, called in-process through ASGI: every answer, every refusal, and the
JSON shape of each."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tenet.runtime.evaluate import Limits
from tenet.server.app import Sidecar
from tenet.server.auth import Tokens
from tenet.server.reload import BundleWatcher
from tests.conftest import assert_valid_decision
from tests.server.helpers import ADMIN, make_bundle

TOKEN = "t" * 24


def call(
    app: Sidecar,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    chunks: list[bytes] | None = None,
) -> tuple[int, dict[bytes, bytes], Any]:
    if chunks is None:
        if body is None or isinstance(body, bytes):
            chunks = [body or b""]
        else:
            chunks = [json.dumps(body).encode()]
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {  # as uvicorn gives it: `path` decoded, `raw_path` as sent
        "type": "http",
        "method": method,
        "path": unquote(path),
        "raw_path": path.encode(),
        "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()],
    }
    asyncio.run(app(scope, receive, send))
    start, rest = sent[0], sent[1:]
    payload = b"".join(m.get("body", b"") for m in rest)
    headers_out = dict(start["headers"])
    assert headers_out[b"content-length"] == str(len(payload)).encode()
    if headers_out[b"content-type"] == b"application/json":
        return start["status"], headers_out, json.loads(payload)
    return start["status"], headers_out, payload.decode()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("app") / "gates")


@pytest.fixture
def app(root: Path) -> Sidecar:
    return Sidecar(BundleWatcher.open(root, limits=Limits(max_input_values=1000)), max_body=20_000)


def error(response: tuple[int, dict[bytes, bytes], Any]) -> tuple[int, str]:
    status, _, body = response
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return status, body["error"]["code"]


# ---- decisions ---------------------------------------------------------------------------


def test_a_decision_is_the_decision_document(app: Sidecar) -> None:
    status, headers, doc = call(app, "POST", "/v1/decisions/access.allow", {"input": ADMIN})
    assert status == 200 and headers[b"content-type"] == b"application/json"
    assert_valid_decision(doc)
    assert doc["outcome"] == "allow" and doc["result"] is True
    assert doc["bundle"]["digest"] == app.watcher.bundle.digest
    assert doc["explanation"]["rule"] == "access.allow"


def test_package_decisions_now_and_full_explanations(app: Sidecar) -> None:
    body = {"input": {"accuracy": 0.85}, "now": "2026-11-27T10:15:00Z", "explain": "full"}
    status, _, doc = call(app, "POST", "/v1/decisions/deploy.staging", body)
    assert status == 200
    assert_valid_decision(doc)
    assert doc["evaluated_at"] == "2026-11-27T10:15:00Z"
    assert doc["checks"][0]["status"] == "passed" and "evidence" in doc["checks"][0]
    status, _, doc = call(app, "POST", "/v1/decisions/deploy", {"input": {"accuracy": 0.5}})
    assert doc["outcome"] == "deny" and doc["checks"][0]["message"] == "accuracy 0.5 is too low"
    # epoch seconds work too
    status, _, doc = call(app, "POST", "/v1/decisions/deploy", {"input": {}, "now": 0})
    assert status == 200 and doc["evaluated_at"] == "1970-01-01T00:00:00Z"


def test_an_empty_body_decides_on_an_empty_input(app: Sidecar) -> None:
    status, _, doc = call(app, "POST", "/v1/decisions/access.allow")
    assert status == 200 and doc["result"] is False


def test_input_schema_failures_are_error_decisions_not_refusals(app: Sidecar) -> None:
    status, _, doc = call(app, "POST", "/v1/decisions/deploy", {"input": {"accuracy": "x"}})
    assert status == 200 and doc["outcome"] == "error"
    assert doc["errors"][0]["code"] == "input_schema"


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b'{"input": ', "malformed_json", "line 1, column 11"),
        (
            b'{"input": {}, "input": {}}',
            "malformed_json",
            "given twice in one object (line 1, column 15)",
        ),
        (b'{"input": NaN}', "malformed_json", "NaN"),
        (b'{"input": "\t"}', "malformed_json", "invalid control character (line 1, column 12)"),
        (b'{"input": 1' + b"0" * 5000 + b"}", "malformed_json", "more than 4300 digits, more"),
        (b"\xff", "malformed_json", "UTF-8: line 1, column 1 holds the byte 0xff"),
        (b'\xef\xbb\xbf{"input": {}}', "malformed_json", "starts with a byte order mark: send"),
        (b"\xff\xfe{\x00}\x00", "malformed_json", "a UTF-16 byte order mark: send UTF-8 JSON"),
        (b"[1]", "bad_request", "must be a JSON object"),
        (b'{"inptu": {}}', "bad_request", "unknown field `inptu`"),
        (b'{"input": null}', "bad_request", "the body has `input` null: leave `input` out to"),
        (b'{"now": null}', "bad_request", "has `now` null: leave `now` out to decide at the"),
        (b'{"explain": null}', "bad_request", "`explain` null: leave `explain` out to get the"),
        (b'{"explain": "all"}', "bad_request", "explain"),
        (b'{"now": "yesterday"}', "bad_request", "`now`"),
        (b'{"now": true}', "bad_request", "`now`"),
        (b'{"now": 1e300}', "bad_request", "out of range"),
        (b'{"now": -1e12}', "bad_request", "-1000000000000 is not between 0001-01-01"),
        (b"[" * 1100 + b"]" * 1100, "invalid_input", "nests too deeply"),
        (b'{"input": ' + b"[" * 120 + b"]" * 120 + b"}", "invalid_input", "deeper than 100"),
        (b'{"input": [' + b"0," * 2000 + b"0]}", "invalid_input", "more than 1000 values"),
    ],
)
def test_bad_requests_get_400(app: Sidecar, body: bytes, code: str, words: str) -> None:
    response = call(app, "POST", "/v1/decisions/access.allow", body)
    assert error(response) == (400, code)
    assert words in response[2]["error"]["message"]


def test_the_data_api_ignores_explain_even_null_as_its_other_fields(app: Sidecar) -> None:
    for extra in (b'"explain": null', b'"explain": 5', b'"other": 1'):
        response = call(app, "POST", "/v1/data/access/allow", b'{"input": {}, ' + extra + b"}")
        assert response[0] == 200, response
    for key in (b"input", b"now"):
        response = call(app, "POST", "/v1/data/access/allow", b'{"' + key + b'": null}')
        assert error(response) == (400, "bad_request")


def test_unknown_queries_and_endpoints_get_404_and_wrong_methods_405(app: Sidecar) -> None:
    response = call(app, "POST", "/v1/decisions/access.alow", {})
    assert error(response) == (404, "unknown_query")
    assert "did you mean `access.allow`" in response[2]["error"]["message"]
    assert error(call(app, "POST", "/v1/decisions/access.is_admin", {})) == (404, "unknown_query")
    assert error(call(app, "POST", "/v1/decisions/", {})) == (404, "unknown_query")
    assert error(call(app, "GET", "/nowhere")) == (404, "not_found")
    response = call(app, "GET", "/v1/decisions/access.allow")
    assert error(response) == (405, "method_not_allowed")
    assert response[1][b"allow"] == b"POST"
    assert call(app, "POST", "/health")[1][b"allow"] == b"GET, HEAD"


def test_bodies_over_the_limit_get_413(app: Sidecar) -> None:
    big = b'{"input": "' + b"x" * 25_000 + b'"}'
    length = {"content-length": str(len(big))}
    response = call(app, "POST", "/v1/decisions/access.allow", big, headers=length)
    assert error(response) == (413, "body_too_large")
    assert response[1][b"connection"] == b"close"
    # no length announced: counted as it arrives
    chunks = [b'{"input": "', b"x" * 15_000, b"x" * 15_000, b'"}']
    assert error(call(app, "POST", "/v1/data/access", chunks=chunks)) == (413, "body_too_large")
    assert error(call(app, "POST", "/v1/batch", headers={"content-length": "x"})) == (
        400,
        "bad_request",
    )


def test_gzip_bodies_are_decompressed(app: Sidecar) -> None:
    body = json.dumps({"input": ADMIN}).encode()
    for coding in ("gzip", "x-gzip", "GZIP", "identity, gzip"):
        headers = {"content-encoding": coding}
        status, _, doc = call(
            app, "POST", "/v1/decisions/access.allow", gzip.compress(body), headers
        )
        assert (status, doc["result"]) == (200, True), coding
    # in pieces, and as two gzip members one after the other (RFC 1952)
    packed = gzip.compress(body[:7]) + gzip.compress(body[7:])
    chunks = [packed[:10], packed[10:]]
    response = call(app, "POST", "/v1/data/access/allow", headers={"content-encoding": "gzip"},
                    chunks=chunks)  # fmt: skip
    assert response[2]["result"] is True
    status, _, doc = call(
        app, "POST", "/v1/decisions/access.allow", body, {"content-encoding": "identity"}
    )
    assert (status, doc["result"]) == (200, True)


def test_a_gzip_bomb_is_refused_while_it_is_decompressed(app: Sidecar) -> None:
    """The limit (20,000 bytes here) applies to the decompressed body, which is never
    inflated beyond it: 10 MB of zeros, compressed to 10 kB, is refused in a few kB."""
    bomb = gzip.compress(b'{"input": "' + b"0" * 10_000_000 + b'"}')
    assert len(bomb) < 20_000
    tracemalloc.start()
    try:
        response = call(
            app, "POST", "/v1/decisions/access.allow", bomb, {"content-encoding": "gzip"}
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error(response) == (413, "body_too_large")
    assert response[2]["error"]["message"] == (
        "the body, decompressed, is larger than the limit of 20000 bytes"
    )
    assert peak < 2_000_000


@pytest.mark.parametrize(
    ("coding", "body", "status", "message"),
    [
        ("br", b"{}", 415, "`Content-Encoding: br` is not supported: send the body as it is, or "
         "compressed once with `Content-Encoding: gzip`"),
        ("gzip, gzip", b"{}", 415, "`Content-Encoding: gzip, gzip` is not supported"),
        ("deflate", b"{}", 415, "`Content-Encoding: deflate` is not supported"),
        ("gzip", b'{"input": {}}', 400, "the body is not valid gzip (incorrect header check), "
         "which `Content-Encoding: gzip` says it is"),
        ("gzip", gzip.compress(b'{"input": {}}')[:-9], 400,
         "the body is not valid gzip (it ends before its gzip stream does)"),
    ],
)  # fmt: skip
def test_other_content_encodings_and_bad_gzip_are_refused(
    app: Sidecar, coding: str, body: bytes, status: int, message: str
) -> None:
    response = call(app, "POST", "/v1/decisions/access.allow", body, {"content-encoding": coding})
    code = "unsupported_encoding" if status == 415 else "bad_request"
    assert error(response) == (status, code)
    assert response[2]["error"]["message"].startswith(message)
    if status == 415:
        assert response[1][b"accept-encoding"] == b"gzip"


# ---- the data API --------------------------------------------------------------------------


def test_the_data_api_answers_as_opa_does(app: Sidecar) -> None:
    status, _, body = call(app, "POST", "/v1/data/access/allow", {"input": ADMIN})
    assert status == 200 and body["result"] is True and set(body) == {"result", "decision_id"}
    _, _, body = call(app, "POST", "/v1/data/access", {"input": ADMIN})
    assert body["result"] == {"allow": True, "level": 3, "roles": ["a", "b"]}
    _, _, body = call(app, "POST", "/v1/data/access/level", {"input": {}})
    assert set(body) == {"decision_id"}  # undefined: no result
    _, _, body = call(app, "POST", "/v1/data", {"input": {"accuracy": 0.95}})
    assert body["result"]["deploy"] == {"staging": {"ready": True}}
    _, _, body = call(app, "POST", "/v1/data/", None)
    assert body["result"]["access"]["allow"] is False
    # fields OPA clients may send are ignored
    status, _, body = call(app, "POST", "/v1/data/access/allow", {"input": ADMIN, "x": 1})
    assert status == 200 and body["result"] is True


def test_data_api_errors_fail_closed(app: Sidecar) -> None:
    status, _, body = call(app, "POST", "/v1/data/access", {"input": {"clash": True}})
    assert status == 200 and "result" not in body
    assert body["errors"][0]["code"] == "conflict"
    assert error(call(app, "POST", "/v1/data/access/nope", {})) == (404, "unknown_query")
    assert error(call(app, "POST", "/v1/data/access//allow", {})) == (404, "unknown_query")
    # an encoded `/` is part of its segment, not a separator; one trailing `/` is allowed
    response = call(app, "POST", "/v1/data/access%2Fallow", {"input": ADMIN})
    assert error(response) == (404, "unknown_query")
    assert response[2]["error"]["message"] == (
        "`/v1/data/access%2Fallow`: the segment `access/allow` names no package or rule: each "
        "segment is one name, without `/` or `.`"
    )
    assert error(call(app, "POST", "/v1/data/access.allow", {})) == (404, "unknown_query")
    assert error(call(app, "POST", "/v1/data/access%2Eallow", {})) == (404, "unknown_query")
    assert error(call(app, "POST", "/v1/data/access/allow//", {})) == (404, "unknown_query")
    assert error(call(app, "POST", "/v1/data//", {})) == (404, "unknown_query")
    assert error(call(app, "POST", "/v1%2Fdata/access", {})) == (404, "not_found")
    assert call(app, "POST", "/v1/data/access/allow/", {"input": ADMIN})[2]["result"] is True
    assert call(app, "POST", "/v1/data/%61ccess/allow", {"input": ADMIN})[2]["result"] is True
    assert error(call(app, "POST", "/v1/data/access", [])) == (400, "bad_request")
    deep: dict[str, Any] = {"input": [[[[[[]]]]]] * 400}
    assert error(call(app, "POST", "/v1/data/access", deep)) == (400, "invalid_input")
    assert error(call(app, "POST", "/v1/data/access", {"now": "x"})) == (400, "bad_request")
    for body in ({"input": None}, {"input": {}, "now": None}):
        response = call(app, "POST", "/v1/data/access", body)
        assert error(response) == (400, "bad_request")
        assert "null: leave" in response[2]["error"]["message"]


# ---- batch ---------------------------------------------------------------------------------


def test_a_batch_answers_in_order_with_errors_in_place(app: Sidecar) -> None:
    requests = [
        {"query": "access.allow", "input": ADMIN},
        {"query": "nope"},
        {"query": "deploy", "input": {"accuracy": 0.1}, "explain": "full"},
        {"query": "access.allow", "now": "bad"},
        {"query": 3},
        "not an object",
        {"query": "access.allow", "input": [0] * 1500},
        {"query": "access.allow", "input": None},
    ]
    status, _, body = call(app, "POST", "/v1/batch", {"requests": requests})
    assert status == 200
    out = body["decisions"]
    assert len(out) == len(requests)
    assert out[0]["result"] is True and out[2]["outcome"] == "deny"
    for doc in (out[0], out[2]):
        assert_valid_decision(doc)
    assert [(o.get("status"), o.get("error", {}).get("code")) for o in out] == [
        (None, None),
        (404, "unknown_query"),
        (None, None),
        (400, "bad_request"),
        (400, "bad_request"),
        (400, "bad_request"),
        (400, "invalid_input"),
        (400, "bad_request"),
    ]
    assert out[-1]["error"]["message"].startswith("requests[7] has `input` null: leave `input` out")
    # every error entry names its request
    messages = [o["error"]["message"] for o in out if "error" in o]
    assert [m.split(" ", 1)[0].rstrip(":") for m in messages] == [
        f"requests[{i}]" for i in (1, 3, 4, 5, 6, 7)
    ]
    assert messages[0].startswith("requests[1]: unknown query `nope`")
    assert messages[1] == (
        "requests[3]: `now`: `bad` is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z"
    )
    assert messages[4].startswith("requests[6]: input /999: the document has more than 1000")


def test_malformed_batches_get_400(app: Sidecar) -> None:
    assert error(call(app, "POST", "/v1/batch", {"requests": {}})) == (400, "bad_request")
    assert error(call(app, "POST", "/v1/batch", {})) == (400, "bad_request")
    assert error(call(app, "POST", "/v1/batch", {"requests": [], "x": 1})) == (400, "bad_request")
    small = Sidecar(app.watcher, max_batch=2)
    response = call(small, "POST", "/v1/batch", {"requests": [{"query": "access"}] * 3})
    assert error(response) == (400, "bad_request")
    assert "the limit is 2" in response[2]["error"]["message"]


# ---- status, metrics, auth -------------------------------------------------------------------


def test_bundle_health_ready_and_openapi(app: Sidecar) -> None:
    _, _, body = call(app, "GET", "/v1/bundle")
    assert body["name"] == "gates" and body["version"] == "1.0.0" and body["revision"] == "abc123"
    assert body["digest"] == app.watcher.bundle.digest and body["last_reload_error"] is None
    assert body["loaded_at"].endswith("Z")
    _, _, body = call(app, "GET", "/health")
    assert body["status"] == "ok" and body["bundle"]["name"] == "gates"
    assert call(app, "GET", "/ready")[:1] == (200,)
    app.draining = True
    status, _, body = call(app, "GET", "/ready")
    assert status == 503 and body["ready"] is False
    _, _, spec = call(app, "GET", "/openapi.json")
    assert spec["openapi"].startswith("3.1") and "/v1/decisions/{query}" in spec["paths"]
    assert "security" not in spec


def test_metrics_count_decisions_by_query_and_outcome(app: Sidecar) -> None:
    call(app, "POST", "/v1/decisions/access.allow", {"input": ADMIN})
    call(app, "POST", "/v1/decisions/access.allow", {"input": {}})
    call(app, "POST", "/v1/decisions/access.allow", {"input": {}})
    call(app, "POST", "/v1/data/access/allow", {"input": {}})
    call(app, "POST", "/v1/data/access", {"input": ADMIN})  # a package: by its checks
    call(app, "POST", "/v1/decisions/nope", {})
    status, headers, text = call(app, "GET", "/metrics")
    assert status == 200 and headers[b"content-type"].startswith(b"text/plain")
    lines = set(text.splitlines())
    q = 'endpoint="decisions",query="access.allow"'
    assert f'tenet_decisions_total{{{q},outcome="allow"}} 1' in lines
    assert f'tenet_decisions_total{{{q},outcome="deny"}} 2' in lines
    assert 'tenet_decisions_total{endpoint="data",query="access.allow",outcome="deny"} 1' in lines
    assert 'tenet_decisions_total{endpoint="data",query="access",outcome="allow"} 1' in lines
    # 3 decisions made; the refused `nope` (404) is no decision and not in the histogram
    assert 'tenet_decision_duration_seconds_count{endpoint="decisions"} 3' in lines
    assert 'tenet_decision_duration_seconds_bucket{endpoint="decisions",le="+Inf"} 3' in lines
    assert 'tenet_http_requests_total{route="decisions",status="404"} 1' in lines
    assert 'tenet_bundle_reloads_total{result="failure"} 0' in lines
    assert "tenet_bundle_reload_failing 0" in lines
    digest = app.watcher.bundle.digest
    assert any(line.startswith("tenet_bundle_info{") and digest in line for line in lines)


def test_refused_requests_are_not_in_the_decision_latency(app: Sidecar) -> None:
    call(app, "POST", "/v1/decisions/access.allow", {"input": ADMIN})
    refusals = [
        ("/v1/decisions/nope", {}),  # 404
        ("/v1/decisions/access.allow", {"inptu": {}}),  # 400
        ("/v1/decisions/access.allow", {"input": {"x": "y" * 30_000}}),  # 413
        ("/v1/data/nope", {}),
        ("/v1/batch", {"requests": 3}),
    ]
    for path, body in refusals * 3:
        assert call(app, "POST", path, body)[0] >= 400
    lines = set(call(app, "GET", "/metrics")[2].splitlines())
    q = 'endpoint="decisions",query="access.allow"'
    assert f'tenet_decisions_total{{{q},outcome="allow"}} 1' in lines
    assert 'tenet_decision_duration_seconds_count{endpoint="decisions"} 1' in lines
    data = 'tenet_decision_duration_seconds_count{endpoint="data"}'
    assert not any(line.startswith(data) for line in lines)
    assert 'tenet_http_requests_total{route="decisions",status="413"} 3' in lines


def test_with_tokens_every_endpoint_but_health_needs_one(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str | None, str]] = []
    app = Sidecar(
        BundleWatcher.open(root),
        Tokens.parse(f"{TOKEN} ci pipeline\n"),
        on_decision=lambda caller, endpoint, _: seen.append((caller, endpoint)),
        log_requests=True,
    )
    caplog.set_level(logging.INFO, logger="tenet.access")
    ok = {"authorization": f"Bearer {TOKEN}"}
    for method, path in [
        ("POST", "/v1/decisions/access.allow"),
        ("POST", "/v1/data/access/allow"),
        ("POST", "/v1/batch"),
        ("GET", "/v1/bundle"),
        ("GET", "/ready"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
    ]:
        for headers in (None, {"authorization": "Bearer " + "x" * 24}, {"authorization": TOKEN}):
            response = call(app, method, path, {}, headers)
            assert error(response) == (401, "unauthorized"), (method, path, headers)
            assert response[1][b"www-authenticate"] == b'Bearer realm="tenet"'
        body = {"requests": [{"query": "access"}]} if path == "/v1/batch" else {}
        assert call(app, method, path, body, ok)[0] == 200, path
    assert call(app, "GET", "/health")[0] == 200
    basic = call(app, "GET", "/v1/bundle", headers={"authorization": f"Basic {TOKEN}"})
    assert error(basic) == (401, "unauthorized")
    assert basic[2]["error"]["message"] == (
        "`Authorization` uses the `Basic` scheme: send `Authorization: Bearer TOKEN`"
    )
    assert seen == [("ci pipeline", "decisions"), ("ci pipeline", "data"), ("ci pipeline", "batch")]
    logged = [r.getMessage() for r in caplog.records if r.name == "tenet.access"]
    assert any(
        m.startswith("POST /v1/decisions/access.allow 200 ") and m.endswith('caller="ci pipeline"')
        for m in logged
    )
    assert any(m.startswith("POST /v1/batch 401 ") and m.endswith('caller="-"') for m in logged)
    spec = call(app, "GET", "/openapi.json", headers=ok)[2]
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []


def test_a_bug_is_a_json_500_and_logged(app: Sidecar, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.watcher.bundle, "decide", broken)
    assert error(call(app, "POST", "/v1/decisions/access.allow", {})) == (500, "internal")


def test_the_lifespan_protocol_is_answered(app: Sidecar) -> None:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


# ---- shutdown ------------------------------------------------------------------------------


def _cancel_in_flight(
    app: Sidecar, receive: Any, send: Any, in_flight: asyncio.Event | None = None
) -> None:
    """Start a request and cancel it once it waits, as uvicorn cancels the requests still
    running when its shutdown timeout runs out; the app must return, not raise."""

    async def main() -> None:
        scope = {"type": "http", "method": "POST", "path": "/v1/decisions/access.allow",
                 "headers": [(b"content-length", b"22")]}  # fmt: skip
        task = asyncio.create_task(app(scope, receive, send))
        while app.metrics.in_flight == 0 or (in_flight is not None and not in_flight.is_set()):
            await asyncio.sleep(0)
        for _ in range(5):  # let it reach its wait
            await asyncio.sleep(0)
        task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        await task

    asyncio.run(main())


def test_a_request_cancelled_at_the_shutdown_timeout_is_answered_503(app: Sidecar) -> None:
    """Its body was still arriving: nothing was decided, and it is refused in JSON."""
    chunks = [{"type": "http.request", "body": b'{"inp', "more_body": True}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            return chunks.pop()
        await asyncio.Event().wait()  # the rest of the body never comes
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    _cancel_in_flight(app, receive, send)
    start, body = sent
    assert start["status"] == 503 and (b"connection", b"close") in start["headers"]
    error = json.loads(body["body"])["error"]
    assert error["code"] == "shutting_down"
    assert error["message"].startswith("the server shut down before this request was answered")
    assert app.metrics.in_flight == 0


def test_an_answer_cancelled_while_it_is_sent_is_cut_short(app: Sidecar) -> None:
    """The client is not reading: the app returns, and uvicorn closes the connection."""
    sent: list[dict[str, Any]] = []
    started = asyncio.Event()
    body = json.dumps({"input": ADMIN}).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        started.set()
        if message["type"] == "http.response.body":
            await asyncio.Event().wait()  # the write buffer never drains

    _cancel_in_flight(app, receive, send, started)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200 and app.metrics.in_flight == 0


def test_head_is_get_without_the_body(app: Sidecar) -> None:
    for path in ("/health", "/ready", "/metrics", "/v1/bundle", "/openapi.json"):
        get = call(app, "GET", path)
        head = call(app, "HEAD", path)  # the app writes the body; uvicorn leaves it out
        assert head[0] == get[0] == 200
        assert head[1][b"content-type"] == get[1][b"content-type"]
    response = call(app, "HEAD", "/v1/decisions/access.allow")
    assert error(response) == (405, "method_not_allowed") and response[1][b"allow"] == b"POST"
    response = call(app, "PUT", "/health")
    assert error(response) == (405, "method_not_allowed")
    assert response[1][b"allow"] == b"GET, HEAD"
    assert response[2]["error"]["message"] == "`/health` takes GET or HEAD, not PUT"


@pytest.mark.parametrize("gone", [False, True])
def test_an_answer_the_client_went_away_before_is_neither_logged_nor_counted_as_given(
    root: Path, caplog: pytest.LogCaptureFixture, gone: bool
) -> None:
    # uvicorn drops an answer to a client that has gone without a word: the protocol tells
    # the app through the scope, so neither the access log nor the metrics call it a 200
    app = Sidecar(BundleWatcher.open(root), None, log_requests=True)
    caplog.set_level(logging.INFO, logger="tenet.access")
    body = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return body.pop(0) if body else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/decisions/access.allow",
        "raw_path": b"/v1/decisions/access.allow",
        "headers": [],
        "extensions": {"tenet.gone": lambda: gone},
    }
    asyncio.run(app(scope, receive, send))
    (line,) = [r.getMessage() for r in caplog.records if r.name == "tenet.access"]
    status = 499 if gone else 200
    assert line.startswith(f"POST /v1/decisions/access.allow {status} ")
    suffix = " not delivered: the client went away before the 200 answer was written"
    assert line.endswith(suffix) is gone
    assert app.metrics.requests == {("decisions", status): 1}
    assert ("decisions" in app.metrics.latency) is not gone  # timed only when answered
    assert sum(app.metrics.decisions.values()) == 1  # the decision was made all the same
