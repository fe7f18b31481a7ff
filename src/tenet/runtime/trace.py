"""Evidence capture: what each condition read and whether it held, and the furthest path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenet.runtime.values import EvalError

__all__ = ["CondMeta", "FailedElement", "Record", "Tracer"]


@dataclass(frozen=True, slots=True)
class CondMeta:
    """A condition as the explanation names it: its source text and location."""

    text: str
    location: str


@dataclass(frozen=True, slots=True)
class FailedElement:
    """The first element for which an `every` did not hold, and why: the inner body's
    furthest path there, ending in the condition that was false or undefined."""

    kind: str  # how the collection names it: "index" (array), "key" (object), "member" (set)
    key: Any
    bindings: dict[str, Any]  # the `every` variables, as bound for it
    evidence: list[Record]


class Record:
    """The evidence of one condition evaluated under one binding."""

    __slots__ = ("error", "failed_element", "holds", "meta", "pointers", "undefined", "values")

    def __init__(self, meta: CondMeta) -> None:
        self.meta = meta
        self.values: dict[str, Any] = {}
        self.undefined: list[str] = []
        self.pointers: list[tuple[Any, ...]] = []  # input keys read, as JSON pointer parts
        self.holds: bool | None = None
        self.error: str | None = None  # the evaluation error this condition raised
        self.failed_element: FailedElement | None = None  # a failed `every`'s first failure

    def copy(self) -> Record:
        r = Record(self.meta)
        r.values = dict(self.values)
        r.undefined = list(self.undefined)
        r.pointers = list(self.pointers)
        r.holds = self.holds
        r.failed_element = self.failed_element
        return r


class Tracer:
    """Collects evidence while a traced body runs.

    ``path`` is the chain of conditions of the binding being tried; ``best`` keeps the
    longest path that ended in a condition that did not hold (the furthest path), with a
    copy of the variables at that point so that a message can be rendered from them.
    """

    __slots__ = ("best", "best_frame", "cur", "error_path", "origins", "path", "successes")

    def __init__(self) -> None:
        self.cur: Record | None = None
        self.path: list[Record] = []
        self.best: list[Record] | None = None
        self.best_frame: list[Any] | None = None
        self.successes: list[tuple[list[Record], list[Any]]] = []
        self.error_path: list[Record] | None = None
        # where in the input an object or array read from it is (by identity: the input is
        # alive for the whole evaluation, so no other object can share its id), so that a
        # local bound to it (`bg := input.x`, `some d in input.ds`) reads with a pointer too
        self.origins: dict[int, tuple[Any, ...]] = {}

    def reset(self) -> None:
        self.cur = None
        self.path = []
        self.best = None
        self.best_frame = None
        self.successes = []
        self.error_path = None
        self.origins = {}

    def read(self, text: str, value: Any, pointer: tuple[Any, ...] | None) -> None:
        cur = self.cur
        if cur is not None:
            cur.values[text] = value
            if pointer is not None and pointer not in cur.pointers:
                cur.pointers.append(pointer)
        if pointer is not None and (type(value) is dict or type(value) is list):
            self.origins.setdefault(id(value), pointer)

    def origin(self, value: Any) -> tuple[Any, ...] | None:
        """Where in the input an object or array is, if it was read from there."""
        if type(value) is dict or type(value) is list:
            return self.origins.get(id(value))
        return None

    def bound(self, origin: tuple[Any, ...], key: Any, value: Any) -> None:
        """`value`, bound from a collection at `origin` in the input, is at `key` in it."""
        if type(value) is dict or type(value) is list:
            self.origins.setdefault(id(value), (*origin, key))

    def missing(self, text: str) -> None:
        cur = self.cur
        if cur is not None and text not in cur.undefined:
            cur.undefined.append(text)

    def fail(self, frame: list[Any]) -> None:
        if self.best is None or len(self.path) > len(self.best):
            self.best = list(self.path)
            self.best_frame = list(frame)

    def succeed(self, frame: list[Any]) -> None:
        self.successes.append((list(self.path), list(frame)))

    def apart(self, run: Callable[[], bool]) -> list[Record] | None:
        """The furthest failing path of `run` (a traced body, true when it held), traced apart
        from the path being tried: what it records is its own, and the paths and results of
        the body around it stay as they were. None when it held or raised an error."""
        saved = (self.cur, self.path, self.best, self.best_frame, self.successes, self.error_path)
        self.cur, self.path, self.best, self.best_frame = None, [], None, None
        self.successes, self.error_path = [], None
        try:
            return None if run() else self.best
        except EvalError:
            return None
        finally:
            (
                self.cur,
                self.path,
                self.best,
                self.best_frame,
                self.successes,
                self.error_path,
            ) = saved

    def errored(self, rec: Record, message: str) -> None:
        rec.error = message
        if self.error_path is None:
            self.error_path = [*self.path, rec]
