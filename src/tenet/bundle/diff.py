"""Change impact between two versions of a bundle: checks, rules, data and schemas added,
removed and changed, and the decisions over a set of inputs that change from one version to
the other."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from tenet.bundle import Bundle
from tenet.decision import BundleInfo
from tenet.diagnostics import QueryError
from tenet.locate import unreadable
from tenet.runtime.evaluate import resolve_now
from tenet.syntax import ast
from tenet.wording import count, shortened
from tenet.yamlutil import load_json

__all__ = [
    "BundleDiff",
    "DataChange",
    "DecisionChange",
    "DefinitionChange",
    "InputsError",
    "SchemaChange",
    "diff_bundles",
    "render_diff",
]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MARKS = {"added": "+", "removed": "-", "changed": "~"}


class InputsError(ValueError):
    """A line of the inputs file that is not `{"query": ..., "input": ..., "now": ...}`."""


@dataclass(frozen=True, slots=True)
class DefinitionChange:
    kind: str  # check, rule
    name: str  # full id: package.name
    change: str  # added, removed, changed
    location: str  # in the new version (in the old one when removed)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "change": self.change, "at": self.location}


@dataclass(frozen=True, slots=True)
class DataChange:
    path: str  # data.a.b
    change: str
    old: Any = None
    new: Any = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "change": self.change}
        if self.change != "added":
            d["old"] = self.old
        if self.change != "removed":
            d["new"] = self.new
        return d


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """A query's input schema (the manifest's `inputs`), or a named schema of
    `matches_schema`, added, removed, or changed: another file, or the file's schema, or a
    file its `$ref`s reach (`via_ref`). A changed schema can refuse inputs that passed, or
    let through what it refused, without any check changing."""

    query: str  # a named schema's name
    change: str
    path: str  # the new version's schema file; the old one's when removed
    via_ref: tuple[str, ...] = ()  # files reached through `$ref` that changed

    def to_dict(self, key: str = "query") -> dict[str, Any]:
        return {
            key: self.query,
            "change": self.change,
            "path": self.path,
            "via_ref": list(self.via_ref),
        }


@dataclass(frozen=True, slots=True)
class DecisionChange:
    """One input whose decision differs between the versions."""

    line: int
    query: str
    old_outcome: str
    new_outcome: str
    new_violations: tuple[str, ...] = ()  # "check.id (severity): message"
    resolved_violations: tuple[str, ...] = ()
    new_errors: tuple[str, ...] = ()  # "[code] message"
    resolved_errors: tuple[str, ...] = ()
    result: tuple[Any, Any] | None = None  # a rule query's (old, new) result when it changed
    waived: tuple[str, ...] = ()  # violations the new version waives: excepted, not fixed

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "line": self.line,
            "query": self.query,
            "old_outcome": self.old_outcome,
            "new_outcome": self.new_outcome,
            "new_violations": list(self.new_violations),
            "resolved_violations": list(self.resolved_violations),
            "new_errors": list(self.new_errors),
            "resolved_errors": list(self.resolved_errors),
            "waived": list(self.waived),
        }
        if self.result is not None:
            d["result"] = {"old": self.result[0], "new": self.result[1]}
        return d


@dataclass(eq=False)
class BundleDiff:
    old: BundleInfo
    new: BundleInfo
    definitions: list[DefinitionChange] = field(default_factory=list)
    data: list[DataChange] = field(default_factory=list)
    schemas: list[SchemaChange] = field(default_factory=list)  # input schemas, by query
    named_schemas: list[SchemaChange] = field(default_factory=list)  # by name
    inputs: int | None = None  # how many inputs were decided, when inputs were given
    decisions: list[DecisionChange] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, Any] = {}
        for kind in ("check", "rule"):
            counts[kind + "s"] = {
                c: sum(1 for d in self.definitions if d.kind == kind and d.change == c)
                for c in _MARKS
            }
        counts["data"] = {c: sum(1 for d in self.data if d.change == c) for c in _MARKS}
        counts["input_schemas"] = {c: sum(1 for d in self.schemas if d.change == c) for c in _MARKS}
        counts["schemas"] = {c: sum(1 for d in self.named_schemas if d.change == c) for c in _MARKS}
        if self.inputs is not None:
            flips: dict[str, int] = {}
            for d in self.decisions:
                if d.old_outcome != d.new_outcome:
                    key = f"{d.old_outcome} → {d.new_outcome}"
                    flips[key] = flips.get(key, 0) + 1
            counts["decisions"] = {
                "inputs": self.inputs,
                "changed": len(self.decisions),
                "outcomes": dict(sorted(flips.items())),
                "with_new_violations": sum(1 for d in self.decisions if d.new_violations),
                "with_new_errors": sum(1 for d in self.decisions if d.new_errors),
            }
        return counts

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
            "definitions": [c.to_dict() for c in self.definitions],
            "data": [c.to_dict() for c in self.data],
            "input_schemas": [c.to_dict() for c in self.schemas],
            "schemas": [c.to_dict("name") for c in self.named_schemas],
        }
        if self.inputs is not None:
            d["decisions"] = [c.to_dict() for c in self.decisions]
        d["summary"] = self.summary()
        return d


def diff_bundles(old: Bundle, new: Bundle, inputs: Iterable[str] | None = None) -> BundleDiff:
    """Compare two bundles; with `inputs` (JSON Lines text, one object per line), also decide
    every input under both and keep each decision that changed."""
    out = BundleDiff(old.info, new.info)
    out.definitions = _definition_changes(old.modules, new.modules)
    out.data = _data_changes(old.program.data, new.program.data)
    out.schemas = _schema_changes(old, new, _input_paths(old), _input_paths(new))
    out.named_schemas = _schema_changes(old, new, _named_paths(old), _named_paths(new))
    if inputs is not None:
        out.inputs = 0
        for line, query, doc, now in _read_inputs(inputs):
            out.inputs += 1
            change = _decision_change(old, new, line, query, doc, now)
            if change is not None:
                out.decisions.append(change)
    return out


# ---- definitions ---------------------------------------------------------------------------


@dataclass(eq=False)
class _Named:
    """The definitions of one check or rule: where the first is, and each as canonical text."""

    location: str
    trees: list[str] = field(default_factory=list)


def _definitions(modules: Iterable[ast.Module]) -> dict[tuple[str, str], _Named]:
    """(kind, full name) -> its definitions, each the syntax tree together with the imports it
    reads, as `repr` text: spans, comments and literal spellings are not part of it."""
    found: dict[tuple[str, str], _Named] = {}
    for module in sorted(modules, key=lambda m: m.span.path):
        package = ".".join(module.package)
        for d in module.definitions:
            kind = "check" if isinstance(d, ast.Check) else "rule"
            named = found.setdefault((kind, f"{package}.{d.name}"), _Named(d.span.location()))
            named.trees.append(repr((d, _imports_read(d, module.imports))))
    return found


def _imports_read(node: Any, imports: tuple[ast.Import, ...]) -> tuple[ast.Import, ...]:
    """The module's imports a definition refers to: an import changes what it means."""
    names = set(_var_names(node))
    return tuple(sorted((i for i in imports if i.name in names), key=lambda i: i.name))


def _var_names(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Var):
            yield n.name
        if isinstance(n, tuple):
            stack.extend(n)
        elif is_dataclass(n):
            stack.extend(getattr(n, f.name) for f in fields(n) if f.compare)


def _definition_changes(
    old_modules: Iterable[ast.Module], new_modules: Iterable[ast.Module]
) -> list[DefinitionChange]:
    """Definitions compared as syntax trees: positions, comments and the spelling of
    literals (`10%` and `0.1`) do not count; order between definitions of a rule does not."""
    old, new = _definitions(old_modules), _definitions(new_modules)
    out: list[DefinitionChange] = []
    for key in sorted(old.keys() | new.keys()):
        kind, name = key
        if key not in old:
            out.append(DefinitionChange(kind, name, "added", new[key].location))
        elif key not in new:
            out.append(DefinitionChange(kind, name, "removed", old[key].location))
        elif sorted(old[key].trees) != sorted(new[key].trees):
            out.append(DefinitionChange(kind, name, "changed", new[key].location))
    return out


# ---- data ----------------------------------------------------------------------------------


def _leaves(value: Any, path: str, out: dict[str, Any]) -> dict[str, Any]:
    """Every non-mapping value (lists included) by its path; an empty mapping is a leaf."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            key = str(k)
            _leaves(v, f"{path}.{key}" if _IDENT.fullmatch(key) else f"{path}[{key!r}]", out)
    else:
        out[path] = value
    return out


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _data_changes(old: Any, new: Any) -> list[DataChange]:
    a, b = _leaves(old, "data", {}), _leaves(new, "data", {})
    out: list[DataChange] = []
    for path in sorted(a.keys() | b.keys()):
        if path not in a:
            out.append(DataChange(path, "added", new=b[path]))
        elif path not in b:
            out.append(DataChange(path, "removed", old=a[path]))
        elif not _same(a[path], b[path]):
            out.append(DataChange(path, "changed", a[path], b[path]))
    return out


# ---- schemas -------------------------------------------------------------------------------


def _input_paths(bundle: Bundle) -> dict[str, str]:
    return {query: schema[0] for query, schema in bundle.input_schemas.items()}


def _named_paths(bundle: Bundle) -> dict[str, str]:
    """Named schemas (`schemas/NAME.schema.json`, for `matches_schema`) by name."""
    return {
        path.split("/")[1][: -len(".schema.json")]: path
        for path in bundle.schema_reads
        if path.count("/") == 1 and path.startswith("schemas/") and path.endswith(".schema.json")
    }


def _schema_changes(
    old: Bundle, new: Bundle, before: Mapping[str, str], after: Mapping[str, str]
) -> list[SchemaChange]:
    """Schemas (key -> path) added, removed, or of another file or content: the schema's own,
    or that of a file its `$ref`s reach, compared as JSON values."""
    out: list[SchemaChange] = []
    for key in sorted(before.keys() | after.keys()):
        if key not in before:
            out.append(SchemaChange(key, "added", after[key]))
        elif key not in after:
            out.append(SchemaChange(key, "removed", before[key]))
        else:
            a, b = before[key], after[key]
            reads = {*old.schema_reads.get(a, (a,)), *new.schema_reads.get(b, (b,))}
            changed = [r for r in reads if _json_text(old, r) != _json_text(new, r)]
            if a != b or changed:
                via = sorted((r for r in changed if r not in (a, b)), key=lambda r: r.encode())
                out.append(SchemaChange(key, "changed", b, tuple(via)))
    return out


def _json_text(bundle: Bundle, rel: str) -> str | bytes | None:
    """A JSON file's value as canonical text (so that formatting does not count), its bytes
    when it is no JSON, None when the bundle has no such file."""
    content = bundle.files.get(rel)
    if content is None:
        return None
    try:
        return json.dumps(load_json(content.decode("utf-8")), sort_keys=True)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return content


# ---- decisions -----------------------------------------------------------------------------


def _read_inputs(lines: Iterable[str]) -> Iterator[tuple[int, str, Any, int | float]]:
    for n, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            entry = load_json(text)
        except (ValueError, RecursionError) as err:  # in eval's words for an input
            found = unreadable(text, True, err)
            raise InputsError(f"line {n} is not valid JSON{found.said(text, line=False)}") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("query"), str):
            raise InputsError(
                f'line {n} must be an object like {{"query": "deploy", "input": {{}}}}'
            )
        unknown = sorted(set(entry) - {"query", "input", "now"})
        if unknown:
            raise InputsError(f"line {n} has unknown field `{unknown[0]}`")
        try:
            now = resolve_now(entry.get("now"))
        except ValueError as err:
            raise InputsError(f"line {n}: {err}") from None
        yield n, entry["query"], entry.get("input"), now


def _decide(bundle: Bundle, query: str, doc: Any, now: int | float) -> dict[str, Any]:
    """The decision document, or a stand-in `error` one when the query does not exist."""
    try:
        return bundle.decide(query, doc, now=now).to_dict()
    except QueryError as err:
        d = err.diagnostics[0]
        error = {"code": "query", "message": d.message, "help": d.help}
        return {"outcome": "error", "checks": [], "errors": [error]}


def _unknown_query(doc: dict[str, Any]) -> dict[str, Any] | None:
    errors = doc["errors"]
    return errors[0] if doc["outcome"] == "error" and errors[0]["code"] == "query" else None


def _violations(doc: dict[str, Any], status: str = "violated") -> dict[str, str]:
    """Checks of a status (violated, or waived), keyed by id, severity and bindings, shown as
    `id (severity): message`: a warning that becomes blocking is a new violation."""
    return {
        json.dumps([c["id"], c["severity"], c.get("bindings")], sort_keys=True): (
            f"{c['id']} ({c['severity']}): {c.get('message')}"
        )
        for c in doc["checks"]
        if c["status"] == status
    }


def _errors(doc: dict[str, Any]) -> dict[str, str]:
    return {
        json.dumps([e["code"], e["message"], e.get("check")]): f"[{e['code']}] {e['message']}"
        for e in doc["errors"]
    }


def _decision_change(
    old: Bundle, new: Bundle, line: int, query: str, doc: Any, now: int | float
) -> DecisionChange | None:
    a, b = _decide(old, query, doc, now), _decide(new, query, doc, now)
    unknown = _unknown_query(a)
    if unknown is not None and _unknown_query(b) is not None:
        # in neither version: a mistake in the inputs file, not a decision that kept still
        advice = f"\n  = help: {unknown['help']}" if unknown["help"] else ""
        raise InputsError(f"line {line}: {unknown['message']} in either version{advice}")
    va, vb = _violations(a), _violations(b)
    waived = _violations(b, "waived")  # a violation the new version excepts is not gone
    ea, eb = _errors(a), _errors(b)
    result = None
    if "result" in a and "result" in b and not _same(a["result"], b["result"]):
        result = (a["result"], b["result"])
    change = DecisionChange(
        line,
        query,
        a["outcome"],
        b["outcome"],
        tuple(vb[k] for k in sorted(vb.keys() - va.keys())),
        tuple(va[k] for k in sorted(va.keys() - vb.keys() - waived.keys())),
        tuple(eb[k] for k in sorted(eb.keys() - ea.keys())),
        tuple(ea[k] for k in sorted(ea.keys() - eb.keys())),
        result,
        tuple(va[k] for k in sorted(va.keys() & waived.keys())),
    )
    changed = (
        change.old_outcome != change.new_outcome
        or change.new_violations
        or change.resolved_violations
        or change.waived
        or change.new_errors
        or change.resolved_errors
        or result is not None
    )
    return change if changed else None


# ---- text ----------------------------------------------------------------------------------


def _label(info: BundleInfo) -> str:
    return f"{info.name} {info.version} ({info.digest.removeprefix('sha256:')[:12]})"


def _value(v: Any) -> str:
    return shortened(json.dumps(v, ensure_ascii=False, sort_keys=True))


def render_diff(d: BundleDiff, inputs_name: str = "the inputs") -> str:
    """The diff as text a reviewer reads in a pull request or a CI log."""
    lines = [f"bundle {_label(d.old)} → {_label(d.new)}"]
    for kind in ("check", "rule"):
        lines.extend(_definition_lines(kind, [c for c in d.definitions if c.kind == kind]))
    lines.extend(_data_lines(d.data))
    lines.extend(_schema_lines("input schemas", d.schemas))
    lines.extend(_schema_lines("schemas", d.named_schemas))
    if d.inputs is not None:
        lines.append(f"decisions over {count(d.inputs, 'input')} from {inputs_name}:")
        for change in d.decisions:
            lines.extend(_decision_lines(change))
        if not d.decisions:
            lines.append("  no decision changed")
    lines.append("summary: " + _summary_text(d))
    return "\n".join(lines)


def _definition_lines(kind: str, changes: list[DefinitionChange]) -> list[str]:
    if not changes:
        return [f"{kind}s: no change"]
    width = max(len(c.name) for c in changes)
    return [f"{kind}s:"] + [
        f"  {_MARKS[c.change]} {c.name:<{width}}  {c.change} at {c.location}" for c in changes
    ]


def _data_lines(changes: list[DataChange]) -> list[str]:
    if not changes:
        return ["data: no change"]
    lines = ["data:"]
    for c in changes:
        if c.change == "added":
            lines.append(f"  + {c.path} = {_value(c.new)}")
        elif c.change == "removed":
            lines.append(f"  - {c.path} (was {_value(c.old)})")
        else:
            lines.append(f"  ~ {c.path}: {_value(c.old)} → {_value(c.new)}")
    return lines


def _schema_lines(title: str, changes: list[SchemaChange]) -> list[str]:
    if not changes:
        return [f"{title}: no change"]
    width = max(len(c.query) for c in changes)
    return [f"{title}:"] + [
        f"  {_MARKS[c.change]} {c.query:<{width}}  {c.change}: {c.path}"
        + (f" (via $ref: {', '.join(c.via_ref)})" if c.via_ref else "")
        for c in changes
    ]


def _decision_lines(c: DecisionChange) -> list[str]:
    lines = [f"  line {c.line} {c.query}: {c.old_outcome} → {c.new_outcome}"]
    if c.result is not None:
        lines.append(f"    result {_value(c.result[0])} → {_value(c.result[1])}")
    lines.extend(f"    + violated {v}" for v in c.new_violations)
    lines.extend(f"    - no longer violated {v}" for v in c.resolved_violations)
    lines.extend(f"    ~ now waived {v}" for v in c.waived)
    lines.extend(f"    + error {e}" for e in c.new_errors)
    lines.extend(f"    - no longer an error {e}" for e in c.resolved_errors)
    return lines


def _summary_text(d: BundleDiff) -> str:
    s = d.summary()
    parts = []
    for key, word in (
        ("checks", "check"),
        ("rules", "rule"),
        ("data", "data value"),
        ("input_schemas", "input schema"),
        ("schemas", "schema"),
    ):
        c = s[key]
        parts.append(
            f"{count(c['added'], word)} added, {c['removed']} removed, {c['changed']} changed"
        )
    text = "; ".join(parts)
    if "decisions" in s:
        dec = s["decisions"]
        flips = [f"{n} {k}" for k, n in dec["outcomes"].items()]
        flips.append(f"{dec['with_new_violations']} with new violations")
        flips.append(f"{dec['with_new_errors']} with new errors")
        text += (
            f"; {dec['changed']} of {count(dec['inputs'], 'decision')} changed ({', '.join(flips)})"
        )
    return text
