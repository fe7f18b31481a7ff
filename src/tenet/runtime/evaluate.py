"""Program + query + input + now -> raw results: rule values, check results, errors; fail closed."""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tenet.compiler.checks import CheckResult, CompiledCheck
from tenet.compiler.program import Program, Query
from tenet.compiler.rules import RuleTrace
from tenet.runtime.clock import parse_rfc3339
from tenet.runtime.trace import Tracer
from tenet.runtime.values import (
    DEFAULT_MAX_BUILT_SIZE,
    DOUBLE_MAX,
    UNDEF,
    EvalError,
    Meter,
    equal,
    metering,
)
from tenet.yamlutil import DocumentError, check_document, is_text, plain_json

__all__ = [
    "EARLIEST",
    "LATEST",
    "Ctx",
    "Limits",
    "Outcome",
    "admit_input",
    "evaluate",
    "resolve_now",
]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep every evaluation finite and small; all configurable."""

    max_input_depth: int = 100
    max_input_values: int = 1_000_000
    max_steps: int = 5_000_000
    # characters of a string, or elements of an array, that one operation may build
    max_built_size: int = DEFAULT_MAX_BUILT_SIZE
    # about the bytes of memory all the values one evaluation builds take, added up
    max_built_bytes: int = 100_000_000

    def __post_init__(self) -> None:
        # refused here, where the bound is set (often from configuration text), rather than
        # as an internal error of every decision made with it
        for name in (
            "max_input_depth",
            "max_input_values",
            "max_steps",
            "max_built_size",
            "max_built_bytes",
        ):
            value = getattr(self, name)
            if type(value) is not int:
                raise TypeError(
                    f"`Limits.{name}` must be an int, not {type(value).__name__}"
                    + (
                        " (convert configuration text with `int()`)"
                        if isinstance(value, str)
                        else ""
                    )
                )
            if value < 1:
                raise ValueError(f"`Limits.{name}` must be at least 1, not {value}")


class Ctx(Meter):
    """Everything one decision reads, its per-decision caches, and what it used of its
    limits (it is the meter that `metering` charges built-ins and operators to)."""

    __slots__ = ("cache", "input", "now", "schemas", "tracer")

    def __init__(self, input: Any, now: int | float, schemas: dict[str, Any], limits: Limits):
        super().__init__(limits.max_steps, limits.max_built_size, limits.max_built_bytes)
        self.input = input
        self.now = now
        self.schemas = schemas
        self.cache: dict[Any, Any] = {}
        self.tracer = Tracer()


@dataclass(eq=False)
class ErrorEntry:
    code: str
    message: str
    location: str
    check: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "message": self.message, "location": self.location}
        if self.check is not None:
            d["check"] = self.check
        if self.path is not None:
            d["path"] = self.path
        return d


@dataclass(eq=False)
class Outcome:
    """What evaluation found, before it is shaped into a decision document."""

    query: Query
    now: int | float
    value: Any = UNDEF  # a rule query's value
    checks: list[tuple[CompiledCheck, CheckResult]] = field(default_factory=list)
    errors: list[ErrorEntry] = field(default_factory=list)
    explain: Callable[[bool], RuleTrace | None] | None = None


def resolve_now(now: Any) -> int | float:
    """The decision's clock: the caller's RFC 3339 text or epoch seconds, else the wall clock."""
    if now is None:
        return _time.time()
    if isinstance(now, str):
        value = parse_rfc3339(now)
    elif type(now) in (int, float):
        value = now
    elif isinstance(now, datetime):
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("`now` must be a timezone-aware datetime (e.g. with tzinfo=UTC)")
        value = now.timestamp()
    else:
        raise ValueError(
            f"`now` must be RFC 3339 text, epoch seconds or a datetime, not {type(now).__name__}"
        )
    if not EARLIEST <= value <= LATEST:  # also refuses NaN
        shown = now if isinstance(now, str) else _number(value)
        raise ValueError(
            f"`now` is out of range: {shown} is not between 0001-01-01T00:00:00Z and "
            f"9999-12-31T23:59:59Z ({EARLIEST} to {LATEST} epoch seconds)"
        )
    return value


def _number(value: float) -> str:
    """An epoch time as a user wrote it: a whole number without `.0`, and no Python `inf`."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "a number beyond the double range"
    return str(int(value)) if float(value).is_integer() else repr(value)


# the years 0001 to 9999, the range an RFC 3339 timestamp can name (the sidecar's OpenAPI
# description declares it)
EARLIEST, LATEST = -62135596800, 253402300799


def _error(err: EvalError, check: str | None = None) -> ErrorEntry:
    location = err.span.location() if err.span is not None else "<policy>"
    return ErrorEntry(err.code, err.message, location, check)


def _internal(err: BaseException) -> EvalError:
    if isinstance(err, RecursionError):
        return EvalError("limit", "evaluation nested too deeply and was stopped")
    return EvalError("internal", f"internal error: {type(err).__name__}: {err}")


def evaluate(
    program: Program,
    query: Query,
    input: Any,
    now: int | float,
    limits: Limits,
    full: bool,
) -> Outcome:
    """Evaluate `query` on an input `admit_input` took."""
    out = Outcome(query, now)
    if query.rule is not None:
        rule = query.rule
        ctx = Ctx(input, now, program.schemas, limits)
        try:
            with metering(ctx):
                out.value = rule.value(ctx)
        except EvalError as err:
            out.errors.append(_error(err))
        except Exception as err:  # fail closed: a bug must not allow
            out.errors.append(_error(_internal(err)))

        def explain(full: bool) -> RuleTrace | None:
            tctx = Ctx(input, now, program.schemas, limits)
            if out.errors:
                # replay the first pass from its start, under the same step budget (the step
                # the query itself took included): reusing the rules it settled would leave
                # the re-run the steps they cost, so it could get past a `step_limit` and
                # explain as holding a definition the decision never finished
                tctx.steps = 1
            else:
                # evaluation is deterministic: the rules the first pass settled need no second
                # run; only the queried rule's own definitions are re-run, with tracing
                tctx.cache = dict(ctx.cache)
                tctx.cache.pop(rule, None)
            try:
                with metering(tctx):
                    return rule.explain(tctx, full)
            except Exception:
                return None

        out.explain = explain
        return out
    ctx = Ctx(input, now, program.schemas, limits)
    for check in query.checks:
        try:
            with metering(ctx):
                results = check.evaluate(ctx, full)
        except Exception as err:
            results = [CheckResult("error", error=_internal(err))]
        for r in results:
            if r.status == "error" and r.error is not None:
                out.errors.append(_error(r.error, check.full_id))
            elif r.status == "violated":
                r.waiver = _waiver(program, check, input, now)
                if r.waiver is not None:
                    r.status = "waived"
            out.checks.append((check, r))
    return out


def admit_input(input: Any, limits: Limits) -> tuple[Any, ErrorEntry | None]:
    """The input as evaluation reads it, or why it is refused (`invalid_input`, naming the
    JSON path of the first bad value). What `json.dumps` writes is taken, subclasses of the
    JSON types as their base types (`plain_json`)."""
    if _plain_document(input, limits.max_input_depth, limits.max_input_values):
        return input, None
    plain = plain_json(input, limits.max_input_depth, limits.max_input_values)
    try:
        check_document(plain, limits.max_input_depth, limits.max_input_values)
    except DocumentError as err:
        message = f"input {err.path or '/'}: {err.message}"
        return input, ErrorEntry("invalid_input", message, "<input>", path=err.path)
    return plain, None


def _plain_document(value: Any, max_depth: int, max_nodes: int) -> bool:
    """Whether a document is plainly valid: JSON types, finite numbers, within the limits.

    The common case is answered by this quick walk; anything doubtful goes to
    `check_document`, which finds the JSON path of the problem."""
    budget = [max_nodes]

    def ok(v: Any, depth: int) -> bool:
        budget[0] -= 1
        t = type(v)
        if t is str:
            return is_text(v)
        if t is bool or v is None:
            return True
        if t is int:
            return -DOUBLE_MAX <= v <= DOUBLE_MAX
        if t is float:
            return -DOUBLE_MAX <= v <= DOUBLE_MAX  # false for NaN and the infinities
        if depth >= max_depth or budget[0] < 0:
            return False
        if t is dict:
            for k, x in v.items():
                if type(k) is not str or not is_text(k) or not ok(x, depth + 1):
                    return False
            return budget[0] >= 0
        if t is list:
            for x in v:
                if not ok(x, depth + 1):
                    return False
            return budget[0] >= 0
        return False

    return ok(value, 0)


def _waiver(program: Program, check: CompiledCheck, input: Any, now: int | float) -> Any:
    for w in program.waivers.get(check.full_id, ()):
        if not now < w.expires_at:
            continue
        if all(
            _lookup(input, path) is not UNDEF and equal(_lookup(input, path), value)
            for path, value in w.match
        ):
            return w.to_dict()
    return None


def _lookup(doc: Any, path: tuple[str, ...]) -> Any:
    v = doc
    for k in path:
        if type(v) is not dict:
            return UNDEF
        v = v.get(k, UNDEF)
    return v
