"""Expressions to closures `fn(ctx, frame) -> value`: names resolved to slots, rules and
constants, constant sub-expressions folded, and (in traced mode) references recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, assert_never

from tenet.analysis.names import chain_of, resolve_chain
from tenet.analysis.symbols import (
    BuiltinTarget,
    DataTarget,
    InputTarget,
    ModuleScope,
    RuleTarget,
    Target,
)
from tenet.runtime.builtins import Builtin
from tenet.runtime.operators import ARITHMETIC, COMPARISONS, index, iterate_keys, iterate_pairs
from tenet.runtime.values import BYTES_PER, UNDEF, EvalError, TSet, equal, freeze
from tenet.source import Span
from tenet.syntax import ast

if TYPE_CHECKING:
    from tenet.compiler.rules import CompiledRule

__all__ = ["NOCONST", "Code", "ExprCompiler", "Fn", "Slots"]

Fn = Callable[[Any, list[Any]], Any]


class _NoConst:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOCONST"


NOCONST: Any = _NoConst()


@dataclass(frozen=True, slots=True)
class Code:
    fn: Fn
    const: Any = NOCONST  # the folded value when the expression is constant


def _const(value: Any) -> Code:
    return Code(lambda ctx, fr: value, value)


@dataclass(eq=False)
class Slots:
    """Compile-time variables of one frame: name -> slot, with nested scopes."""

    count: list[int] = field(default_factory=lambda: [0])  # shared by nested scopes
    names: dict[str, int] = field(default_factory=dict)
    parent: Slots | None = None

    def child(self) -> Slots:
        return Slots(self.count, {}, self)

    def bind(self, name: str) -> int:
        slot = self.count[0]
        self.count[0] += 1
        self.names[name] = slot
        return slot

    def find(self, name: str) -> int | None:
        scope: Slots | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    @property
    def size(self) -> int:
        return self.count[0]


def _at(span: Span | None, err: EvalError) -> EvalError:
    if err.span is None:
        err.span = span
    return err


def _step(ctx: Any, span: Span | None) -> None:
    ctx.steps += 1
    if ctx.steps > ctx.max_steps:
        raise EvalError(
            "step_limit", f"evaluation took more than {ctx.max_steps} steps and was stopped", span
        )


class _UndefinedCollection(Exception):
    """A collection a comprehension iterates is undefined: so is the comprehension (missing
    evidence never passes, even in a nested `for`)."""


class ExprCompiler:
    def __init__(
        self,
        scope: ModuleScope,
        rules: dict[str, CompiledRule],
        data: Any,
        traced: bool = False,
        folding: bool = True,
        fast_paths: bool = True,
    ) -> None:
        self.scope = scope
        self.rules = rules
        self.data = data
        self.traced = traced
        self.folding = folding
        self.fast_paths = fast_paths

    def untraced(self) -> ExprCompiler:
        if not self.traced:
            return self
        return ExprCompiler(self.scope, self.rules, self.data, False, self.folding, self.fast_paths)

    def _foldable(self, *codes: Code) -> bool:
        return self.folding and all(c.const is not NOCONST for c in codes)

    # ---- dispatch ------------------------------------------------------------------------

    def compile(self, e: ast.Expr, slots: Slots) -> Code:
        match e:
            case ast.Literal(value=value):
                return _const(value)
            case ast.Var() | ast.Field() | ast.Index():
                found = chain_of(e)
                if found is None:
                    return self._index_expr(e, slots)  # type: ignore[arg-type]
                return self._reference(found[0], found[1], slots, e)
            case ast.Call():
                return self._call(e, slots)
            case ast.Negate(operand=x):
                return self._negate(e, self.compile(x, slots))
            case ast.Not(operand=x):
                return self._not(self.compile(x, slots))
            case ast.Binary(op=op, left=a, right=b):
                return self._binary(e, op, self.compile(a, slots), self.compile(b, slots))
            case ast.Compare(op=op, left=a, right=b):
                return self._compare(e, op, self.compile(a, slots), self.compile(b, slots))
            case ast.BoolOp(op=op, left=a, right=b):
                return self._boolop(op, self.compile(a, slots), self.compile(b, slots))
            case ast.ArrayLit(items=items):
                return self._array([self.compile(i, slots) for i in items])
            case ast.ObjectLit(pairs=pairs):
                return self._object(
                    e, [(self.compile(k, slots), self.compile(v, slots)) for k, v in pairs]
                )
            case ast.ArrayComp() | ast.SetComp() | ast.ObjectComp():
                return self._comprehension(e, slots)
            case _:
                assert_never(e)

    # ---- references ----------------------------------------------------------------------

    def _index_expr(self, e: ast.Field | ast.Index, slots: Slots) -> Code:
        """`f(x).a` or `[1, 2][i]`: an index on something that is not a name."""
        base = self.compile(e.obj, slots).fn
        key = (_const(e.name) if isinstance(e, ast.Field) else self.compile(e.index, slots)).fn

        def fn(ctx: Any, fr: list[Any]) -> Any:
            v = base(ctx, fr)
            if v is UNDEF:
                return UNDEF
            k = key(ctx, fr)
            return UNDEF if k is UNDEF else index(v, k)

        return Code(fn)

    def _reference(
        self,
        root: ast.Var,
        steps: list[ast.Field | ast.Index],
        slots: Slots,
        whole: ast.Expr,
    ) -> Code:
        slot = slots.find(root.name)
        base: Fn
        pointer_root: tuple[str, ...] | None = None
        const: Any = NOCONST
        if slot is not None:
            s = slot
            base = lambda ctx, fr: fr[s]  # noqa: E731
            rest = steps
        else:
            target = self.scope.lookup(root.name)
            assert target is not None, root.name
            target, used, _ = resolve_chain(self.scope, target, steps)
            rest = steps[used:]
            base, const, pointer_root = self._target_base(target)
        # fold static keys into a constant base (data documents)
        while self.folding and rest and const is not NOCONST and isinstance(rest[0], ast.Field):
            folded = index(const, rest[0].name) if const is not UNDEF else UNDEF
            if folded is UNDEF and self.traced:
                break  # left to the traced walk, which names the first key that is missing
            const = folded
            rest = rest[1:]
        if const is not NOCONST:
            c = const
            base = lambda ctx, fr: c  # noqa: E731
        compiled = [
            (s.name if isinstance(s, ast.Field) else self.compile(s.index, slots)) for s in rest
        ]
        if not compiled and const is not NOCONST and self.folding and not self.traced:
            return _const(const)
        if self.traced:
            texts = [root.span.text() if root.span else root.name]
            texts.extend(s.span.text() if s.span else "?" for s in steps)
            return Code(
                self._traced_walk(
                    base, compiled, texts[len(texts) - len(compiled) - 1 :], pointer_root, whole
                )
            )
        return Code(_walk(base, compiled, self.fast_paths))

    def _target_base(self, target: Target) -> tuple[Fn, Any, tuple[str, ...] | None]:
        match target:
            case InputTarget(path=path):
                if not path:
                    return (lambda ctx, fr: ctx.input), NOCONST, ()
                keys = path

                def input_base(ctx: Any, fr: list[Any]) -> Any:
                    v = ctx.input
                    for k in keys:
                        v = v.get(k, UNDEF) if type(v) is dict else UNDEF
                    return v

                return input_base, NOCONST, path
            case DataTarget(path=path):
                v = self.data
                for k in path:
                    v = index(v, k) if v is not UNDEF else UNDEF
                return (lambda ctx, fr: v), v, None
            case RuleTarget(rule=info):
                rule = self.rules[info.full_name]
                return (lambda ctx, fr: rule.value(ctx)), NOCONST, None
            case _:
                raise AssertionError(f"not a value: {target}")

    def _traced_walk(
        self,
        base: Fn,
        steps: list[str | Code],
        texts: list[str],
        pointer_root: tuple[str, ...] | None,
        whole: ast.Expr,
    ) -> Fn:
        """A reference that records its value, the pointer it read and where it went missing."""
        full = texts[-1]

        def fn(ctx: Any, fr: list[Any]) -> Any:
            tr = ctx.tracer
            v = base(ctx, fr)
            if v is UNDEF:
                tr.missing(texts[0])
                return UNDEF
            # a local bound to part of the input reads where that part is (inline: a hot path)
            root = pointer_root
            if root is None and (type(v) is dict or type(v) is list):
                root = tr.origins.get(id(v))
            keys: list[Any] = []
            for i, s in enumerate(steps):
                if type(s) is str:
                    k: Any = s
                else:
                    k = s.fn(ctx, fr)  # type: ignore[union-attr]
                    if k is UNDEF:
                        return UNDEF
                v = v.get(k, UNDEF) if type(v) is dict and type(k) is str else index(v, k)
                # `xs[1.0]` reads `xs[1]`: the pointer names the element by its index
                keys.append(int(k) if type(k) is float and k.is_integer() else k)
                if v is UNDEF:
                    tr.missing(texts[i + 1])
                    return UNDEF
            # the input's keys are kept as they are; the JSON pointer is written only if shown
            tr.read(full, v, (*root, *keys) if root is not None else None)
            return v

        return fn

    # ---- calls ---------------------------------------------------------------------------

    def _call(self, e: ast.Call, slots: Slots) -> Code:
        args = [self.compile(a, slots) for a in e.args]
        found = chain_of(e.func)
        assert found is not None
        root, steps = found
        target: Target | None = (
            self.scope.lookup_function(root.name) if not steps else self.scope.lookup(root.name)
        )
        assert target is not None
        target, _, _ = resolve_chain(self.scope, target, steps)
        if isinstance(target, BuiltinTarget):
            return self._builtin(e, target.builtin, args)
        assert isinstance(target, RuleTarget)
        rule = self.rules[target.rule.full_name]
        return Code(_strict_n(rule.call, [a.fn for a in args], e.span))

    def _builtin(self, e: ast.Call, b: Builtin, args: list[Code]) -> Code:
        impl = b.impl
        span = e.span
        if b.pure and self._foldable(*args):
            values = [a.const for a in args]
            if not any(v is UNDEF for v in values):
                try:
                    return _const(impl(*values))
                except EvalError:
                    pass  # raised again at evaluation, where it fails the decision
            else:
                return _const(UNDEF)
        fns = [a.fn for a in args]
        if b.needs_ctx:
            return Code(_strict_n(lambda ctx, values: impl(ctx, *values), fns, span))
        if self.fast_paths and len(fns) == 1:
            (f0,) = fns

            def call1(ctx: Any, fr: list[Any]) -> Any:
                a = f0(ctx, fr)
                if a is UNDEF:
                    return UNDEF
                try:
                    return impl(a)
                except EvalError as err:
                    raise _at(span, err) from None

            return Code(call1)
        if self.fast_paths and len(fns) == 2:
            return Code(_strict2(impl, fns[0], fns[1], span))
        return Code(_strict_n(lambda ctx, values: impl(*values), fns, span))

    # ---- operators -----------------------------------------------------------------------

    def _negate(self, e: ast.Negate, x: Code) -> Code:
        span = e.span
        if self._foldable(x) and type(x.const) in (int, float):
            return _const(-x.const)
        xf = x.fn

        def fn(ctx: Any, fr: list[Any]) -> Any:
            v = xf(ctx, fr)
            if v is UNDEF:
                return UNDEF
            t = type(v)
            if t is int or t is float:
                return -v
            raise EvalError("type_error", f"`-` cannot negate a {_tn(v)}", span)

        return Code(fn)

    def _not(self, x: Code) -> Code:
        if self._foldable(x):
            return _const(x.const is UNDEF or x.const is False)
        xf = x.fn

        def fn(ctx: Any, fr: list[Any]) -> Any:
            v = xf(ctx, fr)
            return v is UNDEF or v is False

        return Code(fn)

    def _fold2(self, impl: Callable[[Any, Any], Any], a: Code, b: Code) -> Code | None:
        """The constant value of `a op b` when both are constants; None when it must wait for
        evaluation (an error is raised then, where it fails the decision, not the load)."""
        if not self._foldable(a, b):
            return None
        if a.const is UNDEF or b.const is UNDEF:
            return _const(UNDEF)
        try:
            return _const(impl(a.const, b.const))
        except EvalError:
            return None

    def _binary(self, e: ast.Binary, op: str, a: Code, b: Code) -> Code:
        impl = ARITHMETIC[op]
        span = e.span
        folded = self._fold2(impl, a, b)
        if folded is not None:
            return folded
        return Code(_strict2(impl, a.fn, b.fn, span))

    def _compare(self, e: ast.Compare, op: str, a: Code, b: Code) -> Code:
        impl = COMPARISONS[op]
        span = e.span
        folded = self._fold2(impl, a, b)
        if folded is not None:
            return folded
        af, bf = a.fn, b.fn
        if self.fast_paths and op == "==" and type(b.const) is str:
            c = b.const

            def eq_str(ctx: Any, fr: list[Any]) -> Any:
                x = af(ctx, fr)
                if x is UNDEF:
                    return UNDEF
                return x == c  # no value of another type equals a string

            return Code(eq_str)

        return Code(_strict2(impl, af, bf, span))

    def _boolop(self, op: str, a: Code, b: Code) -> Code:
        af, bf = a.fn, b.fn
        if op == "or":

            def or_fn(ctx: Any, fr: list[Any]) -> Any:
                x = af(ctx, fr)
                if x is not UNDEF and x is not False:
                    return True
                y = bf(ctx, fr)
                if y is not UNDEF and y is not False:
                    return True
                return UNDEF if x is UNDEF and y is UNDEF else False

            return Code(or_fn)

        def and_fn(ctx: Any, fr: list[Any]) -> Any:
            x = af(ctx, fr)
            if x is UNDEF or x is False:
                return x
            y = bf(ctx, fr)
            if y is UNDEF or y is False:
                return y
            return True

        return Code(and_fn)

    # ---- literals ------------------------------------------------------------------------

    def _array(self, items: list[Code]) -> Code:
        if self._foldable(*items):
            values = [i.const for i in items]
            if any(v is UNDEF for v in values):
                return _const(UNDEF)
            nbytes = len(values) * BYTES_PER["array"]

            def copy(ctx: Any, fr: list[Any]) -> Any:
                ctx.build("an array", nbytes)
                return list(values)

            return Code(copy, values)
        every = _every_value([i.fn for i in items])
        nbytes = len(items) * BYTES_PER["array"]

        def array(ctx: Any, fr: list[Any]) -> Any:
            ctx.build("an array", nbytes)
            return every(ctx, fr)

        return Code(array)

    def _object(self, e: ast.ObjectLit, pairs: list[tuple[Code, Code]]) -> Code:
        span = e.span
        fns = [(k.fn, v.fn) for k, v in pairs]
        nbytes = len(fns) * BYTES_PER["object"]

        def fn(ctx: Any, fr: list[Any]) -> Any:
            if ctx is not None:  # None when it is folded
                ctx.build("an object", nbytes)
            out: dict[str, Any] = {}
            for kf, vf in fns:
                k = kf(ctx, fr)
                v = vf(ctx, fr)
                if k is UNDEF or v is UNDEF:
                    return UNDEF
                if type(k) is not str:
                    raise EvalError("type_error", f"object keys are strings, not {_tn(k)}", span)
                if k in out and not equal(out[k], v):
                    raise EvalError("conflict", f"object key `{k}` is given two values", span)
                out[k] = v
            return out

        if self._foldable(*(c for pair in pairs for c in pair)):
            try:
                value = fn(None, [])
            except EvalError:
                return Code(fn)
            if value is UNDEF:
                return _const(UNDEF)

            def copy(ctx: Any, fr: list[Any]) -> Any:
                ctx.build("an object", nbytes)
                return dict(value)

            return Code(copy, value)
        return Code(fn)

    # ---- comprehensions ------------------------------------------------------------------

    def _comprehension(self, e: ast.ArrayComp | ast.SetComp | ast.ObjectComp, slots: Slots) -> Code:
        inner = slots.child()
        run = self._clauses(e.clauses, 0, inner)
        span = e.span
        match e:
            case ast.ArrayComp(element=el) | ast.SetComp(element=el):
                elf = self.untraced().compile(el, inner).fn
                finish: Callable[[list[Any]], Any] = list if isinstance(e, ast.ArrayComp) else TSet
                unit = "array" if isinstance(e, ast.ArrayComp) else "set"
                what, per = (
                    f"{'an' if unit == 'array' else 'a'} {unit} comprehension",
                    BYTES_PER[unit],
                )

                def collection(ctx: Any, fr: list[Any]) -> Any:
                    out: list[Any] = []

                    def emit(fr: list[Any]) -> None:
                        v = elf(ctx, fr)
                        if v is not UNDEF:
                            out.append(v)

                    try:
                        run(ctx, fr, emit)
                    except _UndefinedCollection:
                        return UNDEF
                    ctx.build(what, len(out) * per)
                    return finish(out)

                return Code(collection)
            case ast.ObjectComp(key=key, value=value):
                kf = self.untraced().compile(key, inner).fn
                vf = self.untraced().compile(value, inner).fn

                def obj(ctx: Any, fr: list[Any]) -> Any:
                    out: dict[str, Any] = {}

                    def emit(fr: list[Any]) -> None:
                        k = kf(ctx, fr)
                        if k is UNDEF:
                            return
                        v = vf(ctx, fr)
                        if v is UNDEF:
                            return
                        if type(k) is not str:
                            raise EvalError(
                                "type_error", f"object keys are strings, not {_tn(k)}", span
                            )
                        if k in out and not equal(out[k], v):
                            raise EvalError(
                                "conflict",
                                f"object comprehension gives key `{k}` two different values",
                                span,
                            )
                        out[k] = v

                    try:
                        run(ctx, fr, emit)
                    except _UndefinedCollection:
                        return UNDEF
                    ctx.build("an object comprehension", len(out) * BYTES_PER["object"])
                    return out

                return Code(obj)
            case _:
                assert_never(e)

    def _clauses(
        self, clauses: tuple[ast.CompFor | ast.CompIf, ...], i: int, slots: Slots
    ) -> Callable[[Any, list[Any], Callable[[list[Any]], None]], None]:
        if i == len(clauses):
            return lambda ctx, fr, emit: emit(fr)
        clause = clauses[i]
        match clause:
            case ast.CompIf(condition=cond):
                cf = self.untraced().compile(cond, slots).fn
                nxt = self._clauses(clauses, i + 1, slots)

                def if_(ctx: Any, fr: list[Any], emit: Callable[[list[Any]], None]) -> None:
                    v = cf(ctx, fr)
                    if v is not UNDEF and v is not False:
                        nxt(ctx, fr, emit)

                return if_
            case ast.CompFor(names=names, collection=coll):
                # traced: the evidence names a missing collection; elements are not recorded
                collf = self.compile(coll, slots).fn
                bound = [slots.bind(n) for n in names]
                nxt = self._clauses(clauses, i + 1, slots)
                span = clause.span
                if len(bound) == 1:
                    (s0,) = bound

                    def for1(ctx: Any, fr: list[Any], emit: Callable[[list[Any]], None]) -> None:
                        c = collf(ctx, fr)
                        if c is UNDEF:
                            raise _UndefinedCollection
                        try:
                            items = iterate_keys(c)
                        except EvalError as err:
                            raise _at(span, err) from None
                        for x in items:
                            _step(ctx, span)
                            fr[s0] = x
                            nxt(ctx, fr, emit)

                    return for1
                s0, s1 = bound

                def for2(ctx: Any, fr: list[Any], emit: Callable[[list[Any]], None]) -> None:
                    c = collf(ctx, fr)
                    if c is UNDEF:
                        raise _UndefinedCollection
                    try:
                        pairs = iterate_pairs(c)
                    except EvalError as err:
                        raise _at(span, err) from None
                    for k, v in pairs:
                        _step(ctx, span)
                        fr[s0] = k
                        fr[s1] = v
                        nxt(ctx, fr, emit)

                return for2
            case _:
                assert_never(clause)


def _strict2(impl: Callable[[Any, Any], Any], af: Fn, bf: Fn, span: Span | None) -> Fn:
    """Two operands, undefined if either is, errors located at ``span``: operators and
    two-argument built-ins alike."""

    def fn(ctx: Any, fr: list[Any]) -> Any:
        x = af(ctx, fr)
        if x is UNDEF:
            return UNDEF
        y = bf(ctx, fr)
        if y is UNDEF:
            return UNDEF
        try:
            return impl(x, y)
        except EvalError as err:
            raise _at(span, err) from None

    return fn


def _strict_n(apply: Callable[[Any, list[Any]], Any], fns: list[Fn], span: Span | None) -> Fn:
    """A call of any number of arguments, undefined if any is, errors located at ``span``:
    rule functions (`apply` is the rule's `call`) and built-ins past the fast paths."""

    arguments = _every_value(fns)

    def fn(ctx: Any, fr: list[Any]) -> Any:
        values = arguments(ctx, fr)
        if values is UNDEF:
            return UNDEF
        try:
            return apply(ctx, values)
        except EvalError as err:
            raise _at(span, err) from None

    return fn


def _every_value(fns: list[Fn]) -> Fn:
    """The list of the values of `fns`, in order; undefined if any of them is."""

    def fn(ctx: Any, fr: list[Any]) -> Any:
        out = []
        for f in fns:
            v = f(ctx, fr)
            if v is UNDEF:
                return UNDEF
            out.append(v)
        return out

    return fn


def _walk(base: Fn, steps: list[str | Code], fast: bool = True) -> Fn:
    """A reference's fast path: no recording, static keys looked up without calls."""
    if not steps:
        return base
    if fast and all(type(s) is str for s in steps):
        keys = tuple(steps)
        if len(keys) == 1:
            k0 = keys[0]

            def one(ctx: Any, fr: list[Any]) -> Any:
                v = base(ctx, fr)
                return v.get(k0, UNDEF) if type(v) is dict else index(v, k0)

            return one

        def static(ctx: Any, fr: list[Any]) -> Any:
            v = base(ctx, fr)
            for k in keys:
                v = v.get(k, UNDEF) if type(v) is dict else index(v, k)
            return v

        return static
    plan = [(s if type(s) is str else None, None if type(s) is str else s.fn) for s in steps]  # type: ignore[union-attr]

    def dynamic(ctx: Any, fr: list[Any]) -> Any:
        v = base(ctx, fr)
        for k, kf in plan:
            if v is UNDEF:
                return UNDEF
            if kf is not None:
                k = kf(ctx, fr)
                if k is UNDEF:
                    return UNDEF
            v = v.get(k, UNDEF) if type(v) is dict and type(k) is str else index(v, k)
        return v

    return dynamic


def _tn(v: Any) -> str:
    from tenet.runtime.values import type_name

    return type_name(v)


def freeze_key(values: list[Any]) -> tuple[Any, ...]:
    return tuple(freeze(v) for v in values)
