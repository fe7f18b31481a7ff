"""The audit writer process: the child that commits a server's decision records to its store on
another core, the frames the two exchange, and `WriterProcess`, the parent's side."""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import fcntl
import logging
import os
import selectors
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tenet.audit.linking import Entry, Prepared, prepared
from tenet.audit.log import WriteCounts
from tenet.audit.stores import AuditStore, SqliteStore, StoreError, open_store

__all__ = [
    "FrameReader",
    "WriterProcess",
    "chunks",
    "decode_batch",
    "encode_batch",
    "main",
    "run",
]

log = logging.getLogger("tenet.server")


# Why a process: appending a record (linking, hashing, inserting it) costs several times what
# building it does, and a thread of the server would run it under the event loop's interpreter
# lock. The parent builds entries (redacted, classed) and encodes each once, as the canonical
# text of its members (`linking.prepare`; a cached decision's from a template); the child links
# them into their chains without decoding them and commits each batch in one transaction, with
# the same `AuditStore.append_prepared` as every other writer, then acknowledges it. The parent
# reports a record as logged only on that acknowledgement.
#
# Frames, both ways: a 5-byte header (kind, then the payload's length as a big-endian uint32),
# then the payload.
#
#     parent -> child   BATCH       prepared entries, each its fields' lengths (12 uint32,
#                                   NONE for a null column) then the fields' bytes
#     child -> parent   READY       the store is open (once, first)
#                       FATAL       the store cannot be opened: the text, then the child exits
#                       OK          a batch committed (one per batch, in order)
#                       ERROR       a batch not committed: the store's error text
HEADER = struct.Struct(">BI")  # kind, payload length
BATCH = ord("P")
READY = ord("R")
FATAL = ord("F")
OK = ord("K")
ERROR = ord("E")
FIELDS = struct.Struct(">12I")  # an entry's 7 columns and 5 runs of members
NONE = 0xFFFFFFFF

PIPE_SIZE = 1 << 20  # asked of the kernel for the batch pipe: fewer wakeups under load
# A turn of the loop that handles many requests sends their records as soon as this many are
# queued rather than at its end: the child commits them while the turn goes on. Sending only at
# the end of turns made requests move in convoys (the loop idle while the child committed the
# whole turn, the child idle while the loop built the next one). Batches of this size already
# cost the child about what larger ones do per record.
SEND_AT = 16


def frame(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def encode_batch(entries: list[Prepared]) -> bytes:
    """One BATCH frame holding the prepared entries."""
    parts: list[bytes] = []
    for p in entries:
        columns = [
            None if c is None else c.encode()
            for c in (p.id, p.cls, p.kind, p.time, p.query, p.outcome, p.actor)
        ]
        fields = [*columns, *p.members]
        parts.append(FIELDS.pack(*[NONE if f is None else len(f) for f in fields]))
        parts.extend([f for f in fields if f])
    return frame(BATCH, b"".join(parts))


def decode_batch(kind: int, payload: bytes) -> list[Prepared]:
    """The entries of a BATCH frame (ValueError for any other frame, or a torn one)."""
    if kind != BATCH:
        raise ValueError(f"not a batch frame: kind {kind}")
    entries = []
    pos, end = 0, len(payload)
    try:
        while pos < end:
            sizes = FIELDS.unpack_from(payload, pos)
            pos += FIELDS.size
            fields: list[bytes | None] = []
            for size in sizes:
                if size == NONE:
                    fields.append(None)
                else:
                    fields.append(payload[pos : pos + size])
                    pos += size
            if pos > end:
                raise ValueError("a batch frame ends inside an entry")
            id, cls, kind_, time_, query, outcome, actor = (
                None if f is None else f.decode() for f in fields[:7]
            )
            m0, m1, m2, m3, m4 = (f or b"" for f in fields[7:])
            if id is None or cls is None or kind_ is None or time_ is None:
                raise ValueError("a batch frame holds an entry without its id, class, kind or time")
            members = (m0, m1, m2, m3, m4)
            entries.append(Prepared(id, cls, kind_, time_, query, outcome, actor, members))
    except (struct.error, UnicodeDecodeError) as err:
        raise ValueError(f"a batch frame is torn: {err}") from None
    return entries


class FrameReader:
    """Cuts a byte stream into frames; a frame split across reads waits for its rest."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf
        buf += data
        frames = []
        pos = 0
        while len(buf) - pos >= HEADER.size:
            kind, size = HEADER.unpack_from(buf, pos)
            end = pos + HEADER.size + size
            if end > len(buf):
                break
            frames.append((kind, bytes(buf[pos + HEADER.size : end])))
            pos = end
        del buf[:pos]
        return frames

    def __len__(self) -> int:
        """Bytes of a frame not yet complete."""
        return len(self._buf)


# ---- the child -------------------------------------------------------------------------------


def run(url: str, in_fd: int, out_fd: int, max_batch: int = 256) -> int:
    """The child's loop: append each batch read from `in_fd`, acknowledge it on `out_fd` once
    committed, and return when `in_fd` ends (everything received is then committed)."""
    try:
        store = open_store(url, create=False)  # made by `WriterProcess.start`
        if isinstance(store, SqliteStore):
            store.checkpoint_in_background()  # commits never wait for a checkpoint's fsync
    except Exception as err:  # StoreError, or SQLite refusing its first statements
        _send(out_fd, frame(FATAL, (str(err) or type(err).__name__).encode()))
        return 1
    reader = FrameReader()
    try:
        _send(out_fd, frame(READY))
        while True:
            data = os.read(in_fd, PIPE_SIZE)
            if not data:
                return 0  # the parent closed the pipe (or died): nothing more will come
            # the batches already queued share a transaction, up to max_batch records
            for group in _groups(reader.feed(data), max_batch):
                _send(out_fd, b"".join(_append(store, group)))
    except BrokenPipeError:
        return 0  # the parent is gone; what was acknowledged or not, is committed
    finally:
        store.close()


Group = list[list[Prepared] | Exception]  # batches committed in one transaction


def _groups(frames: list[tuple[int, bytes]], max_batch: int) -> list[Group]:
    """The batches decoded (a batch that does not decode is its error), in groups of at most
    max_batch records; a larger batch is a group of its own."""
    decoded: list[list[Prepared] | Exception] = []
    for kind, payload in frames:
        try:
            decoded.append(decode_batch(kind, payload))
        except ValueError as err:
            decoded.append(err)
    return chunks(decoded, lambda b: len(b) if isinstance(b, list) else 1, max_batch)


T = TypeVar("T")


def chunks(items: Sequence[T], size: Callable[[T], int], limit: int) -> list[list[T]]:
    """Consecutive items in groups of at most `limit` (each item counting `size(item)`), none
    split: an item larger than the limit is a group of its own. How writes (a /v1/batch's
    records among them) share transactions without a write ever being cut in two."""
    groups: list[list[T]] = []
    total = 0
    for item in items:
        n = size(item)
        if not groups or total + n > limit:
            groups.append([])
            total = 0
        groups[-1].append(item)
        total += n
    return groups


def _append(store: AuditStore, group: Group) -> list[bytes]:
    """Commit a group of batches in one transaction; their acknowledgements, in order.

    A failed group is not retried batch by batch: a store can fail after its write reached
    the file (a JSONL fsync), and a retry would then record the entries twice."""
    entries = [entry for batch in group if not isinstance(batch, Exception) for entry in batch]
    failed: Exception | None = None
    if entries:
        try:
            store.append_prepared(entries)
        except Exception as err:  # the parent learns it for every batch of the group
            failed = err
    return [
        _error(batch) if isinstance(batch, Exception) else _error(failed) if failed else frame(OK)
        for batch in group
    ]


def _error(err: BaseException) -> bytes:
    text = str(err) or type(err).__name__
    return frame(ERROR, text.encode("utf-8", "replace"))


def _send(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tenet.audit.writer", description=__doc__)
    p.add_argument("url", help="the store: sqlite:///…, jsonl:///…")
    p.add_argument("--in-fd", type=int, required=True, help="the pipe batches arrive on")
    p.add_argument("--out-fd", type=int, required=True, help="the pipe acknowledgements go to")
    p.add_argument("--max-batch", type=int, default=256, help="most records per transaction")
    args = p.parse_args(argv)
    # A terminal's Ctrl-C, or a service manager's TERM sent to the whole group, must not cut
    # the child off from the parent's graceful shutdown: it stops when its input pipe ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return run(args.url, args.in_fd, args.out_fd, args.max_batch)


# ---- the parent ------------------------------------------------------------------------------


Waiter = asyncio.Future[None] | concurrent.futures.Future[None]


class _Batch:
    """A batch sent to the child and not yet acknowledged: its record count and waiters."""

    __slots__ = ("size", "waiters")

    def __init__(self, size: int, waiters: list[Waiter]) -> None:
        self.size = size
        self.waiters = waiters


class _Child:
    """One writer process and the parent's ends of its pipes."""

    def __init__(self, proc: subprocess.Popen[bytes], wfd: int, rfd: int) -> None:
        self.proc = proc
        self.wfd = wfd  # batches go out here (non-blocking)
        self.rfd = rfd  # acknowledgements come back here (non-blocking)
        self.out = bytearray()  # what the pipe did not take yet
        self.reader = FrameReader()
        self.sent: collections.deque[_Batch] = collections.deque()
        self.ready = False
        self.fatal: str | None = None
        self.dead = False
        self.loop: asyncio.AbstractEventLoop | None = None  # where its fds are watched


class WriterProcess:
    """The parent's side of the writer process, on an asyncio event loop.

    `write` (on the loop) queues entries and returns once they are committed, raising
    StoreError when they are not. The entries of every `write` of one turn of the loop go to
    the child as one batch (or several of at most `max_batch` records), written to its pipe
    without blocking; acknowledgements resolve the waiters in order. More than `max_queue`
    records queued or unacknowledged make new writes wait for room: nothing is dropped.

    When the child dies, every batch it had not acknowledged fails, and the next batch starts
    a new one, at most one start per `restart_interval` (batches in between fail). Committed
    records stay committed: the new child continues each chain from the store.

    `write_event` is for other threads (the bundle watcher): through the loop once it is
    known, so that events are ordered with decisions; before that (the server starting) by
    `direct`, the parent's own `AuditLog.write`: the stores serialise their writers (SQLite's
    `BEGIN IMMEDIATE`, an exclusive lock on a JSONL file), so chains cannot fork either way.
    """

    def __init__(
        self,
        url: str,
        max_batch: int = 256,
        max_queue: int = 10_000,
        direct: Callable[[list[Prepared]], Any] | None = None,
        restart_interval: float = 1.0,
        send_at: int = SEND_AT,
    ) -> None:
        self.url = url
        self.max_batch = max_batch
        self.send_at = min(send_at, max_batch)
        self.max_queue = max_queue
        self.direct = direct
        self.restart_interval = restart_interval
        self.counts = WriteCounts()
        self.restarts = 0
        self._child: _Child | None = None
        self._old: list[subprocess.Popen[bytes]] = []  # dead children not yet reaped
        self._next_start = 0.0  # monotonic time before which no child is started
        self._down: StoreError | None = None  # why the last child stopped
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued: list[tuple[list[Prepared], Waiter]] = []  # written this turn, not sent
        self._queued_records = 0
        self._events: collections.deque[tuple[list[Prepared], Waiter]] = collections.deque()
        self._flush_scheduled = False
        self._depth = 0  # records queued or sent and not acknowledged (room reserved)
        self._room: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        self._closed = False

    # ---- starting ------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Make the store if it does not exist, start the child and wait until it has the
        store open (raises StoreError). A child restarted later opens the store only if it
        is still there: a log removed meanwhile is an error, not a new log."""
        if self._child is not None and not self._child.dead:
            return
        open_store(self.url).close()
        child = self._spawn()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(child.rfd, selectors.EVENT_READ)
            while not child.ready:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self._died(child, "it did not start in time")
                    break
                if not self._read(child):
                    break
        if not child.ready:
            raise self._down or StoreError("the audit writer process did not start")

    def _spawn(self) -> _Child:
        self._reap()
        self._next_start = time.monotonic() + self.restart_interval
        batches_r, batches_w = os.pipe()
        acks_r, acks_w = os.pipe()
        fds = (batches_r, acks_w)
        try:
            try:
                fcntl.fcntl(batches_w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            except (AttributeError, OSError):  # not Linux, or above the system's limit
                pass
            proc = subprocess.Popen(
                [sys.executable, "-m", "tenet.audit.writer", self.url,
                 "--in-fd", str(batches_r), "--out-fd", str(acks_w),
                 "--max-batch", str(self.max_batch)],
                pass_fds=fds,
                stdin=subprocess.DEVNULL,  # stdout and stderr are the server's: `stdout:` logs
                env=_child_env(),
            )  # fmt: skip
        except OSError as err:
            for fd in (batches_w, acks_r):
                os.close(fd)
            self._down = StoreError(f"cannot start the audit writer process: {err}")
            raise self._down from err
        finally:
            for fd in fds:
                os.close(fd)
        os.set_blocking(batches_w, False)
        os.set_blocking(acks_r, False)
        child = self._child = _Child(proc, batches_w, acks_r)
        if self._loop is not None and not self._loop.is_closed():
            self._watch(child, self._loop)
        return child

    def _watch(self, child: _Child, loop: asyncio.AbstractEventLoop) -> None:
        child.loop = loop
        loop.add_reader(child.rfd, self._readable, child)
        if child.out:
            loop.add_writer(child.wfd, self._writable, child)

    def _unwatch(self, child: _Child) -> None:
        loop, child.loop = child.loop, None
        if loop is None or loop.is_closed():
            return
        loop.remove_reader(child.rfd)
        loop.remove_writer(child.wfd)

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Use this loop from now on (the first write's, found lazily: the server makes its
        loop inside uvicorn, after the log is opened)."""
        old = self._loop
        if old is not None and old.is_running():
            raise RuntimeError("the audit writer is already used by another running loop")
        self._loop = loop
        self._flush_scheduled = False  # a flush scheduled on a loop that stopped never ran
        child = self._child
        if child is not None and not child.dead:
            self._unwatch(child)
            self._watch(child, loop)
        if self._queued or self._events:
            self._schedule_flush()

    # ---- writing, on the loop ------------------------------------------------------------

    async def write(self, entries: Sequence[Entry | Prepared]) -> None:
        """Return once the entries are committed (together); raise StoreError if they are not."""
        items = prepared(entries)
        if self._closed:
            raise StoreError("the decision log is closed")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        n = len(entries)
        if self._room or (self._depth and self._depth + n > self.max_queue):
            await self._wait_for_room(loop, n)
        else:
            self._depth += n
        done: asyncio.Future[None] = loop.create_future()
        self._queued.append((items, done))
        self._queued_records += n
        if self._queued_records >= self.send_at:
            self._send_queued()  # now: the child commits while this turn goes on
        else:
            self._schedule_flush()
        await done

    async def _wait_for_room(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        room: asyncio.Future[None] = loop.create_future()
        self._room.append((n, room))
        try:
            await room  # `_make_room` reserves our room before waking us
        except asyncio.CancelledError:
            if room.done() and not room.cancelled():
                self._depth -= n  # woken, then cancelled: give the room back
                self._make_room()
            raise

    def _make_room(self) -> None:
        """Wake waiting writers, oldest first, while their records fit (one always may when
        nothing is queued, however many records it brings)."""
        while self._room:
            n, room = self._room[0]
            if room.done():  # cancelled while waiting
                self._room.popleft()
                continue
            if self._depth and self._depth + n > self.max_queue:
                return
            self._room.popleft()
            self._depth += n
            _resolve(room, None)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._send_queued()

    def _send_queued(self) -> None:
        """Send what is queued: consecutive writes share a batch up to max_batch records (a
        write is never split, so a /v1/batch commits whole)."""
        for group in chunks(self._take_queued(), _records, self.max_batch):
            self._send([e for entries, _ in group for e in entries], [w for _, w in group])

    def _take_queued(self) -> list[tuple[list[Prepared], Waiter]]:
        queued, self._queued = self._queued, []
        self._queued_records = 0
        while self._events:
            entries, waiter = self._events.popleft()
            self._depth += len(entries)  # events do not wait for room: they are few
            queued.append((entries, waiter))
        return queued

    def _send(self, entries: list[Prepared], waiters: list[Waiter]) -> None:
        sent = _Batch(len(entries), waiters)
        child = self._running_child()
        if child is None:
            self._settle(sent, self._down or StoreError("the audit writer process is down"))
            return
        child.sent.append(sent)
        data = encode_batch(entries)
        if child.out:
            child.out += data
            return
        try:
            n = os.write(child.wfd, data)
        except BlockingIOError:
            n = 0
        except OSError as err:  # EPIPE: the child is gone
            self._died(child, f"its pipe broke: {err.strerror or err}")
            return
        if n < len(data):
            child.out += memoryview(data)[n:]
            if child.loop is not None:
                child.loop.add_writer(child.wfd, self._writable, child)

    def _running_child(self) -> _Child | None:
        child = self._child
        if child is not None and not child.dead:
            return child
        if time.monotonic() < self._next_start:
            return None  # started less than restart_interval ago: do not spin
        try:
            child = self._spawn()
        except StoreError as err:
            log.error("%s", err)
            return None
        if self._down is not None:
            self.restarts += 1
            log.warning("restarted the audit writer process (pid %d)", child.proc.pid)
        return child

    def _writable(self, child: _Child) -> None:
        try:
            n = os.write(child.wfd, child.out)
        except BlockingIOError:
            return
        except OSError as err:
            self._died(child, f"its pipe broke: {err.strerror or err}")
            return
        del child.out[:n]
        if not child.out and child.loop is not None:
            child.loop.remove_writer(child.wfd)

    def _readable(self, child: _Child) -> None:
        self._read(child)

    def _read(self, child: _Child) -> bool:
        """Read what the child sent and settle the batches it answered; False once it is gone."""
        try:
            data = os.read(child.rfd, 65536)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self._died(child, child.fatal)
            return False
        for kind, payload in child.reader.feed(data):
            if kind == READY:
                child.ready = True
            elif kind == FATAL:
                child.fatal = payload.decode("utf-8", "replace")  # its end of the pipe follows
            elif kind in (OK, ERROR) and child.sent:
                error = StoreError(payload.decode("utf-8", "replace")) if kind == ERROR else None
                self._settle(child.sent.popleft(), error)
            else:
                self._died(child, f"it sent an unexpected frame (kind {kind})")
                return False
        return True

    def _settle(self, sent: _Batch, error: StoreError | None) -> None:
        if error is None:
            self.counts.committed(sent.size)
        else:
            self.counts.failed(sent.size)
        self._depth -= sent.size
        for waiter in sent.waiters:
            _resolve(waiter, error)
        self._make_room()

    def _died(self, child: _Child, why: str | None) -> None:
        """Fail every batch the child had not acknowledged; the next batch starts another."""
        if child.dead:
            return
        child.dead = True
        self._unwatch(child)
        for fd in (child.wfd, child.rfd):
            if fd >= 0:
                os.close(fd)
        child.wfd = child.rfd = -1
        status = _reap_one(child.proc)
        if status is not None and status < 0:
            what = f"was killed by signal {-status}"
        elif status is not None:
            what = f"exited with status {status}"
        else:  # alive without its pipes: of no use
            what = "stopped answering"
            child.proc.kill()
            self._old.append(child.proc)
        reason = f"the audit writer process {what}" + (f": {why}" if why else "")
        self._down = StoreError(reason)
        lost = list(child.sent)
        child.sent.clear()
        if lost or not self._closed:  # a writer that exits once closed has lost nothing
            log.error(
                "%s (%d batches, %d records, not committed)",
                reason,
                len(lost),
                sum(b.size for b in lost),
            )
        for sent in lost:
            self._settle(sent, self._down)

    def _reap(self) -> None:
        self._old = [p for p in self._old if _reap_one(p) is None]

    # ---- events, from other threads ------------------------------------------------------

    def write_event(self, entry: Entry | Prepared, timeout: float = 30.0) -> None:
        """Write one entry from a thread other than the loop's and wait for its commit
        (raises StoreError, or TimeoutError)."""
        loop = self._loop
        if loop is not None and _running_loop() is loop:
            raise RuntimeError("write_event would block its own event loop: await write()")
        if loop is None or not loop.is_running():
            if self.direct is None:
                raise StoreError("the decision log has no event loop to write from")
            try:
                self.direct(prepared([entry]))
            except Exception:
                self.counts.failed(1)
                raise
            self.counts.committed(1)
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._events.append((prepared([entry]), done))
        try:
            loop.call_soon_threadsafe(self._schedule_flush)
        except RuntimeError:
            pass  # the loop closed meanwhile: `close` writes what is still queued
        done.result(timeout)

    # ---- status and shutdown -------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The running child's process id (None when none runs)."""
        child = self._child
        return None if child is None or child.dead else child.proc.pid

    @property
    def down(self) -> str | None:
        """Why the child stopped, while none runs (it may have died idle: the next batch
        starts another); None while one runs."""
        if self._down is None or self.pid is not None:
            return None
        return str(self._down)

    def depth(self) -> int:
        """Records queued or sent to the child and not yet acknowledged."""
        return self._depth + len(self._events)

    def close(self, timeout: float = 30.0) -> None:
        """Send what is queued, wait for its acknowledgements, and stop the child: it exits
        once its input ends and its last batch is committed. Call it once the loop has
        stopped (the server's last step)."""
        if self._closed:
            return
        if self._loop is not None and self._loop.is_running():
            raise RuntimeError("close the audit writer after its event loop has stopped")
        self._closed = True
        queued = self._take_queued()
        child = self._child
        if child is not None and not child.dead:
            self._unwatch(child)
            for entries, waiter in queued:
                child.sent.append(_Batch(len(entries), [waiter]))
                child.out += encode_batch(entries)
            self._drain(child, time.monotonic() + timeout)
        elif queued:  # no child to finish the work: the parent writes it itself
            for entries, waiter in queued:
                sent = _Batch(len(entries), [waiter])
                try:
                    if self.direct is None:
                        raise self._down or StoreError("the audit writer process is down")
                    self.direct(entries)
                except Exception as err:  # counted and logged as any failure
                    log.error("could not record %d queued records: %s", len(entries), err)
                    self._settle(sent, StoreError(str(err)))
                else:
                    self._settle(sent, None)
        self._child = None
        for proc in self._old:
            _stop(proc, 1.0)
        self._old = []

    def _drain(self, child: _Child, deadline: float) -> None:
        """Write out the child's pipe, close it, and read acknowledgements until it exits."""
        with selectors.DefaultSelector() as sel:
            sel.register(child.rfd, selectors.EVENT_READ)
            writing = True
            sel.register(child.wfd, selectors.EVENT_WRITE)
            while not child.dead:
                if writing and not child.out:
                    sel.unregister(child.wfd)
                    os.close(child.wfd)  # the child commits what it has, then exits
                    child.wfd = -1
                    writing = False
                left = deadline - time.monotonic()
                if left <= 0:
                    _stop(child.proc, 0.0)
                    self._died(child, "it did not finish in time")
                    break
                for key, _ in sel.select(min(left, 1.0)):
                    if key.fd == child.rfd:
                        self._read(child)
                    elif writing:
                        self._writable(child)
        _stop(child.proc, max(deadline - time.monotonic(), 1.0))


def _records(queued: tuple[list[Prepared], Any]) -> int:
    return len(queued[0])


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _resolve(waiter: Waiter, error: StoreError | None) -> None:
    if waiter.done():  # its request was cancelled
        return
    try:
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
    except RuntimeError:  # an asyncio future of a loop closed meanwhile: nobody waits
        pass


def _reap_one(proc: subprocess.Popen[bytes]) -> int | None:
    """The exit status if the process has ended, waiting briefly: it closed its pipes as it
    exited, so its end is near."""
    try:
        return proc.wait(0.1)
    except subprocess.TimeoutExpired:
        return None


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _child_env() -> dict[str, str]:
    """The server's environment, with this copy of tenet importable by the child even when
    the server found it through its own sys.path."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{path}{os.pathsep}{root}" if path else root}


if __name__ == "__main__":
    sys.exit(main())
