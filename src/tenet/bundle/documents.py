"""Documents for the data API: a rule's value, or a package's rule values as one nested object,
shaped as Open Policy Agent's data API returns them; evaluation errors fail closed."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from tenet.bundle.inputs import schemas_errors
from tenet.compiler.program import Program, Query, check_query_text
from tenet.compiler.rules import CompiledRule
from tenet.decision import BundleInfo, Decision, uuid7
from tenet.runtime.evaluate import Ctx, ErrorEntry, admit_input, evaluate, resolve_now
from tenet.runtime.values import UNDEF, EvalError, metering, to_json

if TYPE_CHECKING:
    from tenet.bundle import Bundle

__all__ = ["Document", "evaluate_document"]

Namespace = tuple[str, ...]


@dataclass(eq=False)
class Document:
    """The value at a path of the bundle's rules: ``defined`` is false when a rule produced no
    value, and ``errors`` lists evaluation or input errors, in which case nothing is defined."""

    path: str
    defined: bool
    value: Any  # the JSON value; None when undefined
    errors: list[dict[str, Any]]
    bundle: BundleInfo
    now: float  # the clock it was evaluated at, epoch seconds: the caller's `now`, or the clock
    verdict: str | None = None  # a package's outcome, by its checks

    @cached_property
    def decision_id(self) -> str:
        return uuid7()

    @property
    def outcome(self) -> str:
        """The outcome `decide` gives for the same query: `error` on an error; for a rule,
        `allow` exactly when the value is true; for a package (or "", every package), its
        checks' verdict (those of the packages below it included), not its value."""
        if self.errors:
            return "error"
        if self.verdict is not None:
            return self.verdict
        return "allow" if self.value is True else "deny"

    def to_dict(self) -> dict[str, Any]:
        """OPA's response: `result` only when defined, and `errors` only when there are some."""
        out: dict[str, Any] = {"decision_id": self.decision_id}
        if self.defined:
            out["result"] = self.value
        if self.errors:
            out["errors"] = self.errors
        return out


@dataclass(eq=False)
class _Layout:
    """A program's rules (functions left out) and sub-packages, by package."""

    rules: dict[Namespace, list[tuple[str, CompiledRule]]] = field(default_factory=dict)
    children: dict[Namespace, list[str]] = field(default_factory=dict)


_layouts: WeakKeyDictionary[Program, _Layout] = WeakKeyDictionary()


def _layout(program: Program) -> _Layout:
    found = _layouts.get(program)
    if found is not None:
        return found
    layout = _Layout()
    namespaces = set(program.namespaces)
    for rule in program.rules.values():
        if rule.kind == "function" or rule.full_name in program.functions:
            continue
        package = tuple(rule.full_name.split("."))[:-1]
        namespaces.add(package)
        layout.rules.setdefault(package, []).append((rule.name, rule))
    layout.children[()] = []
    for ns in namespaces:
        layout.children.setdefault(ns, [])
        for n in range(len(ns)):
            kids = layout.children.setdefault(ns[:n], [])
            if ns[n] not in kids:
                kids.append(ns[n])
    for kids in layout.children.values():
        kids.sort()
    for rules in layout.rules.values():
        rules.sort(key=lambda item: item[0])
    _layouts[program] = layout
    return layout


def evaluate_document(bundle: Bundle, path: str, input: Any = None, now: Any = None) -> Document:
    """The document at `path` (a rule such as `access.allow`, a package such as `deploy`, or ""
    for every package). Raises QueryError when the path names neither a rule nor a package (or
    names a function), and ValueError for a bad `now`. Input schemas of the manifest apply as
    for `Bundle.decide`; an input error or any evaluation error leaves the document undefined."""
    program = bundle.program
    check_query_text(path)
    parts: Namespace = tuple(path.split(".")) if path else ()
    layout = _layout(program)
    rule: CompiledRule | None = None
    if parts not in layout.children:
        program.query(path)  # raises QueryError (naming the nearest name), or for a function
        rule = program.rules[path]
    clock = resolve_now(now)
    doc, refused = admit_input({} if input is None else input, bundle.limits)
    invalid = [refused] if refused else schemas_errors(path, bundle.input_schemas, doc)
    if invalid:
        return _undefined(bundle, path, [e.to_dict() for e in invalid], clock)
    # a rule: exactly what a rule query evaluates; a package: the input is checked the same way
    outcome = evaluate(program, Query(path, rule, ()), doc, clock, bundle.limits, False)
    if outcome.errors:
        return _undefined(bundle, path, [e.to_dict() for e in outcome.errors], clock)
    if rule is not None:
        if outcome.value is UNDEF:
            return Document(path, False, None, [], bundle.info, clock)
        return Document(path, True, to_json(outcome.value), [], bundle.info, clock)
    ctx = Ctx(doc, clock, program.schemas, bundle.limits)
    errors: list[dict[str, Any]] = []
    with metering(ctx):
        value = _package(layout, parts, ctx, errors)
    if errors:
        return _undefined(bundle, path, errors, clock)
    # The answer is the rules' values, as OPA gives it; the outcome counted and recorded is
    # the package's verdict, by its checks, as `decide` (and `tenet eval`) gives it: a package
    # is no boolean, and reading it as one made every read of a package a denial.
    checked = evaluate(program, program.package_query(path), doc, clock, bundle.limits, False)
    verdict = Decision(checked, bundle.info, doc, "summary", 0).outcome
    return Document(path, True, value, [], bundle.info, clock, verdict)


def _package(
    layout: _Layout, ns: Namespace, ctx: Ctx, errors: list[dict[str, Any]]
) -> dict[str, Any]:
    """A package's defined rule values by name, with its sub-packages nested below."""
    out: dict[str, Any] = {}
    for name, rule in layout.rules.get(ns, ()):
        try:
            v = rule.value(ctx)
        except EvalError as err:
            errors.append(_error(err))
            continue
        except RecursionError:
            errors.append(_error(EvalError("limit", _TOO_DEEP)))
            continue
        except Exception as err:  # fail closed: a bug must not define a value
            errors.append(_error(EvalError("internal", f"internal error: {_name(err)}: {err}")))
            continue
        if v is not UNDEF:
            out[name] = to_json(v)
    for child in layout.children.get(ns, ()):
        if child not in out:
            out[child] = _package(layout, (*ns, child), ctx, errors)
    return out


_TOO_DEEP = "evaluation nested too deeply and was stopped"


def _name(err: BaseException) -> str:
    return type(err).__name__


def _error(err: EvalError) -> dict[str, Any]:
    location = err.span.location() if err.span is not None else "<policy>"
    return ErrorEntry(err.code, err.message, location).to_dict()


def _undefined(bundle: Bundle, path: str, errors: list[dict[str, Any]], now: float) -> Document:
    return Document(path, False, None, errors, bundle.info, now)
