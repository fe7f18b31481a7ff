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
the one that keeps it longest. A bundle without retention data (no `data.retention` with
`classes` or `default_class`) records everything in the class `default`, kept forever.
`description` and `period` of a class are notes; any other key, a `keep_for` that is not a
duration, an unknown outcome or event, or a `default_class` that names no class stops the
bundle loading, since it would change how long records are kept without a word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tenet.diagnostics import DataPath, did_you_mean
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
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return None
    return tuple(value)


_KEYS = ("keep_for", "query_prefixes", "outcomes", "events")  # of a class
_TOP_KEYS = ("classes", "default_class")  # of `data.retention`
_NOTES = ("description", "period")
_OUTCOMES = ("allow", "deny", "error")
EVENTS = ("configuration_change", "error")  # the kinds of record other than decisions
DURATION_HELP = "write a duration such as `90d`, `2557d`, `12h` or `2w`"


Problem = tuple[DataPath, str, str | None]  # the key path at fault, the message, its help
_AT = ("retention",)


def read_retention(data: Any) -> tuple[Retention, list[Problem]]:
    """The retention classes of a data document, and what is wrong with them (each where in
    `data` it is, a message and its help). A class with a mistake is left out of the classes
    returned."""
    raw = data.get("retention") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        return Retention(), []
    if not ("classes" in raw or "default_class" in raw):
        # no retention classes: a policy's own data of that name, unless it reads as classes
        # misspelt or written one level too deep, which would keep every record forever
        return Retention(), _near_misses(raw)
    problems: list[Problem] = [
        (
            (*_AT, key),
            f"`data.retention` has an unknown key `{key}`",
            did_you_mean(key, _TOP_KEYS),
        )
        for key in raw
        if key not in _TOP_KEYS
    ]
    if not isinstance(raw.get("classes"), dict):
        return Retention(), [
            *problems,
            (
                (*_AT, "classes"),
                "`data.retention.classes` must be a mapping of class names to classes",
                "write `classes: {inference: {keep_for: 90d, query_prefixes: [inference]}}`",
            ),
        ]
    classes: dict[str, RetentionClass] = {}
    for name, spec in raw["classes"].items():
        found = _read_class(str(name), spec, problems)
        if found is not None:
            classes[found.name] = found
    default = raw.get("default_class", DEFAULT_CLASS)
    if not isinstance(default, str) or not default:
        problems.append(
            ((*_AT, "default_class"), "`data.retention.default_class` must name a class", None)
        )
        default = DEFAULT_CLASS
    elif "default_class" in raw and default not in raw["classes"]:
        problems.append(
            (
                (*_AT, "default_class"),
                f"`data.retention.default_class` is `{default}`, which is not a class",
                did_you_mean(default, [str(c) for c in raw["classes"]])
                or "name one of `data.retention.classes`",
            )
        )
    return Retention(classes, default), problems


def _near_misses(raw: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for key in raw:
        if key == "retention":
            problems.append(
                (
                    (*_AT, key),
                    "`data.retention` holds `retention`: the retention classes are one level "
                    "too deep, so no record would be classed by them",
                    "a data file in `retention/` already contributes under `data.retention`: "
                    "drop its top `retention:` key",
                )
            )
        elif (hint := did_you_mean(key, _TOP_KEYS)) is not None:
            problems.append((((*_AT, key)), f"`data.retention` has an unknown key `{key}`", hint))
    return problems


def _read_class(name: str, spec: Any, problems: list[Problem]) -> RetentionClass | None:
    where = f"retention class `{name}`"
    at: DataPath = (*_AT, "classes", name)
    if not isinstance(spec, dict):
        problems.append((at, f"{where} must be a mapping", "give it `keep_for` and what it claims"))
        return None
    ok = True
    for key in spec:
        if key not in _KEYS and key not in _NOTES:
            problems.append(
                (
                    (*at, key),
                    f"{where} has an unknown key `{key}`",
                    did_you_mean(str(key), list(_KEYS)),
                )
            )
            ok = False
    keep = spec.get("keep_for")
    seconds: int | None = None
    if keep is not None:
        parsed = duration_seconds(keep) if isinstance(keep, str) else None
        if parsed is None or parsed <= 0:
            message = f"{where}: `keep_for` is `{keep}`, not a duration"
            problems.append(((*at, "keep_for"), message, DURATION_HELP))
            ok = False
        else:
            seconds = int(parsed)
    lists = {k: _names(spec, k) for k in ("query_prefixes", "outcomes", "events")}
    for key, names in lists.items():
        if names is None:
            problems.append(
                (
                    (*at, key),
                    f"{where}: `{key}` must be a list of names",
                    f"write `{key}: [{spec[key]}]`",
                )
            )
            ok = False
    for key, word, known in (("outcomes", "an outcome", _OUTCOMES), ("events", "an event", EVENTS)):
        for i, given in enumerate(lists[key] or ()):
            if given not in known:
                problems.append(
                    (
                        (*at, key, i),
                        f"{where}: `{given}` is not {word}",
                        did_you_mean(given, known)
                        or f"{key} are " + ", ".join(f"`{k}`" for k in known),
                    )
                )
                ok = False
    if not ok:
        return None
    prefixes, outcomes, events = (v or () for v in lists.values())
    return RetentionClass(name, seconds, prefixes, outcomes, events)
