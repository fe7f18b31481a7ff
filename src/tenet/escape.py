"""Text made safe to print where a person reads it (a terminal, a CI log): control characters
written as JSON writes them."""

from __future__ import annotations

import re

__all__ = ["CONTROL", "printable"]


# Characters a log or terminal obeys rather than shows: C0 (a newline would let an input start
# a line of its own, such as a GitHub `::error` command), DEL, C1 (`\x9b` opens a terminal
# escape as ESC `[` does) and the Unicode line and paragraph separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    return _SHORT_ESCAPES.get(c) or f"\\u{ord(c):04x}"


def printable(text: str) -> str:
    """``text`` on one line with nothing a terminal obeys: control characters are written as
    JSON writes them (`\\n`, `\\u001b`)."""
    return CONTROL.sub(_escape, text)
