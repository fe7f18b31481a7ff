"""RFC 3339 timestamps to epoch seconds and back; the only clock policies see is `now()`."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from tenet.escape import printable
from tenet.runtime.builtins.time import epoch_seconds

__all__ = ["format_rfc3339", "parse_rfc3339"]


def parse_rfc3339(text: str) -> int | float:
    """Epoch seconds of an RFC 3339 timestamp: an int when whole. Raises ValueError."""
    value = epoch_seconds(text)
    if value is None:
        # escaped: the text may come from a command line or a request, and a newline in it
        # would start a line of its own in a terminal or a log
        raise ValueError(
            f"`{printable(text)}` is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z"
        )
    return value


_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def format_rfc3339(epoch: int | float) -> str:
    """UTC RFC 3339 text, with microseconds only when the time has a fraction."""
    whole = math.floor(epoch)
    micro = round((epoch - whole) * 1_000_000)
    if micro == 1_000_000:
        whole, micro = whole + 1, 0
    # every decision formats its clock: most fall in the same second as the one before
    cached = _second
    if cached[0] != whole:
        # not strftime, whose `%Y` gives `1`, not `0001`, for the years before 1000 (glibc)
        text = datetime.fromtimestamp(whole, UTC).isoformat(timespec="seconds")[:19]
        cached[0], cached[1] = whole, text
    else:
        text = cached[1]
    return f"{text}.{micro:06d}Z" if micro else f"{text}Z"
