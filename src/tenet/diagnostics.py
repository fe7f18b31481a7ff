"""Diagnostics, the values every stage returns for what is wrong, and the errors the API raises."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from tenet.escape import printable
from tenet.source import Span

__all__ = [
    "DataDiagnostic",
    "DataPath",
    "Diagnostic",
    "PolicyError",
    "QueryError",
    "did_you_mean",
    "render_all",
    "unplaced",
]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding: a stable code, a lowercase message naming user text in backticks,
    where it is, and advice."""

    code: str
    message: str
    span: Span | None = None
    help: str | None = None
    # by keyword only: given by position, a file name was once taken for the severity
    _: KW_ONLY
    severity: str = "error"  # "error" or "warning"
    file: str | None = None  # for findings outside policy text (data, manifest)

    @property
    def path(self) -> str | None:
        return self.span.path if self.span is not None else self.file

    @property
    def line(self) -> int | None:
        return self.span.line if self.span is not None else None

    @property
    def column(self) -> int | None:
        return self.span.column if self.span is not None else None

    def location(self) -> str:
        if self.span is not None:
            return self.span.location()
        return self.file or "<bundle>"

    def render(self) -> str:
        # each part is one line: a file name or a name quoted from a file that holds a line
        # break or an escape is shown escaped, not obeyed (a CI log's `::error`, a terminal)
        lines = [
            printable(f"{self.severity}[{self.code}]: {self.message}"),
            printable(f"  --> {self.location()}"),
        ]
        if self.span is not None:
            lines.extend("  " + part for part in self.span.excerpt().splitlines())
        if self.help:
            lines.append(printable(f"  = help: {self.help}"))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.path,
            "line": self.line,
            "column": self.column,
            "help": self.help or None,  # always there, as `line` and `column` are: null
        }


DataPath = tuple[str | int, ...]
"""A key path of a bundle's data document: `("waivers", 0, "check")` is `data.waivers[0].check`."""

DataDiagnostic = Callable[[str, str, str | None, DataPath], Diagnostic]
"""Makes the diagnostic (code, message, help) of a problem at a key path of the data document,
placed in the data file that wrote it when the data came from files."""


def unplaced(code: str, message: str, help: str | None, at: DataPath) -> Diagnostic:
    """The `DataDiagnostic` of data that came from no file (a test's data override)."""
    return Diagnostic(code, message, None, help)


def render_all(diagnostics: Iterable[Diagnostic]) -> str:
    return "\n\n".join(d.render() for d in diagnostics)


class PolicyError(Exception):
    """A bundle or policy could not be loaded; ``diagnostics`` lists every problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__(render_all(self.diagnostics))

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt from its diagnostics, not its text: it crosses a process pool's boundary
        return (type(self), (self.diagnostics,))


class QueryError(PolicyError):
    """A query names neither a package nor a rule of the bundle (or names a function)."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A help line naming the closest candidate, if one is close enough."""
    pool = sorted(set(candidates) - {name})  # the name itself is never the advice
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    if not close and len(name) >= 3:
        # a name cut short (`prod` for `production`): the one candidate it starts
        starting = [c for c in pool if c.startswith(name)]
        close = starting if len(starting) == 1 else []
    return f"did you mean `{close[0]}`?" if close else None
