"""The sidecar's decision cache: a request the sidecar has answered before, byte for byte, on
the same bundle, is answered from the document built then, with a fresh id, time and duration.

A decision is a function of the bundle, the query, the input, `now` and the explanation
asked for (`spec/decision.md`), apart from `decision_id`, `evaluated_at` and `duration_us`.
The request body holds all of them but the bundle and `now`: the cache lives with one bundle
(a reload empties it), and a body that leaves `now` to the server's clock is cached only when
the policy never reads the clock (`Program.reads_clock`). Decisions with errors are never
cached, so a failure is always evaluated again.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from tenet.audit.linking import EntryTemplate, Prepared, entry_of
from tenet.bundle import Bundle
from tenet.decision import uuid7
from tenet.holes import Holes, json_scalar, with_holes
from tenet.runtime.clock import format_rfc3339
from tenet.server.http import dumps

__all__ = ["MAX_KEY", "Cached", "DecisionCache"]

MAX_KEY = 16 * 1024  # bodies above this are not cached: keys are kept whole in memory


_OWN = ("decision_id", "duration_us", "evaluated_at")  # in the order `reissue` fills them


class Cached:
    """One answer to reuse: its outcome for the metrics, its JSON as sent, and the decision
    log's entry for it, prepared. With holes for the fields each answer has of its own, the
    JSON (`Holes`) and the entry (`EntryTemplate`) are templates, so that an answer encodes
    only those fields.

    Only bytes are kept until the answer is asked for again: a cache of a few thousand
    documents as dicts is a few hundred thousand objects for the garbage collector to walk
    over and over, which slowed every request by a fifth when inputs never repeat. The
    templates are made from those bytes on the first reuse."""

    __slots__ = (
        "_body",
        "_entry",
        "_entry_own",
        "_json",
        "_log_entry",
        "_own",
        "outcome",
        "own_clock",
    )

    def __init__(
        self,
        outcome: str,
        body: bytes,
        own_clock: bool,
        entry: Prepared | None = None,
    ) -> None:
        self.outcome = outcome
        self.own_clock = own_clock  # the request gave no `now`: each answer has its own time
        self._json = body  # the document as sent (`http.dumps`)
        self._log_entry = entry
        self._body: Holes | None = None
        self._entry: EntryTemplate | None = None
        self._own: tuple[str, ...] = ()
        self._entry_own: tuple[str, ...] = ()

    @property
    def document(self) -> dict[str, Any]:
        """The document (a new copy each time)."""
        doc: dict[str, Any] = json.loads(self._json)  # `json`: integers beyond 64 bits exact
        return doc

    def _templates(self) -> Holes:
        document = self.document
        own = tuple(k for k in _OWN if k in document and (k != "evaluated_at" or self.own_clock))
        self._own = own
        if self._log_entry is not None:
            entry = entry_of(self._log_entry)
            # a data API answer says nothing of its clock, but its record does
            self._entry_own = tuple(
                k
                for k in _OWN
                if k in entry["decision"] and (k in own or (k == "evaluated_at" and self.own_clock))
            )
            paths = [("id",), ("time",), ("actor",), *(("decision", k) for k in self._entry_own)]
            self._entry = EntryTemplate(entry, paths)
        self._body = body = with_holes(document, [(k,) for k in own], dumps)
        return body

    def reissue(self, actor: str, start_ns: int) -> tuple[bytes, dict[str, Any], Prepared | None]:
        """This answer made anew: its own `decision_id`, `duration_us` (the time since
        `start_ns`) and, without a `now` in the request, `evaluated_at`; the document's JSON
        with them; and the log entry for it (`AuditLog.decision_entry`'s, prepared), naming
        that document, `actor` and the time."""
        template = self._body or self._templates()
        # an id, an RFC 3339 time and an integer are JSON as they are, without escaping
        decision_id = uuid7()
        fresh: dict[str, Any] = {"decision_id": decision_id}
        texts = {"decision_id": b'"%s"' % decision_id.encode()}
        wall = time.time() if self.own_clock or self._entry is not None else 0.0
        if "evaluated_at" in self._own:
            fresh["evaluated_at"] = at = format_rfc3339(wall)
            texts["evaluated_at"] = b'"%s"' % at.encode()
        if "duration_us" in self._own:
            fresh["duration_us"] = duration = (time.perf_counter_ns() - start_ns) // 1000
            texts["duration_us"] = b"%d" % duration
        body = template.fill([texts[k] for k in self._own])
        if self._entry is None:
            return body, fresh, None
        at = fresh.get("evaluated_at") or format_rfc3339(wall)
        texts.setdefault("evaluated_at", b'"%s"' % at.encode())  # the record's, if not the answer's
        own = self._entry_own
        entry = self._entry.fill(
            [decision_id, at, actor, *[fresh.get(k, at) for k in own]],
            [
                texts["decision_id"],
                b'"%s"' % at.encode(),
                _actor_text(actor),
                *[texts[k] for k in own],
            ],
        )
        return body, fresh, entry


@functools.lru_cache(maxsize=256)
def _actor_text(actor: str) -> bytes:
    return json_scalar(actor)  # a server's callers are its few token names


class DecisionCache:
    """At most `size` answers, the least recently used dropped first. Used from the event
    loop only: no locking."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a decision cache holds at least one answer")
        self.size = size
        self.hits = 0
        self.misses = 0
        self._bundle: Bundle | None = None
        self._answers: dict[tuple[str, bytes], Cached] = {}

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, bundle: Bundle, path: str, body: bytes) -> Cached | None:
        if bundle is not self._bundle:
            self._bundle = bundle
            self._answers.clear()
        if len(body) > MAX_KEY:  # never cached: not worth hashing
            self.misses += 1
            return None
        key = (path, body)
        found = self._answers.pop(key, None)
        if found is None:
            self.misses += 1
            return None
        self._answers[key] = found  # now the most recently used
        self.hits += 1
        return found

    @staticmethod
    def cacheable(bundle: Bundle, body: bytes, now: Any, errors: list[Any]) -> bool:
        """Whether an answer may be reused for the same body."""
        if errors or len(body) > MAX_KEY:
            return False
        return now is not None or not bundle.program.reads_clock

    def put(self, bundle: Bundle, path: str, body: bytes, answer: Cached) -> None:
        if bundle is not self._bundle:
            return  # a reload happened while this request was decided
        answers = self._answers
        if len(answers) >= self.size:
            del answers[next(iter(answers))]
        answers[(path, body)] = answer
