"""What names mean: the bundle's packages, rules and checks, and how a name or import resolves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tenet.runtime.builtins import BUILTINS, Builtin
from tenet.syntax import ast

__all__ = [
    "BuiltinTarget",
    "CheckInfo",
    "DataTarget",
    "InputTarget",
    "ModuleScope",
    "PackageInfo",
    "PackageTarget",
    "RuleInfo",
    "RuleTarget",
    "Symbols",
    "Target",
]


@dataclass(eq=False)
class RuleInfo:
    package: tuple[str, ...]
    name: str
    definitions: list[ast.Rule] = field(default_factory=list)
    default: ast.DefaultRule | None = None
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return ".".join((*self.package, self.name))

    @property
    def kind(self) -> str:
        """bool, value, set or function (the first definition decides; conflicts are errors)."""
        if not self.definitions:
            return "value"
        kinds = {d.kind for d in self.definitions}
        if any(d.is_function for d in self.definitions):
            return "function"
        if "set" in kinds:
            return "set"
        return "bool" if kinds == {"bool"} else "value"

    @property
    def is_function(self) -> bool:
        return self.kind == "function"

    @property
    def arity(self) -> int:
        return len(self.definitions[0].params) if self.definitions else 0

    @property
    def stops_at_first(self) -> bool:
        """Boolean rules and functions written `name if {…}` settle at the first holding one."""
        return all(d.kind in ("bool", "bool_function") for d in self.definitions)


@dataclass(eq=False)
class CheckInfo:
    package: tuple[str, ...]
    check: ast.Check
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def full_id(self) -> str:
        return ".".join((*self.package, self.check.name))

    @property
    def severity(self) -> str:
        return self.check.severity or "blocking"


@dataclass(eq=False)
class PackageInfo:
    path: tuple[str, ...]
    modules: list[ast.Module] = field(default_factory=list)
    rules: dict[str, RuleInfo] = field(default_factory=dict)
    checks: dict[str, CheckInfo] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return ".".join(self.path)


# ---- what a name resolves to ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RuleTarget:
    rule: RuleInfo


@dataclass(frozen=True)
class PackageTarget:
    path: tuple[str, ...]


@dataclass(frozen=True)
class DataTarget:
    path: tuple[str, ...]


@dataclass(frozen=True)
class InputTarget:
    path: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class BuiltinTarget:
    builtin: Builtin


Target = RuleTarget | PackageTarget | DataTarget | InputTarget | BuiltinTarget


@dataclass(eq=False)
class Symbols:
    packages: dict[tuple[str, ...], PackageInfo] = field(default_factory=dict)
    prefixes: set[tuple[str, ...]] = field(default_factory=set)

    def is_namespace(self, path: tuple[str, ...]) -> bool:
        """A package, or a prefix of one (`deploy` when `deploy.staging` exists)."""
        return path in self.packages or path in self.prefixes

    def rule(self, path: tuple[str, ...], name: str) -> RuleInfo | None:
        pkg = self.packages.get(path)
        return pkg.rules.get(name) if pkg is not None else None

    def member(self, path: tuple[str, ...], name: str) -> Target | None:
        """`name` inside namespace `path`: a sub-package or a rule."""
        sub = (*path, name)
        if self.is_namespace(sub):
            return PackageTarget(sub)
        rule = self.rule(path, name)
        return RuleTarget(rule) if rule is not None else None

    def member_names(self, path: tuple[str, ...]) -> list[str]:
        names = [
            p[len(path)]
            for p in (*self.packages, *self.prefixes)
            if p[: len(path)] == path and len(p) > len(path)
        ]
        pkg = self.packages.get(path)
        if pkg is not None:
            names.extend(pkg.rules)
        return names

    def resolve_path(self, path: tuple[str, ...]) -> Target | None:
        """An import path: `data.…`, `input.…`, a package or prefix, or `pkg.rule`."""
        if path[0] == "data":
            return DataTarget(path[1:])
        if path[0] == "input":
            return InputTarget(path[1:])
        if self.is_namespace(path):
            return PackageTarget(path)
        if len(path) > 1:
            rule = self.rule(path[:-1], path[-1])
            if rule is not None:
                return RuleTarget(rule)
        return None

    def packages_under(self, path: tuple[str, ...]) -> list[PackageInfo]:
        return [p for k, p in sorted(self.packages.items()) if k[: len(path)] == path]


@dataclass(eq=False)
class ModuleScope:
    """The names a module sees besides locals: its package's rules and its imports."""

    symbols: Symbols
    package: PackageInfo
    imports: dict[str, Target] = field(default_factory=dict)
    # the names of imports that resolved to nothing: their error is reported once, at the
    # import, and not again at each use
    unresolved: set[str] = field(default_factory=set)

    def lookup(self, name: str) -> Target | None:
        rule = self.package.rules.get(name)
        if rule is not None:
            return RuleTarget(rule)
        target = self.imports.get(name)
        if target is not None:
            return target
        if name == "input":
            return InputTarget(())
        if name == "data":
            return DataTarget(())
        return None

    def lookup_function(self, name: str) -> Target | None:
        target = self.lookup(name)
        if target is not None:
            return target
        builtin = BUILTINS.get(name)
        return BuiltinTarget(builtin) if builtin is not None else None

    def visible_names(self) -> list[str]:
        return [*self.package.rules, *self.imports, "input", "data"]
