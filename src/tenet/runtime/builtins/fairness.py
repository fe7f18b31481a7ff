"""Fairness metrics over per-group confusion counts, as Fairlearn's `between_groups` differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tenet.runtime.builtins import register
from tenet.runtime.builtins.types import bad_arg, builtin_error, finite, want_object
from tenet.runtime.values import EvalError, charge_elements

_COUNTS = ("tp", "fp", "tn", "fn")

Counts = dict[str, int | float]


def _counts(fn: str, group: str, value: Any) -> Counts:
    if type(value) is not dict:
        raise bad_arg(fn, f"an object of counts {{tp, fp, tn, fn}} for group `{group}`", value)
    out: Counts = {}
    for key in _COUNTS:
        if key not in value:
            raise builtin_error(fn, f"group `{group}` has no `{key}` count")
        n = value[key]
        if not (type(n) is int or type(n) is float):
            raise bad_arg(fn, f"a number for `{key}` of group `{group}`", n)
        if n < 0:
            raise builtin_error(fn, f"group `{group}` has a negative `{key}` count")
        out[key] = n
    return out


def _rate(fn: str, group: str, label: str, num: int | float, den: int | float) -> float:
    if den == 0:
        raise builtin_error(fn, f"group `{group}` has no cases for its {label} (zero denominator)")
    try:
        return finite(fn, num / den)
    except OverflowError as e:
        raise EvalError("non_finite", f"`{fn}`: the counts of group `{group}` are too large") from e


def _spread(fn: str, groups: Any, rate: Callable[[str, Counts], float]) -> float:
    """max - min of ``rate`` across the groups."""
    obj = want_object(fn, groups, "an object of groups {group: {tp, fp, tn, fn}}")
    if not obj:
        raise builtin_error(fn, "there are no groups")
    # in key order, as objects iterate: which group an error names must not depend on the
    # order the input's keys came in
    charge_elements(len(obj))
    rates = [rate(g, _counts(fn, g, obj[g])) for g in sorted(obj)]
    return finite(fn, max(rates) - min(rates))


def _add(fn: str, group: str, a: int | float, b: int | float) -> int | float:
    try:
        return a + b
    except OverflowError as e:
        raise EvalError("non_finite", f"`{fn}`: the counts of group `{group}` are too large") from e


@register(
    "demographic_parity_difference",
    "fairness",
    1,
    "The largest difference in selection rate, (tp + fp) / (tp + fp + tn + fn), between any "
    "two groups of `{group: {tp, fp, tn, fn}}` counts (Fairlearn's between-groups difference).",
    "demographic_parity_difference({a: {tp: 40, fp: 10, tn: 40, fn: 10}, "
    "b: {tp: 20, fp: 5, tn: 60, fn: 15}}) == 0.25",
)
def demographic_parity_difference(groups: Any) -> float:
    fn = "demographic_parity_difference"

    def selection_rate(g: str, c: Counts) -> float:
        selected = _add(fn, g, c["tp"], c["fp"])
        n = _add(fn, g, selected, _add(fn, g, c["tn"], c["fn"]))
        return _rate(fn, g, "selection rate", selected, n)

    return _spread(fn, groups, selection_rate)


@register(
    "equalized_odds_difference",
    "fairness",
    1,
    "The larger of the between-groups differences in true positive rate, tp / (tp + fn), and "
    "false positive rate, fp / (fp + tn), over `{group: {tp, fp, tn, fn}}` counts (as "
    "Fairlearn).",
    "round(equalized_odds_difference({a: {tp: 40, fp: 10, tn: 40, fn: 10}, "
    "b: {tp: 20, fp: 5, tn: 60, fn: 15}}) * 1000) == 229",
)
def equalized_odds_difference(groups: Any) -> float:
    fn = "equalized_odds_difference"

    def tpr(g: str, c: Counts) -> float:
        return _rate(fn, g, "true positive rate", c["tp"], _add(fn, g, c["tp"], c["fn"]))

    def fpr(g: str, c: Counts) -> float:
        return _rate(fn, g, "false positive rate", c["fp"], _add(fn, g, c["fp"], c["tn"]))

    return max(_spread(fn, groups, tpr), _spread(fn, groups, fpr))
