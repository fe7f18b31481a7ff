"""Where audit records go: SQLite (WAL, the embedded default), JSONL files, and stdout, behind
one small interface (`AuditStore`) so that a networked store can be added.

A store links each record into its retention class's chain inside the same transaction
that writes it, so that several writers never fork a chain.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlparse

from tenet.audit.linking import Chained, Prepared, Tail, link_all, prepare, record_of
from tenet.audit.records import UNREADABLE, Stored, canonical, record_hash

__all__ = [
    "UNREADABLE",
    "AuditStore",
    "JsonlStore",
    "SqliteStore",
    "StdoutStore",
    "StoreError",
    "appended",
    "names_stdout",
    "open_store",
]


class StoreError(Exception):
    """The audit store cannot be opened, read or written."""


# The SQLite store's table: a record's body, its place, and columns that copy fields of the
# body, for lookups (a chain's last record, by class and seq) and for readers using SQL.
INDEXED = ("id", "class", "seq", "kind", "time", "query", "outcome", "actor", "hash")
COLUMNS = frozenset(("position", *INDEXED, "body"))


class AuditStore:
    """The interface every store implements."""

    url: str

    def append(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Link and write entries in one transaction; returns the records as written."""
        links = appended(self, [prepare(entry) for entry in entries])
        return [record_of(e, chained) for e, chained in zip(entries, links, strict=True)]

    def append_prepared(self, entries: list[Prepared]) -> list[Chained]:
        """`append` for entries already encoded (`linking.prepare`): link and write them in
        one transaction; returns each one's links. A store links an entry to its class's
        last record inside the transaction that writes it (`linking.link_prepared`)."""
        raise NotImplementedError

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, in the order stored."""
        raise StoreError(f"`{self.url}` cannot be read back")

    def prune(self, retention_class: str, upto_seq: int, checkpoint: dict[str, Any]) -> int:
        """Remove a class's records up to `upto_seq` and store `checkpoint` (already linked
        from the last removed record) in their place; returns how many were removed."""
        raise StoreError(f"`{self.url}` cannot be pruned")

    def close(self) -> None:
        return None


def appended(store: AuditStore, entries: list[Prepared]) -> list[Chained]:
    """`store.append_prepared(entries)`, held to its interface: a store written for it (a
    networked sink) that returns other than one link per entry is a StoreError, not records
    paired with the wrong links."""
    links = store.append_prepared(entries)
    if not isinstance(links, list) or len(links) != len(entries):
        answer = f"{len(links)}" if isinstance(links, list) else f"a {type(links).__name__}"
        name = getattr(store, "url", type(store).__name__)
        raise StoreError(
            f"the store `{name}` answered {answer} for the {len(entries)} entries written: "
            "`append_prepared` must return a list of one link per entry, in order"
        )
    return links


class SqliteStore(AuditStore):
    def __init__(self, path: Path, url: str, create: bool = True) -> None:
        self.url = url
        self.path = path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []  # every thread's, for `close`
        self._opened_lock = threading.Lock()
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = None
        self._create = create  # only while opening: a file missing later was removed
        try:
            self._open(create)
            self._create = False
        except sqlite3.Error as err:  # a file that is not a database, a locked one
            self.close()
            raise StoreError(f"cannot open `{url}`: {err}") from err
        except StoreError:
            self.close()
            raise

    def _open(self, create: bool) -> None:
        """Check that the database is a decision log, or make it one when it holds nothing
        else: pointed at another program's database by mistake, a store must neither pass an
        audit as an empty log nor add its table there."""
        if not create and self.path.stat().st_size == 0:
            # SQLite's empty database, as `touch` makes it, which a write would adopt: read
            # as a log with no records yet, as an empty JSONL file is, and left untouched
            # (a connection of the store's own would make it a WAL database)
            self._identity = _identity(self.path)
            return
        conn = self._conn()
        tables = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
        ]
        if "records" in tables:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
            if not COLUMNS <= columns:
                raise StoreError(
                    f"`{self.url}` is not a decision log: its `records` table is another "
                    "program's (it lacks "
                    + ", ".join(f"`{c}`" for c in sorted(COLUMNS - columns))
                    + ")"
                )
        elif tables:
            raise StoreError(
                f"`{self.url}` is not a decision log: it is a database of other tables ("
                + ", ".join(f"`{t}`" for t in sorted(tables)[:5])
                + "); give the decision log a file of its own"
            )
        elif not create:
            raise StoreError(
                f"`{self.url}` is not a decision log: the database holds no records table"
            )
        conn.execute(
            """CREATE TABLE IF NOT EXISTS records (
                   position INTEGER PRIMARY KEY AUTOINCREMENT,
                   id TEXT NOT NULL,
                   class TEXT NOT NULL,
                   seq INTEGER NOT NULL,
                   kind TEXT NOT NULL,
                   time TEXT NOT NULL,
                   query TEXT,
                   outcome TEXT,
                   actor TEXT,
                   hash TEXT NOT NULL,
                   body TEXT NOT NULL)"""
        )
        conn.execute("CREATE INDEX IF NOT EXISTS by_class ON records(class, seq)")
        conn.execute("CREATE INDEX IF NOT EXISTS by_time ON records(time)")
        self._identity = _identity(self.path)

    def _still_there(self) -> None:
        """Raise StoreError when the file is no longer the one opened: an open connection
        would go on writing into a removed file, and every record would be lost while
        reported committed."""
        if _identity(self.path) != self._identity:
            raise StoreError(
                f"cannot write to `{self.url}`: the file was removed or replaced since it was "
                "opened; restart with the log in place (or a new log) to go on recording"
            )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = _connect(self.path, create=self._create)
                _when_unlocked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
                # a killed process loses nothing committed; only a power cut could
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as err:
                raise StoreError(f"cannot open `{self.url}`: {err}") from err
            self._local.conn = conn
            with self._opened_lock:
                self._opened.append(conn)
        return conn

    def append_prepared(self, entries: list[Prepared]) -> list[Chained]:
        conn = self._conn()

        def find(cls: str) -> Tail | None:
            # the class's last record has its highest seq (a checkpoint keeps the seq of the
            # last record it replaced): found through the by_class index
            # read as bytes: a cell edited into bytes that are not UTF-8 would otherwise
            # fail the write with sqlite3's words, which quote the bytes
            row = conn.execute(
                "SELECT seq, CAST(hash AS BLOB), CAST(id AS BLOB) FROM records "
                "WHERE class = ? ORDER BY seq DESC, position DESC LIMIT 1",
                (cls,),
            ).fetchone()
            if row is None:
                return None
            try:
                return (row[0], row[1].decode(), row[2].decode())
            except (UnicodeDecodeError, AttributeError) as err:  # AttributeError: NULL
                raise StoreError(
                    f"`{self.url}` is damaged: the last record of class `{cls}` does not "
                    "read as one; nothing is appended to a log that does not read as one: run "
                    "`tenet audit verify` on it, keep it as evidence, and record into a new log"
                ) from err

        self._still_there()
        try:
            conn.execute("BEGIN IMMEDIATE")
            linked = link_all(entries, {}, find)
            conn.executemany(
                "INSERT INTO records (id, class, seq, kind, time, query, outcome, actor, "
                "hash, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (p.id, p.cls, seq, p.kind, p.time, p.query, p.outcome, p.actor, digest,
                     text.decode())
                    for p, ((seq, _, _, digest), text) in zip(entries, linked, strict=True)
                ],
            )  # fmt: skip
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            self._drop(conn)  # the next write opens it again: the cause may be gone by then
            raise StoreError(f"cannot write to `{self.url}`: {err}") from err
        except StoreError:
            self._drop(conn)  # not left holding the write lock
            raise
        return [chained for chained, _ in linked]

    def _drop(self, conn: sqlite3.Connection) -> None:
        """Forget a connection a write failed on. SQLite opens a file it may not write (its
        folder made read-only, say) read-only, and stays so: reopened, it can write again
        once the cause is mended."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
        except sqlite3.Error:
            pass
        self._local.conn = None
        with self._opened_lock:
            self._opened = [c for c in self._opened if c is not conn]

    def checkpoint_in_background(self, every: float = 0.2, backstop: int = 16_000) -> None:
        """Leave WAL checkpoints to a thread of their own, for a process that does nothing but
        write (the sidecar's writer process).

        SQLite checkpoints inside the commit that takes the WAL past 1000 pages, and waits for
        `fsync` there: commits of 5 ms and more, and stalls of over a second on a slow disk,
        each one a wait for every response whose record is in the batch. A thread now copies
        the WAL back every `every` seconds without blocking the writer (`PASSIVE`); a commit
        checkpoints only if the WAL reaches `backstop` pages (64 MB), should the thread fall
        behind."""
        if self._checkpointer is not None:
            return
        self._conn().execute(f"PRAGMA wal_autocheckpoint={int(backstop)}")
        stop = threading.Event()

        def checkpoint() -> None:
            # a connection of its own each round, closed at once: SQLite shares a database's
            # WAL index between the connections of a process, and one held open here would
            # keep it as it was opened (read-only, when the file could not be written then),
            # so the writer could not recover by reopening its own
            try:
                conn = _connect(self.path, create=False)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    conn.close()
            except sqlite3.Error:
                pass  # busy or failing now; the next round or the backstop will do

        def run() -> None:
            while not stop.wait(every):
                checkpoint()
            checkpoint()

        thread = threading.Thread(target=run, name="tenet-audit-checkpoint", daemon=True)
        thread.start()
        self._checkpointer = (thread, stop)

    def records(self) -> Iterator[dict[str, Any]]:
        # row by row from a cursor of its own: a large log is never in memory at once, and
        # the read sees one snapshot of the WAL however long it takes
        try:
            conn = _connect(self.path, create=False)
        except sqlite3.Error as err:
            raise StoreError(f"cannot read `{self.url}`: {err}") from err
        conn.text_factory = _cell_text
        try:
            if not conn.execute(_HAS_RECORDS).fetchone():
                return  # an empty file, opened to read (`_open`)
            rows = conn.execute(
                f"SELECT {', '.join(INDEXED)}, body, position FROM records ORDER BY position"
            )
            for row in rows:
                text = row[len(INDEXED)]
                try:
                    body = json.loads(text) if text is not NOT_UTF8 else None
                except (ValueError, RecursionError, TypeError):
                    body = None
                if not isinstance(body, dict):  # a body edited into no record at all
                    yield _unreadable_row(row, {})
                    continue
                bad = [name for name, cell in zip(INDEXED, row, strict=False) if cell is NOT_UTF8]
                if bad:
                    # no record holds such a column: named by what the row still shows, and
                    # passed by as a body that is no record is, not shown with its marker
                    yield _unreadable_row(row, body, bad)
                    continue
                yield _as_indexed(Stored(body, text), row)
        except sqlite3.Error as err:
            raise StoreError(f"cannot read `{self.url}`: {err}") from err
        finally:
            conn.close()

    def prune(self, retention_class: str, upto_seq: int, checkpoint: dict[str, Any]) -> int:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            # the checkpoint takes the place of the last removed record: a free position
            # that sorts before everything that remains of the class
            position = conn.execute(
                "SELECT MAX(position) FROM records WHERE class = ? AND seq <= ?",
                (retention_class, upto_seq),
            ).fetchone()[0]
            removed = conn.execute(
                "DELETE FROM records WHERE class = ? AND seq <= ?", (retention_class, upto_seq)
            ).rowcount
            conn.execute(
                "INSERT INTO records (position, id, class, seq, kind, time, query, outcome, "
                "actor, hash, body) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
                (
                    position,
                    checkpoint["id"],
                    retention_class,
                    checkpoint["seq"],
                    "checkpoint",
                    checkpoint["time"],
                    checkpoint.get("actor"),
                    checkpoint["hash"],
                    canonical(checkpoint).decode(),
                ),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot prune `{self.url}`: {err}") from err
        return int(removed)

    def close(self) -> None:
        if self._checkpointer is not None:
            thread, stop = self._checkpointer
            stop.set()
            thread.join()
            self._checkpointer = None
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:  # every thread's: a closed store holds no file open
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()


class JsonlStore(AuditStore):
    """One record per line; writers take an exclusive lock on the file while appending."""

    def __init__(self, path: Path, url: str) -> None:
        self.url = url
        self.path = path
        self._lock = threading.Lock()
        self._reached: dict[str, int] = {}  # class -> the last record number written or seen
        try:
            with path.open("a+b") as f:
                f.seek(0)
                first = f.readline(1 << 20)
        except OSError as err:
            raise StoreError(f"cannot open `{url}`: {err.strerror}") from err
        # pointed at another file by mistake, a store must not append to it, let alone cut
        # what it takes for a torn record: the first line must be a record, or its start
        if first and not (
            _record_line(first) if first.endswith(b"\n") else first.startswith(b'{"')
        ):
            raise self._not_a_log(1)

    def _not_a_log(self, line: int) -> StoreError:
        if line > 1:  # records before it: a log damaged or edited, not another program's file
            return StoreError(
                f"`{self.url}` is damaged: line {line} is not an audit record; nothing is "
                "appended to a log that does not read as one: run `tenet audit verify` on it, "
                "keep it as evidence, and record into a new log"
            )
        return StoreError(
            f"`{self.url}` is not a decision log: line {line} is not an audit record; "
            "give the decision log a file of its own"
        )

    def _tails(self, f: TextIO) -> dict[str, Tail]:
        tails: dict[str, Tail] = {}
        f.seek(0)
        text = f.read()
        complete = text[: text.rfind("\n") + 1]
        # a blank line is no record either: records are written one a line, with nothing
        # between them, and a log laid out otherwise has been edited
        for n, line in enumerate(complete.split("\n")[:-1], 1):
            r = _record(line)
            if r is None:
                raise self._not_a_log(n)
            tails[r["class"]] = (r["seq"], r["hash"], r["id"])
        if len(complete) < len(text):
            torn = text[len(complete) :]
            if not torn.startswith('{"'):
                raise self._not_a_log(complete.count("\n") + 1)
            # a writer killed mid-line left a torn, never-committed record: drop it
            f.seek(0)
            f.truncate(len(complete.encode()))
        return tails

    @contextlib.contextmanager
    def _locked(self) -> Iterator[TextIO]:
        """The log file, opened without being made (a log removed while open is an error,
        not a new, empty log) and locked. Pruning replaces the file: a writer that waited for
        the lock on the old one opens the new one, or its records would go to a removed
        file."""
        for _ in range(1000):
            # a byte that is not UTF-8 reads as an escape, and its line as no record
            # `\n` alone ends a line, and nothing is translated: a `\r` before it is the
            # file's text, which the record's hash was not taken over
            with self.path.open(
                "r+", encoding="utf-8", errors="surrogateescape", newline="\n"
            ) as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                st = os.fstat(f.fileno())
                if (st.st_dev, st.st_ino) == _identity(self.path):
                    yield f
                    return
        raise StoreError(f"cannot lock `{self.url}`: the file keeps being replaced")

    def append_prepared(self, entries: list[Prepared]) -> list[Chained]:
        with self._lock:
            try:
                with self._locked() as f:
                    tails = self._tails(f)
                    self._still_whole(tails)
                    linked = link_all(entries, tails)
                    f.seek(0, os.SEEK_END)
                    f.write(_lines(linked))
                    f.flush()
                    os.fsync(f.fileno())
                    self._reached.update({cls: tail[0] for cls, tail in tails.items()})
                    return [chained for chained, _ in linked]
            except FileNotFoundError:
                raise StoreError(
                    f"cannot write to `{self.url}`: the file was removed since it was opened; "
                    "restart with the log in place (or a new log) to go on recording"
                ) from None
            except (OSError, ValueError) as err:
                raise StoreError(f"cannot write to `{self.url}`: {err}") from err

    def _still_whole(self, tails: dict[str, Tail]) -> None:
        """Raise StoreError when a chain this store wrote ends earlier than it left it: the
        file was replaced or cut since, and appending would start a chain anew. (Pruning
        keeps each chain's place: its checkpoint keeps the last removed record's number.)"""
        for cls, seq in self._reached.items():
            now = tails[cls][0] if cls in tails else 0
            if now < seq:
                raise StoreError(
                    f"cannot write to `{self.url}`: the chain `{cls}` ends at record {now}, "
                    f"and this process had written up to record {seq}: the file was replaced "
                    "or cut since it was opened"
                )

    def records(self) -> Iterator[dict[str, Any]]:
        try:
            f = self.path.open(encoding="utf-8", errors="surrogateescape", newline="\n")
        except OSError as err:
            raise StoreError(f"cannot read `{self.url}`: {err.strerror}") from err
        with f:  # line by line: a large log is never in memory at once
            try:
                for n, line in enumerate(f, 1):
                    if not line.endswith("\n"):
                        return  # the last line, torn by a killed writer: never committed
                    # JSON that is no record (`{"x":1}`) is unreadable too, and so is a blank
                    # line: the writer puts nothing between records, so it was added since
                    r = _record(line) if line.strip() else None
                    yield _unreadable(n, line) if r is None else Stored(r, line[:-1])
            except OSError as err:
                raise StoreError(f"cannot read `{self.url}`: {err.strerror}") from err

    def prune(self, retention_class: str, upto_seq: int, checkpoint: dict[str, Any]) -> int:
        try:
            return self._prune(retention_class, upto_seq, checkpoint)
        except (OSError, ValueError) as err:
            raise StoreError(f"cannot prune `{self.url}`: {err}") from err

    def _prune(self, retention_class: str, upto_seq: int, checkpoint: dict[str, Any]) -> int:
        with self._lock, self._locked() as f:
            kept: list[str] = []
            removed = 0
            placed = False
            text = f.read()
            # a line torn by a killed writer was never committed: the rewrite leaves it out
            for line in text[: text.rfind("\n") + 1].splitlines():
                if not line.strip():
                    continue
                r = json.loads(line)
                if r["class"] == retention_class and r["seq"] <= upto_seq:
                    removed += 1
                    continue
                if r["class"] == retention_class and not placed:
                    kept.append(canonical(checkpoint).decode())
                    placed = True
                kept.append(line)
            if not placed:
                kept.append(canonical(checkpoint).decode())
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            with tmp.open("w", encoding="utf-8", errors="surrogateescape") as out:
                out.write("".join(x + "\n" for x in kept))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)  # still holding the lock on the file it replaces
            return removed


class StdoutStore(AuditStore):
    """Records as JSON lines on standard output, for a log shipper to collect."""

    def __init__(self, url: str, stream: TextIO | None = None) -> None:
        self.url = url
        self.stream = stream
        self._tails: dict[str, Tail] = {}
        self._lock = threading.Lock()

    def append_prepared(self, entries: list[Prepared]) -> list[Chained]:
        out = self.stream or sys.stdout
        with self._lock:
            tails = dict(self._tails)  # kept only once the lines are written
            linked = link_all(entries, tails)
            out.write(_lines(linked))
            out.flush()
            self._tails = tails
            return [chained for chained, _ in linked]


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    """A connection to the database at `path`; one that does not exist is made only with
    `create` (`sqlite3.connect` alone would make an empty one in place of a removed log).
    Usable from any thread (the store keeps one per thread, and closes them all)."""
    uri = path.absolute().as_uri() + ("?mode=rwc" if create else "?mode=rw")
    return sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)


def _when_unlocked(run: Callable[[], object], timeout: float = 30.0) -> None:
    """Run a statement SQLite refuses at once while another connection holds the lock
    (switching a new database to WAL, which the busy timeout does not cover), until it
    passes or `timeout` seconds have gone by."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            run()
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


class _NotText(str):
    __slots__ = ()


# A TEXT cell whose bytes are not UTF-8 (a row edited with raw bytes), read as this instead of
# an error that would stop every reader of the log: equal to no value a record holds, so the
# row is named as modified
NOT_UTF8 = _NotText("\x00not UTF-8")


def _cell_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8


def _unreadable_row(
    row: tuple[Any, ...], body: dict[str, Any], bad: list[str] | None = None
) -> dict[str, Any]:
    """What verification sees of a row that is no record (`row` ends with its position):
    named by its id, or by its position where the id is not UTF-8, in the class its column
    (else its body) names."""
    cls = row[1] if row[1] is not NOT_UTF8 else body.get("class")
    unread = {
        "id": str(row[0]) if row[0] is not NOT_UTF8 else f"at position {row[-1]}",
        "class": cls if isinstance(cls, str) else "?",
        "hash": UNREADABLE,
    }
    if bad:
        columns = ", ".join(f"`{name}`" for name in bad)
        held = "column holds" if len(bad) == 1 else "columns hold"
        unread["flaw"] = f"its {columns} {held} bytes that are not UTF-8"
    return unread


def _as_indexed(record: dict[str, Any], row: tuple[Any, ...]) -> dict[str, Any]:
    """The record as its row holds it. Where a column no longer agrees with an intact body
    (the column edited in place), the column's value, so that the record's hash no longer
    matches and verification names this row: unseen, the edit would make the next record
    written, linked by those columns, look like the broken one. A body that is not intact
    stays as it is, its hash already wrong."""
    columns = zip(INDEXED, row[: len(INDEXED)], strict=True)
    changed = {name: value for name, value in columns if record.get(name) != value}
    if changed and record_hash(record) == record.get("hash"):
        record.update(changed)
    return record


_HAS_RECORDS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'"


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _record(line: str | bytes) -> dict[str, Any] | None:
    """A JSONL line as a record, or None if it is not one (not JSON, not UTF-8, or nested
    beyond what a parser can follow: damage, not a traceback)."""
    try:
        if isinstance(line, str):
            line.encode("utf-8")  # a byte that was not UTF-8 reads as a lone surrogate
        r = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if isinstance(r, dict) and all(k in r for k in ("id", "class", "seq", "hash")):
        return r
    return None


def _record_line(line: bytes) -> bool:
    return _record(line) is not None


_CLASS = re.compile(r'"class":"([^"\\]*)"')  # as records are written: compact, sorted keys


def _unreadable(n: int, line: str = "") -> dict[str, Any]:
    """What verification sees of a line that is not a record: a record whose hash is wrong,
    in the class its text still names (a record cut short keeps its early keys), else `?`."""
    found = _CLASS.search(line)
    unread = {"id": f"line {n}", "class": found.group(1) if found else "?", "hash": UNREADABLE}
    if not line.strip():
        unread["flaw"] = "it is a blank line: a log holds one record a line, nothing between"
    return unread


def _lines(linked: list[tuple[Chained, bytes]]) -> str:
    return "".join([text.decode() + "\n" for _, text in linked])


def names_stdout(url: str) -> bool:
    """Whether a log URL means standard output: `stdout:` in any case and with whatever
    follows it, or `stdout` with its colon left out."""
    text = url.strip().lower()
    return text.startswith("stdout:") or text in ("stdout", "stdout/")


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def open_store(url: str, create: bool = True) -> AuditStore:
    """`sqlite:///path/audit.db`, `jsonl:///path/audit.jsonl` or `stdout:`. With `create`
    false, a file that does not exist is an error rather than a new, empty log: reading a
    mistyped path must not look like reading a log with nothing in it."""
    if not isinstance(url, str):
        # a path does not say which kind of log the file is, so it is not guessed
        raise StoreError(
            f"a log URL is text such as `sqlite:///path/audit.db`, not {type(url).__name__}"
            + (
                f": write `sqlite://{Path(url).absolute()}` or `jsonl://{Path(url).absolute()}`"
                if isinstance(url, os.PathLike)
                else ""
            )
        )
    parsed = urlparse(url)
    if parsed.scheme == "stdout":
        if url.lower() != "stdout:":  # `STDOUT:` too: `SQLITE:///x` is SQLite as well
            raise StoreError(f"`{url}`: `stdout:` takes no path; write just `stdout:`")
        return StdoutStore(url)
    if parsed.scheme in ("sqlite", "jsonl"):
        extra = "".join(
            f"{mark}{part}"
            for mark, part in ((";", parsed.params), ("?", parsed.query), ("#", parsed.fragment))
            if part
        )
        if extra or url.endswith(("?", "#")):
            raise StoreError(
                f"`{url}`: a log URL names a file and takes no options (`{extra or url[-1]}`): "
                f"write `{parsed.scheme}:///path/to/file`, and quote a `?` or `#` in the name "
                "as `%3F` or `%23`"
            )
        if parsed.netloc:
            # `sqlite://audit.db` meant a path relative to here; `sqlite://tmp/x.db` most
            # often `/tmp/x.db` with a slash left out (or `tmp/x.db` relative to here), and
            # `sqlite://localhost/x.db` `/x.db`, as a `file:` URL reads it
            here = Path(unquote(parsed.netloc + parsed.path)).absolute()
            write = f"`{parsed.scheme}://{here}`"
            if parsed.path:
                local = parsed.netloc.lower() == "localhost"
                meant = unquote(parsed.path if local else f"/{parsed.netloc}{parsed.path}")
                write = f"`{parsed.scheme}://{meant}`, or {write} for a path relative to here"
            raise StoreError(
                f"`{url}` names a host (`{parsed.netloc}`); a log URL names a file on this "
                f"machine, with three slashes: write {write}"
            )
        if _BAD_ESCAPE.search(parsed.path):
            raise StoreError(
                f"`{url}` holds a `%` that is no escape: write a `%` in a file's name as `%25`"
            )
        raw = unquote(parsed.path)
        if "\x00" in raw:
            raise StoreError(
                f"`{url}` names a file with a NUL character (`%00`), which no file has"
            )
        if not raw:
            raise StoreError(f"`{url}` names no file: write `{parsed.scheme}:///path/to/file`")
        if raw.endswith("/"):  # `Path` would drop the slash and name a file `dir`
            raise StoreError(
                f"`{url}` names a folder (its path ends in `/`): name the log's file, as in "
                f"`{parsed.scheme}://{raw}audit.{'db' if parsed.scheme == 'sqlite' else 'jsonl'}`"
            )
        path = Path(raw)
        try:
            if path.is_dir():
                raise StoreError(f"cannot open `{url}`: `{path}` is a folder, not a file")
            if not path.parent.is_dir():
                raise StoreError(f"cannot open `{url}`: the folder `{path.parent}` does not exist")
            if not create and path.exists() and not path.is_file():  # a FIFO, a device
                raise StoreError(f"cannot open `{url}`: `{path}` is not a regular file")
            if not create and not path.is_file():
                raise StoreError(f"no decision log at `{url}`: the file `{path}` does not exist")
            if parsed.scheme == "sqlite":
                return SqliteStore(path, url, create)
            return JsonlStore(path, url)
        except OSError as err:  # a name too long, a folder that may not be read
            raise StoreError(f"cannot open `{url}`: {err.strerror or err}") from None
    if names_stdout(url):  # the store, with its colon left out
        raise StoreError(
            f"`{url}` is not a log URL: write `stdout:` for standard output, or "
            f"`sqlite://{Path(url.strip()).absolute()}` for a file of that name"
        )
    if not parsed.scheme and url.strip():  # a bare path: say which URL it would be
        scheme = "jsonl" if url.endswith((".jsonl", ".json", ".log")) else "sqlite"
        absolute = Path(url).absolute()
        raise StoreError(f"`{url}` is a path, not a log URL: write `{scheme}://{absolute}`")
    raise StoreError(
        f"unknown audit store `{url}`: use `sqlite:///path/audit.db`, "
        "`jsonl:///path/audit.jsonl` or `stdout:`"
    )
