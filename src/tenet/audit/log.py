"""The decision log: turns decisions and governance events into audit records (redacted,
classed, chained) and writes them, directly or in batches off a server's request path."""

from __future__ import annotations

import getpass
import math
import os
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from tenet.audit.linking import Prepared, prepare, record_of
from tenet.audit.records import (
    Anchor,
    ChainProblem,
    Link,
    anchor_of,
    check_anchor,
    group_by_class,
    verify_links,
)
from tenet.audit.redact import (
    KEY_ENV,
    MIN_KEY,
    KeyNotWritten,
    Redactor,
    key_id,
    load_key,
    read_key,
)
from tenet.audit.retention import EVENTS, Retention, read_retention
from tenet.audit.stores import AuditStore, StoreError, appended, open_store
from tenet.decision import input_digest, keyed_input_digest, uuid7
from tenet.runtime.clock import format_rfc3339, parse_rfc3339
from tenet.runtime.evaluate import Limits, resolve_now
from tenet.yamlutil import is_text

if TYPE_CHECKING:
    from tenet.bundle import Bundle
    from tenet.bundle.documents import Document
    from tenet.decision import Decision

__all__ = [
    "AuditLog",
    "BatchWriter",
    "Verification",
    "WriteCounts",
    "check_chains",
    "default_actor",
    "expired_behind",
    "names_someone",
    "open_log",
    "prune",
    "store_path",
    "verify",
]


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def store_path(url: str) -> Path | None:
    """The file of a `sqlite:///` or `jsonl:///` log URL (None for `stdout:`)."""
    parsed = urlparse(url)
    if parsed.scheme in ("sqlite", "jsonl"):
        return Path(unquote(parsed.netloc + parsed.path))
    return None


class AuditLog:
    """Records into one store. Safe to share between threads."""

    def __init__(self, store: AuditStore, key: bytes) -> None:
        if len(key) < MIN_KEY:
            raise StoreError(
                f"the audit key is {len(key)} bytes; personal values need one of at least {MIN_KEY}"
            )
        self.store = store
        self.key = key
        self.key_id = key_id(key)
        self._per_bundle: dict[str, tuple[Redactor, Retention]] = {}
        # the decisions `record` wrote: a record's id is its decision's, so a second record
        # of one decision would give two records one id, and `verify` names records by id
        self._recorded: set[str] = set()
        self._recording = threading.Lock()

    @classmethod
    def open(cls, url: str, key_file: str | os.PathLike[str] | None = None) -> AuditLog:
        """Open `sqlite:///…`, `jsonl:///…` or `stdout:` (raises StoreError); `key_file` is a
        path, as text or a `Path`."""
        store = open_store(url)
        path = store_path(url)
        key_path = Path(key_file) if key_file is not None else None
        try:
            known = read_key(path, key_path)
            holds, written_with = _records_key(store) if path is not None else (False, None)
            if known is None and holds:
                # its records' tokens were made with a key not at hand (TENET_AUDIT_KEY when
                # they were written): a new key would give the same people other tokens
                raise StoreError(
                    f"`{url}` holds records but no key is at hand for it: set "
                    f"`{KEY_ENV}` to the key its records were written with, or give its key "
                    "file"
                )
            key = known if known is not None else load_key(path, key_path)
            if written_with is not None and written_with != key_id(key):
                # a key file replaced, a log moved without its key: the same reason
                raise StoreError(
                    f"`{url}` holds records written with another key ({written_with}) than "
                    f"the one at hand ({key_id(key)}): the same person would get another "
                    f"token; give the key they were written with (`{KEY_ENV}` or the log's "
                    "key file), or record into a new log"
                )
        except KeyNotWritten as err:
            store.close()
            raise StoreError(str(err)) from err
        except OSError as err:
            store.close()
            raise StoreError(f"cannot read the audit key: {err}") from err
        except StoreError:
            store.close()
            raise
        return cls(store, key)

    def _config(self, bundle: Bundle) -> tuple[Redactor, Retention]:
        found = self._per_bundle.get(bundle.digest)
        if found is None:
            m = bundle.manifest
            keep = getattr(m, "audit_keep", ())
            personal = getattr(m, "audit_personal", ())
            retention, _ = read_retention(bundle.program.data)
            found = (Redactor(keep, personal, self.key), retention)
            self._per_bundle[bundle.digest] = found
        return found

    # ---- entries -----------------------------------------------------------------------

    def decision_entry(
        self,
        bundle: Bundle,
        decision: Decision,
        input: Any,
        actor: str,
        document: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The record of one decision, before it is chained. `document` is the decision's
        `to_dict()` when the caller has already built it (it is not changed)."""
        _given(bundle, decision)
        doc = decision.to_dict() if document is None else document
        return self._decision(
            bundle, input, doc, decision, decision.query, decision.input_digest, actor
        )

    def document_entry(
        self, bundle: Bundle, doc: Document, input: Any, actor: str
    ) -> dict[str, Any]:
        """The record of a data API read (`Bundle.evaluate_document`), as a decision whose
        query is the path read and whose document is the data API's answer."""
        digest = input_digest({} if input is None else input)
        # OPA's answer says nothing of the clock it was decided at, which the caller may set:
        # the record does, as a decision document does
        document = {**doc.to_dict(), "evaluated_at": format_rfc3339(doc.now)}
        return self._decision(bundle, input, document, doc, doc.path, digest, actor)

    def _decision(
        self,
        bundle: Bundle,
        input: Any,
        document: dict[str, Any],
        source: Decision | Document,
        query: str,
        digest: str,
        actor: str,
    ) -> dict[str, Any]:
        """The record of `source`, a decision or a data API read, and its `document`:
        personal values hidden, the input paths kept, classed by the bundle's retention."""
        _named(actor)
        redactor, retention = self._config(bundle)
        if redactor.personal:
            # a plain digest of an input of a few unknowns gives them away to whoever tries
            # them (each name of a staff list): keyed, it names the input to the key's holder
            digest = keyed_input_digest({} if input is None else input, self.key)
            if "input_digest" in document:
                document = {**document, "input_digest": digest}
        if any(e.get("code") == "invalid_input" for e in source.errors):
            input = _as_text(input)  # refused input may hold what no record can
        kept, document = redactor.apply(input, document)
        outcome = source.outcome
        cls = retention.for_decision(query, outcome)
        return {
            "id": source.decision_id,
            "kind": "decision",
            "class": cls.name,
            "keep_seconds": cls.keep_seconds,
            "time": format_rfc3339(time.time()),
            "actor": actor,
            "query": query,
            "outcome": outcome,
            "input_digest": digest,
            "input": kept,
            "key_id": self.key_id,  # which key made the tokens of `input` and the document
            "bundle": bundle.info.to_dict(),
            "decision": document,
        }

    def event_entry(
        self, kind: str, details: dict[str, Any], actor: str, bundle: Bundle | None = None
    ) -> dict[str, Any]:
        """A governance event: `configuration_change` (a bundle activated) or `error`
        (ValueError for another kind)."""
        if kind not in EVENTS:
            raise ValueError(
                f"`{kind}` is not an event: events are " + ", ".join(f"`{e}`" for e in EVENTS)
            )
        _named(actor)
        retention = self._config(bundle)[1] if bundle is not None else Retention()
        cls = retention.for_event(kind)
        return {
            "id": uuid7(),
            "kind": kind,
            "class": cls.name,
            "keep_seconds": cls.keep_seconds,
            "time": format_rfc3339(time.time()),
            "actor": actor,
            "event": details,
        }

    def activation_entry(self, old: Bundle | None, new: Bundle, actor: str) -> dict[str, Any]:
        details = {
            "action": "bundle activated",
            "old": old.info.to_dict() if old is not None else None,
            "new": new.info.to_dict(),
        }
        return self.event_entry("configuration_change", details, actor, new)

    # ---- writing -----------------------------------------------------------------------

    def write(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write and commit now; returns the records as chained (raises StoreError, also for
        an entry that is not JSON: nothing of the batch is then written)."""
        prepared = [encodable(entry) for entry in entries]
        links = appended(self.store, prepared)
        return [record_of(e, chained) for e, chained in zip(entries, links, strict=True)]

    def record(
        self, bundle: Bundle, decision: Decision, input: Any, actor: str | None = None
    ) -> dict[str, Any]:
        """Record one decision of `bundle` on `input` now (raises StoreError; ValueError for a
        decision made by another bundle or on another input: the record would join one
        decision to another's kept input; and for a decision this log already recorded)."""
        _given(bundle, decision)
        if decision.bundle.digest != bundle.digest:
            made, given = decision.bundle, bundle.info
            if (made.name, made.version) == (given.name, given.version):  # another build
                made_by = f"{made.name} {made.version} built as {made.digest}"
                audited = f"the build {given.digest}"
            else:
                made_by = f"{made.name} {made.version}"
                audited = f"{given.name} {given.version}"
            raise ValueError(f"the decision was made by bundle {made_by}, not {audited}")
        if not decision.made_on(input):
            raise ValueError(
                f"the decision was made on another input (digest {decision.input_digest}): "
                "record it with the input it was made on"
            )
        entry = self.decision_entry(
            bundle, decision, input, default_actor() if actor is None else actor
        )
        with self._recording:
            if decision.decision_id in self._recorded:
                raise ValueError(
                    f"decision {decision.decision_id} is already recorded in this log: a "
                    "record's id is its decision's, so each decision is recorded once"
                )
            self._recorded.add(decision.decision_id)
        try:
            return self.write([entry])[0]
        except BaseException:
            with self._recording:
                self._recorded.discard(decision.decision_id)  # not written: may be retried
            raise

    def close(self) -> None:
        self.store.close()


def _given(bundle: Bundle, decision: Decision) -> None:
    """Refuse (TypeError) what is not a loaded bundle and its decision, such as a bundle's
    path or a decision's `to_dict()`, which would fail deep inside with AttributeError."""
    from tenet.bundle import Bundle
    from tenet.decision import Decision

    if not isinstance(bundle, Bundle):
        raise TypeError(f"`bundle` must be a loaded `Bundle`, not {type(bundle).__name__}")
    if not isinstance(decision, Decision):
        raise TypeError(
            "`decision` must be the `Decision` that `decide` returned, "
            f"not {type(decision).__name__}"
        )


def _records_key(store: AuditStore, look: int = 1000) -> tuple[bool, str | None]:
    """Whether the store holds records, and the `key_id` of the first that names one (among
    the first `look`: a log starts with its activation events, then decisions)."""
    holds = False
    try:
        for n, record in enumerate(store.records()):
            holds = True
            found = record.get("key_id")
            if isinstance(found, str):
                return True, found
            if n >= look:
                break
    except StoreError:
        return False, None  # a store that cannot be read back (stdout:) keeps no key either
    return holds, None


def names_someone(actor: object) -> bool:
    """Whether an actor is a name: not empty or blank, and nothing a table or log line could
    not show (a control character, a zero-width space)."""
    return isinstance(actor, str) and bool(actor.strip()) and actor.isprintable()


def _named(actor: str) -> None:
    """Refuse an actor that names nobody (ValueError), as `--actor` does: a caller's empty
    name would otherwise become a record that blames no one, or, defaulted, whoever runs
    the process."""
    if not names_someone(actor):
        raise ValueError(f"the actor {actor!r} is not a name: give who decides, such as `ci`")


def open_log(url: str, key_file: Path | None = None) -> AuditLog:
    return AuditLog.open(url, key_file)


@dataclass(slots=True)
class WriteCounts:
    """What a writer has committed and lost, for the metrics: each batch is a transaction
    asked for, each record an entry of one."""

    batches: int = 0
    records: int = 0
    failed_batches: int = 0
    failed_records: int = 0

    def committed(self, records: int) -> None:
        self.batches += 1
        self.records += records

    def failed(self, records: int) -> None:
        self.failed_batches += 1
        self.failed_records += records


class BatchWriter:
    """Writes entries from a bounded queue in batches on a thread of its own.

    `submit` returns a future that completes once the entry's batch is committed, so that a
    caller reports a decision as logged only when it is; a full queue makes `submit` wait
    (back pressure) rather than drop. `counts` is written by the writer's thread only; read it
    for metrics.
    """

    def __init__(self, log: AuditLog, max_batch: int = 256, max_queue: int = 10_000) -> None:
        if max_batch < 1 or max_queue < 1:
            raise ValueError("a batch writer needs max_batch and max_queue of at least 1")
        self.log = log
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[dict[str, Any], Future[dict[str, Any]]] | None] = (
            queue.Queue(max_queue)
        )
        self.counts = WriteCounts()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="tenet-audit", daemon=True)
        self._thread.start()

    def submit(self, entry: dict[str, Any], timeout: float | None = None) -> Future[dict[str, Any]]:
        """Queue an entry (`AuditLog.decision_entry`, `event_entry`); the future completes
        with its record once committed, or fails with StoreError. Raises StoreError at once
        for an entry that is not JSON (it alone is refused) and once closed, and TimeoutError
        when the queue stays full for `timeout` seconds."""
        if self._closed:
            raise StoreError("the batch writer is closed")
        encodable(entry)
        future: Future[dict[str, Any]] = Future()
        try:
            self._queue.put((entry, future), timeout=timeout)
        except queue.Full:
            raise TimeoutError(
                f"the batch writer's queue stayed full for {timeout} seconds"
            ) from None
        return future

    def depth(self) -> int:
        """Entries waiting to be written (approximate)."""
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            # an entry whose caller cancelled it is not written: that caller may have answered
            # otherwise (denied, fail-closed); the rest can no longer be cancelled
            batch = [(e, f) for e, f in batch if f.set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                written = self.log.write([entry for entry, _ in batch])
            except BaseException as err:  # every waiter learns the batch failed
                self.counts.failed(len(batch))
                failure = err if isinstance(err, StoreError) else StoreError(str(err) or repr(err))
                for _, future in batch:
                    _settle(future, failure)
                if not isinstance(err, Exception):
                    raise
                continue
            self.counts.committed(len(batch))
            for (_, future), record in zip(batch, written, strict=True):
                _settle(future, record)

    def close(self) -> None:
        """Write what is queued, then stop; `submit` refuses entries from then on."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        self._thread.join()


def _settle(future: Future[dict[str, Any]], outcome: dict[str, Any] | BaseException) -> None:
    """Complete a future that was set running when its batch began."""
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _as_text(value: Any) -> Any:
    """A refused input made into what a record can hold, so that its decision can still be
    recorded, and kept paths hold what the input held: each string that is not text (a lone
    surrogate, which JSON's `\ud800` escape gives) with backslash escapes; each number JSON
    has no word for (YAML's `.nan`, `.inf`) as the word JavaScript has, not the `null` that
    encoding would make of a NaN; any other value that is no JSON (a set, bytes, a tuple, a
    key that is not a string) as its Python text. A list or object that holds itself is
    marked where it recurs, and the copy stops at the input checks' depth and number of
    values, which a refused input may be past."""
    return _Recordable().copy(value, 0)


class _Recordable:
    """One `_as_text` copy: the lists and objects open on its path, and the values left."""

    def __init__(self) -> None:
        self.open: set[int] = set()
        self.left = _LIMITS.max_input_values

    def copy(self, value: Any, depth: int) -> Any:
        self.left -= 1
        if self.left < 0:
            return f"<more than {_LIMITS.max_input_values} values>"
        if isinstance(value, str):
            if is_text(value):
                return value
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
        if value is None or isinstance(value, bool | int | float):
            return value
        if not isinstance(value, dict | list):
            return _python_text(value)
        if id(value) in self.open:
            return "<cycle>"
        if depth >= _LIMITS.max_input_depth:
            return f"<nested deeper than {_LIMITS.max_input_depth}>"
        self.open.add(id(value))
        try:
            if isinstance(value, list):
                return [self.copy(v, depth + 1) for v in value]
            return {self._key(k): self.copy(v, depth + 1) for k, v in value.items()}
        finally:
            self.open.discard(id(value))

    def _key(self, key: Any) -> str:
        text = self.copy(key, 0) if isinstance(key, str) else _python_text(key)
        return str(text)


_LIMITS = Limits()  # the input checks' bounds, which a refused input's copy keeps to


def _python_text(value: Any) -> str:
    """A value that is no JSON as Python writes it; a set's items in sorted order, so that
    its text (and a personal one's token) is the same in every process."""
    if isinstance(value, set | frozenset):
        return "{" + ", ".join(sorted(map(repr, value))) + "}"
    return repr(value)


def encodable(entry: dict[str, Any]) -> Prepared:
    """The entry prepared for a store (`linking.prepare`), or StoreError when it is not JSON
    (a set, bytes or a datetime in the input kept, say)."""
    try:
        return prepare(entry)
    except (TypeError, ValueError) as err:
        raise StoreError(f"the record cannot be written as JSON: {err}") from None


# ---- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verification:
    """What `check_chains` found: the first problem of each broken chain (or anchor not
    reached), how many records each class holds, and the last record of each."""

    problems: list[ChainProblem]
    counts: dict[str, int]
    heads: dict[str, Link] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(self.counts.values())

    def anchors(self) -> list[Anchor]:
        """Each chain's last record, to note elsewhere and give back to a later verify."""
        return [a for cls, link in self.heads.items() if (a := anchor_of(cls, link)) is not None]


def check_chains(
    store: AuditStore, anchors: Sequence[Anchor] = (), now: float | None = None
) -> Verification:
    """Walk every class's chain in one pass over the store, and check that each anchor is
    still reached; `now` (default: the clock) is when the log is verified. Each record is
    hashed as it is read and only its links are kept, so a log of millions of records fits
    in memory."""
    links: dict[str, list[Link]] = {}
    for r in store.records():
        chain = links.setdefault(str(r.get("class", "")), [])
        chain.append(Link.of(r, len(chain)))
    problems = []
    for cls, chain in sorted(links.items()):
        problem = verify_links(cls, chain, now)
        if problem is not None:
            problems.append(problem)
    for anchor in anchors:
        problem = check_anchor(anchor, links.get(anchor.retention_class, []))
        if problem is not None:
            problems.append(problem)
    ordered = sorted(links.items())
    return Verification(
        problems,
        {cls: len(chain) for cls, chain in ordered},
        {cls: chain[-1] for cls, chain in ordered},
    )


def verify(store: AuditStore, now: float | None = None) -> list[ChainProblem]:
    """The first problem of each class's chain; empty when every chain is intact."""
    return check_chains(store, now=now).problems


def prune(store: AuditStore, now: float | str | datetime, actor: str) -> dict[str, int]:
    """Remove the expired prefix of each class's chain (each record says how long it is
    kept), leaving a checkpoint with the last removed hash; returns removed counts.

    `now` takes the forms `decide` does. A log that does not verify is refused (StoreError):
    pruning it would remove an edited record with those around it, and leave a checkpoint
    that makes the chain verify again."""
    _named(actor)
    at = resolve_now(now)
    # as of the clock, as `tenet audit verify` judges; a simulated later `now` dates the
    # checkpoints it leaves later, and a later prune is judged as of it
    problems = verify(store, now=max(at, time.time()))
    if problems:
        raise StoreError(
            "the log does not verify; prune refuses to touch it: " + problems[0].describe()
        )
    removed: dict[str, int] = {}
    for cls, records in group_by_class(store.records()):
        last: dict[str, Any] | None = None
        for r in records:
            if r.get("kind") == "checkpoint" and last is None:
                last = r
                continue
            if not _expired(r, at):
                break
            last = r
        if last is None or last.get("kind") == "checkpoint":
            continue
        checkpoint = _checkpoint(cls, last, records, at, actor)
        store.prune(cls, int(last["seq"]), checkpoint)  # an earlier checkpoint goes too
        removed[cls] = int(checkpoint["event"]["removed"])
    return removed


def expired_behind(store: AuditStore, now: float) -> dict[str, int]:
    """By class, the records expired at `now` that `prune` keeps, since an older record ahead
    of them in the chain has not expired (its class was kept longer when it was written)."""
    waiting: dict[str, int] = {}
    for cls, records in group_by_class(store.records()):
        n = sum(1 for r in records if r.get("kind") != "checkpoint" and _expired(r, now))
        if n:
            waiting[cls] = n
    return waiting


def _expired(r: dict[str, Any], now: float) -> bool:
    keep = r.get("keep_seconds")
    return keep is not None and parse_rfc3339(str(r["time"])) + keep <= now


def _checkpoint(
    cls: str, last: dict[str, Any], records: list[dict[str, Any]], now: float, actor: str
) -> dict[str, Any]:
    from tenet.audit.records import record_hash

    count = sum(1 for r in records if r["seq"] <= last["seq"] and r.get("kind") != "checkpoint")
    event: dict[str, Any] = {
        "removed": count,
        "removed_until": last["time"],
        "last_removed_hash": last["hash"],
        "total_removed": count,
    }
    earlier = records[0] if records and records[0].get("kind") == "checkpoint" else None
    if earlier is not None:
        # the earlier checkpoint goes with the records it stood for: say what it said
        before = earlier.get("event") or {}
        total = before.get("total_removed", before.get("removed", 0))
        event["total_removed"] = count + (total if isinstance(total, int) else 0)
        event["earlier"] = {
            "id": earlier.get("id"),
            "time": earlier.get("time"),
            "actor": earlier.get("actor"),
            "removed": before.get("removed"),
        }
    checkpoint: dict[str, Any] = {
        "id": uuid7(),
        "kind": "checkpoint",
        "class": cls,
        "keep_seconds": None,
        "time": format_rfc3339(now),
        "actor": actor,
        "seq": last["seq"],
        "prev": last["hash"],
        "prev_id": last["id"],
        "event": event,
    }
    checkpoint["hash"] = record_hash(checkpoint)
    return checkpoint
