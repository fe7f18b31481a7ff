"""The HTTP/1.1 connection under the sidecar: uvicorn's httptools protocol, keeping, through a
graceful shutdown, a connection whose request has arrived but is not read yet."""

from __future__ import annotations

import select

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from tenet.server.http import SHUTTING_DOWN

__all__ = ["SidecarProtocol", "readable"]


class SidecarProtocol(HttpToolsProtocol):
    """One connection. One thing differs from uvicorn's protocol, off the path of a request:

    - at a graceful shutdown, uvicorn closes every connection without a request in flight.
      A request sent while a long decision held the event loop has not been read yet, so its
      connection looked idle and was closed, and the client, which had sent it whole, was
      reset. Such a connection (bytes waiting in its socket, or a request begun) is kept: its
      request is answered, with `Connection: close`, and the connection then closed.
      `refuse_unanswered` answers `503` `shutting_down` on one still waiting when the
      shutdown timeout runs out."""

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


def readable(fd: int) -> bool:
    """Whether a socket has something waiting to be read: bytes, an end, or (listening) a
    connection to accept."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
