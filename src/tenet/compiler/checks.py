"""Compiled checks: `when`, the traced body, messages rendered from the bindings of the path
that decided, one violation per distinct `forbid` binding."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tenet.compiler.bodies import Body, Cont
from tenet.compiler.expressions import Fn
from tenet.runtime.trace import CondMeta, Record, Tracer
from tenet.runtime.values import (
    BYTES_PER,
    UNDEF,
    EvalError,
    TSet,
    charge_elements,
    charge_work,
    freeze,
    nodes,
    to_json,
    written_size,
)
from tenet.source import Span
from tenet.yamlutil import is_text

__all__ = ["CheckResult", "CompiledCheck", "render_value"]


@dataclass(eq=False)
class CheckResult:
    status: str  # passed, violated, not_applicable, waived, error
    message: str | None = None
    evidence: list[Record] = field(default_factory=list)
    bindings: dict[str, Any] | None = None
    error: EvalError | None = None
    waiver: dict[str, Any] | None = None


def render_value(v: Any) -> str:
    """A value in a message: JSON, but a top-level string bare and whole numbers whole."""
    if v is UNDEF:
        return "<undefined>"
    if type(v) is str:
        return v
    return json.dumps(to_json(v), ensure_ascii=False, separators=(", ", ": "))


MAX_FORMAT_WIDTH = 1000  # the widest field, or the most digits, a format may ask for
_SPEC_NUMBERS = re.compile(r"\d+")


def _format(v: Any, spec: str) -> str:
    if not spec:
        return render_value(v)
    if v is UNDEF:
        return "<undefined>"
    if any(len(n) > 4 or int(n) > MAX_FORMAT_WIDTH for n in _SPEC_NUMBERS.findall(spec)):
        # every decision would build a message of that size
        raise EvalError(
            "template",
            f"format `:{spec}` asks for a width or precision over {MAX_FORMAT_WIDTH}",
        )
    if type(v) is float and v.is_integer():
        v = int(v)  # a whole number is one whatever made it (`6 / 3`, `1e16 * 1`): `:d` takes it
    t = type(v)
    try:
        if t is int or t is float or t is str:
            out = format(v, spec)
        else:
            out = format(render_value(v), spec)
    except (ValueError, TypeError, OverflowError) as err:
        raise EvalError(
            "template", f"bad format `:{spec}` for {render_value(v)}: {_format_problem(err, t)}"
        ) from None
    if t is int and not is_text(out):  # `:c` of 0xd800
        raise EvalError("template", f"bad format `:{spec}` for {v}: it is not a character")
    return out


_UNKNOWN_CODE = re.compile(r"Unknown format code '(.)' for object of type")
_KIND = {int: "a whole number", float: "a number with a fraction", str: "text"}


def _format_problem(err: Exception, t: type) -> str:
    """Python's complaint about a format in the language's words: it has numbers and text,
    not `int`, `float` and `str`."""
    found = _UNKNOWN_CODE.match(str(err))
    if found is None:
        return str(err)
    kind = _KIND.get(t, "the value's text")
    return f"`{found.group(1)}` is no format for {kind}"


@dataclass(eq=False)
class CompiledCheck:
    package: tuple[str, ...]
    name: str
    kind: str  # require, forbid
    severity: str
    span: Span
    nslots: int
    body: Body
    when: tuple[Fn, CondMeta] | None
    when_slots: int
    message: list[str | tuple[Fn, str, Span | None]] | None
    names: list[tuple[str, int]]  # body-level variables and their slots
    some_slots: list[int]  # the `some` variables that make a binding distinct
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def full_id(self) -> str:
        return ".".join((*self.package, self.name))

    @property
    def location(self) -> str:
        return self.span.location()

    @property
    def sort_key(self) -> tuple[str, int]:
        return self.span.path, self.span.line

    def default_message(self) -> str:
        if self.kind == "require":
            return f"requirement {self.name} is not met"
        return f"{self.name} is forbidden"

    def render(self, ctx: Any, frame: list[Any]) -> str:
        if self.message is None:
            return self.default_message()
        out: list[str] = []
        for part in self.message:
            if isinstance(part, str):
                out.append(part)
                continue
            fn, spec, span = part
            try:
                v = fn(ctx, frame)
                if type(v) in (list, dict, TSet):
                    charge_elements(nodes(v))  # written as JSON
                text = _format(v, spec)
                # one message per violation, each holding values of any size
                ctx.build("the message", len(text))
                charge_work(len(text))
                out.append(text)
            except EvalError as err:
                if err.span is None:
                    err.span = span
                raise
        return "".join(out)

    def evaluate(self, ctx: Any, full: bool) -> list[CheckResult]:
        tracer: Tracer = ctx.tracer
        tracer.reset()
        if self.when is not None:
            fn, meta = self.when
            rec = Record(meta)
            tracer.cur = rec
            try:
                v = fn(ctx, [UNDEF] * self.when_slots)
            except EvalError as err:
                rec.error = err.message
                return [CheckResult("error", evidence=[rec], error=_located(err, self.span))]
            finally:
                tracer.cur = None
            holds = v is not UNDEF and v is not False
            rec.holds = None if v is UNDEF else holds
            if not holds:
                return [CheckResult("not_applicable", evidence=[rec])]
        frame = [UNDEF] * self.nslots
        try:
            if self.kind == "require":
                return [self._require(ctx, tracer, frame, full)]
            return self._forbid(ctx, tracer, frame, full)
        except EvalError as err:
            evidence = tracer.error_path or list(tracer.path)
            return [CheckResult("error", evidence=evidence, error=_located(err, self.span))]

    def _require(self, ctx: Any, tracer: Tracer, frame: list[Any], full: bool) -> CheckResult:
        if self.body(ctx, frame, _first(tracer)):
            return CheckResult("passed", evidence=tracer.successes[0][0] if full else [])
        return self._violation(ctx, tracer.best_frame or frame, tracer.best or [])

    def _violation(
        self,
        ctx: Any,
        frame: list[Any],
        evidence: list[Record],
        bindings: dict[str, Any] | None = None,
    ) -> CheckResult:
        """A violation with its message; when the message cannot be rendered, an error that
        keeps the evidence of why the check was violated."""
        try:
            message = self.render(ctx, frame)
        except EvalError as err:
            return CheckResult("error", evidence=evidence, error=_located(err, self.span))
        return CheckResult("violated", message, evidence, bindings)

    def _forbid(self, ctx: Any, tracer: Tracer, frame: list[Any], full: bool) -> list[CheckResult]:
        self.body(ctx, frame, _every(tracer))
        if not tracer.successes:
            return [CheckResult("passed", evidence=(tracer.best or []) if full else [])]
        out: list[CheckResult] = []
        seen: set[Any] = set()
        sizes: dict[int, int] = {}
        for path, snapshot in tracer.successes:
            key = tuple(freeze(snapshot[s]) for s in self.some_slots)
            if key in seen:
                continue
            seen.add(key)
            bindings = {n: snapshot[s] for n, s in self.names if snapshot[s] is not UNDEF}
            read = [v for rec in path for v in rec.values.values()]
            _charge_evidence(ctx, [*read, *bindings.values()], sizes)
            result = self._violation(ctx, snapshot, path, bindings)
            if result.status == "error":
                return [result]  # the check is an error, whatever its other bindings
            out.append(result)
        return out


def _charge_evidence(ctx: Any, values: list[Any], sizes: dict[int, int]) -> None:
    """Count a violation's evidence and bindings as built: each violation of a `forbid`
    writes the values its conditions read (and its locals) into the document again, so n
    violations of `some i in input.r` over an n-element `input.r` write n² values (30,000
    took 100 s to write out, after an evaluation of under a second). `sizes` remembers a
    value already measured, by identity: the violations share the objects they read."""
    total = 0
    for v in values:
        if type(v) in (str, list, dict, TSet):
            size = sizes.get(id(v))
            if size is None:
                size = sizes[id(v)] = written_size(v)
            total += size
        else:
            total += BYTES_PER["written"]
    if total:
        ctx.build("the evidence of the violations", total)


def _first(tracer: Tracer) -> Cont:
    def k(ctx: Any, fr: list[Any]) -> bool:
        tracer.succeed(fr)
        return True

    return k


def _every(tracer: Tracer) -> Cont:
    def k(ctx: Any, fr: list[Any]) -> bool:
        tracer.succeed(fr)
        return False

    return k


def _located(err: EvalError, span: Span) -> EvalError:
    if err.span is None:
        err.span = span
    return err
