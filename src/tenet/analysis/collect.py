"""Pass `collect_definitions`: packages, rules and checks into the symbol table, with the
conflicts that make a definition ambiguous (duplicate check ids, mixed rule kinds)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tenet.analysis.symbols import CheckInfo, PackageInfo, RuleInfo, Symbols
from tenet.diagnostics import Diagnostic
from tenet.source import Span
from tenet.syntax import ast

if TYPE_CHECKING:
    from tenet.analysis import Analysis

_KIND_WORDS = {
    "bool": "a boolean rule",
    "value": "a value rule",
    "set": "a partial set rule",
    "bool_function": "a function",
    "value_function": "a function",
}


def _family(kind: str) -> str:
    if kind.endswith("function"):
        return "function"
    return "set" if kind == "set" else "complete"


def collect_definitions(an: Analysis) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    symbols = an.symbols
    # source order: the file's relative path compared as text, then line
    modules = sorted(an.modules, key=lambda m: m.span.path if m.span else "")
    for module in modules:
        pkg = symbols.packages.setdefault(module.package, PackageInfo(module.package))
        pkg.modules.append(module)
        for i in range(1, len(module.package)):
            symbols.prefixes.add(module.package[:i])
    for module in modules:
        pkg = symbols.packages[module.package]
        for d in module.definitions:
            match d:
                case ast.Rule():
                    diags.extend(_add_rule(pkg, d))
                case ast.DefaultRule():
                    info = pkg.rules.setdefault(d.name, RuleInfo(pkg.path, d.name))
                    if info.default is not None:
                        diags.append(
                            Diagnostic(
                                "duplicate-default",
                                f"rule `{d.name}` has more than one `default`",
                                d.span,
                                f"the first is at {info.default.span.location()}",
                            )
                        )
                    else:
                        info.default = d
                case ast.Check():
                    prior = pkg.checks.get(d.name)
                    if prior is not None:
                        diags.append(
                            Diagnostic(
                                "duplicate-check",
                                f"check `{d.name}` is defined twice in package `{pkg.name}`",
                                d.span,
                                f"the first is at {prior.check.span.location()}; "
                                "give each check its own id",
                            )
                        )
                    else:
                        pkg.checks[d.name] = CheckInfo(pkg.path, d)
                case _:
                    raise AssertionError(d)
    for pkg in symbols.packages.values():
        for info in pkg.rules.values():
            diags.extend(_check_rule(symbols, info))
    return diags


def _add_rule(pkg: PackageInfo, rule: ast.Rule) -> list[Diagnostic]:
    info = pkg.rules.setdefault(rule.name, RuleInfo(pkg.path, rule.name))
    if info.definitions:
        first = info.definitions[0]
        if _family(first.kind) != _family(rule.kind):
            return [
                Diagnostic(
                    "rule-kind",
                    f"`{rule.name}` is defined as {_KIND_WORDS[rule.kind]} here and as "
                    f"{_KIND_WORDS[first.kind]} at {first.span.location()}",
                    rule.span,
                    "every definition of a name must be of the same kind",
                )
            ]
        if rule.is_function and len(rule.params) != len(first.params):
            return [
                Diagnostic(
                    "arity",
                    f"function `{rule.name}` takes {len(first.params)} argument(s) at "
                    f"{first.span.location()} but {len(rule.params)} here",
                    rule.span,
                    "give every definition of a function the same parameters",
                )
            ]
    info.definitions.append(rule)
    diags: list[Diagnostic] = []
    seen: set[str] = set()
    for p in rule.params:
        if p in seen:
            diags.append(
                Diagnostic(
                    "duplicate-param",
                    f"parameter `{p}` appears twice",
                    param_span(rule, p, 1),
                    f"give each parameter of `{rule.name}` its own name",
                )
            )
        seen.add(p)
    return diags


def param_span(rule: ast.Rule, param: str, nth: int = 0) -> Span:
    """Where a parameter is written in a function's head, the `nth` time from 0 (the parser
    keeps no span per parameter); the definition's span when it cannot be found."""
    span = rule.span
    text = span.source.text
    open_at = text.find("(", span.start, span.end)
    close_at = text.find(")", open_at, span.end)
    if open_at < 0 or close_at < 0:
        return span
    found = [
        m.start()
        for m in re.finditer(rf"(?<![\w.]){re.escape(param)}(?!\w)", text[open_at:close_at])
    ]
    if len(found) <= nth:
        return span
    at = open_at + found[nth]
    return span.source.span(at, at + len(param))


def _check_rule(symbols: Symbols, info: RuleInfo) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    if info.default is not None and info.definitions and info.kind in ("set", "function"):
        what = "a partial set" if info.kind == "set" else "a function"
        diags.append(
            Diagnostic(
                "default-kind",
                f"`default` cannot apply to `{info.name}`, which is {what}",
                info.default.span,
                "a partial set is always defined (empty when nothing matches)"
                if info.kind == "set"
                else "give the function a definition that holds in the default case",
            )
        )
    if symbols.is_namespace((*info.package, info.name)):
        span = (
            info.definitions[0].span
            if info.definitions
            else (info.default.span if info.default else None)
        )
        diags.append(
            Diagnostic(
                "rule-package-clash",
                f"rule `{info.full_name}` has the same name as a package",
                span,
                "rename the rule or the package: a query must name one or the other",
            )
        )
    return diags
