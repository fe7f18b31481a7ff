"""Time built-ins: the decision's clock `now()`, RFC 3339 `time(...)` and `duration(...)`."""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction
from typing import Any, Final

from tenet.runtime.builtins import register
from tenet.runtime.builtins.types import builtin_error, finite, want_string, whole
from tenet.runtime.values import WORK_PER_STEP, charge_work
from tenet.wording import shortened


@register(
    "now",
    "time",
    0,
    "The decision's current time in epoch seconds: fixed for the whole decision and settable "
    "by the caller (the wall clock in UTC otherwise).",
    'now() >= time("2025-01-01T00:00:00Z")',
    pure=False,
    needs_ctx=True,
)
def now(ctx: Any) -> int | float:
    return ctx.now


_RFC3339: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()
# more fraction digits than this cannot change a double near any epoch time
_FRACTION_DIGITS: Final = 40


def _fraction(digits: str | None) -> Fraction | None:
    if digits is None or not digits.strip("0"):
        return None
    kept = digits[:_FRACTION_DIGITS]
    return Fraction(int(kept), 10 ** len(kept))


_CACHE_SIZE: Final = 4096
_cache: dict[str, int | float | None] = {}


def epoch_seconds(s: str) -> int | float | None:
    """The epoch seconds of an RFC 3339 timestamp, or None when ``s`` is not one."""
    # policies compare the same few timestamps (tokens, expiries, `now`) over and over
    try:
        return _cache[s]
    except KeyError:
        pass
    value = _epoch_seconds(s)
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    _cache[s] = value
    return value


def _epoch_seconds(s: str) -> int | float | None:
    m = _RFC3339.fullmatch(s)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(m[i]) for i in range(1, 7))
    off_h, off_m = (int(m[9]), int(m[10])) if m[8] else (0, 0)
    if hour > 23 or minute > 59 or second > 59 or off_h > 23 or off_m > 59:
        return None
    try:
        days = dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    offset = (off_h * 3600 + off_m * 60) * (-1 if m[8] == "-" else 1)
    whole = days * 86400 + hour * 3600 + minute * 60 + second - offset
    frac = _fraction(m[7])
    return whole if frac is None else float(whole + frac)


@register(
    "time",
    "time",
    1,
    "The epoch seconds of an RFC 3339 timestamp with `Z` or an offset such as `+02:00` "
    "(fractional seconds give a fractional result).",
    'time("2025-11-20T14:32:15Z") == 1763649135',
)
def time(s: Any) -> int | float:
    text = want_string("time", s, "an RFC 3339 timestamp string")
    charge_work(len(text))
    t = epoch_seconds(text)
    if t is None:
        m = _RFC3339.fullmatch(text)
        if m is not None and int(m[6]) == 60:
            # RFC 3339 allows it, but epoch seconds have no place for it (nor has OPA's
            # time.parse_rfc3339_ns): say so rather than call the timestamp malformed
            raise builtin_error(
                "time",
                f"`{shortened(text)}` is a leap second, which epoch seconds cannot hold: "
                "write the second before it (`:59`)",
            )
        raise builtin_error(
            "time",
            f"`{shortened(text)}` is not an RFC 3339 timestamp (like 2025-11-20T14:32:15Z)",
        )
    return t


_UNIT_SECONDS: Final[dict[str, Fraction]] = {
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
    "d": Fraction(86400),
    "w": Fraction(604800),
}
_DURATION_PART: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")


def duration_seconds(s: str) -> Fraction | None:
    """The exact seconds of a duration such as `1h30m`, `1.5h` or `0`; None if malformed."""
    if s == "0":
        return Fraction(0)
    total = Fraction(0)
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            return None
        total += Fraction(m[1]) * _UNIT_SECONDS[m[2]]
        pos = m.end()
    return total if s else None


@register(
    "duration",
    "time",
    1,
    "The seconds in a non-negative duration string such as `1h30m`, `1.5h` or `250ms`, with "
    'units `ms s m h d w` (`"0"` is 0).',
    'duration("1h30m") == 5400',
)
def duration(s: Any) -> int | float:
    text = want_string("duration", s, "a duration string")
    # parsed part by part, a few characters each, in exact fractions (microseconds a part)
    charge_work(4 * WORK_PER_STEP * len(text))
    try:
        seconds = duration_seconds(text)
        if seconds is not None and seconds.denominator == 1:
            return whole("duration", int(seconds))
        if seconds is not None:
            return finite("duration", float(seconds))
    except (ValueError, OverflowError) as e:  # digit strings too long to convert
        raise builtin_error("duration", f"`{shortened(text)}` is too large") from e
    raise builtin_error(
        "duration",
        f"`{shortened(text)}` is not a non-negative duration (like 1h30m, 1.5h or 250ms)",
    )
