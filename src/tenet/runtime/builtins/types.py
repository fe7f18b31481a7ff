"""Type tests (`is_string`, `type_name`, ...) and the argument checks all built-ins share."""

from __future__ import annotations

import math
from typing import Any

from tenet.runtime.builtins import register
from tenet.runtime.values import MAX_INT_BITS, EvalError, TSet, type_name

__all__ = [
    "bad_arg",
    "builtin_error",
    "finite",
    "length",
    "want_collection",
    "want_number",
    "want_object",
    "want_string",
]


def bad_arg(fn: str, what: str, v: Any) -> EvalError:
    """The type error for ``fn`` given ``v`` where it expects ``what`` ("a string pattern")."""
    return EvalError("type_error", f"`{fn}` expects {what}, got {type_name(v)}")


def builtin_error(fn: str, message: str) -> EvalError:
    """An argument of the right type that the built-in still cannot take (bad regex, version...)."""
    return EvalError("builtin_error", f"`{fn}`: {message}")


def finite(fn: str, x: float) -> float:
    """``x`` when it is finite; infinity or NaN from a built-in is an evaluation error."""
    if math.isfinite(x):
        return x
    raise EvalError("non_finite", f"`{fn}`: the result is not a finite number")


def whole(fn: str, n: int) -> int:
    """``n`` when it is within the integers the language keeps exact, as arithmetic's are."""
    if n.bit_length() <= MAX_INT_BITS:
        return n
    raise EvalError("overflow", f"`{fn}`: the integer result is too large")


def want_string(fn: str, v: Any, what: str = "a string") -> str:
    if type(v) is str:
        return v
    raise bad_arg(fn, what, v)


def want_number(fn: str, v: Any, what: str = "a number") -> int | float:
    t = type(v)
    if t is int or t is float:
        return v
    raise bad_arg(fn, what, v)


def want_object(fn: str, v: Any, what: str = "an object") -> dict[str, Any]:
    if type(v) is dict:
        return v
    raise bad_arg(fn, what, v)


def want_collection(fn: str, v: Any, what: str = "an array or a set") -> list[Any] | TSet:
    """An array or a set, iterated in its own order (a set in the total order)."""
    t = type(v)
    if t is list or t is TSet:
        return v
    raise bad_arg(fn, what, v)


def length(fn: str, v: Any) -> int:
    """The size that `len` and `count` report: code points, elements, members or keys."""
    t = type(v)
    if t is str or t is list or t is TSet or t is dict:
        return len(v)
    raise bad_arg(fn, "a string, an array, a set or an object", v)


@register(
    "is_string",
    "types",
    1,
    "True when the value is a string, false for any other value.",
    'is_string("churn") == true',
)
def is_string(v: Any) -> bool:
    return type(v) is str


@register(
    "is_number",
    "types",
    1,
    "True when the value is a number (integer or decimal); booleans are not numbers.",
    "is_number(true) == false",
)
def is_number(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


@register(
    "is_bool",
    "types",
    1,
    "True when the value is `true` or `false`.",
    "is_bool(false) == true",
)
def is_bool(v: Any) -> bool:
    return type(v) is bool


@register(
    "is_array",
    "types",
    1,
    "True when the value is an array; a set is not an array.",
    "is_array([1, 2]) == true",
)
def is_array(v: Any) -> bool:
    return type(v) is list


@register(
    "is_object",
    "types",
    1,
    "True when the value is an object (a mapping from string keys to values).",
    'is_object({"a": 1}) == true',
)
def is_object(v: Any) -> bool:
    return type(v) is dict


@register(
    "is_set",
    "types",
    1,
    "True when the value is a set, such as the result of `set(...)` or a partial-set rule.",
    "is_set(set(1, 2)) == true",
)
def is_set(v: Any) -> bool:
    return type(v) is TSet


@register(
    "is_null",
    "types",
    1,
    "True when the value is `null`; an undefined value is not null (the call is undefined).",
    "is_null(null) == true",
)
def is_null(v: Any) -> bool:
    return v is None


@register(
    "type_name",
    "types",
    1,
    "The name of the value's type: `null`, `boolean`, `number`, `string`, `array`, `set` "
    "or `object`.",
    'type_name(true) == "boolean"',
)
def type_name_(v: Any) -> str:
    return type_name(v)
