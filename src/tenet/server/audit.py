"""The sidecar's decision log: each decision becomes an audit entry, committed by the audit
writer process (SQLite and JSONL) or on the event loop (`stdout:`), and its response is sent
only once the entry is committed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tenet.audit import AuditLog
from tenet.audit.linking import Entry, Prepared, prepared
from tenet.audit.log import WriteCounts
from tenet.audit.stores import JsonlStore, SqliteStore, StoreError
from tenet.audit.writer import WriterProcess, chunks
from tenet.server.http import HTTPError, shutdown_cancelled

if TYPE_CHECKING:
    from tenet.bundle import Bundle
    from tenet.bundle.documents import Document
    from tenet.bundle.reload import ReloadResult
    from tenet.decision import Decision

__all__ = ["ANONYMOUS", "LOGGED", "NOT_LOGGED", "InlineWriter", "SidecarAudit"]

log = logging.getLogger("tenet.server")

ANONYMOUS = "anonymous"  # the actor of a decision when the server takes no tokens
HEADER = b"tenet-decision-logged"
LOGGED = [(HEADER, b"true")]
NOT_LOGGED = [(HEADER, b"false")]


class SidecarAudit:
    """Records the sidecar's decisions and bundle activations in one decision log.

    SQLite and JSONL stores are written by a child process (`tenet.audit.writer`), so that
    linking, hashing and inserting records run on another core than the event loop; the
    server only builds the entries and sends them. Other stores are written on the loop
    (`InlineWriter`): `stdout:` keeps its chains' tails in memory, which a child restarted
    after a crash would lose, and a store given from Python may not be reachable by URL.

    `start` starts the writer (the server calls it once the first activation is recorded);
    `close` writes what is queued and stops it, after the loop has stopped."""

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
        self.writer: WriterProcess | InlineWriter
        store = getattr(audit_log, "store", None)
        if isinstance(store, SqliteStore | JsonlStore):
            self.writer = WriterProcess(
                store.url, max_batch, max_queue, direct=store.append_prepared
            )
        else:
            self.writer = InlineWriter(audit_log, max_batch)
        self.failures = 0  # requests whose records could not be committed
        self.last_error: str | None = None  # the last write's error; None once one succeeds
        self.last_error_at: float | None = None

    def start(self) -> None:
        """Start the writer process, if the store has one (raises StoreError)."""
        self.writer.start()

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

    async def record(self, entries: Sequence[Entry | Prepared]) -> list[tuple[bytes, bytes]]:
        """Queue the entries and wait until they are committed; returns the response header
        saying whether they were. With `fail_closed`, a failure raises a 503 instead.

        The entries of every request handled in one turn of the loop are committed together;
        when more records wait than `max_queue`, this waits for room first."""
        if not entries:
            return []
        try:
            await self.writer.write(entries)
        except asyncio.CancelledError:
            # the server's shutdown timeout ran out while the store was slow: answer as for a
            # failed write (the decision, or with `fail_closed` a 503), since the record is not
            # known to be committed; other requests get the app's 503 `shutting_down`
            if not shutdown_cancelled():
                raise
            return self._unrecorded(
                StoreError(
                    "the request was cancelled (the server shutting down) before its record "
                    "was committed"
                )
            )
        except Exception as error:  # a StoreError, or the writer process gone
            return self._unrecorded(error)
        self.last_error = None
        return LOGGED

    def _unrecorded(self, error: Exception) -> list[tuple[bytes, bytes]]:
        """The header for a write that failed, or with `fail_closed` a 503 raised."""
        self._failed(error)
        if self.fail_closed:
            raise HTTPError(
                503,
                "audit_unavailable",
                f"the decision was not returned because it could not be recorded: {error}",
                list(NOT_LOGGED),
            ) from None
        return NOT_LOGGED

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
        """The watcher's hook: a successful reload is an activation, a failed one an error. A
        reload that loads the same content again (a file touched, a SIGHUP) changes nothing,
        so it records nothing."""
        if result.ok:
            if result.bundle.digest != old.digest:
                self.activated(old, result.bundle)
        else:
            details = {
                "action": "bundle reload failed",
                "error": result.error,
                "current": old.info.to_dict(),
            }
            self._event(self.log.event_entry("error", details, self.actor, old))

    def _event(self, entry: Entry, timeout: float = 30.0) -> bool:
        try:
            self.writer.write_event(entry, timeout)
        except Exception as err:
            log.error("could not record the %s event: %s", entry["kind"], err)
            self.last_error = str(err) or type(err).__name__
            self.last_error_at = time.time()
            return False
        return True

    # ---- status and shutdown -------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        w = self.writer
        # a writer process that died between requests failed no write yet, but is down
        error = self.last_error or (w.down if isinstance(w, WriterProcess) else None)
        return {
            "status": "ok" if error is None else "failing",
            "fail_closed": self.fail_closed,
            "records_written": w.counts.records,
            "records_failed": w.counts.failed_records,
            "queue_depth": w.depth(),
            "last_error": error,
        }

    def close(self) -> None:
        """Write what is queued, then stop (a graceful shutdown calls this last, once the
        event loop has stopped)."""
        try:
            self.writer.close()
        finally:
            self.log.close()


class InlineWriter:
    """Writes entries on the event loop, one batch (up to `max_batch` records) a turn: the
    records of every request handled in a turn are committed together right after it, and
    what is left waits for the next turn, so that the loop serves other requests (health
    checks, metrics) between batches even when the store is slow."""

    def __init__(self, audit_log: AuditLog, max_batch: int = 256) -> None:
        self.log = audit_log
        self.max_batch = max_batch
        self.counts = WriteCounts()
        self._queued: list[tuple[list[Prepared], asyncio.Future[None]]] = []
        self._flush_scheduled = False

    def start(self) -> None:
        return None

    async def write(self, entries: Sequence[Entry | Prepared]) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queued.append((prepared(entries), done))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        await done

    def _flush(self) -> None:
        if not self._queued:  # `close` took them
            self._flush_scheduled = False
            return
        batch = chunks(self._queued, lambda q: len(q[0]), self.max_batch)[0]
        self._queued = self._queued[len(batch) :]
        if self._queued:
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._flush_scheduled = False
        error = self._write([entry for entries, _ in batch for entry in entries])
        for _, done in batch:
            if not done.done():
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    @staticmethod
    def _size(queued: list[tuple[list[Prepared], Any]]) -> int:
        return sum(len(entries) for entries, _ in queued)

    def _write(self, entries: list[Prepared]) -> Exception | None:
        try:
            self.log.store.append_prepared(entries)
        except Exception as err:  # every waiter of the batch learns it failed
            self.counts.failed(len(entries))
            return err
        self.counts.committed(len(entries))
        return None

    def write_event(self, entry: Entry | Prepared, timeout: float = 30.0) -> None:
        """Write one entry now, from any thread (the stores are safe to share)."""
        error = self._write(prepared([entry]))
        if error is not None:
            raise error

    def depth(self) -> int:
        return self._size(self._queued)

    def close(self) -> None:
        """Write what the stopped loop left queued."""
        queued, self._queued = self._queued, []
        if queued:
            error = self._write([entry for entries, _ in queued for entry in entries])
            if error is not None:
                log.error("could not record %d queued records: %s", self._size(queued), error)
