"""What each operator means on policy values: arithmetic, ordering, `in`, indexing, iteration."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from tenet.runtime.values import (
    DOUBLE_MAX,
    FREE_CHARS,
    MAX_INT_BITS,
    UNDEF,
    EvalError,
    TSet,
    charge_elements,
    charge_work,
    check_built_size,
    contains_value,
    equal,
    freeze,
    nodes,
    type_name,
)

__all__ = [
    "ARITHMETIC",
    "COMPARISONS",
    "index",
    "iterate_keys",
    "iterate_pairs",
    "member",
]


def _num(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


def _check_mix(a: Any, b: Any) -> None:
    if (type(a) is float and type(b) is int and abs(b) > DOUBLE_MAX) or (
        type(b) is float and type(a) is int and abs(a) > DOUBLE_MAX
    ):
        raise EvalError("overflow", "an integer beyond the double range cannot mix with a float")


def _finish(r: Any) -> Any:
    if type(r) is float:
        if not math.isfinite(r):
            raise EvalError("overflow", "the result is not a finite number")
    elif type(r) is int and r.bit_length() > MAX_INT_BITS:
        raise EvalError("overflow", "the integer result is too large")
    return r


def _type_error(op: str, a: Any, b: Any) -> EvalError:
    return EvalError("type_error", f"`{op}` cannot take {type_name(a)} and {type_name(b)}")


def add(a: Any, b: Any) -> Any:
    if _num(a) and _num(b):
        _check_mix(a, b)
        return _finish(a + b)
    if type(a) is str and type(b) is str:
        check_built_size("`+`", len(a) + len(b), "string")
        return a + b
    if type(a) is list and type(b) is list:
        check_built_size("`+`", len(a) + len(b), "array")
        return a + b
    raise _type_error("+", a, b)


def sub(a: Any, b: Any) -> Any:
    if _num(a) and _num(b):
        _check_mix(a, b)
        return _finish(a - b)
    if type(a) is TSet and type(b) is TSet:
        charge_elements(len(a))
        out = a.difference(b)
        check_built_size("`-`", len(out), "set")
        return out
    raise _type_error("-", a, b)


def mul(a: Any, b: Any) -> Any:
    if _num(a) and _num(b):
        _check_mix(a, b)
        return _finish(a * b)
    raise _type_error("*", a, b)


def div(a: Any, b: Any) -> Any:
    if _num(a) and _num(b):
        if b == 0:
            raise EvalError("division_by_zero", "division by zero")
        _check_mix(a, b)
        try:
            return _finish(a / b)
        except OverflowError:
            raise EvalError("overflow", "the result is not a finite number") from None
    raise _type_error("/", a, b)


def _whole(v: Any) -> int | None:
    if type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    return None


def mod(a: Any, b: Any) -> Any:
    if _num(a) and _num(b):
        x, y = _whole(a), _whole(b)
        if x is None or y is None:
            raise EvalError("type_error", "`%` takes whole numbers")
        if y == 0:
            raise EvalError("division_by_zero", "remainder of a division by zero")
        r = abs(x) % abs(y)
        return -r if x < 0 else r
    raise _type_error("%", a, b)


ARITHMETIC = {"+": add, "-": sub, "*": mul, "/": div, "%": mod}


def _order(op: str, a: Any, b: Any) -> tuple[Any, Any]:
    ta, tb = type(a), type(b)
    if _num(a) and _num(b):
        return a, b  # exact, a big integer against a decimal too: the order `sort` uses
    if ta is tb and ta is str:
        if len(a) > FREE_CHARS and len(b) > FREE_CHARS:
            charge_work(min(len(a), len(b)))
        return a, b
    if ta is tb:
        charge_elements(nodes(a) + nodes(b))
        return freeze(a), freeze(b)
    raise EvalError("type_error", f"`{op}` cannot order {type_name(a)} and {type_name(b)}")


def lt(a: Any, b: Any) -> bool:
    x, y = _order("<", a, b)
    return bool(x < y)


def le(a: Any, b: Any) -> bool:
    x, y = _order("<=", a, b)
    return bool(x <= y)


def gt(a: Any, b: Any) -> bool:
    x, y = _order(">", a, b)
    return bool(x > y)


def ge(a: Any, b: Any) -> bool:
    x, y = _order(">=", a, b)
    return bool(x >= y)


def ne(a: Any, b: Any) -> bool:
    return not equal(a, b)


def member(x: Any, coll: Any) -> bool:
    """`x in coll`: array element, set member, object key, substring."""
    t = type(coll)
    if t is list:
        return contains_value(coll, x)
    if t is dict:
        return type(x) is str and x in coll
    if t is TSet:
        if type(x) in (list, dict, TSet):
            charge_elements(nodes(x))
        return coll.has(x)
    if t is str:
        if type(x) is not str:
            raise EvalError(
                "type_error", f"`in` with a string on the right needs a string, not {type_name(x)}"
            )
        if len(coll) > FREE_CHARS:
            charge_work(len(coll))
        return x in coll
    raise EvalError("type_error", f"`in` cannot look inside a {type_name(coll)}")


def not_member(x: Any, coll: Any) -> bool:
    return not member(x, coll)


COMPARISONS = {
    "==": equal,
    "!=": ne,
    "<": lt,
    "<=": le,
    ">": gt,
    ">=": ge,
    "in": member,
    "not in": not_member,
}


def index(v: Any, k: Any) -> Any:
    """`v[k]` or undefined: object by string key, array by whole non-negative index, set member."""
    t = type(v)
    if t is dict:
        return v.get(k, UNDEF) if type(k) is str else UNDEF
    if t is list:
        tk = type(k)
        if tk is int:
            return v[k] if 0 <= k < len(v) else UNDEF
        if tk is float and k.is_integer() and 0 <= k < len(v):
            return v[int(k)]
        return UNDEF
    if t is TSet:
        return k if v.has(k) else UNDEF
    return UNDEF


def _not_iterable(v: Any) -> EvalError:
    return EvalError("type_error", f"cannot iterate over a {type_name(v)}")


def iterate_keys(v: Any) -> Iterator[Any]:
    """What one variable binds: object keys (sorted), array elements, set members."""
    t = type(v)
    if t is list:
        return iter(v)
    if t is dict:
        charge_elements(len(v))  # the sort, done whether or not every key is visited
        return iter(sorted(v))
    if t is TSet:
        return iter(v.sorted_values())
    raise _not_iterable(v)


def iterate_pairs(v: Any) -> Iterator[tuple[Any, Any]]:
    """What two variables bind: key and value, index and element, member and member."""
    t = type(v)
    if t is list:
        return iter(enumerate(v))
    if t is dict:
        charge_elements(len(v))
        return iter(sorted(v.items()))
    if t is TSet:
        return ((x, x) for x in v.sorted_values())
    raise _not_iterable(v)
