"""Decisions as GitHub Actions workflow commands: an annotation per finding, at its input line."""

from __future__ import annotations

from tenet.ci.run import Evaluated, Finding, verdict_line
from tenet.escape import printable

__all__ = ["escape_data", "escape_property", "render_github"]

_COMMANDS = {"error": "error", "warning": "warning", "note": "notice"}


def escape_data(text: str) -> str:
    """A command's message: `%`, CR and LF escaped, as the Actions toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value: the message escapes, and `:` and `,` too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(item: Evaluated, f: Finding) -> str:
    """`::error file=…,line=…,col=…,title=…::message` (or `warning`, `notice`)."""
    props: list[tuple[str, str]] = []
    if item.path != "-":
        props.append(("file", item.path))
        region = item.region(f.pointer)
        if region is not None:  # else a file-level annotation: no line is better than a guess
            props += [("line", str(region.start_line)), ("col", str(region.start_column))]
    props.append(("title", printable(f.title)))
    head = ",".join(f"{k}={escape_property(v)}" for k, v in props)
    lines = item.lines(f)
    # the lines are the report's own; within them, control characters from the input (ESC,
    # NUL) are shown escaped as in the text report, and line ends are the command's escapes
    message = "\n".join(printable(line) for line in lines)
    return f"::{_COMMANDS[f.level]} {head}::{escape_data(message)}"


def render_github(items: list[Evaluated]) -> str:
    """An annotation per finding, then per input a plain line with its verdict."""
    lines: list[str] = []
    for item in items:
        lines.extend(annotation(item, f) for f in item.findings())
    for item in items:
        name = escape_data(printable("standard input" if item.path == "-" else item.path))
        lines.append(f"tenet: {name}: {verdict_line(item.decision)}")
    return "\n".join(lines)
