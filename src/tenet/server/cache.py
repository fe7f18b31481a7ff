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

import time
from typing import Any

from tenet.bundle import Bundle
from tenet.decision import uuid7
from tenet.runtime.clock import format_rfc3339
from tenet.server.http import dumps

__all__ = ["MAX_KEY", "Cached", "DecisionCache"]

MAX_KEY = 16 * 1024  # bodies above this are not cached: keys are kept whole in memory


# the fields each answer has of its own, as JSON: their values (an id, an RFC 3339 time, an
# integer) never need escaping
_OWN = {
    "decision_id": b'"decision_id":"%s"',
    "evaluated_at": b'"evaluated_at":"%s"',
    "duration_us": b'"duration_us":%d',
}


class Cached:
    """One answer to reuse: its document and the decision log's entry for it (both copied,
    never changed), its outcome for the metrics, and its JSON as one `%`-format, so that an
    answer writes only its own fields."""

    __slots__ = ("_format", "_own", "document", "entry", "outcome", "own_clock")

    def __init__(
        self,
        outcome: str,
        document: dict[str, Any],
        own_clock: bool,
        entry: dict[str, Any] | None = None,
    ) -> None:
        self.outcome = outcome
        self.document = document
        self.own_clock = own_clock  # the request gave no `now`: each answer has its own time
        self.entry = entry
        # the document's JSON as one %-format: its own fields are the placeholders, in order
        own = {"decision_id", "duration_us", *(("evaluated_at",) if own_clock else ())}
        parts: list[bytes] = []
        names: list[str] = []
        run: dict[str, Any] = {}
        for key, value in document.items():
            if key in own:
                if run:
                    parts.append(dumps(run)[1:-1].replace(b"%", b"%%"))
                    run = {}
                parts.append(_OWN[key])
                names.append(key)
            else:
                run[key] = value
        if run:
            parts.append(dumps(run)[1:-1].replace(b"%", b"%%"))
        self._format = b"{" + b",".join(parts) + b"}"
        self._own = tuple(names)

    def reissue(
        self, actor: str, start_ns: int
    ) -> tuple[bytes, dict[str, Any], dict[str, Any] | None]:
        """This answer made anew: its own `decision_id`, `duration_us` (the time since
        `start_ns`) and, without a `now` in the request, `evaluated_at`; the document's JSON
        with them; and the log entry (`AuditLog.decision_entry`'s shape) naming that document,
        `actor` and the time."""
        fresh: dict[str, Any] = {"decision_id": uuid7()}
        wall = time.time() if self.own_clock or self.entry is not None else 0.0
        if self.own_clock and "evaluated_at" in self.document:
            fresh["evaluated_at"] = format_rfc3339(wall)
        if "duration_us" in self.document:
            fresh["duration_us"] = (time.perf_counter_ns() - start_ns) // 1000
        body = self._format % tuple(
            [v.encode() if type(v) is str else v for v in map(fresh.__getitem__, self._own)]
        )
        if self.entry is None:
            return body, fresh, None
        entry = {**self.entry, "id": fresh["decision_id"], "time": format_rfc3339(wall)}
        entry["actor"] = actor
        entry["decision"] = {**self.entry["decision"], **fresh}
        return body, fresh, entry


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
