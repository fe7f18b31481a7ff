"""The sidecar's decision log: each decision becomes an audit entry, committed by the audit
writer process (SQLite and JSONL) or on the event loop (`stdout:`), and its response is sent
only once the entry is committed."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tenet.audit import AuditLog
from tenet.audit.linking import Entry, Prepared, prepared
from tenet.audit.log import WriteCounts
from tenet.audit.stores import JsonlStore, SqliteStore, StoreError
from tenet.audit.writer import WriterProcess, chunks
from tenet.decision import uuid7
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
        # whether the server got past its start: a start that fails is reported by the error
        # that stops it, not by lines promising what will not happen
        self.started = False
        self.failures = 0  # requests whose records could not be committed
        self.last_error: str | None = None  # the last write's error; None once one succeeds
        self.last_error_at: float | None = None
        # Governance events (activations, failed reloads) not yet committed, oldest first. An
        # event is never dropped: a record of a bundle's activation lost to a store that failed
        # for a moment would leave its decisions without a trace of who put it in place. The
        # queue is written before any decision (`record`), so a decision is never recorded
        # ahead of the activation of the bundle that made it.
        self._events: list[Entry] = []
        self._events_lock = threading.Lock()
        self._writing_events = False  # one writer of the queue at a time, or one could be
        self._event_tries = 0  # written twice; failed tries of the queue's first event

    def start(self) -> None:
        """Start the writer process, if the store has one (raises StoreError)."""
        self.writer.start()
        self.started = True

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
            if self._events:
                error = await self._write_events_on_loop()
                if error is not None:
                    return self._unrecorded(error)
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

    # ---- governance events -------------------------------------------------------------

    def activated(self, old: Bundle | None, new: Bundle, timeout: float = 30.0) -> bool:
        """Record a bundle activation (the first load) and wait for its commit; False when it
        could not be committed (it stays queued, and is written before any decision)."""
        self._queue(self.log.activation_entry(old, new, self.actor))
        return self.write_events(timeout)

    def before_swap(self, old: Bundle, new: Bundle) -> None:
        """The watcher's hook, before a reloaded bundle is made current: queue its activation,
        dated now. A reload that loads the same content again (a file touched, a SIGHUP)
        changes nothing, so it records nothing."""
        if new.digest != old.digest:
            self._queue(self.log.activation_entry(old, new, self.actor))

    def reloaded(self, old: Bundle, result: ReloadResult) -> None:
        """The watcher's hook after a reload: a failed one is an error event; then the queued
        events are written (an activation was queued by `before_swap`)."""
        if not result.ok:
            details = {
                "action": "bundle reload failed",
                "error": result.error,
                "current": old.info.to_dict(),
            }
            self._queue(self.log.event_entry("error", details, self.actor, old))
        self.write_events()

    def _queue(self, entry: Entry) -> None:
        with self._events_lock:
            self._events.append(entry)

    def write_events(self, timeout: float = 30.0) -> bool:
        """Write the queued events, oldest first, from a thread other than the event loop's
        (the watcher calls it on every tick, so that an event waits no longer than the store
        fails). True once none is left; an event that fails stays first in the queue."""
        while True:
            entry = self._take_event()
            if entry is None:
                return not self._events
            try:
                self.writer.write_event(entry, timeout)
            except Exception as err:
                self._event_done(entry, err)
                return False
            self._event_done(entry, None)

    def retry_events(self) -> None:
        """Try the queued events again (the watcher's tick): one the store refused is
        recorded as soon as the store takes it, not only before the next decision."""
        if self._events:
            self.write_events()

    async def _write_events_on_loop(self) -> Exception | None:
        """Write the queued events before a decision; the error when one cannot be written."""
        while self._events:
            entry = self._take_event()
            if entry is None:  # another writer has the queue: wait for it to finish
                await asyncio.sleep(0.005)
                continue
            write = asyncio.ensure_future(self.writer.write([entry]))
            # settled however the request ends: a write still goes on when its request is
            # cancelled, and taking the event again meanwhile could record it twice
            write.add_done_callback(self._settle_event(entry))
            try:
                await asyncio.shield(write)
            except Exception as err:
                return err
        return None

    def _settle_event(self, entry: Entry) -> Callable[[asyncio.Future[None]], None]:
        def settle(write: asyncio.Future[None]) -> None:
            self._event_done(entry, _error_of(write))

        return settle

    def _take_event(self) -> Entry | None:
        """The first queued event, for the caller to write; None when there is none or
        another writer has it. A retry gets a new id: a try that failed may have been
        committed after all (a writer killed before its acknowledgement), and a second record
        of one activation is better than a second copy of one record, which reads as an
        insertion."""
        with self._events_lock:
            if self._writing_events or not self._events:
                return None
            self._writing_events = True
            entry = self._events[0]
            if self._event_tries:
                entry = self._events[0] = {**entry, "id": uuid7()}
            return entry

    def _event_done(self, entry: Entry, error: BaseException | None) -> None:
        with self._events_lock:
            self._writing_events = False
            if error is None:
                self._events.pop(0)
                tries, self._event_tries = self._event_tries, 0
            else:
                tries = self._event_tries = self._event_tries + 1
        kind, when = entry["kind"], entry["time"]
        if error is None:
            self.last_error = None  # the store takes records again
            if tries:
                log.info("recorded the %s event of %s, after %d failed tries", kind, when, tries)
            return
        self.last_error = str(error) or type(error).__name__
        self.last_error_at = time.time()
        if tries == 1 and (self.started or not self.fail_closed):
            # the watcher retries every tick: one line, not one a second; failing closed at
            # the start, the server stops with the error instead
            log.error(
                "could not record the %s event of %s yet: %s; it is kept and written before "
                "the next decision",
                kind,
                when,
                error,
            )

    # ---- status and shutdown -------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        w = self.writer
        # a writer process that died between requests failed no write yet, but is down
        error = self.last_error or (w.down if isinstance(w, WriterProcess) else None)
        waiting = len(self._events)
        if waiting and error is None:
            error = f"{waiting} governance events are not recorded yet"
        return {
            "status": "ok" if error is None else "failing",
            "fail_closed": self.fail_closed,
            "records_written": w.counts.records,
            "records_failed": w.counts.failed_records,
            "queue_depth": w.depth(),
            "events_waiting": waiting,
            "last_error": error,
        }

    def close(self) -> None:
        """Write what is queued, then stop (a graceful shutdown calls this last, once the
        event loop has stopped)."""
        try:
            if not self.write_events() and self.started:
                for entry in self._events:
                    log.error("the %s event of %s was never recorded", entry["kind"], entry["time"])
            self.writer.close()
        finally:
            self.log.close()


def _error_of(done: asyncio.Future[None]) -> BaseException | None:
    if done.cancelled():
        return asyncio.CancelledError()
    return done.exception()


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
