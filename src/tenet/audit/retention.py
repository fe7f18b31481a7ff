"""Retention classes, read from a bundle's `data.retention`: how long each class of record is
kept, and which query prefixes and events record into it.

    retention:
      classes:
        training_deployment: {keep: 2555d, queries: [registration, deploy]}
        inference:           {keep: 90d,   queries: [inference]}
        data_access:         {keep: 730d,  queries: [access, data]}
        configuration:       {keep: 1825d, events: [configuration_change]}
        errors:              {keep: 365d,  events: [error]}
      default: errors        # optional: the class of anything else

A bundle without retention data records everything in the class `default`, kept forever.
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
    queries: tuple[str, ...] = ()
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class Retention:
    classes: dict[str, RetentionClass] = field(default_factory=dict)
    default: str = DEFAULT_CLASS

    def for_query(self, query: str) -> RetentionClass:
        """The class whose longest query prefix matches (`deploy` covers `deploy.staging`)."""
        best: tuple[int, RetentionClass] | None = None
        for c in self.classes.values():
            for prefix in c.queries:
                if query == prefix or query.startswith(prefix + "."):
                    if best is None or len(prefix) > best[0]:
                        best = (len(prefix), c)
        return best[1] if best is not None else self._default()

    def for_event(self, kind: str) -> RetentionClass:
        for c in self.classes.values():
            if kind in c.events:
                return c
        return self._default()

    def _default(self) -> RetentionClass:
        return self.classes.get(self.default) or RetentionClass(self.default, None)


def read_retention(data: Any) -> tuple[Retention, list[str]]:
    """The retention classes of a data document, and what is wrong with them."""
    raw = data.get("retention") if isinstance(data, dict) else None
    if raw is None:
        return Retention(), []
    problems: list[str] = []
    if not isinstance(raw, dict) or not isinstance(raw.get("classes"), dict):
        return Retention(), ["`data.retention` must have a `classes` mapping"]
    classes: dict[str, RetentionClass] = {}
    for name, spec in raw["classes"].items():
        if not isinstance(spec, dict):
            problems.append(f"retention class `{name}` must be a mapping")
            continue
        keep = spec.get("keep")
        seconds: int | None = None
        if keep is not None:
            parsed = duration_seconds(keep) if isinstance(keep, str) else None
            if parsed is None:
                problems.append(f"retention class `{name}`: `keep` must be a duration like `90d`")
                continue
            seconds = int(parsed)
        queries = spec.get("queries", [])
        events = spec.get("events", [])
        if not all(isinstance(q, str) for q in queries) or not all(
            isinstance(e, str) for e in events
        ):
            problems.append(f"retention class `{name}`: `queries` and `events` list names")
            continue
        classes[str(name)] = RetentionClass(str(name), seconds, tuple(queries), tuple(events))
    default = raw.get("default", DEFAULT_CLASS)
    return Retention(classes, str(default)), problems
