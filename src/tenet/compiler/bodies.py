"""Bodies to continuation-passing closures `run(ctx, frame, k) -> stop`.

Each statement either fails (returns False), or binds and calls the rest of the body; `k`
is called once per satisfying binding and returns True to stop the search (a boolean rule
is settled) or False to go on (partial sets, value rules and `forbid` see every binding).
The traced variants also record evidence on `ctx.tracer`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, assert_never

from tenet.compiler.expressions import ExprCompiler, Fn, Slots, _at, _step
from tenet.runtime.operators import iterate_keys, iterate_pairs
from tenet.runtime.trace import CondMeta, FailedElement, Record
from tenet.runtime.values import UNDEF, EvalError
from tenet.syntax import ast

if TYPE_CHECKING:
    from tenet.compiler.probe import Probe

__all__ = ["Body", "Cont", "compile_body", "stop", "traced_value"]

Cont = Callable[[Any, list[Any]], bool]
Body = Callable[[Any, list[Any], Cont], bool]


def stop(ctx: Any, fr: list[Any]) -> bool:
    """The continuation of a body that only needs to know whether it holds."""
    return True


def _last(ctx: Any, fr: list[Any], k: Cont) -> bool:
    return k(ctx, fr)


def meta_of(stmt: ast.Statement | ast.Expr) -> CondMeta:
    span = stmt.span
    if span is None:
        return CondMeta("", "")
    return CondMeta(" ".join(span.text().split()), span.location())


def compile_body(
    body: ast.Body,
    slots: Slots,
    ec: ExprCompiler,
    traced: bool = False,
    probe: Probe | None = None,
) -> Body:
    """Compile statements from the last to the first, each calling the next. A `probe`
    (coverage) wraps every statement, those of `every` bodies included."""
    # slots are bound in source order, so compile every expression first, front to back
    steps: list[Callable[[Body], Body]] = []
    for stmt in body.statements:
        step = _statement(stmt, slots, ec, traced, probe)
        steps.append(step if probe is None else probe.statement(stmt, step))
    nxt: Body = _last
    for make in reversed(steps):
        nxt = make(nxt)
    return nxt


def _statement(
    stmt: ast.Statement, slots: Slots, ec: ExprCompiler, traced: bool, probe: Probe | None
) -> Callable[[Body], Body]:
    match stmt:
        case ast.Condition(expr=expr):
            f = ec.compile(expr, slots).fn
            return _traced_condition(f, meta_of(stmt)) if traced else _condition(f)
        case ast.Assign(name=name, expr=expr):
            f = ec.compile(expr, slots).fn
            slot = slots.bind(name)
            if traced:
                return _traced_assign(f, slot, name, meta_of(stmt))
            return _assign(f, slot)
        case ast.SomeIn(names=names, collection=coll):
            f = ec.compile(coll, slots).fn
            bound = [slots.bind(n) for n in names]
            if traced:
                return _traced_some(f, bound, list(names), meta_of(stmt), stmt)
            return _some(f, bound, stmt)
        case ast.EveryIn(names=names, collection=coll, body=inner):
            f = ec.compile(coll, slots).fn
            child = slots.child()
            bound = [child.bind(n) for n in names]
            loop, first_local = dict(child.names), child.count[0]
            inner_run = compile_body(inner, child, ec.untraced(), False, probe)
            if traced:
                # the inner body once more, traced, to say why the element it failed for
                # failed: the same slots for the `every` variables, and for its locals the
                # slots the inner body's own take (they are not in use when it re-runs), so
                # that a frame sized by the untraced definition still holds it
                counter = [first_local]
                why = compile_body(inner, Slots(counter, loop, slots), ec, True, None)
                slots.count[0] = max(slots.count[0], counter[0])
                return _traced_every(f, bound, list(names), inner_run, why, meta_of(stmt), stmt)
            return _every(f, bound, inner_run, stmt)
        case _:
            assert_never(stmt)


# ---- fast statements ---------------------------------------------------------------------


def _condition(f: Fn) -> Callable[[Body], Body]:
    def make(nxt: Body) -> Body:
        if nxt is _last:

            def last(ctx: Any, fr: list[Any], k: Cont) -> bool:
                v = f(ctx, fr)
                if v is UNDEF or v is False:
                    return False
                return k(ctx, fr)

            return last

        def run(ctx: Any, fr: list[Any], k: Cont) -> bool:
            v = f(ctx, fr)
            if v is UNDEF or v is False:
                return False
            return nxt(ctx, fr, k)

        return run

    return make


def _assign(f: Fn, slot: int) -> Callable[[Body], Body]:
    def make(nxt: Body) -> Body:
        def run(ctx: Any, fr: list[Any], k: Cont) -> bool:
            v = f(ctx, fr)
            if v is UNDEF:
                return False
            fr[slot] = v
            return nxt(ctx, fr, k)

        return run

    return make


def _bindings(coll: Any, n: int, stmt: ast.Statement) -> Any:
    try:
        return iterate_keys(coll) if n == 1 else iterate_pairs(coll)
    except EvalError as err:
        raise _at(stmt.span, err) from None


def _some(f: Fn, bound: list[int], stmt: ast.Statement) -> Callable[[Body], Body]:
    def make(nxt: Body) -> Body:
        if len(bound) == 1:
            (s0,) = bound

            def run1(ctx: Any, fr: list[Any], k: Cont) -> bool:
                c = f(ctx, fr)
                if c is UNDEF:
                    return False
                for x in _bindings(c, 1, stmt):
                    _step(ctx, stmt.span)
                    fr[s0] = x
                    if nxt(ctx, fr, k):
                        return True
                return False

            return run1
        s0, s1 = bound

        def run2(ctx: Any, fr: list[Any], k: Cont) -> bool:
            c = f(ctx, fr)
            if c is UNDEF:
                return False
            for a, b in _bindings(c, 2, stmt):
                _step(ctx, stmt.span)
                fr[s0] = a
                fr[s1] = b
                if nxt(ctx, fr, k):
                    return True
            return False

        return run2

    return make


def _every_holds(
    ctx: Any, fr: list[Any], c: Any, bound: list[int], inner: Body, stmt: ast.Statement
) -> Any:
    """None when every element satisfies the inner body, else the first element that fails."""
    if len(bound) == 1:
        (s0,) = bound
        for x in _bindings(c, 1, stmt):
            _step(ctx, stmt.span)
            fr[s0] = x
            if not inner(ctx, fr, stop):
                return (x,)
        return None
    s0, s1 = bound
    for a, b in _bindings(c, 2, stmt):
        _step(ctx, stmt.span)
        fr[s0] = a
        fr[s1] = b
        if not inner(ctx, fr, stop):
            return (a, b)
    return None


def _every(f: Fn, bound: list[int], inner: Body, stmt: ast.Statement) -> Callable[[Body], Body]:
    def make(nxt: Body) -> Body:
        def run(ctx: Any, fr: list[Any], k: Cont) -> bool:
            c = f(ctx, fr)
            if c is UNDEF:
                return False  # missing evidence never passes
            if _every_holds(ctx, fr, c, bound, inner, stmt) is not None:
                return False
            return nxt(ctx, fr, k)

        return run

    return make


# ---- traced statements -------------------------------------------------------------------


def _evaluate(ctx: Any, fr: list[Any], f: Fn, rec: Record) -> Any:
    tr = ctx.tracer
    tr.cur = rec
    try:
        return f(ctx, fr)
    except EvalError as err:
        tr.errored(rec, err.message)
        raise
    finally:
        tr.cur = None


def _settle(ctx: Any, fr: list[Any], rec: Record, holds: bool, nxt: Body, k: Cont) -> bool:
    tr = ctx.tracer
    tr.path.append(rec)
    try:
        if not holds:
            tr.fail(fr)
            return False
        return nxt(ctx, fr, k)
    finally:
        tr.path.pop()


def _traced_condition(f: Fn, meta: CondMeta) -> Callable[[Body], Body]:
    def make(nxt: Body) -> Body:
        def run(ctx: Any, fr: list[Any], k: Cont) -> bool:
            rec = Record(meta)
            v = _evaluate(ctx, fr, f, rec)
            rec.holds = None if v is UNDEF else v is not False
            return _settle(ctx, fr, rec, v is not UNDEF and v is not False, nxt, k)

        return run

    return make


def traced_value(f: Fn, meta: CondMeta) -> Body:
    """A body-less definition's value as a one-statement traced body that holds when the
    value is defined: its explanation then names the references that were undefined, as a
    bodied definition's does."""

    def run(ctx: Any, fr: list[Any], k: Cont) -> bool:
        rec = Record(meta)
        v = _evaluate(ctx, fr, f, rec)
        rec.holds = None if v is UNDEF else True
        return _settle(ctx, fr, rec, v is not UNDEF, _last, k)

    return run


def _traced_assign(f: Fn, slot: int, name: str, meta: CondMeta) -> Callable[[Body], Body]:
    def make(nxt: Body) -> Body:
        def run(ctx: Any, fr: list[Any], k: Cont) -> bool:
            rec = Record(meta)
            v = _evaluate(ctx, fr, f, rec)
            if v is UNDEF:
                rec.holds = None
                return _settle(ctx, fr, rec, False, nxt, k)
            rec.holds = True
            rec.values[name] = v
            fr[slot] = v
            return _settle(ctx, fr, rec, True, nxt, k)

        return run

    return make


TRACED_STEP = 4  # the steps an element of a traced `some` counts for


def _traced_some(
    f: Fn, bound: list[int], names: list[str], meta: CondMeta, stmt: ast.Statement
) -> Callable[[Body], Body]:
    def make(nxt: Body) -> Body:
        def run(ctx: Any, fr: list[Any], k: Cont) -> bool:
            rec = Record(meta)
            c = _evaluate(ctx, fr, f, rec)
            if c is UNDEF:
                rec.holds = None
                return _settle(ctx, fr, rec, False, nxt, k)
            try:
                items = list(_bindings(c, len(bound), stmt))
            except EvalError as err:
                ctx.tracer.errored(rec, err.message)
                raise
            if not items:
                rec.holds = False
                return _settle(ctx, fr, rec, False, nxt, k)
            # where the collection is in the input, if it is: its members bound are there too
            origin = ctx.tracer.origin(c)
            for at, item in enumerate(items):
                try:
                    # an element traced (its record copied, its evidence kept) takes two to
                    # three times a plain step's time, and a check that fails with an error
                    # is traced twice (once more for its explanation): counted so, the step
                    # limit bounds the time of a check as of a rule
                    ctx.steps += TRACED_STEP - 1
                    _step(ctx, stmt.span)
                except EvalError as err:  # the steps ran out here: the explanation ends here
                    ctx.tracer.errored(rec, err.message)
                    raise
                values = (item,) if len(bound) == 1 else item
                if origin is not None:
                    # an array's element (an object's key is text), or index or key and value
                    key, value = (at, item) if len(bound) == 1 else item
                    ctx.tracer.bound(origin, key, value)
                one = rec.copy()
                one.holds = True
                for slot, name, v in zip(bound, names, values, strict=True):
                    fr[slot] = v
                    one.values[name] = v
                if _settle(ctx, fr, one, True, nxt, k):
                    return True
            return False

        return run

    return make


def _first_failure(
    ctx: Any, fr: list[Any], c: Any, bound: list[int], inner: Body, stmt: ast.Statement
) -> tuple[Any, Any, tuple[Any, ...], int] | None:
    """`_every_holds` for the explanation: None when every element satisfies the inner body,
    else the first that fails as its key (an array's index, an object's key, a set's
    member), the element, the values bound to the variables, and the steps taken before it."""
    one = len(bound) == 1
    is_list = type(c) is list
    for key, element in _bindings(c, 2, stmt):
        before = ctx.steps
        _step(ctx, stmt.span)
        values = ((element if is_list else key),) if one else (key, element)
        for slot, v in zip(bound, values, strict=True):
            fr[slot] = v
        if not inner(ctx, fr, stop):
            return key, element, values, before
    return None


def _failed_element(
    ctx: Any,
    fr: list[Any],
    c: Any,
    failed: tuple[Any, Any, tuple[Any, ...], int],
    names: list[str],
    why: Body,
) -> FailedElement:
    """The element an `every` failed for, with the evidence of the traced inner body re-run
    on it (its variables are still bound in `fr`)."""
    key, element, values, before = failed
    tr = ctx.tracer
    origin = tr.origin(c)
    if origin is not None:  # the inner body's reads of the element point into the input
        tr.bound(origin, key, element)
    # the re-run takes the steps the element took the first time, from the budget it had
    # then: explaining the failure neither spends the decision's steps nor runs out of them
    # (traced, its `some` elements count TRACED_STEP steps each where they counted one)
    spent, limit = ctx.steps, ctx.max_steps
    ctx.steps = before + 1
    ctx.max_steps = limit + (TRACED_STEP - 1) * (spent - before)
    try:
        evidence = tr.apart(lambda: why(ctx, fr, stop))
    finally:
        ctx.steps, ctx.max_steps = spent, limit
    kind = "index" if type(c) is list else "key" if type(c) is dict else "member"
    return FailedElement(kind, key, dict(zip(names, values, strict=True)), evidence or [])


def _traced_every(
    f: Fn,
    bound: list[int],
    names: list[str],
    inner: Body,
    why: Body,
    meta: CondMeta,
    stmt: ast.Statement,
) -> Callable[[Body], Body]:
    def make(nxt: Body) -> Body:
        def run(ctx: Any, fr: list[Any], k: Cont) -> bool:
            rec = Record(meta)
            c = _evaluate(ctx, fr, f, rec)
            if c is UNDEF:
                rec.holds = None
                return _settle(ctx, fr, rec, False, nxt, k)
            try:
                failed = _first_failure(ctx, fr, c, bound, inner, stmt)
            except EvalError as err:
                ctx.tracer.errored(rec, err.message)
                raise
            if failed is not None:
                for name, v in zip(names, failed[2], strict=True):
                    rec.values[name] = v
                rec.failed_element = _failed_element(ctx, fr, c, failed, names, why)
            rec.holds = failed is None
            return _settle(ctx, fr, rec, failed is None, nxt, k)

        return run

    return make
