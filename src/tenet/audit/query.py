"""Finding records: by query, outcome, time window, violated check and kept input values."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tenet.audit.records import CLOCK_SLACK, record_time
from tenet.runtime.builtins.time import duration_seconds
from tenet.runtime.clock import format_rfc3339, parse_rfc3339
from tenet.yamlutil import is_text

__all__ = ["Filter", "parse_since", "parse_where", "parse_window", "select"]

_NOT_PASSED = ("violated", "error", "waived")


def parse_since(text: str, now: float, future: bool = False) -> float:
    """`7d`, `90d`, `12h` back from now, or an RFC 3339 time (raises ValueError), not after
    `now` unless `future`: a window that starts later holds nothing yet, and a report or
    evidence pack of it would look like one of a quiet time."""
    seconds = duration_seconds(text)
    if seconds is not None:
        if seconds > now:
            raise ValueError(
                f"`{text}` reaches back before 1970, where no record is: give a shorter "
                "window, or a time such as `1970-01-01T00:00:00Z` for every record"
            )
        return now - float(seconds)
    try:
        at = float(parse_rfc3339(text))
    except ValueError:
        raise ValueError(
            f"`{text}` is neither a window back from now such as `7d`, `12h` or `1h30m` "
            "nor an RFC 3339 time such as `2026-01-01T00:00:00Z`"
        ) from None
    if at > now + CLOCK_SLACK and not future:
        raise ValueError(
            f"`{text}` is in the future (the clock says {format_rfc3339(now)}): no decision "
            "was made after it yet; give a time before now"
        )
    return at


def parse_window(since: str | None, until: str | None, clock: float) -> tuple[float | None, float]:
    """The window of `--since` and `--until` (raises ValueError). Its end is `until`, an RFC
    3339 time or a window back from the clock, not after the clock (the clock when not
    given): a fixed end, with a fixed start, selects the same records of a log every time.
    Its start is `since`, an RFC 3339 time or a window back from the end, so `--since 90d
    --until 2026-04-01T00:00:00Z` is the 90 days before April."""
    try:
        end = clock if until is None else parse_since(until, clock)
    except ValueError as err:
        raise ValueError(f"--until {err}") from None
    if since is None:
        return None, end
    start = parse_since(since, end if duration_seconds(since) is not None else clock)
    if start > end:
        raise ValueError(
            f"the window starts at `{since}`, after it ends at `{until or format_rfc3339(end)}`: "
            "give a start before the end"
        )
    return start, end


def parse_where(text: str) -> tuple[str, Any]:
    """`input.model.model_id=churn`: a kept input path and the value it must have."""
    if not is_text(text):
        raise ValueError(f"--where {text!a} holds bytes that are not UTF-8: give the value as text")
    path, sep, raw = text.partition("=")
    if not sep or not path.startswith("input."):
        raise ValueError(f"`{text}` is not `input.path=value`")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # bare text compares as a string
    except RecursionError:
        raise ValueError(
            f"--where `{path}=…`: the value nests too deeply to read as JSON"
        ) from None
    return path, value


@dataclass
class Filter:
    query: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None
    check: str | None = None
    where: list[tuple[str, Any]] = field(default_factory=list)
    kind: str | None = "decision"
    token: Callable[[Any], str] | None = None  # a personal value's token in this log

    def matches(self, r: dict[str, Any]) -> bool:
        if self.kind is not None and r.get("kind") != self.kind:
            return False
        q = r.get("query")
        if self.query is not None and not (
            q == self.query or (isinstance(q, str) and q.startswith(self.query + "."))
        ):
            return False
        if self.outcome is not None and r.get("outcome") != self.outcome:
            return False
        if self.since is not None or self.until is not None:
            t = record_time(r)
            early = self.since is not None and t is not None and t < self.since
            late = self.until is not None and t is not None and t > self.until
            if t is None or early or late:
                return False
        if self.check is not None:
            checks = (r.get("decision") or {}).get("checks") or []
            if not any(
                c.get("id") == self.check and c.get("status") in _NOT_PASSED for c in checks
            ):
                return False
        kept = r.get("input") or {}
        return all(
            path in kept and self._holds(path, kept[path], value) for path, value in self.where
        )

    def _holds(self, path: str, kept: Any, value: Any) -> bool:
        """Whether a kept value is the one asked for: as it is, or its token when the path
        is personal (hashed with the log's key, when known), or for a `*` path, one of the
        values found, or the whole list, item by item."""
        if kept == value or (self.token is not None and kept == self.token(value)):
            return True
        if isinstance(kept, list) and isinstance(value, list) and len(kept) == len(value):
            # a `*` path's whole list, personal items hidden one by one
            if all(self._holds("", k, v) for k, v in zip(kept, value, strict=True)):
                return True
        return (
            "*" in path.split(".")
            and isinstance(kept, list)
            and any(self._holds("", item, value) for item in kept)
        )


def select(records: Iterable[dict[str, Any]], f: Filter) -> Iterator[dict[str, Any]]:
    return (r for r in records if f.matches(r))
