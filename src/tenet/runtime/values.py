"""The value model every stage shares: JSON values plus sets, undefined, total order, equality.

Values are plain Python objects so that evaluation stays fast: ``None``, ``bool``, ``int``,
``float``, ``str``, ``list`` (arrays), ``dict`` with ``str`` keys (objects) and :class:`TSet`.
``bool`` is never a number here, although Python says otherwise, so every type test goes
through ``type(v) is ...`` rather than ``isinstance``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

__all__ = [
    "DEFAULT_MAX_BUILT_SIZE",
    "DOUBLE_MAX",
    "ELEMENT_WORK",
    "FREE_CHARS",
    "UNDEF",
    "WORK_PER_STEP",
    "EvalError",
    "Meter",
    "TSet",
    "Undefined",
    "charge_built",
    "charge_elements",
    "charge_work",
    "check_built_size",
    "contains_value",
    "equal",
    "freeze",
    "is_number",
    "json_number",
    "metering",
    "nodes",
    "to_json",
    "type_name",
    "written_size",
]

DOUBLE_MAX: Final = 1.7976931348623157e308


class Undefined:
    """The one undefined value: a missing key, an index out of range, a rule that did not hold."""

    __slots__ = ()
    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEF"

    def __bool__(self) -> bool:
        raise TypeError("undefined has no truth value; test `is UNDEF`")

    def __reduce__(self) -> str:
        return "UNDEF"


UNDEF: Final = Undefined()


class EvalError(Exception):
    """An evaluation error: fails the decision closed. ``span`` is filled in by the evaluator."""

    def __init__(self, code: str, message: str, span: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.span = span


DEFAULT_MAX_BUILT_SIZE: Final = 10_000_000

# What building a value costs `Limits.max_built_bytes`: about the memory it takes, per
# character of a string and per element of each collection (a set member keeps a key for the
# total order; a piece `split` makes is a string object of its own), and once per value built
# for the object that holds them (a two-element list takes 72 bytes, a two-letter string 51).
# A value written into a violation's evidence is copied out once per violation when the
# decision is written: about 50 bytes of objects and text each, measured (`written`).
BYTES_PER: Final = {
    "string": 1,
    "array": 8,
    "object": 50,
    "set": 100,
    "piece": 56,
    "value": 64,
    "written": 64,
}


# What a step of work is: a built-in or an operator charges one step per WORK_PER_STEP units
# of the values it walks, a character being one unit and an element (compared, ordered,
# hashed or copied by the interpreter, a few hundred times slower) ELEMENT_WORK. Calibrated
# so that a step of work takes about as long as a plain step (a rule, a call, an element
# `some` visits), a microsecond or less, and the default 5,000,000 steps a few seconds.
WORK_PER_STEP: Final = 1000
ELEMENT_WORK: Final = 400
# the characters a comparison of strings reads uncounted: counting costs more than reading
FREE_CHARS: Final = 64


class Meter:
    """What one evaluation has used of its limits: its steps, the work that is not a whole
    step yet, and the bytes of the values it built."""

    __slots__ = ("built", "max_built_bytes", "max_built_size", "max_steps", "steps", "work")

    def __init__(self, max_steps: int, max_built_size: int, max_built_bytes: int) -> None:
        self.steps = 0
        self.work = 0
        self.built = 0
        self.max_steps = max_steps
        self.max_built_size = max_built_size
        self.max_built_bytes = max_built_bytes

    def build(self, what: str, nbytes: int) -> None:
        """Count `nbytes` more built against `max_built_bytes`: many values, each within
        `max_built_size`, can add up to gigabytes. Each call builds one value: its object
        is counted too, so four million `[x, y]` are 320 MB, not 64."""
        self.built += nbytes + BYTES_PER["value"]
        if self.built > self.max_built_bytes:
            raise EvalError(
                "size_limit",
                f"{what} took the values this evaluation built past {self.max_built_bytes} "
                "bytes (`max_built_bytes`)",
            )

    def step_limit(self, span: Any = None) -> EvalError:
        return EvalError(
            "step_limit", f"evaluation took more than {self.max_steps} steps and was stopped", span
        )


# The meter of the evaluation running in this thread. Built-ins and operators take no
# context (they are also folded at load time, unmetered), so it reaches them this way.
_meter: ContextVar[Meter | None] = ContextVar("tenet_meter", default=None)


@contextmanager
def metering(meter: Meter) -> Iterator[None]:
    """Charge the work done and the values built while the block runs to `meter`."""
    token = _meter.set(meter)
    try:
        yield
    finally:
        _meter.reset(token)


def check_built_size(what: str, size: int, unit: str) -> None:
    """Refuse, before it is built, a value of `size` characters or elements that `what` would
    build over the decision's limit: the size of the input limits nothing here (`replace` of a
    30 KB text by a 30 KB text is 900 million characters). Then charge it to the decision's
    budget of bytes built, and the making of it (a unit of work per character or element) to
    its steps."""
    meter = _meter.get()
    limit = DEFAULT_MAX_BUILT_SIZE if meter is None else meter.max_built_size
    if size > limit:
        counted = "characters" if unit == "string" else "elements"
        raise EvalError(
            "size_limit",
            f"{what} would build {'an' if unit in ('array', 'object') else 'a'} {unit} of "
            f"{size} {counted}, over the limit of {limit} (`max_built_size`)",
        )
    if meter is not None:
        meter.build(what, size * BYTES_PER[unit])
        charge_work(size)


def charge_built(what: str, nbytes: int) -> None:
    """Count `nbytes` more built against the running decision's `max_built_bytes`."""
    meter = _meter.get()
    if meter is not None:
        meter.build(what, nbytes)


def charge_work(units: int) -> None:
    """Count `units` of work (see WORK_PER_STEP) against the decision's steps: a step that
    walks a long string or a large collection costs in proportion."""
    meter = _meter.get()
    if meter is None:
        return
    work = meter.work + units
    if work < WORK_PER_STEP:
        meter.work = work
        return
    meter.steps += work // WORK_PER_STEP
    meter.work = work % WORK_PER_STEP
    if meter.steps > meter.max_steps:
        raise meter.step_limit()


def charge_elements(n: int) -> None:
    charge_work(n * ELEMENT_WORK)


def nodes(v: Any) -> int:
    """How many values `v` holds, nested ones included: the work of freezing, comparing or
    converting it."""
    t = type(v)
    if t is list:
        return 1 + sum(nodes(x) if type(x) in _NESTING else 1 for x in v)
    if t is dict:
        return 1 + sum(nodes(x) if type(x) in _NESTING else 1 for x in v.values())
    if t is TSet:
        return 1 + sum(nodes(x) if type(x) in _NESTING else 1 for x in v._items.values())
    return 1


def written_size(v: Any) -> int:
    """About the bytes `v` takes when a decision is written out: BYTES_PER["written"] for each
    value (the JSON object `to_json` makes of it, and its text), and a byte per character of its
    strings and keys."""
    t = type(v)
    if t is str:
        return BYTES_PER["written"] + len(v)
    if t is list:
        return BYTES_PER["written"] + sum(written_size(x) for x in v)
    if t is dict:
        return BYTES_PER["written"] + sum(len(k) + written_size(x) for k, x in v.items())
    if t is TSet:
        return BYTES_PER["written"] + sum(written_size(x) for x in v._items.values())
    return BYTES_PER["written"]


_NoneType = type(None)


class TSet:
    """An immutable set of values, iterated in the total order."""

    __slots__ = ("_items", "_sorted")

    def __init__(self, values: Iterable[Any] = ()) -> None:
        items: dict[Any, Any] = {}
        for v in values:
            k = freeze(v)
            if k not in items:
                items[k] = v
        self._items = items
        self._sorted: tuple[Any, ...] | None = None

    @classmethod
    def _from_items(cls, items: dict[Any, Any]) -> TSet:
        s = cls.__new__(cls)
        s._items = items
        s._sorted = None
        return s

    def sorted_values(self) -> tuple[Any, ...]:
        if self._sorted is None:
            self._sorted = tuple(self._items[k] for k in sorted(self._items))
        return self._sorted

    def __iter__(self) -> Iterator[Any]:
        return iter(self.sorted_values())

    def __len__(self) -> int:
        return len(self._items)

    def has(self, value: Any) -> bool:
        return freeze(value) in self._items

    def keys(self) -> frozenset[Any]:
        return frozenset(self._items)

    def union(self, other: TSet) -> TSet:
        items = dict(self._items)
        for k, v in other._items.items():
            items.setdefault(k, v)
        return TSet._from_items(items)

    def intersection(self, other: TSet) -> TSet:
        return TSet._from_items({k: v for k, v in self._items.items() if k in other._items})

    def difference(self, other: TSet) -> TSet:
        return TSet._from_items({k: v for k, v in self._items.items() if k not in other._items})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TSet) and self._items.keys() == other._items.keys()

    def __hash__(self) -> int:
        return hash(frozenset(self._items))

    def __repr__(self) -> str:
        return "set(" + ", ".join(repr(v) for v in self.sorted_values()) + ")"


_NESTING: Final = (list, dict, TSet)


def freeze(v: Any) -> tuple[Any, ...]:
    """A hashable key that orders values in the total order and equates equal values.

    ``1`` and ``1.0`` get equal keys; ``True`` and ``1`` do not.
    """
    t = type(v)
    if t is str:
        return (3, v)
    if t is int or t is float:
        return (2, v)
    if t is bool:
        return (1, v)
    if v is None:
        return (0,)
    if t is list:
        return (4, tuple(freeze(x) for x in v))
    if t is TSet:
        return (5, tuple(sorted(v._items)))
    if t is dict:
        return (6, tuple(sorted((k, freeze(x)) for k, x in v.items())))
    raise TypeError(f"not a policy value: {t.__name__}")


def equal(a: Any, b: Any) -> bool:
    """Equality of values: by value across int and float, false across other types."""
    ta = type(a)
    tb = type(b)
    if ta is tb:
        if ta is str:
            if len(a) > FREE_CHARS and len(a) == len(b):
                charge_work(len(a))
            return bool(a == b)
        if ta is int or ta is float or ta is bool or a is None:
            return bool(a == b)
        charge_work((nodes(a) + nodes(b)) * ELEMENT_WORK)
        return freeze(a) == freeze(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a == b)
    return False


def contains_value(items: Collection[Any], x: Any) -> bool:
    """Whether an array (or any collection of values) holds a value equal to ``x``."""
    charge_elements(len(items))
    if type(x) is str:
        # no value of another type equals a string, so Python's == is exact here
        return any(e == x for e in items)
    return any(equal(e, x) for e in items)


def is_number(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


def type_name(v: Any) -> str:
    t = type(v)
    if t is str:
        return "string"
    if t is int or t is float:
        return "number"
    if t is bool:
        return "boolean"
    if v is None:
        return "null"
    if t is list:
        return "array"
    if t is dict:
        return "object"
    if t is TSet:
        return "set"
    if v is UNDEF:
        return "undefined"
    return t.__name__


MAX_INT_BITS = 4096  # integers are exact, within reason: beyond this is an error, not a hang


def json_number(v: int | float) -> int | float:
    """A whole float within the exact-integer range becomes an int, so `24.0` prints as `24`."""
    if type(v) is float and v.is_integer() and abs(v) <= 2**53:
        return int(v)
    return v


def to_json(v: Any) -> Any:
    """The JSON form of a value: sets become sorted arrays, whole floats become integers, and
    objects have their keys in sorted order (as they iterate), so that two inputs of the same
    content give the same messages, results and evidence whatever order their keys came in."""
    t = type(v)
    if t is str or t is bool or t is int or v is None:
        return v
    if t is float:
        return json_number(v)
    if t is list:
        return [to_json(x) for x in v]
    if t is dict:
        return {k: to_json(v[k]) for k in sorted(v)}
    if t is TSet:
        return [to_json(x) for x in v.sorted_values()]
    if v is UNDEF:
        return None
    raise TypeError(f"not a policy value: {t.__name__}")


def check_finite(v: float) -> float:
    if math.isfinite(v):
        return v
    raise EvalError("non_finite", "the result is not a finite number")
