"""The walk that name resolution and the lints share: the order it calls the hooks in and the
scope each call gets, which both analyses rely on (a binding after its source, indexes before
their reference, arguments before their call, a child scope closed after its last read)."""

from __future__ import annotations

from dataclasses import dataclass

from tenet.analysis.walk import Walker, chain_of
from tenet.source import Source, Span
from tenet.syntax import ast
from tenet.syntax.parser import parse


@dataclass(eq=False)
class _Depth:
    depth: int = 0


class _Record(Walker[_Depth]):
    def __init__(self) -> None:
        self.log: list[str] = []

    def open_scope(self, parent: _Depth) -> _Depth:
        self.log.append(f"open {parent.depth + 1}")
        return _Depth(parent.depth + 1)

    def close_scope(self, scope: _Depth) -> None:
        self.log.append(f"close {scope.depth}")

    def ahead(self, rest: tuple[ast.Statement, ...], scope: _Depth) -> None:
        self.log.append(f"ahead {len(rest)} @{scope.depth}")

    def bind(
        self,
        names: tuple[str, ...],
        span: Span | None,
        scope: _Depth,
        source: ast.Expr,
        each: bool,
    ) -> None:
        how = "in" if each else ":="
        self.log.append(f"bind {','.join(names)} {how} {source.span.text()} @{scope.depth}")

    def reference(
        self, root: ast.Var, steps: list[ast.Field | ast.Index], whole: ast.Expr, scope: _Depth
    ) -> None:
        self.log.append(f"ref {whole.span.text()} @{scope.depth}")

    def call(self, e: ast.Call, scope: _Depth) -> None:
        self.log.append(f"call {e.func.span.text()} @{scope.depth}")

    def literal(self, e: ast.Literal, scope: _Depth) -> None:
        self.log.append(f"lit {e.raw} @{scope.depth}")

    def condition(self, e: ast.Expr, scope: _Depth) -> None:
        self.log.append(f"cond {e.span.text()} @{scope.depth}")


def _walk(body_text: str) -> list[str]:
    module, diags = parse(Source("p.tenet", f"package p\n\nr if {{\n{body_text}\n}}\n"))
    assert module is not None, diags
    rule = module.definitions[0]
    assert isinstance(rule, ast.Rule) and rule.body is not None
    w = _Record()
    w.body(rule.body, _Depth())
    return w.log


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines()]


def test_statements_bind_after_their_source_and_report_what_is_ahead() -> None:
    assert _walk("x := input.a[i]\nsome k, v in x\nv > 1") == _lines(
        """
        ahead 3 @0
        ref i @0
        ref input.a[i] @0
        bind x := input.a[i] @0
        ahead 2 @0
        ref x @0
        bind k,v in x @0
        ahead 1 @0
        ref v @0
        lit 1 @0
        cond v > 1 @0
        ahead 0 @0
        """
    )


def test_every_binds_in_a_child_scope_closed_after_its_body() -> None:
    assert _walk("every y in input.ys {\n  f(y)\n}") == _lines(
        """
        ahead 1 @0
        ref input.ys @0
        open 1
        bind y in input.ys @1
        ahead 1 @1
        ref y @1
        call f @1
        cond f(y) @1
        ahead 0 @1
        close 1
        ahead 0 @0
        """
    )


def test_comprehension_clauses_and_element_share_one_scope() -> None:
    assert _walk("n := count({k: v for k, v in input.m if v != null})") == _lines(
        """
        ahead 1 @0
        open 1
        ref input.m @1
        bind k,v in input.m @1
        ref v @1
        lit null @1
        cond v != null @1
        ref k @1
        ref v @1
        close 1
        call count @0
        bind n := count({k: v for k, v in input.m if v != null}) @0
        ahead 0 @0
        """
    )


def test_a_step_into_a_value_that_is_not_a_name_walks_the_value() -> None:
    assert _walk("[a, 2][b] == 1") == _lines(
        """
        ahead 1 @0
        ref a @0
        lit 2 @0
        ref b @0
        lit 1 @0
        cond [a, 2][b] == 1 @0
        ahead 0 @0
        """
    )


def test_chain_of() -> None:
    module, _ = parse(Source("p.tenet", "package p\n\nr = a.b[c].d\ns = f(x).y\n"))
    assert module is not None
    first, second = (d.value for d in module.definitions if isinstance(d, ast.Rule))
    assert first is not None and second is not None
    found = chain_of(first)
    assert found is not None
    root, steps = found
    assert root.name == "a" and [s.span.text() for s in steps] == ["a.b", "a.b[c]", "a.b[c].d"]
    assert chain_of(second) is None
