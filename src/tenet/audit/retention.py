"""Retention classes, read from a bundle's `data.retention`: how long each class of record is
kept, and which queries, outcomes and events record into it.

    retention:
      default_class: training_deployment       # the class of a record no class claims
      classes:
        training_deployment: {keep_for: 2557d, query_prefixes: [registration, deploy]}
        inference_requests:  {keep_for: 90d,   query_prefixes: [inference]}
        data_access:         {keep_for: 731d,  query_prefixes: [access]}
        configuration_changes: {keep_for: 1827d, events: [configuration_change]}
        errors:              {keep_for: 366d,  outcomes: [error], events: [error]}

A record claimed by several classes (a failed deployment: by prefix and by outcome) goes to
the one that keeps it longest. A bundle without retention data records everything in the
class `default`, kept forever. Other keys of a class (`description`, `period`) are notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tenet.runtime.builtins.time import duration_seconds

__all__ = ["DEFAULT_CLASS", "Retention", "RetentionClass", "read_retention"]

DEFAULT_CLASS = "default"


@dataclass(frozen=True, slots=True)
class RetentionClass:
    name: str
    keep_seconds: int | None  # None: kept forever
    query_prefixes: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    events: tuple[str, ...] = ()

    def longer_than(self, other: RetentionClass) -> bool:
        if self.keep_seconds is None:
            return other.keep_seconds is not None
        return other.keep_seconds is not None and self.keep_seconds > other.keep_seconds


@dataclass(frozen=True)
class Retention:
    classes: dict[str, RetentionClass] = field(default_factory=dict)
    default: str = DEFAULT_CLASS

    def for_decision(self, query: str, outcome: str) -> RetentionClass:
        """The longest-keeping class that claims the query (by prefix) or the outcome."""
        claiming = [
            c
            for c in self.classes.values()
            if outcome in c.outcomes
            or any(query == p or query.startswith(p + ".") for p in c.query_prefixes)
        ]
        return self._longest(claiming)

    def for_event(self, kind: str) -> RetentionClass:
        return self._longest([c for c in self.classes.values() if kind in c.events])

    def _longest(self, claiming: list[RetentionClass]) -> RetentionClass:
        if not claiming:
            return self.classes.get(self.default) or RetentionClass(self.default, None)
        best = claiming[0]
        for c in claiming[1:]:
            if c.longer_than(best):
                best = c
        return best


def _names(spec: dict[str, Any], key: str) -> tuple[str, ...] | None:
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)


def read_retention(data: Any) -> tuple[Retention, list[str]]:
    """The retention classes of a data document, and what is wrong with them."""
    raw = data.get("retention") if isinstance(data, dict) else None
    if raw is None:
        return Retention(), []
    if not isinstance(raw, dict) or not isinstance(raw.get("classes"), dict):
        return Retention(), ["`data.retention` must have a `classes` mapping"]
    problems: list[str] = []
    classes: dict[str, RetentionClass] = {}
    for name, spec in raw["classes"].items():
        if not isinstance(spec, dict):
            problems.append(f"retention class `{name}` must be a mapping")
            continue
        keep = spec.get("keep_for")
        seconds: int | None = None
        if keep is not None:
            parsed = duration_seconds(keep) if isinstance(keep, str) else None
            if parsed is None:
                problems.append(f"retention class `{name}`: `keep_for` must be a duration (`90d`)")
                continue
            seconds = int(parsed)
        lists = [_names(spec, k) for k in ("query_prefixes", "outcomes", "events")]
        if any(v is None for v in lists):
            problems.append(
                f"retention class `{name}`: `query_prefixes`, `outcomes` and `events` list names"
            )
            continue
        prefixes, outcomes, events = (v or () for v in lists)
        classes[str(name)] = RetentionClass(str(name), seconds, prefixes, outcomes, events)
    default = raw.get("default_class", DEFAULT_CLASS)
    return Retention(classes, str(default)), problems
