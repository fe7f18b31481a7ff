"""The walk over bodies, statements, expressions and comprehensions, with their chain of local
scopes, that name resolution (`names.py`) and the `tenet check` lints (`lints.py`) share."""

from __future__ import annotations

from typing import Generic, TypeVar, assert_never

from tenet.source import Span
from tenet.syntax import ast

__all__ = ["Walker", "chain_of"]

S = TypeVar("S")  # the analysis's scope: what it knows of the locals bound so far


def chain_of(expr: ast.Expr) -> tuple[ast.Var, list[ast.Field | ast.Index]] | None:
    """A reference `root.a[b].c` as its root variable and its steps; None for other shapes."""
    steps: list[ast.Field | ast.Index] = []
    node: ast.Expr = expr
    while isinstance(node, ast.Field | ast.Index):
        steps.append(node)
        node = node.obj
    if isinstance(node, ast.Var):
        steps.reverse()
        return node, steps
    return None


class Walker(Generic[S]):
    """Visits every node of a body or expression in the order evaluation reads them, each with
    the scope it is read in. An analysis says what the nodes mean by overriding the hooks; the
    walk itself decides only the order and which scope is current."""

    # ---- hooks ----------------------------------------------------------------------------

    def open_scope(self, parent: S) -> S:
        """A scope nested in `parent`, for an `every` body or a comprehension."""
        raise NotImplementedError

    def close_scope(self, scope: S) -> None:
        """Nothing more is read in a scope that `open_scope` made."""

    def ahead(self, rest: tuple[ast.Statement, ...], scope: S) -> None:
        """Before each statement of a body: `rest` is that statement and those after it; `()`
        once the body is done."""

    def bind(
        self,
        names: tuple[str, ...],
        span: Span | None,
        scope: S,
        source: ast.Expr,
        each: bool,
    ) -> None:
        """Bind `names` in `scope`, `source` already walked: to its value (`:=`), or with
        `each` to a key or index and an element of the collection it is (`some`, `every`,
        `for`)."""
        raise NotImplementedError

    def binding_names(self, names: tuple[str, ...], at: tuple[Span, ...]) -> None:
        """The names a `:=`, `some`, `every` or `for` binds, as written (`at` is each name's span,
        empty for a node made without them), before `bind`."""

    def reference(
        self, root: ast.Var, steps: list[ast.Field | ast.Index], whole: ast.Expr, scope: S
    ) -> None:
        """A reference `root.a[i]`, written as `whole`, after the expressions of its indexes."""
        raise NotImplementedError

    def call(self, e: ast.Call, scope: S) -> None:
        """A call, after its arguments; its function is a name, never walked as a value."""
        raise NotImplementedError

    def literal(self, e: ast.Literal, scope: S) -> None:
        """A literal."""

    def condition(self, e: ast.Expr, scope: S) -> None:
        """A condition of a body or an `if` of a comprehension, after its expression."""

    # ---- the walk -------------------------------------------------------------------------

    def body(self, body: ast.Body, scope: S) -> None:
        stmts = body.statements
        for i, stmt in enumerate(stmts):
            self.ahead(stmts[i:], scope)
            self.statement(stmt, scope)
        self.ahead((), scope)

    def statement(self, stmt: ast.Statement, scope: S) -> None:
        match stmt:
            case ast.Condition(expr=expr):
                self.expr(expr, scope)
                self.condition(expr, scope)
            case ast.Assign(name=name, expr=expr):
                self.expr(expr, scope)
                self.binding_names((name,), stmt.names_at)
                self.bind((name,), stmt.span, scope, expr, each=False)
            case ast.SomeIn(names=names, collection=coll):
                self.expr(coll, scope)
                self.binding_names(names, stmt.names_at)
                self.bind(names, stmt.span, scope, coll, each=True)
            case ast.EveryIn(names=names, collection=coll, body=inner):
                self.expr(coll, scope)
                self.binding_names(names, stmt.names_at)
                child = self.open_scope(scope)
                self.bind(names, stmt.span, child, coll, each=True)
                self.body(inner, child)
                self.close_scope(child)
            case _:
                assert_never(stmt)

    def expr(self, e: ast.Expr, scope: S) -> None:
        match e:
            case ast.Literal():
                self.literal(e, scope)
            case ast.Var():
                self.reference(e, [], e, scope)
            case ast.Field() | ast.Index():
                found = chain_of(e)
                if found is None:  # a step into a value that is not a name: `[1, 2][0]`
                    self.expr(e.obj, scope)
                    if isinstance(e, ast.Index):
                        self.expr(e.index, scope)
                    return
                root, steps = found
                for step in steps:
                    if isinstance(step, ast.Index):
                        self.expr(step.index, scope)
                self.reference(root, steps, e, scope)
            case ast.Call(args=args):
                for a in args:
                    self.expr(a, scope)
                self.call(e, scope)
            case ast.Negate(operand=x) | ast.Not(operand=x):
                self.expr(x, scope)
            case (
                ast.Binary(left=a, right=b)
                | ast.Compare(left=a, right=b)
                | ast.BoolOp(left=a, right=b)
            ):
                self.expr(a, scope)
                self.expr(b, scope)
            case ast.ArrayLit(items=items):
                for item in items:
                    self.expr(item, scope)
            case ast.ObjectLit(pairs=pairs):
                for k, v in pairs:
                    self.expr(k, scope)
                    self.expr(v, scope)
            case (
                ast.ArrayComp(element=el, clauses=clauses)
                | ast.SetComp(element=el, clauses=clauses)
            ):
                child = self.clauses(clauses, scope)
                self.expr(el, child)
                self.close_scope(child)
            case ast.ObjectComp(key=k, value=v, clauses=clauses):
                child = self.clauses(clauses, scope)
                self.expr(k, child)
                self.expr(v, child)
                self.close_scope(child)
            case _:
                assert_never(e)

    def clauses(self, clauses: tuple[ast.CompFor | ast.CompIf, ...], scope: S) -> S:
        """Walk a comprehension's clauses in a scope of their own, which is returned open for
        the element (the caller closes it)."""
        child = self.open_scope(scope)
        for clause in clauses:
            match clause:
                case ast.CompFor(names=names, collection=coll):
                    self.expr(coll, child)
                    self.binding_names(names, clause.names_at)
                    self.bind(names, clause.span, child, coll, each=True)
                case ast.CompIf(condition=cond):
                    self.expr(cond, child)
                    self.condition(cond, child)
                case _:
                    assert_never(clause)
        return child
