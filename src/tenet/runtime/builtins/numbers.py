"""Number built-ins: `abs`, `round`, `floor`, `ceil`, `min`, `max` and `sum` (`count` is in
collections)."""

from __future__ import annotations

import math
from typing import Any

from tenet.runtime.builtins import register
from tenet.runtime.builtins.types import (
    bad_arg,
    builtin_error,
    finite,
    want_collection,
    want_number,
    whole,
)
from tenet.runtime.values import UNDEF, EvalError, charge_elements, type_name


@register(
    "abs",
    "numbers",
    1,
    "The absolute value of a number.",
    "abs(-3) == 3",
)
def abs_(x: Any) -> int | float:
    return abs(want_number("abs", x))


def round_half_away(x: float) -> int:
    """``x`` rounded to the nearest integer, halves away from zero, computed exactly."""
    a = abs(x)
    whole = math.floor(a)
    r = whole + 1 if a - whole >= 0.5 else whole
    return -r if x < 0 else r


@register(
    "round",
    "numbers",
    1,
    "The nearest whole number; halves round away from zero, so `round(2.5)` is 3 and "
    "`round(-2.5)` is -3.",
    "round(2.5) == 3",
)
def round_(x: Any) -> int:
    n = want_number("round", x)
    return n if type(n) is int else round_half_away(n)


@register(
    "floor",
    "numbers",
    1,
    "The largest whole number not above the number.",
    "floor(-2.5) == -3",
)
def floor(x: Any) -> int:
    return math.floor(want_number("floor", x))


@register(
    "ceil",
    "numbers",
    1,
    "The smallest whole number not below the number.",
    "ceil(2.1) == 3",
)
def ceil(x: Any) -> int:
    return math.ceil(want_number("ceil", x))


def _kind(v: Any) -> str:
    t = type(v)
    if t is int or t is float:
        return "number"
    return type_name(v)


def _extremum(fn: str, coll: Any, pick: Any) -> Any:
    items = list(want_collection(fn, coll))
    charge_elements(len(items))
    if not items:
        return UNDEF
    kinds = sorted({_kind(v) for v in items})
    if kinds != ["number"] and kinds != ["string"]:
        raise EvalError(
            "type_error",
            f"`{fn}` expects an array or a set of all numbers or all strings, "
            f"got {' and '.join(kinds)}",
        )
    return pick(items)


@register(
    "min",
    "numbers",
    1,
    "The smallest element of an array or set of numbers, or of strings; undefined when it "
    "is empty.",
    "min([3, 1, 2]) == 1",
)
def min_(coll: Any) -> Any:
    return _extremum("min", coll, min)


@register(
    "max",
    "numbers",
    1,
    "The largest element of an array or set of numbers, or of strings; undefined when it is empty.",
    'max(["a", "c", "b"]) == "c"',
)
def max_(coll: Any) -> Any:
    return _extremum("max", coll, max)


@register(
    "sum",
    "numbers",
    1,
    "The sum of an array or set of numbers; the sum of an empty one is 0.",
    "sum([1, 2, 3.5]) == 6.5",
)
def sum_(coll: Any) -> int | float:
    total: int | float = 0
    items = want_collection("sum", coll, "an array or a set of numbers")
    charge_elements(len(items))
    for v in items:
        if not (type(v) is int or type(v) is float):
            raise bad_arg("sum", "only numbers in its array or set", v)
        try:
            total = total + v
        except OverflowError as e:
            raise builtin_error(
                "sum", "an integer beyond the double range cannot be added to a decimal"
            ) from e
    if isinstance(total, float):
        return finite("sum", total)
    return whole("sum", total)
