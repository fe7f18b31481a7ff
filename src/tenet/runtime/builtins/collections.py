"""Collection built-ins: `count`, `keys`, `values`, `sort`, `unique`, `any`, `all`, the set
operations and the `set(...)` constructor."""

from __future__ import annotations

from typing import Any

from tenet.runtime.builtins import register
from tenet.runtime.builtins.types import length, want_collection, want_object
from tenet.runtime.values import TSet, charge_elements, check_built_size, freeze, nodes


@register(
    "count",
    "collections",
    1,
    "The number of elements of an array, members of a set, keys of an object, or characters "
    "(Unicode code points) of a string.",
    "count([1, 2, 3]) == 3",
)
def count(v: Any) -> int:
    return length("count", v)


@register(
    "keys",
    "collections",
    1,
    "The keys of an object as an array, in sorted order.",
    'keys({"b": 1, "a": 2}) == ["a", "b"]',
)
def keys(obj: Any) -> list[Any]:
    o = want_object("keys", obj)
    charge_elements(len(o))
    check_built_size("`keys`", len(o), "array")
    return sorted(o)


@register(
    "values",
    "collections",
    1,
    "The values of an object as an array, in the sorted order of their keys.",
    'values({"b": 1, "a": 2}) == [2, 1]',
)
def values(obj: Any) -> list[Any]:
    o = want_object("values", obj)
    charge_elements(len(o))
    check_built_size("`values`", len(o), "array")
    return [o[k] for k in sorted(o)]


@register(
    "sort",
    "collections",
    1,
    "The elements of an array or set as a sorted array; values of different types sort "
    "null < booleans < numbers < strings < arrays < sets < objects.",
    "sort([3, 1, 2]) == [1, 2, 3]",
)
def sort(coll: Any) -> list[Any]:
    items = want_collection("sort", coll)
    charge_elements(_frozen(items))
    check_built_size("`sort`", len(items), "array")
    return sorted(items, key=freeze)


@register(
    "unique",
    "collections",
    1,
    "The set of the distinct elements of an array (or set).",
    "unique([2, 1, 2]) == set(1, 2)",
)
def unique(coll: Any) -> TSet:
    items = want_collection("unique", coll)
    charge_elements(_frozen(items))
    check_built_size("`unique`", len(items), "set")
    return TSet(items)


@register(
    "any",
    "collections",
    1,
    "True when some element of the array or set is `true` (other values, such as 1, do not "
    "count); false for an empty one.",
    "any([false, true]) == true",
)
def any_(coll: Any) -> bool:
    items = want_collection("any", coll)
    charge_elements(len(items))
    return any(v is True for v in items)


@register(
    "all",
    "collections",
    1,
    "True when every element of the array or set is `true` (other values, such as 1, do not "
    "count); true for an empty one.",
    "all([true, 1]) == false",
)
def all_(coll: Any) -> bool:
    items = want_collection("all", coll)
    charge_elements(len(items))
    return all(v is True for v in items)


def _length(v: Any) -> int:
    return len(v) if type(v) is list or type(v) is TSet else 0


def _as_set(fn: str, v: Any) -> TSet:
    c = want_collection(fn, v, "two sets or arrays")
    if type(c) is TSet:
        return c
    charge_elements(_frozen(c))
    check_built_size(f"`{fn}`", len(c), "set")
    return TSet(c)


def _frozen(items: list[Any] | TSet | tuple[Any, ...]) -> int:
    """The work of freezing (to order or hash) each of `items`: each value it holds."""
    return sum(nodes(x) if type(x) in (list, dict, TSet) else 1 for x in items)


def _set_result(fn: str, out: TSet) -> TSet:
    check_built_size(f"`{fn}`", len(out), "set")
    return out


@register(
    "union",
    "collections",
    2,
    "The set of the values in either of two sets or arrays.",
    "union(set(1, 2), [2, 3]) == set(1, 2, 3)",
)
def union(a: Any, b: Any) -> TSet:
    charge_elements(_length(a) + _length(b))
    return _set_result("union", _as_set("union", a).union(_as_set("union", b)))


@register(
    "intersection",
    "collections",
    2,
    "The set of the values in both of two sets or arrays.",
    "intersection(set(1, 2), set(2, 3)) == set(2)",
)
def intersection(a: Any, b: Any) -> TSet:
    charge_elements(_length(a) + _length(b))
    return _set_result(
        "intersection", _as_set("intersection", a).intersection(_as_set("intersection", b))
    )


@register(
    "difference",
    "collections",
    2,
    "The set of the values in the first set or array that are not in the second.",
    "difference(set(1, 2), set(2, 3)) == set(1)",
)
def difference(a: Any, b: Any) -> TSet:
    charge_elements(_length(a) + _length(b))
    return _set_result("difference", _as_set("difference", a).difference(_as_set("difference", b)))


@register(
    "set",
    "collections",
    (0, None),
    "The set of its arguments, without duplicates; `set()` is the empty set.",
    "set(2, 1, 2) == set(1, 2)",
)
def set_(*members: Any) -> TSet:
    charge_elements(_frozen(members))
    check_built_size("`set`", len(members), "set")
    return TSet(members)
