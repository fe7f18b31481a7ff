"""The sidecar's routes: a raw ASGI app that reads requests, calls `Bundle.decide` (or the data
API's `Bundle.evaluate_document`) on the current bundle, and writes JSON. I/O only."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from tenet.audit.linking import Prepared, prepare
from tenet.bundle import Bundle
from tenet.diagnostics import QueryError
from tenet.runtime.clock import format_rfc3339
from tenet.server.audit import ANONYMOUS, SidecarAudit
from tenet.server.auth import Tokens, refusal
from tenet.server.cache import Cached, DecisionCache
from tenet.server.http import (
    SHUTTING_DOWN,
    HTTPError,
    Receive,
    Scope,
    Send,
    dumps,
    error_body,
    parse_json,
    read_body,
    send_bytes,
    shutdown_cancelled,
)
from tenet.server.metrics import Metrics
from tenet.server.openapi import openapi
from tenet.server.reload import BundleWatcher

__all__ = ["CACHE_SIZE", "MAX_BATCH", "MAX_BODY", "Sidecar"]

log = logging.getLogger("tenet.server")
access_log = logging.getLogger("tenet.access")

MAX_BODY = 8 * 1024 * 1024
MAX_BATCH = 1000
CACHE_SIZE = 4096  # answers kept for requests repeated byte for byte (0: no cache)
# the status counted and logged for an answer the client went away before (nginx's
# "client closed request"): never sent, so it cannot be mistaken for a status a client got
NOT_DELIVERED = 499

# status, body, content type, extra headers
Response = tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]
Handler = Callable[[Scope, Receive, str | None], Awaitable[Response]]
# (caller, endpoint, the answer's JSON document), called as each is made (the decision log is
# `audit`)
DecisionHook = Callable[[str | None, str, Any], None]

JSON = b"application/json"
TEXT = b"text/plain; version=0.0.4; charset=utf-8"
DECISIONS = "/v1/decisions/"
DATA = "/v1/data"
EXPLAIN_MODES = ("summary", "full")


def _ok(body: bytes) -> Response:
    return 200, body, JSON, []


class Sidecar:
    """The ASGI app. Each request takes the watcher's current bundle once and decides on it, so
    a reload never changes a bundle under a request in flight."""

    def __init__(
        self,
        watcher: BundleWatcher,
        tokens: Tokens | None = None,
        max_body: int = MAX_BODY,
        max_batch: int = MAX_BATCH,
        on_decision: DecisionHook | None = None,
        log_requests: bool = False,
        audit: SidecarAudit | None = None,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.watcher = watcher
        self.tokens = tokens
        self.tokens_error: str | None = None  # why the token file last failed to reload
        self.max_body = max_body
        self.max_batch = max_batch
        self.on_decision = on_decision
        self.log_requests = log_requests
        self.audit = audit
        self.cache = DecisionCache(cache_size) if cache_size > 0 else None
        self.metrics = Metrics()
        self.draining = False  # set when shutdown starts: /ready answers 503
        self._openapi = dumps(openapi(tokens is not None, max_body, max_batch))
        # path -> (method, route, handler); prefixes are matched after
        self._exact: dict[str, tuple[str, str, Handler]] = {
            "/health": ("GET", "health", self._health),
            "/ready": ("GET", "ready", self._ready),
            "/metrics": ("GET", "metrics", self._metrics),
            "/openapi.json": ("GET", "openapi", self._openapi_json),
            "/v1/bundle": ("GET", "bundle", self._bundle),
            "/v1/batch": ("POST", "batch", self._batch),
            DATA: ("POST", "data", self._data),
        }

    # ---- dispatch ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await _lifespan(receive, send)
            return
        start = time.perf_counter()
        metrics = self.metrics
        metrics.in_flight += 1
        route = "other"
        caller: str | None = None
        try:
            route, handler = self._route(scope["method"], scope["path"])
            if self.tokens is not None and route != "health":
                caller = self._authenticate(scope, self.tokens)
            status, body, ctype, headers = await handler(scope, receive, caller)
        except HTTPError as err:
            status, body = err.status, error_body(err.code, err.message)
            ctype, headers = JSON, err.headers
        except Exception:  # a bug: say so in JSON, and log it
            log.exception("internal error answering %s %s", scope["method"], scope["path"])
            status, body, ctype, headers = 500, _INTERNAL, JSON, []
        except asyncio.CancelledError:
            # the shutdown timeout ran out while the request was running (its body still
            # arriving, its record not yet committed, ...): refuse it rather than leave it to
            # uvicorn's plain-text 500
            if not shutdown_cancelled():
                raise
            status, body, ctype, headers = 503, SHUTTING_DOWN, JSON, [(b"connection", b"close")]
        if self.draining and (b"connection", b"close") not in headers:
            # shutting down: the client learns not to send another request on this connection
            headers = [*headers, (b"connection", b"close")]
        try:
            await send_bytes(send, status, body, ctype, headers)
        except asyncio.CancelledError:
            # cancelled while the client was not reading the answer: it is cut short, and
            # uvicorn closes the connection
            if not shutdown_cancelled():
                raise
        finally:
            metrics.in_flight -= 1
            # uvicorn drops an answer to a client that went away without a word (the protocol
            # says so through the scope): counted and logged as given, it would read as a
            # decision the caller received
            gone = scope.get("extensions", {}).get("tenet.gone")
            given = NOT_DELIVERED if gone is not None and gone() else status
            metrics.answered(route, given)
            # only answered decisions: a refusal (400, 404, 413, a log that could not commit)
            # made none, and its time would skew the latency of those that were made; it is
            # counted in tenet_http_requests_total by its status
            if given == 200 and route in ("decisions", "data", "batch"):
                metrics.observe(route, time.perf_counter() - start)
            if self.log_requests:
                note = ""
                if given != status:
                    note = f" not delivered: the client went away before the {status} answer "
                    note += "was written"
                access_log.info(
                    '%s %s %d %.3fms caller="%s"%s',
                    scope["method"],
                    scope["path"],
                    given,
                    (time.perf_counter() - start) * 1000,
                    caller or "-",
                    note,
                )

    def _route(self, method: str, path: str) -> tuple[str, Handler]:
        found = self._exact.get(path)
        if found is None:
            if path.startswith(DECISIONS):
                found = ("POST", "decisions", self._decide)
            elif path.startswith(DATA + "/"):
                found = ("POST", "data", self._data)
            else:
                raise HTTPError(404, "not_found", f"no endpoint at `{path}`; see /openapi.json")
        allowed, route, handler = found
        if method != allowed and not (method == "HEAD" and allowed == "GET"):
            # HEAD is GET without the body (RFC 9110 9.3.2): uvicorn leaves the body out
            takes = "GET or HEAD" if allowed == "GET" else allowed
            raise HTTPError(
                405,
                "method_not_allowed",
                f"`{path}` takes {takes}, not {method}",
                [(b"allow", b"GET, HEAD" if allowed == "GET" else allowed.encode())],
            )
        return route, handler

    @staticmethod
    def _authenticate(scope: Scope, tokens: Tokens) -> str:
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        caller = tokens.caller(header)
        if caller is None:
            raise HTTPError(
                401,
                "unauthorized",
                f"{refusal(header)}: send `Authorization: Bearer TOKEN`",
                [(b"www-authenticate", b'Bearer realm="tenet"')],
            )
        return caller

    # ---- decisions -----------------------------------------------------------------------

    async def _decide(self, scope: Scope, receive: Receive, caller: str | None) -> Response:
        start = time.perf_counter_ns()
        raw = await read_body(scope, receive, self.max_body)
        out, entry = self._decision(scope["path"], raw, caller, start)
        return _ok(out) if entry is None else await self._logged(out, entry)

    async def _data(self, scope: Scope, receive: Receive, caller: str | None) -> Response:
        start = time.perf_counter_ns()
        query = _data_query(scope)
        raw = await read_body(scope, receive, self.max_body)
        out, entry = self._document(scope["path"], query, raw, caller, start)
        return _ok(out) if entry is None else await self._logged(out, entry)

    # Deciding is not async: what a decision builds (its document, the input, the log entry
    # as a dict) is let go when these return, before the response waits for its record's
    # commit. Kept alive across that wait, it filled the collector's young generations with
    # the objects of every request in flight.

    def _decision(
        self, path: str, raw: bytes, caller: str | None, start: int
    ) -> tuple[bytes, Prepared | None]:
        """A decision's JSON and log entry (POST /v1/decisions/...)."""
        query = path[len(DECISIONS) :]
        bundle = self.watcher.bundle
        reused = self._reuse(bundle, path, raw, "decisions", query, caller, start)
        if reused is not None:
            return reused
        body = _object(parse_json(raw), "the body")
        _only(body, ("input", "now", "explain"), "the body")
        _not_null(body, "the body")
        input, now = body.get("input"), body.get("now")
        decision = _decide(bundle, query, input, now, body.get("explain"))
        doc = decision.to_dict()
        out = dumps(doc)
        self.metrics.decided("decisions", query, decision.outcome)
        if self.on_decision is not None:
            self.on_decision(caller, "decisions", doc)
        entry = None
        if self.audit is not None:
            entry = prepare(self.audit.decision(bundle, decision, input, caller, doc))
        self._keep(bundle, path, raw, now, decision.errors, decision.outcome, out, entry)
        return out, entry

    def _document(
        self, path: str, query: str, raw: bytes, caller: str | None, start: int
    ) -> tuple[bytes, Prepared | None]:
        """A data read's JSON and log entry (POST /v1/data/...)."""
        bundle = self.watcher.bundle
        reused = self._reuse(bundle, path, raw, "data", query, caller, start)
        if reused is not None:
            return reused
        body = _object(parse_json(raw), "the body")
        _not_null(body, "the body", ("input", "now"))  # others are ignored here, as in OPA
        now = _now(body.get("now"))
        input = body.get("input")
        try:
            doc = bundle.evaluate_document(query, input, now)
        except QueryError as err:
            raise _unknown(err) from None
        except ValueError as err:
            raise _bad_now(err) from None
        _refuse_invalid_input(doc.errors)
        self.metrics.decided("data", query, doc.outcome)
        answer = doc.to_dict()
        if self.on_decision is not None:
            self.on_decision(caller, "data", answer)
        out = dumps(answer)
        entry = None
        if self.audit is not None:
            entry = prepare(self.audit.document(bundle, doc, input, caller))
        self._keep(bundle, path, raw, now, doc.errors, doc.outcome, out, entry)
        return out, entry

    def _reuse(
        self,
        bundle: Bundle,
        path: str,
        raw: bytes,
        endpoint: str,
        query: str,
        caller: str | None,
        start: int,
    ) -> tuple[bytes, Prepared | None] | None:
        """The answer from the cache, if it holds one for this request: the same document with
        its own id, time and duration, counted like any decision; and its log entry."""
        hit = self.cache.get(bundle, path, raw) if self.cache is not None else None
        if hit is None:
            return None
        out, fresh, entry = hit.reissue(caller or ANONYMOUS, start)
        self.metrics.decided(endpoint, query, hit.outcome)
        if self.on_decision is not None:
            self.on_decision(caller, endpoint, {**hit.document, **fresh})
        return out, entry

    def _keep(
        self,
        bundle: Bundle,
        path: str,
        raw: bytes,
        now: Any,
        errors: list[Any],
        outcome: str,
        out: bytes,
        entry: Prepared | None,
    ) -> None:
        """Keep an answer for the same request again, when the cache may."""
        cache = self.cache
        if cache is not None and cache.cacheable(bundle, raw, now, errors):
            cache.put(bundle, path, raw, Cached(outcome, out, now is None, entry))

    async def _logged(self, out: bytes, entry: dict[str, Any] | Prepared) -> Response:
        """The response, sent once its decision's record is committed."""
        assert self.audit is not None
        return 200, out, JSON, await self.audit.record([entry])

    async def _batch(self, scope: Scope, receive: Receive, caller: str | None) -> Response:
        raw = await read_body(scope, receive, self.max_body)
        answer, entries = self._decisions(raw, caller)
        if self.audit is None:
            return _ok(answer)
        # every decision of the batch is committed (or the batch is refused) before it is sent
        return 200, answer, JSON, await self.audit.record(entries)

    def _decisions(self, raw: bytes, caller: str | None) -> tuple[bytes, list[Prepared]]:
        """A batch's JSON and its decisions' log entries (POST /v1/batch)."""
        body = _object(parse_json(raw), "the body")
        _only(body, ("requests",), "the body")
        requests = body.get("requests")
        if not isinstance(requests, list):
            raise HTTPError(400, "bad_request", "the body needs `requests`: a list of requests")
        if len(requests) > self.max_batch:
            raise HTTPError(
                400,
                "bad_request",
                f"the batch has {len(requests)} requests; the limit is {self.max_batch}",
            )
        bundle = self.watcher.bundle  # one version for the whole batch
        out: list[Any] = []
        entries: list[Prepared] = []
        for i, item in enumerate(requests):
            try:
                where = f"requests[{i}]"
                item = _object(item, where)
                _only(item, ("query", "input", "now", "explain"), where)
                _not_null(item, where)
                query = item.get("query")
                if not isinstance(query, str):
                    raise HTTPError(400, "bad_request", f"{where} needs `query`: a string")
                input, now, explain = item.get("input"), item.get("now"), item.get("explain")
                decision = _decide(bundle, query, input, now, explain)
            except HTTPError as err:
                # every entry's error names its request, as those about its fields already do
                message = (
                    err.message if err.message.startswith(where) else f"{where}: {err.message}"
                )
                out.append({"error": {"code": err.code, "message": message}, "status": err.status})
                continue
            doc = decision.to_dict()
            out.append(doc)
            self.metrics.decided("batch", query, decision.outcome)
            if self.on_decision is not None:
                self.on_decision(caller, "batch", doc)
            if self.audit is not None:
                entries.append(prepare(self.audit.decision(bundle, decision, input, caller, doc)))
        return dumps({"decisions": out}), entries

    # ---- status --------------------------------------------------------------------------

    async def _bundle(self, scope: Scope, receive: Receive, caller: str | None) -> Response:
        s = self.watcher.status()
        info = s.bundle.info
        return _ok(
            dumps(
                {
                    "name": info.name,
                    "version": info.version,
                    "revision": info.revision,
                    "digest": info.digest,
                    "loaded_at": format_rfc3339(s.loaded_at),
                    "source": str(s.path),
                    "last_reload_error": s.last_error,
                    "last_reload_error_at": (
                        None if s.last_error_at is None else format_rfc3339(s.last_error_at)
                    ),
                    "reloads": s.reloads,
                    "reload_failures": s.failures,
                }
            )
        )

    async def _health(self, scope: Scope, receive: Receive, caller: str | None) -> Response:
        s = self.watcher.status()
        info = s.bundle.info
        health: dict[str, Any] = {
            "status": "ok" if s.last_error is None else "degraded",
            "bundle": {"name": info.name, "version": info.version, "digest": info.digest},
            "last_reload_error": s.last_error,
        }
        if self.tokens is not None:
            # the previous tokens still apply, but a rotation that did not happen must show
            error = self.tokens_error
            health["tokens"] = {"status": "ok" if error is None else "failing", "last_error": error}
            if error is not None:
                health["status"] = "degraded"
        if self.audit is not None:
            health["audit"] = audit = self.audit.status()
            if audit["last_error"] is not None:
                health["status"] = "degraded"
        return _ok(dumps(health))

    async def _ready(self, scope: Scope, receive: Receive, caller: str | None) -> Response:
        if self.draining:
            return 503, dumps({"ready": False, "reason": "shutting down"}), JSON, []
        return _ok(b'{"ready":true}')

    async def _metrics(self, scope: Scope, receive: Receive, caller: str | None) -> Response:
        return 200, self.metrics.render(self.watcher.status(), self.audit, self.cache), TEXT, []

    async def _openapi_json(self, scope: Scope, receive: Receive, caller: str | None) -> Response:
        return _ok(self._openapi)


_INTERNAL = error_body("internal", "the server failed to answer; the error is in its log")


def _data_query(scope: Scope) -> str:
    """The query a data API path names: the names after `/v1/data`, dotted.

    The path is split as sent (`raw_path`), and each segment decoded on its own: an encoded
    `/` (`%2F`) is part of its segment, not a separator, as in OPA. A segment is one package
    or rule name, so one holding `/` or `.` names none. One trailing `/` is allowed, as OPA
    allows it; any other empty segment names nothing."""
    raw = scope.get("raw_path") or scope["path"].encode()
    sent = raw.decode("latin-1")  # uvicorn takes only ASCII paths
    segments = sent.split("/")
    if "%" in sent:  # most paths have no escape: a hot path, so decoded only when needed
        segments = [unquote(segment) for segment in segments]
    if segments[:3] != ["", "v1", "data"]:  # `/v1%2Fdata/...`
        raise HTTPError(404, "not_found", f"no endpoint at `{sent}`; see /openapi.json")
    names = segments[3:]
    if names and names[-1] == "":
        names.pop()
    for name in names:
        if name == "":
            raise HTTPError(404, "unknown_query", f"`{sent}` has an empty segment")
        if "/" in name or "." in name:
            raise HTTPError(
                404,
                "unknown_query",
                f"`{sent}`: the segment `{name}` names no package or rule: each segment is "
                "one name, without `/` or `.`",
            )
    return ".".join(names)


def _decide(bundle: Bundle, query: str, input: Any, now: Any, explain: Any) -> Any:
    """`Bundle.decide`, its refusals turned into HTTP errors."""
    if explain is None:
        explain = "summary"
    elif explain not in EXPLAIN_MODES:
        raise HTTPError(400, "bad_request", '`explain` must be "summary" or "full"')
    now = _now(now)
    try:
        decision = bundle.decide(query, input, now, explain)
    except QueryError as err:
        raise _unknown(err) from None
    except ValueError as err:  # `explain` is checked above: this is about `now`
        raise _bad_now(err) from None
    _refuse_invalid_input(decision.errors)
    return decision


def _now(now: Any) -> Any:
    if now is None or isinstance(now, str) or type(now) in (int, float):
        return now
    raise HTTPError(400, "bad_request", "`now` must be RFC 3339 text or epoch seconds")


def _bad_now(err: ValueError) -> HTTPError:
    message = str(err)
    return HTTPError(400, "bad_request", message if "`now`" in message else f"`now`: {message}")


def _refuse_invalid_input(errors: list[dict[str, Any]]) -> None:
    """An input beyond the limits (too deep, too many values) is the request's fault: 400."""
    if errors and errors[0]["code"] == "invalid_input":
        raise HTTPError(400, "invalid_input", errors[0]["message"])


def _unknown(err: QueryError) -> HTTPError:
    d = err.diagnostics[0]
    message = d.message + (f"; {d.help}" if d.help else "")
    return HTTPError(404, "unknown_query", message)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise HTTPError(400, "bad_request", f"{what} must be a JSON object")
    return value


def _only(body: dict[str, Any], fields: tuple[str, ...], what: str) -> None:
    for key in body:
        if key not in fields:
            names = ", ".join(f"`{f}`" for f in fields)
            message = f"{what} has an unknown field `{key}`: it takes {names}"
            raise HTTPError(400, "bad_request", message)


# what leaving each field out means: a `null` is refused rather than read as that, so that a
# client's unset variable is not decided as no input
_LEFT_OUT = {
    "input": "decide on no input",
    "now": "decide at the server's clock",
    "explain": 'get the "summary" explanation',
}


def _not_null(body: dict[str, Any], what: str, keys: tuple[str, ...] = tuple(_LEFT_OUT)) -> None:
    for key in keys:
        if key in body and body[key] is None:
            meaning = _LEFT_OUT[key]
            message = f"{what} has `{key}` null: leave `{key}` out to {meaning}"
            raise HTTPError(400, "bad_request", message)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
