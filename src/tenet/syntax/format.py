"""Syntax tree and comments back to text in one canonical style: `tenet fmt`.

The style: four-space indentation; one statement per line; a body on one line only when the
author wrote it so, it holds one plain statement and no comment, and it fits in 100 columns;
literals, calls and comprehensions the author spread over lines stay one element per line
with a trailing comma; a line broken after `and`/`or` stays broken; operators spaced,
parentheses only where precedence needs them; one blank line after `package`, after the
imports and around definitions that span lines, and at most one blank line anywhere.

Every comment is kept: a comment on its own line stays above the statement or definition
that follows it, a comment at the end of a line stays at the end of that line, and a comment
inside an expression that is laid out on one line moves to the line above its statement.
`parse(format(x)) == parse(x)` and `format(format(x)) == format(x)`.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import assert_never

from tenet.diagnostics import Diagnostic
from tenet.source import NO_SPAN, Source, Span
from tenet.syntax import ast
from tenet.syntax.parser import parse

__all__ = ["WIDTH", "format_module", "format_source", "format_text"]

WIDTH = 100
INDENT = "    "

# how tightly each node binds: the grammar's precedence levels, loosest first
_OR, _AND, _NOT, _CMP, _SUM, _PRODUCT, _UNARY, _POSTFIX, _ATOM = range(1, 10)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KEYWORDS = frozenset(
    "package import as default if some every in not and or for true false null require "
    "forbid when message".split()
)

Lines = list[str]  # the first entry continues the current line; the rest are whole lines
_TRAIL = "\x00"  # stands before a comment at the end of a line, until comments are aligned


def _level(e: ast.Expr) -> int:
    match e:
        case ast.BoolOp(op=op):
            return _OR if op == "or" else _AND
        case ast.Not():
            return _NOT
        case ast.Compare():
            return _CMP
        case ast.Binary(op=op):
            return _SUM if op in "+-" else _PRODUCT
        case ast.Negate():
            return _UNARY
        case ast.Field() | ast.Index() | ast.Call():
            return _POSTFIX
        case _:
            return _ATOM


def _cat(*parts: str | Lines) -> Lines:
    """Concatenate fragments: each part continues the last line of the one before."""
    out: Lines = [""]
    for part in parts:
        if isinstance(part, str):
            out[-1] += part
        else:
            out[-1] += part[0]
            out.extend(part[1:])
    return out


@dataclass
class _Child:
    """One entry of a block (a statement, an element, a definition): where it stands in the
    source, and how to write it at a given indentation."""

    start: int
    end: int
    render: Callable[[str], Lines]
    kind: str = ""


class _Printer:
    def __init__(self, module: ast.Module) -> None:
        self.module = module
        self.source: Source | None = (
            module.span.source if module.span.source is not NO_SPAN.source else None
        )
        self.comments = sorted(module.comments) if self.source is not None else []
        self.offsets = [offset for offset, _ in self.comments]
        self.used = [False] * len(self.comments)

    # ---- positions and comments ---------------------------------------------------------------

    def _known(self, span: Span | None) -> bool:
        return span is not None and self.source is not None and span.source is self.source

    def line_of(self, offset: int) -> int:
        assert self.source is not None
        return self.source.position(offset)[0]

    def end_line(self, start: int, end: int) -> int:
        return self.line_of(max(start, end - 1))

    def one_line(self, span: Span | None) -> bool:
        """Whether the author wrote the node on one line (unknown positions count as one)."""
        if span is None or not self._known(span):
            return True
        return "\n" not in self.source.text[span.start : span.end]  # type: ignore[union-attr]

    def _range(self, start: int, end: int) -> range:
        return range(bisect.bisect_left(self.offsets, start), bisect.bisect_left(self.offsets, end))

    def take(self, start: int, end: int) -> list[tuple[int, str]]:
        """The unused comments in [start, end), now used."""
        out = []
        for i in self._range(start, end):
            if not self.used[i]:
                self.used[i] = True
                offset, text = self.comments[i]
                out.append((offset, text.rstrip()))
        return out

    def has_comments(self, start: int, end: int) -> bool:
        return any(not self.used[i] for i in self._range(start, end))

    def gap(self, before_line: int, line: int) -> bool:
        return line - before_line > 1

    # ---- blocks ------------------------------------------------------------------------------

    def block(
        self,
        out: Lines,
        children: Sequence[_Child],
        indent: str,
        region: tuple[int, int],
        blank: Callable[[_Child | None, _Child, bool, Lines | None], bool] | None = None,
        hoist: bool = True,
    ) -> None:
        """Write children one under another at `indent`, after `out[-1]` (the line that opens
        the block), with the comments around them. A comment on the line where the previous
        child ends (or the block opens) stays at the end of that line; other comments go on
        their own lines above the next child, or below the last one. `blank` decides the blank
        line before a child from the previous child, whether the source had one, and the
        previous child's lines; by default the source's blank lines are kept (at most one)."""
        if self.source is None:  # a tree built without source text: no comments, no layout
            prev_child: _Child | None = None
            prev_rendered: Lines | None = None
            for child in children:
                lines = child.render(indent)
                if blank is not None and blank(prev_child, child, False, prev_rendered):
                    out.append("")
                out.append(indent + lines[0])
                out.extend(lines[1:])
                prev_child, prev_rendered = child, lines
            return
        start, end = region
        last_line = self.line_of(start)
        prev: _Child | None = None
        prev_lines: Lines | None = None
        pos = start
        for child in children:
            group: Lines = []
            group_line: int | None = None
            for offset, text in self.take(pos, child.start):
                line = self.line_of(offset)
                if line == last_line:
                    out[-1] += _TRAIL + text
                    continue
                if group_line is None:
                    group_line = line
                elif line - last_line > 1:
                    group.append("")
                group.append(indent + text)
                last_line = line
            lines = child.render(indent)
            hoisted = [indent + t for _, t in self.take(child.start, child.end)] if hoist else []
            child_line = self.line_of(child.start)
            if group and child_line - last_line > 1:
                group.append("")
            before = self._before_group_line(prev, start)
            source_gap = (group_line or child_line) - before > 1
            if blank is not None:
                want = blank(prev, child, source_gap, prev_lines)
            else:
                want = source_gap and prev is not None
            if want and out and out[-1] != "":
                out.append("")
            out.extend(group)
            out.extend(hoisted)
            out.append(indent + lines[0])
            out.extend(lines[1:])
            prev, prev_lines = child, lines
            pos = child.end
            last_line = self.end_line(child.start, child.end)
        # comments after the last child, before the block closes
        for offset, text in self.take(pos, end):
            line = self.line_of(offset)
            if line == last_line:
                out[-1] += _TRAIL + text
                continue
            if line - last_line > 1 and (prev is not None or blank is not None):
                out.append("")
            out.append(indent + text)
            last_line = line

    def _before_group_line(self, prev: _Child | None, start: int) -> int:
        if prev is None:
            return self.line_of(start)
        return self.end_line(prev.start, prev.end)

    # ---- the module --------------------------------------------------------------------------

    def write(self) -> str:
        m = self.module
        out: Lines = []
        package_start = (
            m.package_span.start if m.package_span and self._known(m.package_span) else 0
        )
        if self.source is not None:
            last_line = 0
            for offset, text in self.take(0, package_start):
                line = self.line_of(offset)
                if out and self.gap(last_line, line):
                    out.append("")
                out.append(text)
                last_line = line
            if out and self.gap(last_line, self.line_of(package_start)):
                out.append("")
        out.append("package " + ".".join(m.package))
        children: list[_Child] = []
        for imp in m.imports:
            children.append(self._import_child(imp))
        for d in m.definitions:
            children.append(self._definition_child(d))
        if self.source is not None:
            children.sort(key=lambda c: c.start)
        end = len(self.source.text) if self.source is not None else 0
        self.block(out, children, "", (package_start, end), _module_blank)
        if self.source is not None and _TRAIL in self.source.text:
            out = [line.replace(_TRAIL, "  ") for line in out]  # cannot tell them apart
        return "\n".join(_strip(line) for line in _align(out)) + "\n"

    def _import_child(self, imp: ast.Import) -> _Child:
        text = "import " + ".".join(imp.path) + (f" as {imp.alias}" if imp.alias else "")
        start, end = self._bounds(imp.span)
        return _Child(start, end, lambda indent: [text], "import")

    def _bounds(self, span: Span | None) -> tuple[int, int]:
        if self._known(span):
            assert span is not None
            return span.start, span.end
        return 0, 0

    def _definition_child(self, d: ast.Definition) -> _Child:
        start, end = self._bounds(d.span)
        if d.annotations and self._known(d.annotations[0].span):
            start = min(start, d.annotations[0].span.start)

        def render(indent: str) -> Lines:
            parts: list[_Child] = []
            for note in d.annotations:
                a_start, a_end = self._bounds(note.span)
                parts.append(_Child(a_start, a_end, partial(_fixed, "#@" + note.text)))
            d_start, d_end = self._bounds(d.span)
            parts.append(_Child(d_start, d_end, lambda i: self.definition(d, i)))
            if len(parts) == 1:
                return self.definition(d, indent)
            out: Lines = [""]
            self.block(out, parts, indent, (start, end), hoist=False)
            return out[1:]

        return _Child(start, end, render, "definition")

    # ---- definitions -------------------------------------------------------------------------

    def definition(self, d: ast.Definition, indent: str) -> Lines:
        match d:
            case ast.DefaultRule(name=name, value=value):
                return _cat(f"default {name} = ", self.expr(value, indent))
            case ast.Rule():
                return self.rule(d, indent)
            case ast.Check():
                return self.check(d, indent)
            case _:
                assert_never(d)

    def rule(self, r: ast.Rule, indent: str) -> Lines:
        head: Lines
        params = f"({', '.join(r.params)})"
        match r.kind:
            case "bool":
                head = [r.name]
            case "value":
                assert r.value is not None
                head = _cat(f"{r.name} = ", self.expr(r.value, indent))
            case "set":
                assert r.value is not None
                head = _cat(f"{r.name} contains ", self.expr(r.value, indent))
            case "bool_function":
                head = [r.name + params]
            case "value_function":
                assert r.value is not None
                head = _cat(f"{r.name}{params} = ", self.expr(r.value, indent))
            case _:
                raise AssertionError(r.kind)
        if r.body is None:
            return head
        return self._with_body(_cat(head, " if "), r.body, indent)

    def check(self, c: ast.Check, indent: str) -> Lines:
        head: Lines = [f"{c.kind} {c.name}" + (f" {c.severity}" if c.severity else "")]
        if c.when is not None:
            head = _cat(head, " when ", self.expr(c.when, indent))
        message = ""
        if c.message is not None:
            message = " message " + self._message(c)
        return self._with_body(_cat(head, " "), c.body, indent, message)

    def _message(self, c: ast.Check) -> str:
        span = c.message_span
        if self._known(span):
            assert span is not None
            raw = span.text()
            if raw.startswith('"') and raw.endswith('"'):
                return raw
        return _string(c.message or "")

    def _inline_body(self, body: ast.Body, indent: str) -> Lines | None:
        """`{ statement }` when the author wrote the body on one line, with one plain
        statement and no comment; None otherwise."""
        stmts = body.statements
        start, end = self._bounds(body.span)
        if (
            len(stmts) != 1
            or isinstance(stmts[0], ast.EveryIn)
            or not self._known(body.span)
            or not self.one_line(body.span)
            or self.has_comments(start, end)
        ):
            return None
        inner = self.statement(stmts[0], indent)
        return ["{ " + inner[0] + " }"] if len(inner) == 1 else None

    def _with_body(self, head: Lines, body: ast.Body, indent: str, tail: str = "") -> Lines:
        """`head` then the body (then `tail`): on one line if it fits in WIDTH, else a block."""
        inline = self._inline_body(body, indent)
        if inline is not None:
            lines = _cat(head, inline, tail)
            width = len(indent) + len(lines[0]) if len(lines) == 1 else len(lines[-1])
            if width <= WIDTH:
                return lines
        return _cat(head, self._block_body(body, indent), tail)

    def _block_body(self, body: ast.Body, indent: str) -> Lines:
        inner = indent + INDENT
        children = [self._statement_child(s) for s in body.statements]
        out: Lines = ["{"]
        self.block(out, children, inner, self._bounds(body.span))
        out.append(indent + "}")
        return out

    # ---- statements --------------------------------------------------------------------------

    def _statement_child(self, s: ast.Statement) -> _Child:
        start, end = self._bounds(s.span)
        return _Child(start, end, lambda indent: self.statement(s, indent), "statement")

    def statement(self, s: ast.Statement, indent: str) -> Lines:
        match s:
            case ast.Condition(expr=e):
                return self.expr(e, indent)
            case ast.Assign(name=name, expr=e):
                return _cat(f"{name} := ", self.expr(e, indent))
            case ast.SomeIn(names=names, collection=coll):
                return _cat(f"some {', '.join(names)} in ", self.sub(coll, _SUM, indent))
            case ast.EveryIn(names=names, collection=coll, body=inner):
                head = _cat(f"every {', '.join(names)} in ", self.sub(coll, _SUM, indent), " ")
                return self._with_body(head, inner, indent)
            case _:
                assert_never(s)

    # ---- expressions -------------------------------------------------------------------------

    def sub(self, e: ast.Expr, least: int, indent: str) -> Lines:
        """`e` where the grammar needs a level of at least `least`: in parentheses if looser."""
        lines = self.expr(e, indent)
        if _level(e) < least:
            return _cat("(", lines, ")")
        return lines

    def expr(self, e: ast.Expr, indent: str) -> Lines:
        match e:
            case ast.Literal():
                return [_literal(e)]
            case ast.Var(name=name):
                return [name]
            case ast.Field(obj=obj, name=name):
                return _cat(self.sub(obj, _POSTFIX, indent), "." + name)
            case ast.Index(obj=obj, index=index):
                return _cat(self.sub(obj, _POSTFIX, indent), "[", self.expr(index, indent), "]")
            case ast.Call(func=func, args=args):
                return _cat(self.sub(func, _POSTFIX, indent), self._args(e, args, indent))
            case ast.Negate(operand=x):
                return _cat("-", self.sub(x, _UNARY, indent))
            case ast.Not(operand=x):
                return _cat("not ", self.sub(x, _NOT, indent))
            case ast.Binary(op=op, left=a, right=b):
                level = _level(e)
                return _cat(self.sub(a, level, indent), f" {op} ", self.sub(b, level + 1, indent))
            case ast.Compare(op=op, left=a, right=b):
                return _cat(self.sub(a, _SUM, indent), f" {op} ", self.sub(b, _SUM, indent))
            case ast.BoolOp():
                return self._boolop(e, indent)
            case ast.ArrayLit(items=items):
                return self._sequence(e, "[", "]", [(i, None) for i in items], indent)
            case ast.ObjectLit(pairs=pairs):
                return self._sequence(e, "{", "}", list(pairs), indent)
            case ast.ArrayComp(clauses=clauses):
                return self._comprehension(e, "[", "]", clauses, indent)
            case ast.SetComp(clauses=clauses) | ast.ObjectComp(clauses=clauses):
                return self._comprehension(e, "{", "}", clauses, indent)
            case _:
                assert_never(e)

    def _boolop(self, e: ast.BoolOp, indent: str) -> Lines:
        level = _level(e)
        left = self.sub(e.left, level, indent)
        right_indent = indent + INDENT
        broken = (
            self._known(e.left.span)
            and self._known(e.right.span)
            and self.line_of(e.right.span.start) > self.end_line(e.left.span.start, e.left.span.end)
        )
        if not broken:
            return _cat(left, f" {e.op} ", self.sub(e.right, level + 1, indent))
        out = _cat(left, f" {e.op}")
        # the comments between the operator and the right side stay where they were
        left_line = self.end_line(e.left.span.start, e.left.span.end)
        for offset, text in self.take(e.left.span.end, e.right.span.start):
            if self.line_of(offset) == left_line:
                out[-1] += _TRAIL + text
            else:
                out.append(right_indent + text)
        right = self.sub(e.right, level + 1, right_indent)
        out.append(right_indent + right[0])
        out.extend(right[1:])
        return out

    def _spread(self, e: ast.Expr) -> bool:
        """Whether the author spread a literal, call or comprehension over several lines."""
        return self._known(e.span) and not self.one_line(e.span)

    def _element(self, k: ast.Expr, v: ast.Expr | None, at: str) -> Lines:
        """An element of an array, or a pair of an object, with its comma."""
        if v is None:
            return _cat(self.expr(k, at), ",")
        return _cat(self._key(k, at), ": ", self.expr(v, at), ",")

    def _sequence(
        self,
        e: ast.ArrayLit | ast.ObjectLit,
        open_: str,
        close: str,
        items: list[tuple[ast.Expr, ast.Expr | None]],
        indent: str,
    ) -> Lines:
        def item(k: ast.Expr, v: ast.Expr | None, at: str) -> Lines:
            if v is None:
                return self.expr(k, at)
            return _cat(self._key(k, at), ": ", self.expr(v, at))

        if not items:
            return [open_ + close]
        if not self._spread(e):
            parts: list[str | Lines] = [open_]
            for i, (k, v) in enumerate(items):
                if i:
                    parts.append(", ")
                parts.append(item(k, v, indent))
            parts.append(close)
            return _cat(*parts)
        children = []
        for k, v in items:
            start = k.span.start if self._known(k.span) else 0
            last = v if v is not None else k
            end = last.span.end if self._known(last.span) else 0
            children.append(_Child(start, end, partial(self._element, k, v), "element"))
        return self._spread_block(e, open_, close, children, indent)

    def _spread_block(
        self, e: ast.Expr, open_: str, close: str, children: list[_Child], indent: str
    ) -> Lines:
        out: Lines = [open_]
        # inside `{…}` a line break after a value ends a statement, so a comment that cannot
        # stay where it was goes above the whole statement instead of above a `for` or `if`
        hoist = not isinstance(e, ast.SetComp | ast.ObjectComp)
        self.block(out, children, indent + INDENT, self._bounds(e.span), hoist=hoist)
        out.append(indent + close)
        return out

    def _key(self, k: ast.Expr, indent: str) -> Lines:
        """An object key: bare when the author wrote it bare, else an expression."""
        if (
            isinstance(k, ast.Literal)
            and isinstance(k.value, str)
            and k.raw == k.value
            and _IDENT.match(k.value)
            and k.value not in _KEYWORDS
        ):
            return [k.value]
        return self.expr(k, indent)

    def _args(self, call: ast.Call, args: tuple[ast.Expr, ...], indent: str) -> Lines:
        spread = (
            args
            and self._known(call.span)
            and self._known(call.func.span)
            and "\n" in self.source.text[call.func.span.end : call.span.end]  # type: ignore[union-attr]
        )
        if not spread:
            parts: list[str | Lines] = ["("]
            for i, a in enumerate(args):
                if i:
                    parts.append(", ")
                parts.append(self.expr(a, indent))
            parts.append(")")
            return _cat(*parts)
        children = [
            _Child(
                *self._bounds(a.span),
                render=partial(self._element, a, None),
                kind="element",
            )
            for a in args
        ]
        out: Lines = ["("]
        start = call.func.span.end
        self.block(out, children, indent + INDENT, (start, call.span.end))
        out.append(indent + ")")
        return out

    def _comprehension(
        self,
        e: ast.ArrayComp | ast.SetComp | ast.ObjectComp,
        open_: str,
        close: str,
        clauses: tuple[ast.CompFor | ast.CompIf, ...],
        indent: str,
    ) -> Lines:
        if not self._spread(e):
            parts: list[str | Lines] = [open_, self._comp_head(e, indent)]
            for c in clauses:
                parts.extend((" ", self._clause(c, indent)))
            parts.append(close)
            return _cat(*parts)
        first: ast.Expr = e.key if isinstance(e, ast.ObjectComp) else e.element
        last: ast.Expr = e.value if isinstance(e, ast.ObjectComp) else e.element
        children = [
            _Child(
                first.span.start if self._known(first.span) else 0,
                last.span.end if self._known(last.span) else 0,
                partial(self._comp_head, e),
                "element",
            )
        ]
        for c in clauses:
            children.append(_Child(*self._bounds(c.span), render=partial(self._clause, c)))
        return self._spread_block(e, open_, close, children, indent)

    def _comp_head(self, e: ast.ArrayComp | ast.SetComp | ast.ObjectComp, indent: str) -> Lines:
        if isinstance(e, ast.ObjectComp):
            return _cat(self.expr(e.key, indent), ": ", self.expr(e.value, indent))
        return self.expr(e.element, indent)

    def _clause(self, c: ast.CompFor | ast.CompIf, indent: str) -> Lines:
        match c:
            case ast.CompFor(names=names, collection=coll):
                return _cat(f"for {', '.join(names)} in ", self.sub(coll, _SUM, indent))
            case ast.CompIf(condition=cond):
                return _cat("if ", self.expr(cond, indent))
            case _:
                assert_never(c)


def _align(lines: Lines) -> Lines:
    """Comments at the ends of consecutive lines of one indentation start in one column
    (two spaces after the longest code), unless that would pass WIDTH."""
    out: Lines = []
    i = 0
    while i < len(lines):
        if _TRAIL not in lines[i]:
            out.append(lines[i])
            i += 1
            continue
        indent = len(lines[i]) - len(lines[i].lstrip())
        j = i + 1
        while (
            j < len(lines)
            and _TRAIL in lines[j]
            and len(lines[j]) - len(lines[j].lstrip()) == indent
            and not _opens(lines[j - 1])
            and not _opens(lines[j])
        ):
            j += 1
        pairs = [line.split(_TRAIL, 1) for line in lines[i:j]]
        column = max(len(code) for code, _ in pairs) + 2
        if column + max(len(c) for _, c in pairs) > WIDTH:
            out.extend(code + "  " + comment for code, comment in pairs)
        else:
            out.extend(code.ljust(column) + comment for code, comment in pairs)
        i = j
    return out


def _opens(line: str) -> bool:
    """Whether a line opens a block or a spread literal (its comment stays on its own)."""
    return line.split(_TRAIL, 1)[0].rstrip().endswith(("{", "[", "("))


def _strip(line: str) -> str:
    """A line without trailing blanks; an annotation is kept as written (its text, trailing
    blanks included, is part of the syntax tree)."""
    return line if line.lstrip().startswith("#@") else line.rstrip()


def _fixed(text: str, indent: str) -> Lines:
    return [text]


def _module_blank(
    prev: _Child | None, child: _Child, source_gap: bool, prev_lines: Lines | None
) -> bool:
    if prev is None:
        return True  # one blank line after `package`
    if prev.kind != child.kind:
        return True  # imports, then definitions
    if child.kind == "import":
        return source_gap
    return source_gap or (prev_lines is not None and len(prev_lines) > 1)


def _literal(e: ast.Literal) -> str:
    v = e.value
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        raw = e.raw
        if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
            return raw
        return _string(v)
    if e.raw:
        return e.raw
    return repr(v)


def _string(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, written as an escape
        text = json.dumps(value)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def format_module(module: ast.Module) -> str:
    """The canonical text of a parsed module, with every comment of its source."""
    return _Printer(module).write()


def format_source(source: Source) -> tuple[str | None, list[Diagnostic]]:
    """Parse and format one file; None with the syntax error when it does not parse."""
    module, diags = parse(source)
    if module is None:
        return None, diags
    try:
        return format_module(module), []
    except RecursionError:
        message = "the policy nests too deeply to format"
        return None, [Diagnostic("nesting", message, source.span(0, 0))]


def format_text(text: str, path: str = "policy.tenet") -> str:
    """Format policy text; raises ValueError with the syntax error when it does not parse."""
    out, diags = format_source(Source(path, text))
    if out is None:
        raise ValueError(diags[0].render() if diags else "the policy does not parse")
    return out
