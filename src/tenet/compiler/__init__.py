"""Checked modules to a `Program`: closures for every rule, function and check.

The compiler trusts the analysis (it runs only when `tenet.analysis.check` found no error)
and never walks syntax at decision time. Its stages are named in `PASSES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tenet.analysis import Analysis
from tenet.analysis.names import parse_message
from tenet.analysis.symbols import ModuleScope
from tenet.analysis.waivers import Waiver, read_waivers
from tenet.compiler.bodies import Body, compile_body, meta_of, traced_value
from tenet.compiler.checks import CompiledCheck
from tenet.compiler.expressions import Code, ExprCompiler, Fn, Slots
from tenet.compiler.index import build_index, equality_keys
from tenet.compiler.probe import Probe
from tenet.compiler.program import Program
from tenet.compiler.rules import CompiledDef, CompiledRule
from tenet.gcpause import paused_gc
from tenet.syntax import ast
from tenet.syntax.template import Hole

__all__ = ["PASSES", "CompileOptions", "Program", "compile_program"]


@dataclass(frozen=True, slots=True)
class CompileOptions:
    """Optimisations, all on by default; switched off only to test that they change nothing."""

    indexing: bool = True
    folding: bool = True
    fast_paths: bool = True


@dataclass(eq=False)
class _Build:
    analysis: Analysis
    schemas: Mapping[str, Any]
    options: CompileOptions
    probe: Probe | None = None  # coverage: wraps statements and definitions
    rules: dict[str, CompiledRule] = field(default_factory=dict)
    checks: dict[tuple[str, ...], list[CompiledCheck]] = field(default_factory=dict)
    waivers: dict[str, list[Waiver]] = field(default_factory=dict)

    def scope_of(self, module: ast.Module) -> ModuleScope:
        return self.analysis.scopes[id(module)]

    def compiler(self, module: ast.Module, traced: bool = False) -> ExprCompiler:
        return ExprCompiler(
            self.scope_of(module),
            self.rules,
            self.analysis.data,
            traced,
            self.options.folding,
            self.options.fast_paths,
        )


def _declare_rules(b: _Build) -> None:
    for pkg in b.analysis.symbols.packages.values():
        for info in pkg.rules.values():
            b.rules[info.full_name] = CompiledRule(
                info.full_name, info.name, info.kind, info.stops_at_first, arity=info.arity
            )


def _compile_rules(b: _Build) -> None:
    for module in b.analysis.modules:
        pkg = b.scope_of(module).package
        for d in module.definitions:
            if isinstance(d, ast.Rule):
                rule = b.rules[".".join((*pkg.path, d.name))]
                rule.defs.append(_definition(b, module, d))
            elif isinstance(d, ast.DefaultRule):
                rule = b.rules[".".join((*pkg.path, d.name))]
                rule.default = b.compiler(module).compile(d.value, Slots())
                if b.probe is not None:
                    rule.default = Code(b.probe.constant(d.span, rule.default.fn))
    # source order: the file's relative path compared as text, then line
    for rule in b.rules.values():
        rule.defs.sort(key=lambda cd: (cd.span.path, cd.span.line, cd.span.column))


def _definition(b: _Build, module: ast.Module, d: ast.Rule) -> CompiledDef:
    def build(traced: bool) -> tuple[Body | None, Fn | None, int]:
        ec = b.compiler(module, traced)
        slots = Slots()
        for p in d.params:
            slots.bind(p)
        probe = None if traced else b.probe  # explanations re-run traced code: not counted
        if traced and d.body is None:
            assert d.value is not None  # only value and set rules go without a body
            # traced like a body of one statement, so the capture need not compute it again
            return traced_value(ec.compile(d.value, slots).fn, meta_of(d.value)), None, slots.size
        body = compile_body(d.body, slots, ec, traced, probe) if d.body is not None else None
        value = ec.untraced().compile(d.value, slots).fn if d.value is not None else None
        return body, value, slots.size

    body, value, size = build(False)
    if b.probe is not None:
        if body is not None:
            body = b.probe.definition(d, body)
        elif value is not None:
            value = b.probe.constant(d.span, value)

    def traced() -> tuple[Body | None, Fn | None, int]:
        return build(True)

    keys = equality_keys(d.body, d.params, b.scope_of(module)) if b.options.indexing else {}
    return CompiledDef(d.span, size, body, value, traced, eq_keys=keys)


def _compile_checks(b: _Build) -> None:
    for module in b.analysis.modules:
        pkg = b.scope_of(module).package
        for d in module.definitions:
            if not isinstance(d, ast.Check):
                continue
            info = pkg.checks.get(d.name)
            if info is None or info.check is not d:
                continue
            b.checks.setdefault(pkg.path, []).append(_check(b, module, d, info.annotations))
    for checks in b.checks.values():
        checks.sort(key=lambda c: c.sort_key)


def _check(
    b: _Build, module: ast.Module, d: ast.Check, annotations: dict[str, Any]
) -> CompiledCheck:
    ec = b.compiler(module, traced=True)
    when = None
    when_size = 0
    if d.when is not None:
        wslots = Slots()
        when = (ec.compile(d.when, wslots).fn, meta_of(d.when))
        when_size = wslots.size
    slots = Slots()
    body = compile_body(d.body, slots, ec, traced=True, probe=b.probe)
    names = list(slots.names.items())
    some_slots = [
        slots.names[n] for s in d.body.statements if isinstance(s, ast.SomeIn) for n in s.names
    ]
    template, _ = parse_message(d)
    message: list[str | tuple[Fn, str, Any]] | None = None
    if template is not None:
        plain = ec.untraced()
        message = []
        for part in template.parts:
            if isinstance(part, Hole):
                message.append((plain.compile(part.expr, slots).fn, part.spec, part.expr.span))
            else:
                message.append(part)
    return CompiledCheck(
        package=module.package,
        name=d.name,
        kind=d.kind,
        severity=d.severity or "blocking",
        span=d.span,
        nslots=slots.size,
        body=body,
        when=when,
        when_slots=when_size,
        message=message,
        names=names,
        some_slots=some_slots,
        annotations=annotations,
    )


def _index_rules(b: _Build) -> None:
    # Coverage counts what each definition's body ran; an index would skip the bodies it
    # rules out, so the report would change with a rule's number of definitions. It changes
    # no decision, so a probed program runs without it.
    if not b.options.indexing or b.probe is not None:
        return
    for rule in b.rules.values():
        if rule.kind != "function":
            rule.index = build_index(rule.defs, [d.eq_keys for d in rule.defs])


def _index_waivers(b: _Build) -> None:
    ids = {c.full_id for checks in b.checks.values() for c in checks}
    waivers, _ = read_waivers(b.analysis.data, ids)
    for w in waivers:
        b.waivers.setdefault(w.check, []).append(w)


PASSES: tuple[tuple[str, Callable[[_Build], None]], ...] = (
    ("declare_rules", _declare_rules),
    ("compile_rules", _compile_rules),
    ("index_rules", _index_rules),
    ("compile_checks", _compile_checks),
    ("index_waivers", _index_waivers),
)


def compile_program(
    analysis: Analysis,
    schemas: Mapping[str, Any],
    options: CompileOptions | None = None,
    probe: Probe | None = None,
) -> Program:
    """Compile an analysis that has no errors into a Program. A `probe` (`tenet test
    --coverage`) is told what runs; without one the program is exactly the plain one."""
    b = _Build(analysis, schemas, options or CompileOptions(), probe)
    with paused_gc():
        for _name, run in PASSES:
            run(b)
    return Program(
        rules=b.rules,
        checks=b.checks,
        namespaces={*analysis.symbols.packages, *analysis.symbols.prefixes},
        waivers=b.waivers,
        schemas=dict(schemas),
        data=analysis.data,
        functions={k for k, r in b.rules.items() if r.kind == "function"},
        rule_infos={
            info.full_name: info
            for p in analysis.symbols.packages.values()
            for info in p.rules.values()
        },
        reads_clock="now" in analysis.builtins or bool(b.waivers),
    )
