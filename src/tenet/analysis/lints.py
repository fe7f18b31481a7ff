"""Warnings for `tenet check`: unused imports and locals, names shadowing rules or built-ins,
constant conditions, values that raise an error wherever they are evaluated, iteration over a
constant that is not a collection, checks without a message, and input fields the input schema
does not declare. Run by `tenet check` only, never when a bundle loads."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, assert_never

from tenet.analysis.annotations import parse_annotations
from tenet.analysis.collect import param_span
from tenet.analysis.names import parse_message, resolve_chain
from tenet.analysis.symbols import (
    BuiltinTarget,
    InputTarget,
    ModuleScope,
    RuleInfo,
    RuleTarget,
)
from tenet.analysis.walk import Walker, chain_of
from tenet.diagnostics import Diagnostic
from tenet.runtime.builtins import BUILTINS
from tenet.runtime.values import UNDEF, EvalError, TSet, equal, type_name
from tenet.source import Span
from tenet.syntax import ast
from tenet.syntax.template import Hole

if TYPE_CHECKING:
    from tenet.analysis import Analysis

__all__ = ["LINTS", "lint"]

_UNKNOWN: Any = object()  # a constant expression's value that `tenet check` cannot work out

# every warning code, for documentation and `--format json` readers
LINTS = (
    "unused-import",
    "unused-local",
    "shadowing",
    "constant-condition",
    "constant-error",
    "conflicting-values",
    "not-a-collection",
    "no-message",
    "unknown-input-field",
    "unknown-control",
)


def lint(
    analysis: Analysis,
    input_schemas: Mapping[str, tuple[str, Any]] | None = None,
    frameworks: Mapping[str, Any] | None = None,
    refs: SchemaRefs | None = None,
    broken_frameworks: Collection[str] = (),
) -> list[Diagnostic]:
    """Every warning for the analysed modules, in file and position order. `input_schemas`
    maps a query or package to (schema path, schema document or validator), as the manifest's
    `inputs`; references into `input` are checked against the schema that applies, following
    `$ref`s to other files of the bundle through `refs` (without it, only within a file).
    Controls of `broken_frameworks` (catalogues there but in error) are not looked up."""
    schemas = {
        query: (path, getattr(schema, "schema", schema))
        for query, (path, schema) in (input_schemas or {}).items()
    }
    diags: list[Diagnostic] = []
    for module in analysis.modules:
        scope = analysis.scopes.get(id(module))
        if scope is None:
            continue
        diags.extend(_Module(module, scope, schemas, refs).run())
        diags.extend(_unknown_controls(module, frameworks or {}, broken_frameworks))
    diags.sort(key=lambda d: (d.path or "", d.span.start if d.span else 0, d.code))
    return diags


def _unknown_controls(
    module: ast.Module, frameworks: Mapping[str, Any], broken: Collection[str] = ()
) -> list[Diagnostic]:
    """A control id that no `frameworks/NAME.yaml` catalogue of the bundle defines; one of a
    catalogue in error is left to that error (it would advise adding a file that is there)."""
    known = {cid for cat in frameworks.values() for cid in cat.controls}
    out: list[Diagnostic] = []
    for d in module.definitions:
        notes, _ = parse_annotations(d.annotations)
        controls = notes.get("controls")
        if not isinstance(controls, list):
            continue
        span = next((n.span for n in d.annotations if "controls" in n.text), None)
        for cid in controls:
            if not isinstance(cid, str) or cid in known or cid.split("/", 1)[0] in broken:
                continue
            framework = cid.split("/", 1)[0]
            near = _nearest(cid, sorted(known)) if framework in frameworks else None
            if near is not None:
                hint = f"did you mean `{near}`?"
            elif framework in frameworks:
                hint = f"`frameworks/{framework}.yaml` lists the controls of `{framework}`"
            else:
                hint = f"add the catalogue `frameworks/{framework}.yaml` to the bundle"
            out.append(
                _warn("unknown-control", f"control `{cid}` is defined by no catalogue", span, hint)
            )
    return out


def _warn(code: str, message: str, span: Span | None, help: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, span, help, severity="warning")


def _text(node: ast.Expr | ast.Statement) -> str:
    return " ".join(node.span.text().split())


def _nearest(name: str, candidates: list[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    if close:
        return close[0]
    lowered = {c.lower(): c for c in candidates}
    return lowered.get(name.lower())


# ---- input schemas ----------------------------------------------------------------------------


# (where a node's `$ref`s resolve from, a `$ref`) -> (where the target's resolve from, the
# target), or None when it does not resolve
Follow = Callable[[Any, str], tuple[Any, Any] | None]


class SchemaRefs(Protocol):
    """How a bundle's schema files refer to each other (`bundle.schemas.SchemaFiles`)."""

    def where(self, rel: str) -> Any: ...

    def follow(self, where: Any, ref: str) -> tuple[Any, Any] | None: ...


@dataclass(frozen=True)
class _Schema:
    """Where a reference stands in an input schema: the schema nodes that may describe it,
    each with where its `$ref`s resolve from."""

    path: str  # the schema file
    nodes: tuple[tuple[Any, Any], ...]
    follow: Follow

    def pairs(self) -> Iterator[tuple[Any, Any]]:
        """The nodes, their `$ref`s followed and their `allOf`/`anyOf`/`oneOf` branches."""
        for where, node in self.nodes:
            yield from _expand(self.follow, where, node)

    def at(self, found: list[tuple[Any, Any]]) -> _Schema | None:
        return _Schema(self.path, tuple(found), self.follow) if found else None


def _expand(follow: Follow, where: Any, node: Any, depth: int = 0) -> Iterator[tuple[Any, Any]]:
    if depth > 32 or not isinstance(node, dict):
        yield where, node
        return
    ref = node.get("$ref")
    if isinstance(ref, str):
        found = follow(where, ref)
        if found is None:
            yield where, True  # a reference that cannot be followed: anything goes
        else:
            yield from _expand(follow, found[0], found[1], depth + 1)
    yield where, node
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in node.get(key) or ():
            yield from _expand(follow, where, branch, depth + 1)


def _within_file(root: Any, ref: str) -> tuple[Any, Any] | None:
    """`Follow` for a schema alone (no bundle): a pointer into its own document."""
    if not ref.startswith("#"):
        return None
    target: Any = root
    for part in ref[1:].split("/")[1:] if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return None
    return root, target


def _field(s: _Schema, key: str) -> tuple[str, _Schema | None, list[str]]:
    """Step into object field `key`: ("declared", the field's schema, []), ("open", None, [])
    when the schema allows any field, or ("undeclared", None, the declared names)."""
    found: list[tuple[Any, Any]] = []
    names: list[str] = []
    is_open = False
    for where, node in s.pairs():
        if node is True or node == {}:
            is_open = True
            continue
        if not isinstance(node, dict):
            continue
        props = node.get("properties")
        patterns = node.get("patternProperties")
        extra = node.get("additionalProperties")
        if isinstance(props, dict):
            names.extend(str(k) for k in props)
            if key in props:
                found.append((where, props[key]))
                continue
        if isinstance(patterns, dict):
            matched = [(where, v) for p, v in patterns.items() if _search(p, key)]
            if matched:
                found.extend(matched)
                continue
        if isinstance(extra, dict):
            found.append((where, extra))
        elif extra is True or (extra is None and _unconstrained(node)):
            is_open = True
    if found:
        return "declared", s.at(found), []
    if is_open or not names:
        return "open", None, []
    return "undeclared", None, names


def _unconstrained(node: dict[str, Any]) -> bool:
    """A schema node that says nothing of an object's fields (its `$ref` and branches are
    read on their own)."""
    if any(
        k in node for k in ("properties", "patternProperties", "$ref", "allOf", "anyOf", "oneOf")
    ):
        return False
    t = node.get("type")
    return not (isinstance(t, str) and t != "object")


def _search(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return True


def _items(s: _Schema) -> _Schema | None:
    """The schema of an array's elements, when the schema says."""
    found: list[tuple[Any, Any]] = []
    for where, node in s.pairs():
        if not isinstance(node, dict):
            continue
        items = node.get("items")
        if isinstance(items, dict | bool):
            found.append((where, items))
        for prefix in node.get("prefixItems") or ():
            found.append((where, prefix))
    return s.at(found)


def _values(s: _Schema) -> _Schema | None:
    """The schema of an object's values when they share one (`additionalProperties`)."""
    found = [
        (where, node["additionalProperties"])
        for where, node in s.pairs()
        if isinstance(node, dict) and isinstance(node.get("additionalProperties"), dict)
    ]
    return s.at(found)


# ---- one module ---------------------------------------------------------------------------------


@dataclass(eq=False)
class _Local:
    name: str
    span: Span | None
    schema: _Schema | None = None  # when bound to part of the input
    used: bool = False


@dataclass(eq=False)
class _Scope:
    parent: _Scope | None = None
    names: dict[str, _Local] = field(default_factory=dict)
    # names read before the line that binds them: an `unsafe` error, not an unused local
    early: set[str] = field(default_factory=set)

    def find(self, name: str) -> _Local | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None


class _Module(Walker[_Scope]):
    def __init__(
        self,
        module: ast.Module,
        scope: ModuleScope,
        schemas: Mapping[str, tuple[str, Any]],
        refs: SchemaRefs | None = None,
    ) -> None:
        self.module = module
        self.scope = scope
        self.schemas = schemas
        self.refs = refs
        self.diags: list[Diagnostic] = []
        self.imports_used: set[str] = set()
        self.schema: _Schema | None = None  # the input schema of the definition being read
        self.reported: set[tuple[int, int]] = set()
        self._constant_rules: dict[str, bool] = {}

    # ---- definitions ------------------------------------------------------------------------

    def run(self) -> list[Diagnostic]:
        package = ".".join(self.module.package)
        self._imports(self._schema_for(package))
        for d in self.module.definitions:
            match d:
                case ast.Rule():
                    self.schema = self._schema_for(f"{package}.{d.name}")
                    self._rule(d)
                case ast.DefaultRule():
                    self.schema = self._schema_for(f"{package}.{d.name}")
                    self.expr(d.value, _Scope())
                    self._constant_error(d.value, f"the default value of rule `{d.name}`")
                case ast.Check():
                    self.schema = self._schema_for(package)
                    self._check(d)
                case _:
                    assert_never(d)
        self._unused_imports()
        self._shadowed_builtins()
        self._conflicting_values()
        return self.diags

    def _conflicting_values(self) -> None:
        """Warn when a rule has two definitions without conditions whose constant values
        differ: every decision that evaluates the rule is a `conflict` error."""
        first: dict[str, tuple[ast.Rule, ast.Expr, Any]] = {}
        for d in self.module.definitions:
            if not isinstance(d, ast.Rule) or d.kind != "value" or d.body is not None:
                continue
            if d.value is None or not self._is_constant(d.value):
                continue
            value = self._evaluated(d.value)
            if value is _UNKNOWN or value is UNDEF or isinstance(value, EvalError):
                continue
            if d.name not in first:
                first[d.name] = (d, d.value, value)
                continue
            earlier, written, seen = first[d.name]
            if equal(seen, value):
                continue
            where = earlier.span.location() if earlier.span is not None else "above"
            self.diags.append(
                _warn(
                    "conflicting-values",
                    f"rule `{d.name}` has two values on every input: "
                    f"`{_text(written)}` ({where}) and `{_text(d.value)}` here",
                    d.span,
                    "a decision that evaluates it is an `error` (conflict); keep one "
                    "definition, or give each a condition that excludes the other",
                )
            )

    def _schema_for(self, query: str) -> _Schema | None:
        parts = query.split(".")
        for n in range(len(parts), 0, -1):
            found = self.schemas.get(".".join(parts[:n]))
            if found is not None:
                path, doc = found
                if self.refs is not None:
                    return _Schema(path, ((self.refs.where(path), doc),), self.refs.follow)
                return _Schema(path, ((doc, doc),), _within_file)
        return None

    def _rule(self, r: ast.Rule) -> None:
        local = _Scope()
        for p in r.params:
            self._shadowing(p, param_span(r, p), "parameter")
            local.names[p] = _Local(p, r.span, used=True)  # parameters are an interface
        if r.body is not None:
            self.body(r.body, local)
        if r.value is not None:
            self.expr(r.value, local)
            what = "an element of set rule" if r.kind == "set" else "the value of"
            if r.kind != "set":
                what += " function" if r.is_function else " rule"
            self._constant_error(r.value, f"{what} `{r.name}`", local)
        self._unused(local)

    def _check(self, c: ast.Check) -> None:
        if c.message is None:
            kind = "requirement {} is not met" if c.kind == "require" else "{} is forbidden"
            self.diags.append(
                _warn(
                    "no-message",
                    f"check `{c.name}` has no message",
                    c.span,
                    f'add `message "…"` saying what is wrong and how to fix it; the default, '
                    f"`{kind.format(c.name)}`, says neither",
                )
            )
        if c.when is not None:
            self.expr(c.when, _Scope())
            self._constant(c.when, "the `when` condition")
        local = _Scope()
        self.body(c.body, local)
        template, _ = parse_message(c)
        if template is not None:
            for part in template.parts:
                if isinstance(part, Hole):
                    self.expr(part.expr, local)
        self._unused(local)

    # ---- locals -----------------------------------------------------------------------------

    def open_scope(self, parent: _Scope) -> _Scope:
        return _Scope(parent)

    def close_scope(self, scope: _Scope) -> None:
        self._unused(scope)

    def bind(
        self,
        names: tuple[str, ...],
        span: Span | None,
        scope: _Scope,
        source: ast.Expr,
        each: bool,
    ) -> None:
        if each:
            self._iterated(source, span, scope)
            schemas = self._element_schemas(source, names, scope)
        else:
            self._constant_error(source, f"the value bound to `{names[0]}`", scope)
            schemas = [self._schema_of(source, scope)]
        for name, schema in zip(names, schemas, strict=True):
            if name not in scope.names:
                self._shadowing(name, span, "local")
                scope.names[name] = _Local(name, span, schema, used=name in scope.early)

    def _unused(self, local: _Scope) -> None:
        for v in local.names.values():
            if not v.used and not v.name.startswith("_"):
                self.diags.append(
                    _warn(
                        "unused-local",
                        f"local `{v.name}` is never used",
                        v.span,
                        f"remove it, or name it `_{v.name}` to show it is unused on purpose",
                    )
                )
        local.names.clear()  # reported once

    def _shadowing(self, name: str, span: Span | None, what: str) -> None:
        pkg = self.scope.package
        if name in pkg.rules:
            shadowed, kind = f"rule `{name}` of package `{pkg.name}`", "rule"
        elif name in self.scope.imports:
            shadowed, kind = f"import `{name}`", "import"
        elif name in BUILTINS:
            shadowed, kind = f"the built-in function `{name}`", "built-in function"
        else:
            return
        self.diags.append(
            _warn(
                "shadowing",
                f"{what} `{name}` shadows {shadowed}",
                span,
                f"rename the {what}: where it is bound, `{name}` no longer means the {kind}",
            )
        )

    def reference(
        self, root: ast.Var, steps: list[ast.Field | ast.Index], whole: ast.Expr, local: _Scope
    ) -> None:
        v = local.find(root.name)
        if v is not None:
            v.used = True
            if v.schema is not None:
                self._walk(v.schema, steps, whole)
            return
        if root.name in self.scope.imports:
            self.imports_used.add(root.name)
        target = self.scope.lookup(root.name)
        outer: _Scope | None = local
        while target is None and outer is not None:  # it may be bound in an enclosing body
            outer.early.add(root.name)
            outer = outer.parent
        if isinstance(target, InputTarget) and self.schema is not None:
            start = self._walk_path(self.schema, target.path)
            if start is not None:
                self._walk(start, steps, whole)

    def call(self, e: ast.Call, scope: _Scope) -> None:
        found = chain_of(e.func)
        if found is not None and found[0].name in self.scope.imports:
            if scope.find(found[0].name) is None:
                self.imports_used.add(found[0].name)

    # ---- input fields -----------------------------------------------------------------------

    def _walk_path(self, s: _Schema, path: tuple[str, ...]) -> _Schema | None:
        current: _Schema | None = s
        for key in path:
            if current is None:
                return None
            status, current, _ = _field(current, key)
            if status != "declared":
                return None
        return current

    def _walk(self, s: _Schema, steps: list[ast.Field | ast.Index], whole: ast.Expr) -> None:
        current: _Schema | None = s
        for step in steps:
            if current is None:
                return
            if isinstance(step, ast.Field):
                key: Any = step.name
            elif isinstance(step.index, ast.Literal):
                key = step.index.value
            else:
                return
            if isinstance(key, str):
                status, nxt, names = _field(current, key)
                if status == "undeclared":
                    self._undeclared(current, step, key, names, whole)
                    return
                current = nxt
            elif type(key) is int or (type(key) is float and key.is_integer()):
                current = _items(current)
            else:
                return

    def _undeclared(
        self,
        s: _Schema,
        step: ast.Field | ast.Index,
        key: str,
        names: list[str],
        whole: ast.Expr,
    ) -> None:
        span = whole.span
        where = (span.start, span.end)
        if where in self.reported:
            return
        self.reported.add(where)
        text = span.text()
        written = " ".join(text.split())
        near = _nearest(key, names)
        help_: str
        if near is not None:
            # the reference as written, with the name replaced
            if isinstance(step, ast.Field):
                cut = step.span.end - len(key) - span.start
                fixed = text[:cut] + near + text[step.span.end - span.start :]
            else:
                lit = step.index.span
                fixed = text[: lit.start - span.start] + f'"{near}"' + text[lit.end - span.start :]
            help_ = f"did you mean `{' '.join(fixed.split())}`?"
        else:
            declared = ", ".join(f"`{n}`" for n in sorted(set(names))[:8])
            help_ = f"the schema declares {declared}; declare `{key}` there or fix the name"
        if isinstance(step, ast.Field):  # point at the name itself
            at = step.span.source.span(step.span.end - len(key), step.span.end)
        else:
            at = step.index.span
        self.diags.append(
            _warn(
                "unknown-input-field",
                f"`{written}`: the input schema `{s.path}` declares no field `{key}` here",
                at,
                help_,
            )
        )

    def _schema_of(self, e: ast.Expr, local: _Scope) -> _Schema | None:
        """The input schema of a plain reference into the input, if the schema says it."""
        found = chain_of(e)
        if found is None:
            return None
        root, steps = found
        v = local.find(root.name)
        current: _Schema | None
        if v is not None:
            current = v.schema
        else:
            target = self.scope.lookup(root.name)
            if not isinstance(target, InputTarget) or self.schema is None:
                return None
            current = self._walk_path(self.schema, target.path)
        for step in steps:
            if current is None:
                return None
            if isinstance(step, ast.Field):
                status, current, _ = _field(current, step.name)
                if status != "declared":
                    return None
            elif isinstance(step.index, ast.Literal) and isinstance(step.index.value, str):
                status, current, _ = _field(current, step.index.value)
                if status != "declared":
                    return None
            else:
                current = _items(current)
        return current

    def _element_schemas(
        self, coll: ast.Expr, names: tuple[str, ...], local: _Scope
    ) -> list[_Schema | None]:
        """The schemas of the names `some`/`every`/`for` bind over a collection: an array's
        elements, or the values of an object whose values share one schema."""
        s = self._schema_of(coll, local)
        if s is None:
            return [None] * len(names)
        items = _items(s)
        if items is not None:
            return [None, items] if len(names) == 2 else [items]
        values = _values(s)
        return [None, values] if len(names) == 2 else [None]

    # ---- constant conditions ----------------------------------------------------------------

    def condition(self, e: ast.Expr, scope: _Scope) -> None:
        self._constant(e, "condition", scope)

    def _constant(self, e: ast.Expr, what: str, local: _Scope | None = None) -> None:
        if not self._is_constant(e, local):
            return
        value = self._fold(e)
        if isinstance(value, EvalError):
            # it has no value to call constant: every decision that reaches it is an error
            self.diags.append(
                _warn(
                    "constant-condition",
                    f"{what} `{_text(e)}` raises an error wherever it is evaluated: "
                    + value.message,
                    e.span,
                    f"a decision that reaches it is an `error` ({value.code}); fix the "
                    "expression, or make it read the input or data it was meant to test",
                )
            )
            return
        if value is UNDEF:
            verdict = "it never holds"
        elif value is None:
            verdict = "it has the same value for every input"
        else:
            verdict = "it always holds" if value else "it never holds"
        self.diags.append(
            _warn(
                "constant-condition",
                f"{what} `{_text(e)}` is constant: {verdict}",
                e.span,
                "remove it, or make it read the input or data it was meant to test",
            )
        )

    def _constant_error(self, e: ast.Expr, what: str, local: _Scope | None = None) -> bool:
        """Warn when `e` (`what` it is) has no input to read and raises an error there: the
        bundle loads, and every decision that evaluates it is an error."""
        if not self._is_constant(e, local):
            return False
        value = self._evaluated(e)
        if not isinstance(value, EvalError):
            return False
        self.diags.append(
            _warn(
                "constant-error",
                f"`{_text(e)}`, {what}, raises an error wherever it is evaluated: {value.message}",
                e.span,
                f"a decision that evaluates it is an `error` ({value.code}); fix the "
                "expression, or make it read the input or data it was meant to use",
            )
        )
        return True

    def _iterated(self, coll: ast.Expr, span: Span | None, local: _Scope) -> None:
        """Warn when `some`, `every` or a comprehension's `for` (at `span`) iterates over a
        constant that cannot bind: one that is not a collection (an error on every input, as
        iterating it is a `type_error`), or an undefined one."""
        if not self._is_constant(coll, local):
            return
        header = _text(coll)
        if span is not None and coll.span is not None:  # `every x in 5`, without its body
            header = " ".join(span.source.span(span.start, coll.span.end).text().split())
        if self._constant_error(coll, f"the collection of `{header}`", local):
            return
        value = self._evaluated(coll)
        if value is _UNKNOWN or type(value) in (list, dict, TSet):
            return
        if value is UNDEF:
            message = f"`{header}` iterates over an undefined value on every input: it never binds"
            help_ = {
                "some": "the body never holds",
                "every": "the `every` never holds (missing evidence never passes)",
                "for": "the comprehension is undefined",
            }.get(header.split()[0], "it never binds")
            help_ += "; iterate over the input or data it was meant to"
        else:
            message = (
                f"`{header}` iterates over a {type_name(value)}, not a collection: it raises "
                "an error wherever it is evaluated"
            )
            help_ = (
                "a decision that reaches it is an `error` (type_error); iterate over an "
                "array, a set or an object"
            )
        self.diags.append(_warn("not-a-collection", message, coll.span, help_))

    def _fold(self, e: ast.Expr) -> Any:
        """True or False when the condition folds to a value that holds or not, UNDEF when it
        is undefined, the EvalError it raises when it raises one, None when it cannot be
        worked out here."""
        value = self._evaluated(e)
        if value is _UNKNOWN:
            return None
        if value is UNDEF or isinstance(value, EvalError):
            return value
        return value is not False

    def _evaluated(self, e: ast.Expr) -> Any:
        """The value of a constant expression: UNDEF when it is undefined, the EvalError it
        raises when it raises one, _UNKNOWN when it cannot be worked out here."""
        from tenet.compiler.expressions import NOCONST, ExprCompiler, Slots
        from tenet.runtime.evaluate import Ctx, Limits

        try:
            code = ExprCompiler(self.scope, {}, None).compile(e, Slots())
        except Exception:  # a rule reference: no compiled rules here
            return _UNKNOWN
        value = code.const
        if value is NOCONST:
            # folding leaves what raises for evaluation to raise; it reads nothing of the
            # decision, so one evaluation here says what every decision would meet
            try:
                value = code.fn(Ctx(None, 0, {}, Limits(max_steps=10_000)), [])
            except EvalError as err:
                # a limit of the evaluation here, not of the bundle's decisions: claim nothing
                return _UNKNOWN if err.code in ("step_limit", "size_limit") else err
            except Exception:  # not worked out here: claim nothing
                return _UNKNOWN
        return value

    def _is_constant(self, e: ast.Expr, local: _Scope | None = None) -> bool:
        """Whether `e` has one value for every input; a name bound in the body (`local`) is
        the body's, even when a constant rule has that name too."""
        match e:
            case ast.Literal():
                return True
            case ast.Var() | ast.Field() | ast.Index():
                found = chain_of(e)
                if found is None:
                    return self._is_constant(e.obj, local) and (  # type: ignore[union-attr]
                        not isinstance(e, ast.Index) or self._is_constant(e.index, local)
                    )
                root, steps = found
                if local is not None and local.find(root.name) is not None:
                    return False
                if any(
                    isinstance(s, ast.Index) and not self._is_constant(s.index, local)
                    for s in steps
                ):
                    return False
                target = self.scope.lookup(root.name)
                if target is None:
                    return False
                target, _, problem = resolve_chain(self.scope, target, steps)
                if problem is not None or not isinstance(target, RuleTarget):
                    return False
                return self._constant_rule(target.rule)
            case ast.Call(func=func, args=args):
                found = chain_of(func)
                if found is None or found[1]:
                    return False
                target = self.scope.lookup_function(found[0].name)
                if not isinstance(target, BuiltinTarget):
                    return False
                b = target.builtin
                return b.pure and not b.needs_ctx and all(self._is_constant(a, local) for a in args)
            case ast.Negate(operand=x) | ast.Not(operand=x):
                return self._is_constant(x, local)
            case (
                ast.Binary(left=a, right=b)
                | ast.Compare(left=a, right=b)
                | ast.BoolOp(left=a, right=b)
            ):
                return self._is_constant(a, local) and self._is_constant(b, local)
            case ast.ArrayLit(items=items):
                return all(self._is_constant(i, local) for i in items)
            case ast.ObjectLit(pairs=pairs):
                return all(
                    self._is_constant(k, local) and self._is_constant(v, local) for k, v in pairs
                )
            case _:
                return False

    def _constant_rule(self, rule: RuleInfo) -> bool:
        """A rule whose every definition is a constant without a body (and no function)."""
        name = rule.full_name
        if name in self._constant_rules:
            return self._constant_rules[name]
        self._constant_rules[name] = False  # cycles are load errors; stay safe
        ok = (
            not rule.is_function
            and rule.kind != "set"
            and all(d.body is None and d.value is not None for d in rule.definitions)
            and (bool(rule.definitions) or rule.default is not None)
        )
        if ok:
            # a constant rule of another package is read in its own scope: do not follow it
            if rule.package != self.scope.package.path:
                ok = False
            else:
                values = [d.value for d in rule.definitions if d.value is not None]
                if rule.default is not None:
                    values.append(rule.default.value)
                ok = all(self._is_constant(v) for v in values)
        self._constant_rules[name] = ok
        return ok

    # ---- module-level names -----------------------------------------------------------------

    def _imports(self, schema: _Schema | None) -> None:
        for imp in self.module.imports:
            target = self.scope.imports.get(imp.name)
            if schema is None or not isinstance(target, InputTarget):
                continue
            current: _Schema | None = schema
            for key in target.path:
                if current is None:
                    break
                status, nxt, names = _field(current, key)
                if status == "undeclared":
                    near = _nearest(key, names)
                    fixed = ".".join(imp.path).replace(key, near, 1) if near else None
                    self.diags.append(
                        _warn(
                            "unknown-input-field",
                            f"`{'.'.join(imp.path)}`: the input schema `{current.path}` "
                            f"declares no field `{key}` here",
                            imp.span,
                            f"did you mean `{fixed}`?" if fixed else "declare it or fix the name",
                        )
                    )
                    break
                current = nxt

    def _unused_imports(self) -> None:
        for imp in self.module.imports:
            name = imp.name
            if name in self.scope.imports and name not in self.imports_used:
                self.diags.append(
                    _warn(
                        "unused-import",
                        f"import `{'.'.join(imp.path)}` is never used",
                        imp.span,
                        "remove it",
                    )
                )

    def _shadowed_builtins(self) -> None:
        pkg = self.scope.package
        seen: set[str] = set()
        for d in self.module.definitions:
            name = d.name
            if name in seen or isinstance(d, ast.Check):
                continue
            seen.add(name)
            if name in BUILTINS:
                self.diags.append(
                    _warn(
                        "shadowing",
                        f"rule `{name}` shadows the built-in function `{name}` in package "
                        f"`{pkg.name}`",
                        d.span,
                        "rename the rule: in this package `" + name + "(…)` calls the rule",
                    )
                )
            elif name in ("input", "data"):
                self.diags.append(
                    _warn(
                        "shadowing",
                        f"rule `{name}` shadows the `{name}` document in package `{pkg.name}`",
                        d.span,
                        f"rename the rule: in this package `{name}` means the rule",
                    )
                )
        for imp in self.module.imports:
            if imp.name in BUILTINS and imp.name in self.scope.imports:
                self.diags.append(
                    _warn(
                        "shadowing",
                        f"import `{imp.name}` shadows the built-in function `{imp.name}`",
                        imp.span,
                        "give the import another name with `as`",
                    )
                )
