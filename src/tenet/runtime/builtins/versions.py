"""Semantic versions: `semver_compare` (SemVer 2.0.0 precedence) and `semver_satisfies` ranges."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from tenet.runtime.builtins import register
from tenet.runtime.builtins.types import builtin_error, want_string
from tenet.runtime.values import WORK_PER_STEP, charge_work
from tenet.wording import shortened

_CORE: Final = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_IDENT: Final = re.compile(r"[0-9A-Za-z-]+")
_NUMERIC: Final = re.compile(r"[0-9]+")


# A numeric identifier as (digit count, digits): without leading zeros this orders as the
# number does, and needs no conversion of arbitrarily long digit strings.
Numeric = tuple[int, str]


class Version(NamedTuple):
    core: tuple[Numeric, Numeric, Numeric]
    # pre-release identifiers: Numeric for numeric ones, str for the others
    pre: tuple[Numeric | str, ...]


def _numeric(digits: str) -> Numeric:
    return (len(digits), digits)


def _pre_release(text: str) -> tuple[Numeric | str, ...] | None:
    out: list[Numeric | str] = []
    for ident in text.split("."):
        if not _IDENT.fullmatch(ident):
            return None
        if _NUMERIC.fullmatch(ident):
            if len(ident) > 1 and ident[0] == "0":
                return None  # SemVer 2.0.0 rules out leading zeros in numeric identifiers
            out.append(_numeric(ident))
        else:
            out.append(ident)
    return tuple(out)


def parse_version(s: str) -> Version | None:
    """A SemVer 2.0.0 version (no `v` prefix); build metadata is checked and dropped."""
    rest, plus, build = s.partition("+")
    if plus and not all(_IDENT.fullmatch(ident) for ident in build.split(".")):
        return None
    core, dash, pre_text = rest.partition("-")
    m = _CORE.fullmatch(core)
    if m is None:
        return None
    pre: tuple[Numeric | str, ...] = ()
    if dash:
        parsed = _pre_release(pre_text)
        if parsed is None:
            return None
        pre = parsed
    return Version((_numeric(m[1]), _numeric(m[2]), _numeric(m[3])), pre)


def _version(fn: str, v: Any, what: str = "a version string") -> Version:
    parsed = parse_version(want_string(fn, v, what))
    if parsed is None:
        raise builtin_error(fn, f"`{shortened(v)}` is not a semantic version (like 1.2.3)")
    return parsed


def _sign(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def _cmp_ident(a: Numeric | str, b: Numeric | str) -> int:
    if type(a) is str and type(b) is str:
        return _sign(a, b)  # ASCII order
    if type(a) is str:
        return 1  # numeric identifiers have lower precedence than alphanumeric ones
    if type(b) is str:
        return -1
    return _sign(a, b)


def compare(a: Version, b: Version) -> int:
    """-1, 0 or 1 by SemVer 2.0.0 precedence."""
    if a.core != b.core:
        return _sign(a.core, b.core)
    if not a.pre or not b.pre:
        # a pre-release sorts before its release
        return _sign(not a.pre, not b.pre)
    for x, y in zip(a.pre, b.pre, strict=False):
        c = _cmp_ident(x, y)
        if c:
            return c
    return _sign(len(a.pre), len(b.pre))


@register(
    "semver_compare",
    "versions",
    2,
    "Compares two semantic versions by SemVer 2.0.0 precedence: -1, 0 or 1 as the first is "
    "lower than, equal to or higher than the second (a pre-release is lower than its release; "
    "build metadata is ignored).",
    'semver_compare("1.2.3", "1.10.0") == -1',
)
def semver_compare(a: Any, b: Any) -> int:
    charge_work(_length(a) + _length(b))
    return compare(_version("semver_compare", a), _version("semver_compare", b))


def _length(v: Any) -> int:
    return len(v) if type(v) is str else 0


_OPS: Final[dict[str, Callable[[int], bool]]] = {
    "=": lambda c: c == 0,
    "!=": lambda c: c != 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}
# an operator (optionally followed by spaces) and the version text up to the next space
_COMPARATOR: Final = re.compile(r"(!=|<=|>=|=|<|>)?[ \t]*([^ \t]*)")

Comparator = tuple[Callable[[int], bool], Version]


def _alternative(rng: str, text: str) -> list[Comparator]:
    words = text.split()
    if not words:
        raise builtin_error("semver_satisfies", f"the range `{shortened(rng)}` has an empty part")
    comparators: list[Comparator] = []
    joined = " ".join(words)
    pos = 0
    while pos < len(joined):
        m = _COMPARATOR.match(joined, pos)
        assert m is not None  # every group is optional
        op, ver = m[1] or "=", m[2]
        parsed = parse_version(ver)
        if parsed is None:
            shown = m[0] or joined[pos:]
            raise builtin_error(
                "semver_satisfies",
                f"the range `{shortened(rng)}` has a bad comparator `{shortened(shown)}`",
            )
        comparators.append((_OPS[op], parsed))
        pos = m.end() + 1  # past the single space that separates comparators
    return comparators


def parse_range(rng: str) -> list[list[Comparator]]:
    """Alternatives (`||`) of AND-ed comparators such as `>=2.0.0 <3.0.0`."""
    return [_alternative(rng, part) for part in rng.split("||")]


@register(
    "semver_satisfies",
    "versions",
    2,
    "True when the version satisfies the range: comparators `= != < <= > >=` (a bare version "
    "means `=`) separated by spaces must all hold, and `||` separates alternatives.",
    'semver_satisfies("2.3.1", ">=2.0.0 <3.0.0") == true',
)
def semver_satisfies(version: Any, rng: Any) -> bool:
    v = _version("semver_satisfies", version)
    text = want_string("semver_satisfies", rng, "a range string")
    charge_work(_length(version))
    # parsed comparator by comparator, a few characters each (microseconds a comparator)
    charge_work(WORK_PER_STEP * len(text))
    alternatives = parse_range(text)
    return any(all(test(compare(v, bound)) for test, bound in alt) for alt in alternatives)
