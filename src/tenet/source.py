"""Source text and positions: `Source`, `Span`, line and column lookup, caret excerpts."""

from __future__ import annotations

import bisect
import unicodedata
from dataclasses import dataclass, field

from tenet.escape import CONTROL as _CONTROL
from tenet.escape import printable

__all__ = ["NO_SPAN", "Source", "Span", "display_width", "line_break"]


def line_break(text: str) -> str:
    """The character that ends a line of ``text``: `\\n` (LF, and CRLF with the `\\r` left
    at the end of the line), or `\\r` in a file with CR-only (old Mac) line ends, which
    editors show as lines too. A `\\r` in a file that has any LF is a character of its line."""
    return "\r" if "\r" in text and "\n" not in text else "\n"


@dataclass(frozen=True, slots=True, eq=False)
class Source:
    """One policy file: its path relative to the bundle root (POSIX) and its text."""

    path: str
    text: str
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def line_starts(self) -> list[int]:
        if not self._line_starts:
            starts = [0]
            text = self.text
            nl = line_break(text)
            i = text.find(nl)
            while i >= 0:
                starts.append(i + 1)
                i = text.find(nl, i + 1)
            self._line_starts.extend(starts)
        return self._line_starts

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        starts = self.line_starts()
        line = bisect.bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    def line_text(self, line: int) -> str:
        starts = self.line_starts()
        if line < 1 or line > len(starts):
            return ""
        end = self.text.find(line_break(self.text), starts[line - 1])
        return self.text[starts[line - 1] : end if end >= 0 else len(self.text)].rstrip("\r")

    def span(self, start: int, end: int) -> Span:
        line, col = self.position(start)
        return Span(self, start, max(end, start), line, col)


EXCERPT_WIDTH = 100  # the most characters of a line an excerpt shows


@dataclass(frozen=True, slots=True, eq=False)
class Span:
    """A region of a source file. Spans never take part in node equality."""

    source: Source
    start: int
    end: int
    line: int
    column: int

    @property
    def path(self) -> str:
        return self.source.path

    def location(self) -> str:
        return f"{self.source.path}:{self.line}:{self.column}"

    def text(self) -> str:
        return self.source.text[self.start : self.end]

    def excerpt(self) -> str:
        """The line with a caret under the span (up to the end of the line); a long line is
        cut to a window of EXCERPT_WIDTH characters around the caret, marked with `…`."""
        line_text = self.source.line_text(self.line)
        at = self.column - 1
        width = max(1, min(self.end - self.start, len(line_text) - at))
        if _CONTROL.search(line_text):
            # shown escaped, never obeyed (a NUL, a terminal escape): the caret follows
            shown = [printable(c) for c in line_text]
            width = max(1, sum(len(p) for p in shown[at : at + width]))
            at = sum(len(p) for p in shown[:at])
            line_text = "".join(shown)
        if len(line_text) > EXCERPT_WIDTH:
            first = max(0, min(at - EXCERPT_WIDTH // 3, len(line_text) - EXCERPT_WIDTH))
            last = first + EXCERPT_WIDTH
            head = "…" if first > 0 else ""
            line_text = head + line_text[first:last] + ("…" if last < len(line_text) else "")
            width = max(1, min(width, last - at))
            at = at - first + len(head)
        number = str(self.line)
        pad = " " * len(number)
        caret = " " * display_width(line_text[:at])
        caret += "^" * max(1, display_width(line_text[at : at + width]))
        return f"{pad} |\n{number} | {line_text}\n{pad} | {caret}"

    def __repr__(self) -> str:
        return f"Span({self.location()})"


def display_width(text: str) -> int:
    """The columns `text` takes in a terminal: a wide (CJK) character two, a combining mark
    or a format character (a zero-width joiner) none, so a caret lines up under it."""
    width = 0
    for c in text:
        if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
    return width


NO_SPAN = Span(Source("<none>", ""), 0, 0, 1, 1)
"""The span of a node built outside any file (tests, generated code)."""
