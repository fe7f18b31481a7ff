"""The HTTP/1.1 connection under the sidecar: uvicorn's httptools protocol, refusing a request it
cannot parse in JSON as every other refusal is, and keeping, through a graceful shutdown, a
connection whose request has arrived but is not read yet."""

from __future__ import annotations

import select
import sys
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from tenet.server.http import SHUTTING_DOWN, error_body

__all__ = ["SidecarProtocol", "malformed_http", "readable"]


class SidecarProtocol(HttpToolsProtocol):
    """One connection. Two things differ from uvicorn's protocol, neither on the path of a
    request that parses:

    - a request the parser refuses (a bad request line, a bad or repeated `Content-Length`,
      a bad chunk size, HTTP/2) is answered `400` `malformed_http` in JSON, naming what was
      wrong, where uvicorn answers plain text;
    - at a graceful shutdown, uvicorn closes every connection without a request in flight.
      A request sent while a long decision held the event loop has not been read yet, so its
      connection looked idle and was closed, and the client, which had sent it whole, was
      reset. Such a connection (bytes waiting in its socket, or a request begun) is kept: its
      request is answered, with `Connection: close`, and the connection then closed.
      `refuse_unanswered` answers `503` `shutting_down` on one still waiting when the
      shutdown timeout runs out."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:
            # for the access log: whether the client went away before its answer was written
            # (uvicorn then drops the answer without a word)
            extensions: Any = self.scope.setdefault("extensions", {})
            extensions["tenet.gone"] = lambda: cycle.disconnected

    # asyncio keeps a transport half open when this returns True; uvicorn's says None only
    def eof_received(self) -> bool | None:  # type: ignore[override]
        """A client that sent its request whole and then closed its side of the connection
        (`shutdown(SHUT_WR)`) still reads the answer, as HTTP/1.1 allows: the connection is
        kept open for it, then closed. With the decision log, the answer waits for its
        record's commit, and closing at once dropped it (the decision was made and logged)."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.more_body:
            cycle.keep_alive = False
            return True
        return None  # nothing waits for an answer (or a body is cut short): close

    def send_400_response(self, msg: str) -> None:
        # called while the parser's error is being handled: it says what was wrong
        self._answer_and_close(400, malformed_http(sys.exc_info()[1]))

    def shutdown(self) -> None:
        if self._unread():
            # answered then closed: `on_response` is taken when a request's cycle is made
            self.on_response_complete = self._answered_in_shutdown  # type: ignore[method-assign]
            return
        super().shutdown()

    def _answered_in_shutdown(self) -> None:
        HttpToolsProtocol.on_response_complete(self)
        self.shutdown()

    def _unread(self) -> bool:
        """Whether a request has reached this connection and is not being answered yet."""
        if self.transport.is_closing():
            return False
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return False  # being answered: uvicorn closes it after the answer
        # the parser makes a new scope when a request begins, and a cycle once its headers end
        begun = self.scope is not None and (cycle is None or cycle.scope is not self.scope)
        sock = self.transport.get_extra_info("socket")
        return begun or (sock is not None and readable(sock.fileno()))

    def refuse_unanswered(self) -> None:
        """At the end of a shutdown: answer `503` `shutting_down` if a request has reached this
        connection and was never answered (nothing was decided), and close it."""
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self._answer_and_close(503, SHUTTING_DOWN)

    def _answer_and_close(self, status: int, body: bytes) -> None:
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


def malformed_http(err: BaseException | None) -> bytes:
    """The JSON refusal of a request the HTTP parser could not read, saying why."""
    if isinstance(err, httptools.HttpParserCallbackError):
        # uvicorn's own reading of the request failed (a URL it cannot parse): that says why
        err = err.__context__
    reason = str(err) if isinstance(err, httptools.HttpParserError) else ""
    if isinstance(err, httptools.HttpParserUpgrade) or reason.startswith("Pause on PRI"):
        message = "the server speaks HTTP/1.1, not HTTP/2: send the request as HTTP/1.1"
    elif isinstance(err, httptools.HttpParserInvalidURLError) and "too long" not in reason:
        message = "the request is not valid HTTP/1.1: its URL cannot be read"
    elif reason:
        first, _, rest = reason.partition(" ")
        if first.isalpha():  # "Invalid method ...", but not "Content-Length overflow"
            first = first.lower()
        message = f"the request is not valid HTTP/1.1: {first} {rest}".rstrip()
    else:
        message = "the request is not valid HTTP/1.1"
    return error_body("malformed_http", message)


def readable(fd: int) -> bool:
    """Whether a socket has something waiting to be read: bytes, an end, or (listening) a
    connection to accept."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
