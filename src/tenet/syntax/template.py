"""Check messages as templates: `{expr}` and `{expr:.1%}` holes in text, `{{`/`}}` escapes."""

from __future__ import annotations

from dataclasses import dataclass

from tenet.diagnostics import Diagnostic
from tenet.source import Span
from tenet.syntax import ast

__all__ = ["Hole", "Template", "split_template"]


@dataclass(frozen=True, slots=True)
class Hole:
    expr: ast.Expr
    spec: str  # a Python format spec, "" for the default rendering
    text: str  # the expression as written


@dataclass(frozen=True, slots=True)
class Template:
    parts: tuple[str | Hole, ...]


class TemplateSyntaxError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def split_template(text: str) -> list[str | tuple[str, str, int]]:
    """Literal text and `(expression, format spec, offset)` holes, in order."""
    parts: list[str | tuple[str, str, int]] = []
    literal: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "}":
            if text.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise TemplateSyntaxError("a single `}` in a message", i)
        if c != "{":
            literal.append(c)
            i += 1
            continue
        if text.startswith("{{", i):
            literal.append("{")
            i += 2
            continue
        end, colon = _hole_end(text, i + 1)
        if literal:
            parts.append("".join(literal))
            literal = []
        expr_end = colon if colon is not None else end
        expr = text[i + 1 : expr_end]
        spec = text[colon + 1 : end] if colon is not None else ""
        if not expr.strip():
            raise TemplateSyntaxError("an empty `{}` in a message", i)
        parts.append((expr, spec, i + 1))
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return parts


def _hole_end(text: str, i: int) -> tuple[int, int | None]:
    """The index of the `}` closing a hole that starts at ``i``, and of its format `:`."""
    opening = i - 1
    depth = 0
    colon: int | None = None
    quoted = False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c in "([{":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "}":
            if depth == 0:
                return i, colon
            depth -= 1
        elif c == ":" and depth == 0 and colon is None:
            colon = i
        i += 1
    raise TemplateSyntaxError("a `{` in a message is never closed", opening)


def template_diagnostic(err: TemplateSyntaxError, span: Span | None, text: str) -> Diagnostic:
    """The error of the message `text` written at `span` (its string literal), pointed at the
    brace it is about where the literal has no escapes, so that its offsets are the text's."""
    if span is not None and span.text()[1:-1] == text:
        start = span.start + 1 + err.offset
        width = 2 if text.startswith("{}", err.offset) else 1
        span = span.source.span(start, start + width)
    return Diagnostic(
        "template",
        f"bad message template: {err}",
        span,
        "write `{{` and `}}` for literal braces; a hole is `{expression}` or `{expression:.1%}`",
    )
