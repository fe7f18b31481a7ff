"""Pass `resolve_imports`: each module's import aliases, and the imports that name nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenet.analysis.symbols import ModuleScope, PackageTarget, RuleTarget
from tenet.diagnostics import Diagnostic, did_you_mean

if TYPE_CHECKING:
    from tenet.analysis import Analysis


def resolve_imports(an: Analysis) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    symbols = an.symbols
    all_names = [".".join(p) for p in (*symbols.packages, *symbols.prefixes)] + [
        r.full_name for p in symbols.packages.values() for r in p.rules.values()
    ]
    for module in an.modules:
        pkg = symbols.packages[module.package]
        scope = ModuleScope(symbols, pkg)
        an.scopes[id(module)] = scope
        for imp in module.imports:
            target = symbols.resolve_path(imp.path)
            dotted = ".".join(imp.path)
            if target is None:
                own = ".".join(module.package)
                if imp.path[0] in ("future", "rego"):
                    advice: str | None = (
                        "Tenet's keywords (`if`, `contains`, `in`, `every`) are always on, "
                        "with no `future.keywords` or `rego.v1` import: delete the line"
                    )
                else:
                    advice = did_you_mean(dotted, [n for n in all_names if n != own])
                diags.append(
                    Diagnostic(
                        "unknown-import",
                        f"unknown import `{dotted}`: no package or rule has that name",
                        imp.span,
                        advice or "import `data.…`, `input.…`, a package, or `package.rule`",
                    )
                )
                scope.unresolved.add(imp.name)
                continue
            if imp.path[0] == "data" and symbols.is_namespace(imp.path):
                diags.append(
                    Diagnostic(
                        "ambiguous-import",
                        f"import `{dotted}` is ambiguous: it names the data document "
                        f"`{dotted}` and the package `{dotted}`",
                        imp.span,
                        "rename the package or the data key: imports of `data.…` always "
                        "read the data document",
                    )
                )
                continue
            if isinstance(target, PackageTarget) and target.path == module.package:
                diags.append(
                    Diagnostic(
                        "self-import",
                        f"package `{dotted}` imports itself",
                        imp.span,
                        "its rules are already visible by name",
                    )
                )
                continue
            if isinstance(target, RuleTarget) and target.rule.package == module.package:
                # before the alias checks: its alias is the rule's own name, and renaming it
                # (the clash's advice) would only leave this error
                diags.append(
                    Diagnostic(
                        "self-import",
                        f"`{dotted}` is a rule of this package and needs no import",
                        imp.span,
                        f"remove the import, and refer to the rule by its name, "
                        f"`{target.rule.name}`",
                    )
                )
                continue
            name = imp.name
            if name in ("input", "data"):
                diags.append(
                    Diagnostic(
                        "import-alias",
                        f"import alias `{name}` hides the `{name}` root",
                        imp.span,
                        "choose another alias with `as`",
                    )
                )
                continue
            if name in pkg.rules:
                rule = pkg.rules[name]
                where = (
                    rule.definitions[0].span
                    if rule.definitions
                    else (rule.default.span if rule.default else None)
                )
                diags.append(
                    Diagnostic(
                        "import-clash",
                        f"import alias `{name}` clashes with rule `{name}` of package `{pkg.name}`",
                        imp.span,
                        f"rename the import with `as`, e.g. `import {dotted} as {name}_`"
                        + (f" (the rule is at {where.location()})" if where else ""),
                    )
                )
                continue
            if name in scope.imports:
                diags.append(
                    Diagnostic(
                        "duplicate-import",
                        f"`{name}` is imported twice in this file",
                        imp.span,
                        "give one of them another alias with `as`",
                    )
                )
                continue
            scope.imports[name] = target
    return diags
