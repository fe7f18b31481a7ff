"""The sidecar's decision log: each decision becomes an audit entry written off the event loop by
a `BatchWriter`, and its response is sent only once the entry's batch is committed."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from tenet.audit import AuditLog, BatchWriter
from tenet.server.http import HTTPError

if TYPE_CHECKING:
    from tenet.bundle import Bundle
    from tenet.bundle.documents import Document
    from tenet.bundle.reload import ReloadResult
    from tenet.decision import Decision

__all__ = ["ANONYMOUS", "LOGGED", "NOT_LOGGED", "SidecarAudit"]

log = logging.getLogger("tenet.server")

ANONYMOUS = "anonymous"  # the actor of a decision when the server takes no tokens
HEADER = b"tenet-decision-logged"
LOGGED = [(HEADER, b"true")]
NOT_LOGGED = [(HEADER, b"false")]
Entry = dict[str, Any]


class SidecarAudit:
    """Records the sidecar's decisions and bundle activations in one decision log.

    `record` runs on the event loop: it hands entries to the writer without blocking (a
    non-blocking put), and only when the queue is full does it wait for room on a single
    helper thread, so back pressure slows the requests that need the room and never freezes
    the loop. It then awaits the entries' futures (resolved by the writer's thread once their
    batch is committed) with `asyncio.wrap_future`."""

    def __init__(
        self,
        audit_log: AuditLog,
        actor: str,
        fail_closed: bool = False,
        max_queue: int = 10_000,
        max_batch: int = 256,
    ) -> None:
        self.log = audit_log
        self.actor = actor  # who activates bundles: the user running the server, or --actor
        self.fail_closed = fail_closed
        self.writer = BatchWriter(audit_log, max_batch=max_batch, max_queue=max_queue)
        self._overflow = ThreadPoolExecutor(1, thread_name_prefix="tenet-audit-submit")
        self.max_batch = max_batch
        self._pending: list[tuple[Entry, asyncio.Future[Entry]]] = []
        self._flush_scheduled = False
        # decisions are written on the event loop (see `record`); events by the writer
        self.loop_batches = 0
        self.loop_records = 0
        self.loop_failed_batches = 0
        self.loop_failed_records = 0
        self.failures = 0  # requests whose records could not be committed
        self.last_error: str | None = None  # the last write's error; None once one succeeds
        self.last_error_at: float | None = None

    # ---- entries -------------------------------------------------------------------------

    def decision(
        self,
        bundle: Bundle,
        decision: Decision,
        input: Any,
        caller: str | None,
        document: dict[str, Any],
    ) -> Entry:
        return self.log.decision_entry(bundle, decision, input, caller or ANONYMOUS, document)

    def document(self, bundle: Bundle, doc: Document, input: Any, caller: str | None) -> Entry:
        return self.log.document_entry(bundle, doc, input, caller or ANONYMOUS)

    # ---- decisions, on the event loop ----------------------------------------------------

    async def record(self, entries: list[Entry]) -> list[tuple[bytes, bytes]]:
        """Queue the entries and wait until they are committed; returns the response header
        saying whether they were. With `fail_closed`, a failure raises a 503 instead.

        The entries of every request handled in one turn of the event loop are written
        together, on the loop, right after that turn: one transaction, no thread to hand
        them to (a writer thread waited for the interpreter lock on every batch, and every
        response waited with it). A turn's batch is bounded by the requests in flight."""
        if not entries:
            return []
        loop = asyncio.get_running_loop()
        waiting: list[asyncio.Future[Entry]] = []
        for entry in entries:
            future: asyncio.Future[Entry] = loop.create_future()
            self._pending.append((entry, future))
            waiting.append(future)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        error: BaseException | None = None
        for result in await asyncio.gather(*waiting, return_exceptions=True):
            if isinstance(result, BaseException):
                error = result
        if error is None:
            self.last_error = None
            return LOGGED
        self._failed(error)
        if self.fail_closed:
            raise HTTPError(
                503,
                "audit_unavailable",
                f"the decision was not returned because it could not be recorded: {error}",
                list(NOT_LOGGED),
            )
        return NOT_LOGGED

    def _flush(self) -> None:
        """Write one batch; what is left waits for the next turn, so that the loop serves
        other requests (health checks, metrics) between batches even when the store is slow."""
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        if self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._flush_scheduled = False
        try:
            written = self.log.write([entry for entry, _ in batch])
        except Exception as err:  # every waiter of the batch learns it failed
            self.loop_failed_batches += 1
            self.loop_failed_records += len(batch)
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        self.loop_batches += 1
        self.loop_records += len(batch)
        for (_, future), record in zip(batch, written, strict=True):
            if not future.done():
                future.set_result(record)

    def _failed(self, error: BaseException) -> None:
        self.failures += 1
        if self.last_error is None:
            log.error("the decision log cannot be written: %s", error)
        self.last_error = str(error) or type(error).__name__
        self.last_error_at = time.time()

    # ---- governance events, on other threads ---------------------------------------------

    def activated(self, old: Bundle | None, new: Bundle, timeout: float = 30.0) -> bool:
        """Record a bundle activation (the first load or a reload) and wait for its commit."""
        return self._event(self.log.activation_entry(old, new, self.actor), timeout)

    def reloaded(self, old: Bundle, result: ReloadResult) -> None:
        """The watcher's hook: a successful reload is an activation, a failed one an error."""
        if result.ok:
            self.activated(old, result.bundle)
        else:
            details = {
                "action": "bundle reload failed",
                "error": result.error,
                "current": old.info.to_dict(),
            }
            self._event(self.log.event_entry("error", details, self.actor, old))

    def _event(self, entry: Entry, timeout: float = 30.0) -> bool:
        future: Future[Entry] = self.writer.submit(entry)
        try:
            future.result(timeout)
        except Exception as err:
            log.error("could not record the %s event: %s", entry["kind"], err)
            self.last_error = str(err) or type(err).__name__
            self.last_error_at = time.time()
            return False
        return True

    # ---- status and shutdown -------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        w = self.writer
        return {
            "status": "ok" if self.last_error is None else "failing",
            "fail_closed": self.fail_closed,
            "records_written": w.records + self.loop_records,
            "records_failed": w.failed_records + self.loop_failed_records,
            "queue_depth": w.depth(),
            "last_error": self.last_error,
        }

    def close(self) -> None:
        """Write what is queued, then stop (a graceful shutdown calls this last)."""
        self._overflow.shutdown(wait=True)
        self.writer.close()
        self.log.close()
