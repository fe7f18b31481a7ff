"""Pass `check_names`: every name resolves, every variable is bound before use and only once,
calls have the right number of arguments, and message templates parse. Records which rules
each rule reads, for `check_cycles`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, assert_never

from tenet.analysis.symbols import (
    BuiltinTarget,
    ModuleScope,
    PackageTarget,
    RuleInfo,
    RuleTarget,
    Target,
)
from tenet.analysis.walk import Walker, chain_of
from tenet.diagnostics import Diagnostic, did_you_mean
from tenet.runtime.builtins import BUILTINS
from tenet.runtime.values import MAX_INT_BITS
from tenet.source import Span
from tenet.syntax import ast
from tenet.syntax.parser import parse_expression
from tenet.syntax.template import (
    Hole,
    Template,
    TemplateSyntaxError,
    split_template,
    template_diagnostic,
)

if TYPE_CHECKING:
    from tenet.analysis import Analysis

# chain_of moved to walk.py; the compiler still imports it from here
__all__ = ["Locals", "chain_of", "check_names", "parse_message", "resolve_chain"]


@dataclass(eq=False)
class Locals:
    """The variables of one body; nested bodies (every, comprehensions) chain to their parent."""

    parent: Locals | None = None
    names: dict[str, Span | None] = field(default_factory=dict)
    later: set[str] = field(default_factory=set)  # bound further down this body

    def has(self, name: str) -> bool:
        scope: Locals | None = self
        while scope is not None:
            if name in scope.names:
                return True
            scope = scope.parent
        return False

    def bound_later(self, name: str) -> bool:
        scope: Locals | None = self
        while scope is not None:
            if name in scope.later:
                return True
            scope = scope.parent
        return False

    def all_names(self) -> list[str]:
        out: list[str] = []
        scope: Locals | None = self
        while scope is not None:
            out.extend(scope.names)
            scope = scope.parent
        return out


def resolve_chain(
    scope: ModuleScope, target: Target, steps: list[ast.Field | ast.Index]
) -> tuple[Target, int, Diagnostic | None]:
    """Follow `.name` steps through packages; returns the target and how many steps it used."""
    used = 0
    while isinstance(target, PackageTarget):
        if used >= len(steps):
            return target, used, None
        step = steps[used]
        if not isinstance(step, ast.Field):
            name = ".".join(target.path)
            return (
                target,
                used,
                Diagnostic(
                    "package-index",
                    f"package `{name}` cannot be indexed",
                    step.span,
                    "name one of its rules with `.rule`",
                ),
            )
        member = scope.symbols.member(target.path, step.name)
        if member is None:
            name = ".".join(target.path)
            return (
                target,
                used,
                Diagnostic(
                    "unknown-name",
                    f"package `{name}` has no rule or package `{step.name}`",
                    step.span,
                    did_you_mean(step.name, scope.symbols.member_names(target.path)),
                ),
            )
        target = member
        used += 1
    return target, used, None


def parse_message(check: ast.Check) -> tuple[Template | None, list[Diagnostic]]:
    if check.message is None:
        return None, []
    span = check.message_span
    try:
        pieces = split_template(check.message)
    except TemplateSyntaxError as err:
        return None, [template_diagnostic(err, span, check.message)]
    parts: list[str | Hole] = []
    diags: list[Diagnostic] = []
    raw = span.text() if span is not None else ""
    for piece in pieces:
        if isinstance(piece, str):
            parts.append(piece)
            continue
        text, spec, offset = piece
        if span is None:
            continue
        # where the hole's text stands in the file (exact unless the message has escapes)
        at = raw.find(text, offset)
        start = span.start + (at if at >= 0 else 0)
        parsed = parse_expression(span.source, start, text)
        if isinstance(parsed, Diagnostic):
            diags.append(parsed)
            continue
        parts.append(Hole(parsed, spec, text.strip()))
    return Template(tuple(parts)), diags


class _Resolver(Walker[Locals]):
    def __init__(self, an: Analysis, scope: ModuleScope, owner: str | None) -> None:
        self.an = an
        self.scope = scope
        self.owner = owner  # the rule whose dependencies are recorded
        self.diags: list[Diagnostic] = []

    # -- dependencies
    def _depend(self, rule: RuleInfo, span: Span | None) -> None:
        if self.owner is None:
            return
        self.an.depends.setdefault(self.owner, set()).add(rule.full_name)
        self.an.dependency_spans.setdefault((self.owner, rule.full_name), span)

    def _error(self, code: str, message: str, span: Span | None, help_: str | None = None) -> None:
        self.diags.append(Diagnostic(code, message, span, help_))

    # -- locals
    def open_scope(self, parent: Locals) -> Locals:
        return Locals(parent)

    def ahead(self, rest: tuple[ast.Statement, ...], scope: Locals) -> None:
        scope.later = _bound_names(rest)

    def bind(
        self,
        names: tuple[str, ...],
        span: Span | None,
        scope: Locals,
        source: ast.Expr,
        each: bool,
    ) -> None:
        for name in names:
            if name not in scope.names:
                scope.names[name] = span
                continue
            first = scope.names[name]
            self._error(
                "rebind",
                f"variable `{name}` is bound twice in this body",
                span,
                f"it was first bound at {first.location()}; use a new name"
                if first is not None
                else "use a new name",
            )

    def binding_names(self, names: tuple[str, ...], at: tuple[Span, ...]) -> None:
        self.diags.extend(root_names(names, at, "variable"))

    # -- expressions
    def literal(self, e: ast.Literal, scope: Locals) -> None:
        value = e.value
        infinite = type(value) is float and not math.isfinite(value)
        digits = sum(c.isdigit() for c in e.raw)
        # a whole spelling is infinite when it has too many digits to read, or when its unit
        # scales it past the double range (`1000…000%`)
        if (type(value) is int and value.bit_length() > MAX_INT_BITS) or (
            infinite and _whole_spelling(e.raw) and digits > _MAX_INT_DIGITS
        ):
            self._error(
                "number",
                f"the integer `{_shortened(e.raw)}` ({digits} digits) is over {MAX_INT_BITS} bits",
                e.span,
                f"integers are exact up to {MAX_INT_BITS} bits ({_MAX_INT_DIGITS} digits); "
                "write a smaller number",
            )
        elif infinite:
            self._error(
                "number",
                f"the number `{_shortened(e.raw)}` is beyond the double range",
                e.span,
                "write a smaller number",
            )

    def reference(
        self, root: ast.Var, steps: list[ast.Field | ast.Index], whole: ast.Expr, scope: Locals
    ) -> None:
        name = root.name
        if scope.has(name):
            return
        target = self.scope.lookup(name)
        if target is None:
            if scope.bound_later(name):
                self._error(
                    "unsafe",
                    f"variable `{name}` is used before the line that binds it",
                    root.span,
                    "move the condition below the `:=` or `some` that binds it",
                )
            elif name in BUILTINS:
                self._error(
                    "builtin-value",
                    f"built-in `{name}` must be called",
                    root.span,
                    f"write `{name}(…)`",
                )
            elif name not in self.scope.unresolved:
                self._error(
                    "unknown-name",
                    f"unknown name `{name}`",
                    root.span,
                    did_you_mean(name, [*scope.all_names(), *self.scope.visible_names()])
                    or "bind it with `:=` or `some`, import it, or define a rule of that name",
                )
            return
        target, used, problem = resolve_chain(self.scope, target, steps)
        if problem is not None:
            self.diags.append(problem)
            return
        span = steps[used - 1].span if used else root.span
        if isinstance(target, PackageTarget):
            self._error(
                "package-value",
                f"package `{'.'.join(target.path)}` is not a value",
                span,
                "name one of its rules, e.g. `pkg.allow`",
            )
        elif isinstance(target, RuleTarget):
            if target.rule.is_function:
                self._error(
                    "function-value",
                    f"function `{target.rule.name}` must be called",
                    span,
                    f"write `{target.rule.name}(…)` with {target.rule.arity} argument(s)",
                )
            self._depend(target.rule, span)

    def call(self, e: ast.Call, scope: Locals) -> None:
        found = chain_of(e.func)
        if found is None:
            self._error("call", "only functions can be called", e.span, None)
            return
        root, steps = found
        if scope.has(root.name):
            self._error(
                "call",
                f"`{root.name}` is a local variable, not a function",
                root.span,
                "rename the variable if it hides a function",
            )
            return
        target = (
            self.scope.lookup_function(root.name) if not steps else self.scope.lookup(root.name)
        )
        if target is None and root.name in self.scope.unresolved:
            return
        if target is None:
            dotted = ".".join([root.name, *(s.name for s in steps if isinstance(s, ast.Field))])
            functions = [
                *BUILTINS,
                *(r.name for r in self.scope.package.rules.values() if r.is_function),
            ]
            if dotted in OPA_EQUIVALENTS:
                advice: str | None = f"in Tenet, OPA's `{dotted}` is {OPA_EQUIVALENTS[dotted]}"
            elif not steps:
                advice = did_you_mean(root.name, functions)
            elif root.name in BUILTINS:
                advice = f"built-in names have no dots: call the built-in `{root.name}(…)`"
            else:  # `lib.f(x)`: `lib` should be an import
                advice = did_you_mean(root.name, self.scope.imports) or (
                    f"`{root.name}` is not imported: import the package that defines "
                    f"the function, e.g. `import some.package as {root.name}`"
                )
            self._error(
                "unknown-function",
                f"unknown function `{dotted}`",
                e.func.span,
                advice or "see the built-in table in docs/language.md",
            )
            return
        target, used, problem = resolve_chain(self.scope, target, steps)
        if problem is not None:
            self.diags.append(problem)
            return
        name = ".".join([root.name, *(s.name for s in steps if isinstance(s, ast.Field))])
        if used != len(steps):
            self._error("call", f"`{name}` is not a function", e.func.span)
            return
        n = len(e.args)
        if isinstance(target, BuiltinTarget):
            b = target.builtin
            self.an.builtins.add(b.name)
            if not b.accepts(n):
                self._error(
                    "arity",
                    f"`{b.name}` takes {b.arity_text()} argument(s), not {n}",
                    e.span,
                    f"for example `{b.example}`" if b.example else None,
                )
        elif isinstance(target, RuleTarget) and target.rule.is_function:
            if n != target.rule.arity:
                first = target.rule.definitions[0]
                self._error(
                    "arity",
                    f"function `{name}` takes {target.rule.arity} argument(s), not {n}",
                    e.span,
                    f"it is defined as `{first.name}({', '.join(first.params)})` at "
                    f"{first.span.location()}",
                )
            self._depend(target.rule, e.span)
        else:
            self._error(
                "call",
                f"`{name}` is not a function",
                e.func.span,
                "only built-ins and rules written `name(params) …` can be called",
            )


def _bound_names(stmts: tuple[ast.Statement, ...]) -> set[str]:
    out: set[str] = set()
    for s in stmts:
        if isinstance(s, ast.Assign):
            out.add(s.name)
        elif isinstance(s, ast.SomeIn):
            out.update(s.names)
    return out


_ROOT_MEANING = {"input": "the request being decided", "data": "the bundle's data"}


def root_names(names: tuple[str, ...], at: tuple[Span, ...], what: str) -> list[Diagnostic]:
    """A local or parameter named `input` or `data` would hide that root for the rest of its
    body, and conditions written against the request would silently read the local instead:
    refused, as OPA refuses it, and as an import alias of those names is."""
    return [
        Diagnostic(
            "root-name",
            f"{what} `{name}` hides the `{name}` root",
            span,
            f"choose another name, such as `{name}_`: `{name}` always means {_ROOT_MEANING[name]}",
        )
        for name, span in zip(names, at or (None,) * len(names), strict=True)
        if name in _ROOT_MEANING
    ]


def check_names(an: Analysis) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    for module in an.modules:
        scope = an.scopes[id(module)]
        pkg = scope.package
        for d in module.definitions:
            match d:
                case ast.Rule():
                    r = _Resolver(an, scope, ".".join((*pkg.path, d.name)))
                    local = Locals()
                    diags.extend(root_names(d.params, d.params_at, "parameter"))
                    for p in d.params:
                        local.names[p] = d.span
                    if d.body is not None:
                        r.body(d.body, local)
                    if d.value is not None:
                        r.expr(d.value, local)
                    diags.extend(r.diags)
                case ast.DefaultRule():
                    r = _Resolver(an, scope, ".".join((*pkg.path, d.name)))
                    r.expr(d.value, Locals())
                    diags.extend(r.diags)
                case ast.Check():
                    r = _Resolver(an, scope, None)
                    if d.when is not None:
                        r.expr(d.when, Locals())
                    local = Locals()
                    r.body(d.body, local)
                    template, found = parse_message(d)
                    diags.extend(found)
                    if template is not None:
                        for part in template.parts:
                            if isinstance(part, Hole):
                                r.expr(part.expr, local)
                    diags.extend(r.diags)
                case _:
                    assert_never(d)
    return diags


# OPA built-ins whose Tenet counterpart has another name, for the help of an unknown function
OPA_EQUIVALENTS: dict[str, str] = {
    "array.concat": "`a + b`",
    "concat": "`join(separator, strings)`",
    "crypto.sha256": "`sha256(string)`",
    "glob.match": "`glob(pattern, path)`, with `/` as the only separator",
    "is_boolean": "`is_bool(value)`",
    "json.match_schema": '`matches_schema(value, "NAME")`, NAME a schema of the bundle',
    "object.keys": "`keys(object)`",
    "regex.match": "`regex(pattern, string)`",
    "semver.compare": "`semver_compare(a, b)`",
    "sprintf": 'a message template, such as `message "{value:.1%} is over {limit}"`',
    "time.now_ns": "`now()`, in seconds rather than nanoseconds",
    "time.parse_duration_ns": "`duration(text)`, in seconds rather than nanoseconds",
    "time.parse_rfc3339_ns": "`time(timestamp)`, in seconds rather than nanoseconds",
    "trim_space": "`trim(string)`",
}


_MAX_INT_DIGITS = 1233  # the digits of 2**MAX_INT_BITS


def _whole_spelling(raw: str) -> bool:
    """Whether a number literal (`1_000`, `30s`, not `1.5`, `1e3`) is spelt as an integer."""
    return not any(
        c in raw.rstrip("%abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for c in ".eE"
    )


def _shortened(raw: str) -> str:
    """A literal as a message names it: a number thousands of digits long is cut."""
    return raw if len(raw) <= 24 else raw[:20] + "…"
