"""Compiled rules and functions: evaluation with OPA's semantics, per-decision caching, and the
traced re-run that explains a rule query definition by definition."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tenet.compiler.bodies import Body, Cont, stop
from tenet.compiler.expressions import Code, Fn
from tenet.compiler.index import RuleIndex
from tenet.runtime.trace import Record, Tracer
from tenet.runtime.values import BYTES_PER, UNDEF, EvalError, TSet, equal, to_json
from tenet.source import Span
from tenet.wording import shortened

__all__ = ["CompiledDef", "CompiledRule", "DefinitionTrace", "RuleTrace"]

_MISS: Any = object()


def _show(v: Any) -> str:
    import json

    return shortened(json.dumps(to_json(v), ensure_ascii=False))


@dataclass(eq=False)
class CompiledDef:
    span: Span
    nslots: int
    body: Body | None
    value: Fn | None  # value rules and functions; the element of a partial set
    # the traced body and value and the slots they use, compiled on first use (explanations
    # only); a traced `every` may use more slots than the untraced body does
    traced: Callable[[], tuple[Body | None, Fn | None, int]] | None = None
    _traced: tuple[Body | None, Fn | None, int] | None = None
    # input paths the body requires to equal a constant (see compiler/index.py)
    eq_keys: dict[tuple[str, ...], Any] = field(default_factory=dict)

    @property
    def location(self) -> str:
        return self.span.location()

    def traced_code(self) -> tuple[Body | None, Fn | None, int]:
        if self._traced is None:
            assert self.traced is not None
            self._traced = self.traced()
        return self._traced


@dataclass(eq=False)
class DefinitionTrace:
    location: str
    held: bool
    evidence: list[Record]


@dataclass(eq=False)
class RuleTrace:
    rule: str
    definitions: list[DefinitionTrace]
    not_evaluated: int
    default_used: bool


@dataclass(eq=False)
class CompiledRule:
    full_name: str
    name: str
    kind: str  # bool, value, set, function
    stops_at_first: bool
    defs: list[CompiledDef] = field(default_factory=list)
    default: Code | None = None
    arity: int = 0
    index: RuleIndex | None = None

    def candidates(self, ctx: Any) -> Sequence[CompiledDef]:
        """The definitions that can hold for this input, in source order."""
        if self.index is None:
            return self.defs
        return self.index.candidates(ctx.input)

    # ---- evaluation ----------------------------------------------------------------------

    def value(self, ctx: Any) -> Any:
        cache = ctx.cache
        v = cache.get(self, _MISS)
        if v is _MISS:
            self._step(ctx)
            v = self._evaluate(ctx, None)
            cache[self] = v
        return v

    def call(self, ctx: Any, args: list[Any]) -> Any:
        self._step(ctx)
        return self._evaluate(ctx, args)

    def _step(self, ctx: Any) -> None:
        """Count one evaluation of this rule against the decision's step limit."""
        ctx.steps += 1
        if ctx.steps > ctx.max_steps:
            raise EvalError(
                "step_limit",
                f"evaluation took more than {ctx.max_steps} steps and was stopped",
                self.defs[0].span if self.defs else None,
            )

    def _frame(self, d: CompiledDef, args: list[Any] | None) -> list[Any]:
        fr = [UNDEF] * d.nslots
        if args:
            fr[: len(args)] = args
        return fr

    def _evaluate(self, ctx: Any, args: list[Any] | None) -> Any:
        if self.stops_at_first:
            for d in self.defs if args is not None else self.candidates(ctx):
                assert d.body is not None
                if d.body(ctx, self._frame(d, args), stop):
                    return True
            return self._default(ctx)
        if self.kind == "set":
            return self._collect(ctx)
        return self._single_value(ctx, args)

    def _default(self, ctx: Any) -> Any:
        if self.default is None:
            return UNDEF
        return self.default.fn(ctx, [])

    def _collect(self, ctx: Any) -> Any:
        out: list[Any] = []
        for d in self.candidates(ctx):
            assert d.value is not None
            element = d.value
            if d.body is None:
                v = element(ctx, self._frame(d, None))
                if v is not UNDEF:
                    out.append(v)
                continue

            def k(ctx: Any, fr: list[Any], element: Fn = element) -> bool:
                v = element(ctx, fr)
                if v is not UNDEF:
                    out.append(v)
                return False

            d.body(ctx, self._frame(d, None), k)
        ctx.build(f"the set `{self.full_name}`", len(out) * BYTES_PER["set"])
        return TSet(out)

    def _single_value(self, ctx: Any, args: list[Any] | None) -> Any:
        found: list[Any] = [UNDEF, None]  # value, where it came from

        def merge(v: Any, d: CompiledDef) -> None:
            if found[0] is UNDEF:
                found[0], found[1] = v, d
            elif not equal(found[0], v):
                what = "function" if self.kind == "function" else "rule"
                raise EvalError(
                    "conflict",
                    f"{what} `{self.full_name}` has conflicting values {_show(found[0])} "
                    f"(at {found[1].location}) and {_show(v)}",
                    d.span,
                )

        for d in self.defs if args is not None else self.candidates(ctx):
            value = d.value
            fr = self._frame(d, args)
            if d.body is None:
                assert value is not None
                v = value(ctx, fr)
                if v is not UNDEF:
                    merge(v, d)
                continue
            d.body(ctx, fr, _merging(merge, d, value))
        if found[0] is UNDEF:
            return self._default(ctx)
        return found[0]

    # ---- explanation ---------------------------------------------------------------------

    def explain(self, ctx: Any, full: bool) -> RuleTrace:
        """Re-run the definitions with tracing; an evaluation error ends the explanation."""
        tracer: Tracer = ctx.tracer
        traces: list[DefinitionTrace] = []
        any_held = False
        skipped = len(self.defs)  # not evaluated: settled earlier, or excluded by the index
        for d in self.candidates(ctx):
            skipped -= 1
            body, value, nslots = d.traced_code()
            tracer.reset()
            fr = [UNDEF] * max(d.nslots, nslots)
            assert body is not None  # a body-less definition traces its value as a body
            capture = _capture(tracer, value, self.stops_at_first)
            try:
                body(ctx, fr, capture)
            except EvalError:
                # the decision is an error; explain the path that raised it
                traces.append(DefinitionTrace(d.location, False, tracer.error_path or []))
                return RuleTrace(self.full_name, traces, skipped, False)
            held = bool(tracer.successes)
            if held:
                evidence = tracer.successes[0][0]
            elif tracer.best is not None:
                evidence = tracer.best if full else tracer.best[-1:]
            else:
                evidence = []
            traces.append(DefinitionTrace(d.location, held, evidence))
            any_held = any_held or held
            if held and self.stops_at_first:
                return RuleTrace(self.full_name, traces, skipped, False)
        return RuleTrace(self.full_name, traces, skipped, not any_held and self.default is not None)


def _merging(merge: Callable[[Any, CompiledDef], None], d: CompiledDef, value: Fn | None) -> Cont:
    """The continuation of a value definition: every binding's value is merged."""
    if value is None:  # a boolean definition among value ones: `name if {…}`

        def bool_k(ctx: Any, fr: list[Any]) -> bool:
            merge(True, d)
            return True

        return bool_k

    def k(ctx: Any, fr: list[Any]) -> bool:
        v = value(ctx, fr)
        if v is not UNDEF:
            merge(v, d)
        return False

    return k


def _capture(tracer: Tracer, value: Fn | None, first_only: bool) -> Cont:
    def k(ctx: Any, fr: list[Any]) -> bool:
        if value is None or value(ctx, fr) is not UNDEF:
            tracer.succeed(fr)
            return first_only
        return False

    return k
