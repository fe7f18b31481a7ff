"""Text to syntax tree: the Lark LALR parser over grammar/tenet.lark and a transformer that
only builds `tenet.syntax.ast` nodes. Syntax errors come back as diagnostics."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.lexer import PatternStr
from lark.visitors import Transformer_NonRecursive

from tenet.diagnostics import Diagnostic
from tenet.gcpause import paused_gc
from tenet.source import Source, Span, line_break
from tenet.syntax import ast

__all__ = ["grammar_text", "parse", "parse_expression"]

# Line breaks after these tokens cannot end a rule or condition, so the post-lexer drops them.
_CONTINUES = frozenset(
    "{ ( [ , : := = ; == != < <= > >= + - * / % . and or not in if when some every "
    "contains as import package default".split()
)
_OPEN = {"(": ")", "[": "]", "{": "}"}
# tokens that end a value: a line break after them ends the condition (`input.default`)
_VALUES = frozenset(("NAME", "FIELD_NAME", "STRING", "NUMBER", "UNIT_NUMBER"))

UNITS: dict[str, tuple[int, int]] = {  # unit -> (multiplier, divisor)
    "%": (1, 100),
    "ms": (1, 1000),
    "s": (1, 1),
    "m": (60, 1),
    "h": (3600, 1),
    "d": (86400, 1),
    "w": (604800, 1),
    "B": (1, 1),
    "KB": (1000, 1),
    "MB": (1000**2, 1),
    "GB": (1000**3, 1),
    "TB": (1000**4, 1),
    "KiB": (1024, 1),
    "MiB": (1024**2, 1),
    "GiB": (1024**3, 1),
    "TiB": (1024**4, 1),
}


def grammar_text() -> str:
    """The grammar shipped inside the package, or the repository's copy in a source tree."""
    shipped = resources.files("tenet").joinpath("grammar/tenet.lark")
    if shipped.is_file():
        return shipped.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[3] / "grammar" / "tenet.lark").read_text("utf-8")


class _PostLex:
    """Drops the line breaks that cannot separate anything (see the grammar's header)."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth: list[str] = []
        previous: Token | None = None
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if previous is None or previous.type == "_NL":
                    continue
                if any(b != "{" for b in depth):
                    continue
                if previous.type not in _VALUES and _keyword(previous) in _CONTINUES:
                    continue
            else:
                text = str(tok)
                if text in _OPEN:
                    depth.append(text)
                elif kind == "_RBRACE" or text in (")", "]"):
                    if depth:
                        depth.pop()
            previous = tok
            yield tok


_parser: Lark | None = None
_parser_lock = threading.Lock()
_comments = threading.local()  # the comments of the file being parsed on this thread


def _on_comment(tok: Token) -> Token:
    found = getattr(_comments, "found", None)
    if found is not None:
        found.append((tok.start_pos or 0, str(tok)))
    return tok


_SWALLOWED = ("_RBRACE", "_MESSAGE", "_FOR", "_KW_IF")  # terminals that take the lines before
_IN_LINE_COMMENT = re.compile(r"#[^\n]*")


def _swallowed_comments(tok: Token) -> Token:
    """Record the comment lines a `_SWALLOWED` terminal took with the line breaks before it."""
    text = str(tok)
    if "#" in text:
        for m in _IN_LINE_COMMENT.finditer(text):
            _on_comment(Token("COMMENT", m.group(), (tok.start_pos or 0) + m.start()))
    return tok


def _keyword(tok: Token) -> str:
    """A `_SWALLOWED` token without the lines before it: `}`, `message`, `for` or `if`."""
    return str(tok).rsplit("\n", 1)[-1].strip()


def _lark() -> Lark:
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = Lark(
                grammar_text(),
                parser="lalr",
                lexer="contextual",
                postlex=_PostLex(),
                propagate_positions=True,
                maybe_placeholders=True,
                start=["start", "expr"],
                lexer_callbacks={
                    "COMMENT": _on_comment,
                    **{name: _swallowed_comments for name in _SWALLOWED},
                },
            )
        return _parser


def parse(source: Source) -> tuple[ast.Module | None, list[Diagnostic]]:
    """Parse one file. Returns the module, or None with the syntax error as a diagnostic."""
    if line_break(source.text) == "\r":
        # the grammar knows LF and CRLF: a file with CR-only line ends is read as LF, one
        # character for another, so every offset (and every position) stays as it was
        source = Source(source.path, source.text.replace("\r", "\n"))
    with paused_gc():
        return _parse(source)


def _parse(source: Source) -> tuple[ast.Module | None, list[Diagnostic]]:
    _comments.found = []
    try:
        tree = _lark().parse(source.text, start="start")
    except UnexpectedInput as err:
        return None, _syntax_errors(source, err)
    except RecursionError:
        return None, [
            Diagnostic(
                "syntax",
                "the policy nests too deeply to parse",
                source.span(0, 0),
                "split deeply nested expressions into named rules",
            )
        ]
    deep = _too_deep(tree)
    if deep is not None:
        offset, message = deep
        return None, [
            Diagnostic(
                "nesting",
                message,
                source.span(offset, offset + 1),
                "split it into named rules or local variables",
            )
        ]
    try:
        module: ast.Module = _Builder(source).transform(tree)
    except VisitError as err:
        return None, [_unreadable(source, err)]
    comments = tuple(_comments.found)
    _comments.found = None
    return dataclasses.replace(module, comments=comments), []


MAX_SYNTAX_ERRORS = 10
# A line where parsing may start again after a syntax error: one that begins a definition (a
# name, a keyword or an annotation at the start of the line) after a line that is blank or
# also starts at the margin, since the lines inside a definition are indented.
_DEFINITION_LINE = re.compile(r"(?:#@|[A-Za-z_])")


def _syntax_errors(source: Source, err: UnexpectedInput) -> list[Diagnostic]:
    """The first syntax error, and up to MAX_SYNTAX_ERRORS after it: parsing starts again at
    the next line that begins a definition, with everything between the `package` line and
    it blanked out, so that every position stays where it was and a later error is not one
    the first caused."""
    diags = [_syntax_diagnostic(source, err)]
    text = source.text
    code = _first_code_offset(source)
    head = text.find("\n", code) if not _first_code_line_is_not_package(source) else -1
    while len(diags) < MAX_SYNTAX_ERRORS:
        span = diags[-1].span
        if head < 0 or span is None or span.start <= head:
            break
        restart = _next_definition(text, span.start)
        if restart is None:
            break
        blanked = text[:head] + re.sub(r"[^\n]", " ", text[head:restart]) + text[restart:]
        try:
            _lark().parse(blanked, start="start")
            break
        except UnexpectedInput as more:
            diag = _syntax_diagnostic(source, more)
        except RecursionError:
            break
        if diag.span is None or diag.span.start < restart:
            break
        diags.append(diag)
    if len(diags) == MAX_SYNTAX_ERRORS:  # there may be more: say so rather than hide them
        last = diags[-1]
        shown = (
            f"the first {MAX_SYNTAX_ERRORS} syntax errors of the file are shown; fix them to "
            "see any after"
        )
        diags[-1] = dataclasses.replace(last, help=f"{last.help}; {shown}" if last.help else shown)
    return diags


def _next_definition(text: str, after: int) -> int | None:
    """The offset of the first line after the one holding `after` that begins a definition
    (see _DEFINITION_LINE), or None."""
    start = text.find("\n", after)
    previous_indented = False
    while start >= 0:
        start += 1
        end = text.find("\n", start)
        line = text[start : end if end >= 0 else len(text)].rstrip("\r")
        if _DEFINITION_LINE.match(line) and not previous_indented:
            return start
        previous_indented = line[:1] in (" ", "\t")
        start = end
    return None


MAX_NESTING = 200
# The later stages (checks, compiler, evaluator, formatter) recurse over the tree, so its
# depth is bounded too: a chain of operators is flat in the text but one level per operator.
MAX_TREE_DEPTH = 300
# Nodes whose first child continues a left-associative chain written flat: `a or b or c`,
# `1 + 2 - 3`, `x.a.b[0](y)`. That child is at the node's own nesting level.
_CHAINS = frozenset(("or_op", "and_op", "binary", "field", "index", "call"))


def _too_deep(tree: Tree[Token]) -> tuple[int, str] | None:
    """Where and why the tree nests too deeply: more than MAX_NESTING levels of real nesting
    (brackets, calls, operands that are not a chain's left side), or a tree deeper than
    MAX_TREE_DEPTH. Walks without recursion."""
    stack: list[tuple[Tree[Token], int, int]] = [(tree, 0, 0)]
    while stack:
        node, nesting, depth = stack.pop()
        if nesting > MAX_NESTING or depth > MAX_TREE_DEPTH:
            meta = node.meta
            offset = 0 if getattr(meta, "empty", True) else int(meta.start_pos)
            if nesting > MAX_NESTING:
                return offset, f"this expression nests more than {MAX_NESTING} levels deep"
            return offset, f"this expression chains more than {MAX_TREE_DEPTH} operations"
        chain = node.data in _CHAINS
        for i, c in enumerate(node.children):
            if isinstance(c, Tree):
                stack.append((c, nesting + (0 if chain and i == 0 else 1), depth + 1))
    return None


def parse_expression(source: Source, start: int, text: str) -> ast.Expr | Diagnostic:
    """Parse an expression written at offset ``start`` of ``source`` (a message's hole)."""
    try:
        tree = _lark().parse(text, start="expr")
    except UnexpectedInput as err:
        pos = getattr(err, "pos_in_stream", None) or 0
        return Diagnostic(
            "template",
            f"bad expression `{text.strip()}` in a message",
            source.span(start + pos, start + pos + 1),
            "a hole is `{expression}` or `{expression:.1%}`; write `{{` for a literal brace",
        )
    except RecursionError:
        return Diagnostic(
            "template", "a message expression nests too deeply", source.span(start, start)
        )
    if _too_deep(tree) is not None:
        return Diagnostic(
            "nesting", "a message expression nests too deeply", source.span(start, start)
        )
    try:
        expr: ast.Expr = _Builder(source, start).transform(tree)
        return expr
    except VisitError as err:
        return _unreadable(source, err, start)


def _unreadable(source: Source, err: VisitError, base: int = 0) -> Diagnostic:
    """A node the transformer could not build (a literal Python cannot read, say): Lark wraps
    the exception, and a user must see where, not a traceback."""
    obj = err.obj
    if isinstance(obj, Token):
        start, end = obj.start_pos or 0, obj.end_pos or 0
    elif isinstance(obj, Tree) and not getattr(obj.meta, "empty", True):
        start, end = obj.meta.start_pos, obj.meta.end_pos
    else:
        start = end = 0
    reason = str(err.orig_exc).splitlines()[0] if str(err.orig_exc) else type(err.orig_exc).__name__
    what = str(err.rule).replace("_", " ") if err.rule else "text"
    return Diagnostic(
        "syntax",
        f"this {what} cannot be read",
        source.span(base + start, base + end),
        reason[:1].lower() + reason[1:],
    )


# ---- building nodes ------------------------------------------------------------------------


_INT_DIGITS = 4300  # Python's int() refuses longer text (sys.int_info.str_digits_check_threshold)


def _number(text: str) -> int | float:
    clean = text.replace("_", "")
    if any(c in clean for c in ".eE"):
        return float(clean)
    digits = clean.lstrip("0") or "0"
    if len(digits) > _INT_DIGITS:
        # far beyond the 4096 bits an integer may have: `check_names` reports it by its spelling
        return math.inf
    return int(digits)


# Beyond these decimal exponents a unit literal is infinite or zero as a double whatever its
# unit; exact arithmetic there would build integers of millions of digits.
_MAX_EXPONENT = 400


def unit_value(text: str) -> int | float:
    """The base-unit value of a unit literal such as `250ms` or `2GiB`.

    The value is computed exactly from the decimal text and rounded once to the nearest
    double, so `0.7%` is the same number as `0.007` and `0.57m` the same as `34.2`:
    converting the digits to a double first and then scaling rounds twice.
    """
    i = len(text)
    while i > 0 and not text[i - 1].isdigit():
        i -= 1
    number = _number(text[:i])
    mult, div = UNITS[text[i:]]
    if isinstance(number, int) and div == 1:
        return number * mult
    if number == math.inf:  # more digits than an integer may have
        return number
    exact = Decimal(text[:i].replace("_", ""))
    if exact.adjusted() > _MAX_EXPONENT:
        return math.inf  # `check_names` reports it by its spelling
    if exact.is_zero() or exact.adjusted() < -_MAX_EXPONENT:
        return 0.0
    try:
        return float(Fraction(exact) * Fraction(mult, div))
    except OverflowError:
        return math.inf


@v_args(meta=True)
class _Builder(Transformer_NonRecursive):  # chains may be deeper than Python recursion
    def __init__(self, source: Source, base: int = 0) -> None:
        super().__init__(visit_tokens=False)
        self.source = source
        self.base = base  # where the parsed text starts in the source (message holes)

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return self.source.span(self.base, self.base)
        if self.base:
            return self.source.span(self.base + meta.start_pos, self.base + meta.end_pos)
        return Span(self.source, meta.start_pos, meta.end_pos, meta.line, meta.column)

    def _tok_span(self, tok: Token) -> Span:
        start = tok.start_pos or 0
        if self.base:
            return self.source.span(self.base + start, self.base + (tok.end_pos or start))
        return Span(self.source, start, tok.end_pos or start, tok.line or 1, tok.column or 1)

    # -- module level
    def start(self, meta: Any, children: list[Any]) -> ast.Module:
        package, package_span = children[0]
        imports = tuple(c for c in children[1:] if isinstance(c, ast.Import))
        defs = tuple(c for c in children[1:] if not isinstance(c, ast.Import))
        return ast.Module(package, imports, defs, (), package_span, self._span(meta))

    def package_decl(self, meta: Any, children: list[Any]) -> tuple[tuple[str, ...], Span]:
        return children[0], self._span(meta)

    def dotted_name(self, meta: Any, children: list[Token]) -> tuple[str, ...]:
        return tuple(str(t) for t in children)

    def import_decl(self, meta: Any, children: list[Any]) -> ast.Import:
        alias = str(children[1]) if children[1] is not None else None
        return ast.Import(children[0], alias, self._span(meta))

    def annotation(self, meta: Any, children: list[Token]) -> ast.Annotation:
        tok = children[0]
        return ast.Annotation(str(tok)[2:], self._tok_span(tok))

    def annotated(self, meta: Any, children: list[Any]) -> ast.Definition:
        *notes, definition = children
        if not notes:
            return definition
        return dataclasses.replace(definition, annotations=tuple(notes))

    def default_rule(self, meta: Any, children: list[Any]) -> ast.DefaultRule:
        return ast.DefaultRule(str(children[0]), children[1], (), self._span(meta))

    def bool_rule(self, meta: Any, children: list[Any]) -> ast.Rule:
        return ast.Rule("bool", str(children[0]), (), None, children[1], (), self._span(meta))

    def value_rule(self, meta: Any, children: list[Any]) -> ast.Rule:
        name, value, body = children
        return ast.Rule("value", str(name), (), value, body, (), self._span(meta))

    def set_rule(self, meta: Any, children: list[Any]) -> ast.Rule:
        name, element, body = children
        return ast.Rule("set", str(name), (), element, body, (), self._span(meta))

    def bool_function(self, meta: Any, children: list[Any]) -> ast.Rule:
        name, params, body = children
        return self._function("bool_function", name, params, None, body, meta)

    def value_function(self, meta: Any, children: list[Any]) -> ast.Rule:
        name, params, value, body = children
        return self._function("value_function", name, params, value, body, meta)

    def _function(
        self,
        kind: str,
        name: Token,
        params: list[Token],
        value: ast.Expr | None,
        body: ast.Body | None,
        meta: Any,
    ) -> ast.Rule:
        names, at = self._names(params)
        return ast.Rule(kind, str(name), names, value, body, (), self._span(meta), at)

    def params(self, meta: Any, children: list[Any]) -> list[Token]:
        return children

    def _names(self, tokens: list[Any]) -> tuple[tuple[str, ...], tuple[Span, ...]]:
        """The names a binding writes (`some k, v in`, a function's parameters) and their spans."""
        names = [t for t in tokens if t is not None]
        return tuple(str(t) for t in names), tuple(self._tok_span(t) for t in names)

    def check(self, meta: Any, children: list[Any]) -> ast.Check:
        kind, name, severity, when, body, message = children
        text = json.loads(str(message)) if message is not None else None
        return ast.Check(
            str(kind),
            str(name),
            str(severity) if severity is not None else None,
            when,
            body,
            text,
            (),
            self._tok_span(message) if message is not None else None,
            self._span(meta),
        )

    # -- bodies
    def body(self, meta: Any, children: list[Any]) -> ast.Body:
        return ast.Body(tuple(children), self._span(meta))

    def condition(self, meta: Any, children: list[Any]) -> ast.Condition:
        return ast.Condition(children[0], self._span(meta))

    def assign(self, meta: Any, children: list[Any]) -> ast.Assign:
        name = children[0]
        return ast.Assign(str(name), children[1], self._span(meta), (self._tok_span(name),))

    def some_in(self, meta: Any, children: list[Any]) -> ast.SomeIn:
        names, at = self._names(children[:-1])
        return ast.SomeIn(names, children[-1], self._span(meta), at)

    def every_in(self, meta: Any, children: list[Any]) -> ast.EveryIn:
        names, at = self._names(children[:-2])
        return ast.EveryIn(names, children[-2], children[-1], self._span(meta), at)

    # -- expressions
    def or_op(self, meta: Any, children: list[Any]) -> ast.BoolOp:
        return ast.BoolOp("or", children[0], children[1], self._span(meta))

    def and_op(self, meta: Any, children: list[Any]) -> ast.BoolOp:
        return ast.BoolOp("and", children[0], children[1], self._span(meta))

    def not_op(self, meta: Any, children: list[Any]) -> ast.Not:
        return ast.Not(children[0], self._span(meta))

    def compare(self, meta: Any, children: list[Any]) -> ast.Compare:
        return ast.Compare(str(children[1]), children[0], children[2], self._span(meta))

    def in_op(self, meta: Any, children: list[Any]) -> ast.Compare:
        return ast.Compare("in", children[0], children[1], self._span(meta))

    def not_in_op(self, meta: Any, children: list[Any]) -> ast.Compare:
        return ast.Compare("not in", children[0], children[1], self._span(meta))

    def binary(self, meta: Any, children: list[Any]) -> ast.Binary:
        return ast.Binary(str(children[1]), children[0], children[2], self._span(meta))

    def negate(self, meta: Any, children: list[Any]) -> ast.Negate:
        return ast.Negate(children[0], self._span(meta))

    def field(self, meta: Any, children: list[Any]) -> ast.Field:
        return ast.Field(children[0], str(children[1]), self._span(meta))

    def index(self, meta: Any, children: list[Any]) -> ast.Index:
        return ast.Index(children[0], children[1], self._span(meta))

    def call(self, meta: Any, children: list[Any]) -> ast.Call:
        return ast.Call(children[0], children[1], self._span(meta))

    def args(self, meta: Any, children: list[Any]) -> tuple[ast.Expr, ...]:
        return tuple(c for c in children if c is not None)

    def var(self, meta: Any, children: list[Token]) -> ast.Var:
        return ast.Var(str(children[0]), self._tok_span(children[0]))

    def number(self, meta: Any, children: list[Token]) -> ast.Literal:
        tok = children[0]
        return ast.Literal(_number(str(tok)), str(tok), self._tok_span(tok))

    def unit_number(self, meta: Any, children: list[Token]) -> ast.Literal:
        tok = children[0]
        return ast.Literal(unit_value(str(tok)), str(tok), self._tok_span(tok))

    def string(self, meta: Any, children: list[Token]) -> ast.Literal:
        tok = children[0]
        return ast.Literal(json.loads(str(tok)), str(tok), self._tok_span(tok))

    def true(self, meta: Any, children: list[Any]) -> ast.Literal:
        return ast.Literal(True, "true", self._span(meta))

    def false(self, meta: Any, children: list[Any]) -> ast.Literal:
        return ast.Literal(False, "false", self._span(meta))

    def null(self, meta: Any, children: list[Any]) -> ast.Literal:
        return ast.Literal(None, "null", self._span(meta))

    def array_lit(self, meta: Any, children: list[Any]) -> ast.ArrayLit:
        return ast.ArrayLit(tuple(children), self._span(meta))

    def object_lit(self, meta: Any, children: list[Any]) -> ast.ObjectLit:
        return ast.ObjectLit(tuple(children), self._span(meta))

    def pair(self, meta: Any, children: list[Any]) -> tuple[ast.Expr, ast.Expr]:
        key, value = children
        if isinstance(key, ast.Var):  # bare identifiers are string keys in object literals
            key = ast.Literal(key.name, key.name, key.span)
        return key, value

    def array_comp(self, meta: Any, children: list[Any]) -> ast.ArrayComp:
        return ast.ArrayComp(children[0], tuple(children[1:]), self._span(meta))

    def set_comp(self, meta: Any, children: list[Any]) -> ast.SetComp:
        return ast.SetComp(children[0], tuple(children[1:]), self._span(meta))

    def object_comp(self, meta: Any, children: list[Any]) -> ast.ObjectComp:
        return ast.ObjectComp(children[0], children[1], tuple(children[2:]), self._span(meta))

    def comp_for(self, meta: Any, children: list[Any]) -> ast.CompFor:
        names, at = self._names(children[:-1])
        return ast.CompFor(names, children[-1], self._span(meta), at)

    def comp_if(self, meta: Any, children: list[Any]) -> ast.CompIf:
        return ast.CompIf(children[0], self._span(meta))


# ---- syntax errors -------------------------------------------------------------------------

_FRIENDLY = {
    "_NL": "a line break",
    "_RBRACE": "`}`",
    "_MESSAGE": "`message`",
    "_FOR": "`for`",
    "NAME": "a name",
    "FIELD_NAME": "a field name",
    "NUMBER": "a number",
    "UNIT_NUMBER": "a number with a unit",
    "STRING": "a string",
    "ANNOTATION": "an annotation (`#@`)",
    "CHECK_KIND": "`require` or `forbid`",
    "SEVERITY": "a severity (`blocking`, `warning`, `info`)",
    "CMP_OP": "a comparison",
    "ADD_OP": "`+` or `-`",
    "MUL_OP": "`*`, `/` or `%`",
    "$END": "the end of the file",
}


def _describe_terminal(name: str) -> str:
    if name in _FRIENDLY:
        return _FRIENDLY[name]
    if name.startswith("_KW_"):
        return f"`{name[4:].lower()}`"
    term = _term_patterns().get(name)
    if term is not None:
        return f"`{term}`"
    return name.lower()


_patterns: dict[str, str] | None = None


def _term_patterns() -> dict[str, str]:
    global _patterns
    if _patterns is None:
        _patterns = {
            t.name: t.pattern.value for t in _lark().terminals if isinstance(t.pattern, PatternStr)
        }
    return _patterns


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    text = str(tok).strip()
    if tok.type == "_NL" or not text:
        return "line break"
    return f"`{text}`"


def _acceptable(err: UnexpectedToken) -> set[str]:
    """The tokens the parser would take where it stopped. The LALR table's list is wider (it
    also names tokens of states merged with this one, such as `message` after a rule's `}`);
    the parser itself, asked as it stands, gives the exact set."""
    try:
        return set(err.interactive_parser.accepts())
    except Exception:  # no parser state to ask: the table's list is still a fair hint
        return set(err.expected)


# Rego words an OPA user writes first, which Tenet spells otherwise
_OPA_ONLY = {
    "else": (
        "unexpected `else`: Tenet has no `else`",
        "give the fallback value as `default <rule> = <value>`, or write another definition "
        "of the rule with its own condition",
    ),
    "with": (
        "unexpected `with`: Tenet has no `with`",
        "a policy reads the input it is given; to try other input or data, write a test case "
        "(`tenet test`) or pass them to `tenet eval`",
    ),
}


def _expected_help(expected: set[str]) -> str | None:
    names = sorted({_describe_terminal(e) for e in expected if e not in ("WS", "COMMENT")})
    if not names:
        return None
    if len(names) > 6:
        names = [*names[:6], "…"]
    return "expected " + ", ".join(names)


def _syntax_diagnostic(source: Source, err: UnexpectedInput) -> Diagnostic:
    pos = getattr(err, "pos_in_stream", None) or 0
    if isinstance(err, UnexpectedToken):
        tok = err.token
        start = tok.start_pos if tok.start_pos is not None else len(source.text)
        text = str(tok)
        if tok.type in _SWALLOWED:
            text = _keyword(tok)  # point past the swallowed lines
            start = (tok.end_pos or start) - len(text)
        end = start + max(1, len(text.strip()))
        if tok.type == "$END":
            start = end = len(source.text.rstrip())
        span = source.span(start, end)
        message = f"unexpected {_describe_token(tok)}"
        help_ = _expected_help(_acceptable(err))
        line_start = source.text.rfind("\n", 0, start) + 1
        glued = _glued_operator(source.text, start, end, tok.type)
        if glued is not None:
            # `>>`, `=<`, `=>`: one operator mistyped, not two comparisons or a unification
            message = f"`{source.text[glued[0] : glued[1]]}` is no operator"
            help_ = "compare with `<`, `<=`, `>`, `>=`, `==` or `!=`"
            span = source.span(*glued)
        elif tok.type == "CMP_OP" and _COMPARISON.search(source.text[line_start:start]):
            message = "comparisons do not chain"
            help_ = "write `a < b and b < c`"
        elif text in _OPA_ONLY and tok.type == "NAME":
            message, help_ = _OPA_ONLY[text]
        elif (opened := _open_before(source.text, line_start, start)) is not None:
            # the parser read on into the next definition: the bracket is what to fix
            at, bracket = opened
            closing = _CLOSING[bracket][0]
            line = source.position(line_start)[0]
            message = f"`{bracket}` is never closed: a definition starts at line {line} first"
            help_ = f"add the `{closing}` that closes it"
            span = source.span(at, at + 1)
        elif text == ":=" and _at_head(source.text, line_start, start):
            message = "a rule is defined with `=`, not `:=`"
            help_ = "write `name = value`; `:=` binds a local variable inside a body"
        elif tok.type == "EQUAL" and _at_head(source.text, line_start, start):
            message = "unexpected `=`: the expression before this line is unfinished"
            help_ = "finish it: its last operator reads this line's name as its operand"
        elif tok.type == "EQUAL" and "CMP_OP" in _acceptable(err):
            message = "`=` does not compare"
            help_ = (
                "compare with `==`; Tenet has no unification (Rego's `=`): bind a local with "
                "`x := …` and compare it"
            )
        elif source.text.startswith("import future.", line_start):
            message = "there are no `future.keywords` imports: the keywords are always on"
            help_ = "delete the line; `if`, `contains`, `in` and `every` need no import"
        elif (
            tok.type == "$END"
            and (opened := _unclosed(source.text)) is not None
            and _CLOSING[opened[1]][1] in _acceptable(err)  # what is inside it is whole
        ):
            at, bracket = opened
            closing = _CLOSING[bracket][0]
            message = f"`{bracket}` is never closed: the file ends before its `{closing}`"
            help_ = f"add the `{closing}` that closes it"
            span = source.span(at, at + 1)
        elif _dangling_annotation(source, tok):
            message = "an annotation (`#@`) must be followed by a check or rule"
            help_ = "put the `#@` lines directly above the check or rule they describe"
            span = _last_annotation_span(source)
        elif _first_code_line_is_not_package(source) and start <= _first_code_offset(source):
            message = "a policy file must start with a `package` line"
            help_ = "add `package <name>` as the first line, e.g. `package access`"
        return Diagnostic("syntax", message, span, help_)
    if isinstance(err, UnexpectedCharacters):
        span = source.span(pos, pos + 1)
        char = source.text[pos : pos + 1]
        if char == '"':
            bad = _bad_string(source, pos)
            if bad is not None:
                return bad
        if _GLUED_PERCENT.match(source.text, pos):
            return Diagnostic(
                "syntax",
                "a number directly followed by `%` is a percent literal",
                span,
                "for the remainder write spaces around `%`, e.g. `17 % 5`",
            )
        if char == "\r" and not source.text.startswith("\r\n", pos):
            # an editor may show it as a line break, so nothing after it on the line (a
            # check after a comment) may be read as part of what comes before
            return Diagnostic(
                "syntax",
                "a carriage return (CR) without a line feed, in a file whose lines end in LF",
                span,
                "delete it, or end the line with LF; editors may show it as a line break, but "
                "in a file with LF line ends it ends no line",
            )
        if char == "\ufeff" and pos == 0:
            return Diagnostic(
                "syntax",
                "the file begins with a byte order mark (U+FEFF)",
                span,
                "save the file as UTF-8 without a byte order mark (most editors call it "
                "`UTF-8`, not `UTF-8 with BOM`)",
            )
        if _first_code_line_is_not_package(source) and pos <= _first_code_offset(source):
            return Diagnostic(
                "syntax",
                "a policy file must start with a `package` line",
                span,
                "add `package <name>` as the first line",
            )
        shown = repr(char)[1:-1] if char else "end of file"
        help_ = _expected_help(set(err.allowed or ()))
        if char == "|":
            help_ = (
                "a comprehension is written `[x for x in xs if cond]`, `{x for x in xs}` or "
                "`{k: v for k, v in obj}`; Rego's `|` is not used"
            )
        elif char.isdigit() or (char.isalpha() and source.text[pos - 1 : pos].isdigit()):
            # the lexer stops at a number that runs on (`1x`, `10GBx`), or at what follows it
            help_ = "a number must not run into a name or unit it does not know; add a space"
        elif char.isalpha() and not char.isascii():
            help_ = (
                f'a name is ASCII letters, digits and `_`; other text goes in a string (`"{char}"`)'
            )
        return Diagnostic("syntax", f"unexpected character `{shown}`", span, help_)
    if isinstance(err, UnexpectedEOF):
        end = len(source.text.rstrip())
        return Diagnostic(
            "syntax",
            "unexpected end of the file",
            source.span(end, end),
            _expected_help(set(err.expected)),
        )
    return Diagnostic("syntax", str(err).splitlines()[0].lower(), source.span(pos, pos))


# The escapes a string may use (JSON's), and the one to suggest for a raw control character.
_ESCAPES = frozenset('"\\/bfnrt')
_NAMED_CONTROL = {
    "\t": ("\\t", "a tab"),
    "\b": ("\\b", "a backspace"),
    "\f": ("\\f", "a form feed"),
    "\r": ("\\r", "a carriage return"),
}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_LOW_HALF = re.compile(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def _bad_string(source: Source, quote: int) -> Diagnostic | None:
    """Why the string opening at ``quote`` is not a STRING token (the grammar's terminal),
    found by reading it as the lexer would; None when it reads as a whole string."""
    text = source.text
    i = quote + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return None
        if char == "\n" or text.startswith("\r\n", i):
            break
        if char == "\\":
            escape = text[i + 1 : i + 2]
            if escape and escape in _ESCAPES:
                i += 2
                continue
            if escape == "u" and _HEX4.match(text, i + 2):
                code = int(text[i + 2 : i + 6], 16)
                if 0xD800 <= code <= 0xDBFF and _LOW_HALF.match(text, i + 6):
                    i += 12
                    continue
                if 0xD800 <= code <= 0xDFFF:
                    return Diagnostic(
                        "syntax",
                        f"`{text[i : i + 6]}` is half of a UTF-16 pair, without its other half",
                        source.span(i, i + 6),
                        "alone it is no character: write a character beyond U+FFFF as a pair, "
                        "`\\ud800`–`\\udbff` then `\\udc00`–`\\udfff` (😀 is "
                        "`\\ud83d\\ude00`), or as itself",
                    )
                i += 6
                continue
            if escape in ("", "\n", "\r"):
                break
            if escape == "u":
                message = "`\\u` in a string must be followed by four hex digits"
            else:
                message = f"unknown escape `\\{repr(escape)[1:-1]}` in a string"
            return Diagnostic(
                "syntax",
                message,
                source.span(i, i + 2),
                'a string may use the escapes `\\"` `\\\\` `\\/` `\\b` `\\f` `\\n` `\\r` `\\t` '
                "and `\\uXXXX` (four hex digits); write `\\\\` for a backslash",
            )
        if ord(char) < 0x20:
            escape, name = _NAMED_CONTROL.get(char, (f"\\u{ord(char):04x}", ""))
            what = name or f"the control character U+{ord(char):04X}"
            return Diagnostic(
                "syntax",
                f"a string cannot contain {what} as it is",
                source.span(i, i + 1),
                f"write `{escape}` for {name or 'it'}",
            )
        i += 1
    return Diagnostic(
        "syntax",
        "unterminated string",
        source.span(quote, quote + 1),
        'close it with `"` on the same line; write `\\n` for a line break inside a string',
    )


_COMPARISON = re.compile(r"(==|!=|<=|>=|<|>)[^=<>]*$")
_GLUED_PERCENT = re.compile(r"\d[\d_]*(\.\d[\d_]*)?%[\w.]")


def _code_lines(source: Source) -> Iterator[tuple[int, str]]:
    offset = 0
    for line in source.text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield offset + (len(line) - len(line.lstrip())), stripped
        offset += len(line)


def _first_code_offset(source: Source) -> int:
    for offset, _ in _code_lines(source):
        return offset
    return 0


def _first_code_line_is_not_package(source: Source) -> bool:
    for _, text in _code_lines(source):
        return not (text.startswith("package ") or text == "package")
    return True


# an opening bracket: its closing one, and the terminal that closes it
_CLOSING = {"{": ("}", "_RBRACE"), "[": ("]", "RSQB"), "(": (")", "RPAR")}


_OPERATOR_CHARS = re.compile(r"[<>=!]+")


def _glued_operator(text: str, start: int, end: int, kind: str) -> tuple[int, int] | None:
    """Where a comparison-like run of `<>=!` that is no operator stands (`>>`, `=<`, `=>`,
    `>>=`), when the parser failed inside it; None otherwise."""
    if kind not in ("CMP_OP", "EQUAL"):
        return None
    if text[start - 1 : start] not in ("<", ">", "=", "!") and not (
        kind == "EQUAL" and text[end : end + 1] in ("<", ">")
    ):
        return None
    first = start
    while first > 0 and text[first - 1] in "<>=!":
        first -= 1
    run = _OPERATOR_CHARS.match(text, first)
    return (first, run.end()) if run is not None else None


_HEAD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[ \t]*")


def _at_head(text: str, line_start: int, at: int) -> bool:
    """Whether the parser failed (at `at`) right after the name that starts a line at the
    margin, after an earlier line: where a definition begins (`r1 = 5`, `deny if {`)."""
    return line_start > 0 and _HEAD.fullmatch(text, line_start, at) is not None


def _open_before(text: str, line_start: int, at: int) -> tuple[int, str] | None:
    """The bracket left open before a definition at the margin where the parser failed (at
    `at`, on the line at `line_start`): it read on into that definition."""
    return _unclosed(text[:line_start]) if _at_head(text, line_start, at) else None


def _unclosed(text: str) -> tuple[int, str] | None:
    """The innermost bracket still open at the end of `text` (its offset, and which), reading
    past strings and comments; None when every one is closed or one closes what it should
    not (then the parser's own message is the better one)."""
    stack: list[tuple[int, str]] = []
    pairs = {"}": "{", "]": "[", ")": "("}
    i = 0
    while i < len(text):
        char = text[i]
        if char == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if char == '"':
            i += 1
            while i < len(text) and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif char in "{[(":
            stack.append((i, char))
        elif char in pairs:
            if not stack or stack[-1][1] != pairs[char]:
                return None
            stack.pop()
        i += 1
    return stack[-1] if stack else None


def _dangling_annotation(source: Source, tok: Token) -> bool:
    """Whether the parse failed at the end of the file right after `#@` lines."""
    if tok.type != "$END":
        return False
    for line in reversed(source.text.splitlines()):
        stripped = line.strip()
        if stripped:
            return stripped.startswith("#@")
    return False


def _last_annotation_span(source: Source) -> Span:
    start = source.text.rfind("#@")
    end = source.text.find("\n", start)
    return source.span(start, end if end >= 0 else len(source.text))
