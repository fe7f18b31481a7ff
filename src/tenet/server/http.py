"""HTTP plumbing for the raw ASGI app: bounded bodies, JSON in and out, and JSON errors."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from tenet.locate import duplicate_key
from tenet.utf8 import NotUtf8, decode_utf8
from tenet.yamlutil import DuplicateKeyError, json_problem, load_json

__all__ = [
    "SHUTTING_DOWN",
    "HTTPError",
    "Receive",
    "Scope",
    "Send",
    "dumps",
    "error_body",
    "parse_json",
    "read_body",
    "send_bytes",
    "shutdown_cancelled",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json"


class HTTPError(Exception):
    """A request the sidecar refuses: answered with ``{"error": {"code", "message"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []


def dumps(value: Any) -> bytes:
    """JSON bytes; integers beyond 64 bits (which orjson refuses) go through the json module."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_body(code: str, message: str) -> bytes:
    return dumps({"error": {"code": code, "message": message}})


SHUTTING_DOWN = error_body(
    "shutting_down",
    "the server shut down before this request was answered (its `--shutdown-timeout` ran out):"
    " nothing was decided; send it again",
)


def parse_json(body: bytes) -> Any:
    """The request's JSON (an empty body is ``{}``), or a 400 naming the problem and where.

    Read as `tenet eval` reads JSON: integers stay exact, and NaN, Infinity and a key given
    twice in one object are refused."""
    if not body.strip():
        return {}
    if body.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        # JSON has no byte order mark (RFC 8259 8.1), and what Python says of one advises
        # a decoding that the client cannot choose
        mark = "a byte order mark" if body[0] == 0xEF else "a UTF-16 byte order mark"
        message = f"the body starts with {mark}: send UTF-8 JSON without one"
        raise HTTPError(400, "malformed_json", message)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        where = err.reason
        try:
            decode_utf8(body)  # where, as `tenet eval` says it of an input file
        except NotUtf8 as bad:
            where = bad.where()
        raise HTTPError(400, "malformed_json", f"the body is not UTF-8: {where}") from None
    try:
        return load_json(text)
    except DuplicateKeyError as err:
        found = duplicate_key(text)
        at = f" (line {found[1]}, column {found[2]})" if found is not None else ""
        raise HTTPError(400, "malformed_json", f"the body is not valid JSON: {err}{at}") from None
    except json.JSONDecodeError as err:
        raise HTTPError(
            400,
            "malformed_json",
            f"the body is not valid JSON: {json_problem(err)} (line {err.lineno}, column "
            f"{err.colno})",
        ) from None
    except RecursionError:
        raise HTTPError(400, "invalid_input", "the body nests too deeply to read") from None
    except ValueError as err:  # NaN, Infinity, a key given twice, too many digits
        raise HTTPError(400, "malformed_json", f"the body is not valid JSON: {err}") from None


def shutdown_cancelled() -> bool:
    """Whether the running request was cancelled by the server's shutdown, which is then taken
    back so that the request can still be answered.

    When `--shutdown-timeout` runs out, uvicorn cancels every request still running (nothing
    else cancels one); left to uvicorn, each is answered a plain-text 500 and its traceback
    logged. Call this where `asyncio.CancelledError` is caught."""
    task = asyncio.current_task()
    if task is None or not task.cancelling():
        return False
    task.uncancel()
    return True


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refused with 413 as soon as it is known to exceed `limit`; a
    gzip body (`Content-Encoding: gzip`) is decompressed, `limit` applying to both sizes."""
    gzip = _gzipped(scope)
    body = await _read(scope, receive, limit)
    return _gunzip(body, limit) if gzip and body else body


def _gzipped(scope: Scope) -> bool:
    """Whether the body is gzip; a content coding other than gzip and identity is a 415."""
    found = [value for name, value in scope["headers"] if name == b"content-encoding"]
    if not found:
        return False
    text = b",".join(found).decode("latin-1")
    codings = [c.strip().lower() for c in text.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return False
    if codings in (["gzip"], ["x-gzip"]):
        return True
    raise HTTPError(
        415,
        "unsupported_encoding",
        f"`Content-Encoding: {text.strip()}` is not supported: send the body as it is, or "
        "compressed once with `Content-Encoding: gzip`",
        [(b"accept-encoding", b"gzip")],
    )


def _gunzip(body: bytes, limit: int) -> bytes:
    """A gzip body decompressed, refused with 413 as soon as it exceeds `limit` (never
    inflated further, so a small body cannot fill memory); members one after another, as
    RFC 1952 allows, are read one after another."""
    out: list[bytes] = []
    size = 0
    rest = body
    while rest:
        member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            data = member.decompress(rest, limit + 1 - size)
        except zlib.error as err:  # "Error -3 while decompressing data: incorrect header check"
            raise _bad_gzip(str(err).rpartition(": ")[2]) from None
        size += len(data)
        if size > limit:
            raise _too_large(limit, "the body, decompressed,")
        if not member.eof:
            raise _bad_gzip("it ends before its gzip stream does")
        out.append(data)
        rest = member.unused_data
    return b"".join(out)


def _bad_gzip(why: str) -> HTTPError:
    return HTTPError(
        400,
        "bad_request",
        f"the body is not valid gzip ({why}), which `Content-Encoding: gzip` says it is",
    )


async def _read(scope: Scope, receive: Receive, limit: int) -> bytes:
    message = await receive()
    if not message.get("more_body", False) and message["type"] == "http.request":
        # the usual case, a body that came in one piece: its length is known
        body: bytes = message.get("body", b"")
        if len(body) > limit:
            raise _too_large(limit)
        return body
    # a body in pieces: refuse it at once when its declared length is over the limit
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise HTTPError(400, "bad_request", "Content-Length is not a number") from None
            if declared > limit:
                raise _too_large(limit)
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "bad_request", "the client went away")  # nobody reads this
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
        message = await receive()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int, what: str = "the body") -> HTTPError:
    return HTTPError(
        413,
        "body_too_large",
        f"{what} is larger than the limit of {limit} bytes",
        [(b"connection", b"close")],
    )


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    head = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    if headers:
        head.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
