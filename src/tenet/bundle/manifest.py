"""The manifest `tenet.yaml`: its fields read and validated, every error naming its field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from tenet.diagnostics import Diagnostic, did_you_mean
from tenet.locate import unreadable_diagnostic
from tenet.runtime.builtins.versions import parse_range, parse_version, semver_satisfies
from tenet.runtime.values import EvalError
from tenet.source import Source, Span
from tenet.utf8 import not_utf8
from tenet.yamlutil import load_yaml_with_nodes

__all__ = ["FIELDS", "MANIFEST", "Manifest", "check_requires", "parse_manifest"]

MANIFEST = "tenet.yaml"
FIELDS = ("name", "version", "revision", "description", "requires", "inputs", "audit")
AUDIT_FIELDS = ("keep", "personal")
_INPUT_PATH = re.compile(r"input(?:\.(?:[A-Za-z_][A-Za-z0-9_-]*|\*))+")  # `*`: every item
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_QUERY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True, eq=False)
class Manifest:
    """What `tenet.yaml` says; a bundle without one gets its folder's name and `0.0.0`."""

    name: str
    version: str = "0.0.0"
    revision: str | None = None
    description: str | None = None
    requires: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)  # query or package -> schema path
    # audit: input paths recorded as they are, and paths recorded only as a keyed hash
    audit_keep: tuple[str, ...] = ()
    audit_personal: tuple[str, ...] = ()
    present: bool = False
    # field -> its value, and `inputs.QUERY` -> that entry's schema path; keys: where each is
    spans: dict[str, Span] = field(default_factory=dict, repr=False)
    keys: dict[str, Span] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "revision": self.revision,
            "description": self.description,
            "requires": self.requires,
            "inputs": dict(self.inputs),
            "audit": {"keep": list(self.audit_keep), "personal": list(self.audit_personal)},
        }


class _Reader:
    """Validates one manifest document, collecting a diagnostic per bad field."""

    def __init__(self, source: Source, nodes: dict[str, tuple[yaml.Node, yaml.Node]]) -> None:
        self.source = source
        self.nodes = nodes
        self.diags: list[Diagnostic] = []

    def span(self, key: str, of_key: bool = False) -> Span | None:
        if key not in self.nodes:
            return None
        node = self.nodes[key][0 if of_key else 1]
        return self.source.span(node.start_mark.index, node.end_mark.index)

    def error(
        self, key: str, message: str, help: str | None = None, at: Span | None = None
    ) -> None:
        span = at or self.span(key)
        self.diags.append(Diagnostic("manifest", message, span, help, file=MANIFEST))

    def inner(self, key: str, *path: str | int, of_key: bool = False) -> Span | None:
        """The span of a node inside a field's value: a key of a mapping (by name) or an item
        of a list (by index); None when it is not there."""
        if key not in self.nodes:
            return None
        node = self.nodes[key][1]
        for i, step in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, yaml.MappingNode) and isinstance(step, str):
                found = [(k, v) for k, v in node.value if getattr(k, "value", None) == step]
                if not found:
                    return None
                node = found[0][0] if last and of_key else found[0][1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if step >= len(node.value):
                    return None
                node = node.value[step]
            else:
                return None
        return self.source.span(node.start_mark.index, node.end_mark.index)

    def entries(self, of_key: bool = False) -> dict[str, Span]:
        """The spans of the `inputs` entries' schema paths (or keys), as `inputs.QUERY`."""
        node = self.nodes.get("inputs", (None, None))[1]
        if not isinstance(node, yaml.MappingNode):
            return {}
        return {
            f"inputs.{k.value}": self.source.span(n.start_mark.index, n.end_mark.index)
            for k, v in node.value
            if isinstance(k, yaml.ScalarNode)
            for n in [k if of_key else v]
        }

    def string(self, doc: dict[str, Any], key: str, help: str | None = None) -> str | None:
        value = doc.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            shown = "empty" if isinstance(value, str) else f"`{json.dumps(value)}`"
            self.error(key, f"manifest field `{key}` must be a non-empty string, not {shown}", help)
            return None
        return value


def parse_manifest(raw: bytes | None, default_name: str) -> tuple[Manifest, list[Diagnostic]]:
    """The manifest and its problems; without `tenet.yaml` the defaults, and no problem."""
    if raw is None:
        return Manifest(default_name), []
    whole = Manifest(default_name, present=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return whole, [not_utf8(MANIFEST, raw)]
    source = Source(MANIFEST, text)
    try:
        doc, nodes = load_yaml_with_nodes(text)
    except (yaml.YAMLError, RecursionError) as err:
        return whole, [unreadable_diagnostic("manifest", f"`{MANIFEST}`", source, False, err)]
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        return whole, [_whole("`tenet.yaml` must hold a mapping of manifest fields")]
    r = _Reader(source, nodes)
    for key in doc:
        if key not in FIELDS:
            r.diags.append(
                Diagnostic(
                    "manifest",
                    f"unknown manifest field `{key}`",
                    r.span(str(key), of_key=True),
                    did_you_mean(str(key), FIELDS)
                    or f"the manifest fields are {', '.join(f'`{f}`' for f in FIELDS)}",
                    file=MANIFEST,
                )
            )
    manifest = Manifest(
        name=_name(r, doc) or default_name,
        version=_version(r, doc) or "0.0.0",
        revision=r.string(doc, "revision", 'quote a revision YAML reads as a number: `"0123456"`'),
        description=r.string(doc, "description"),
        requires=_requires(r, doc),
        inputs=_inputs(r, doc),
        **_audit(r, doc),
        present=True,
        spans={k: span for k in nodes if (span := r.span(k)) is not None} | r.entries(),
        keys={k: span for k in nodes if (span := r.span(k, of_key=True)) is not None}
        | r.entries(of_key=True),
    )
    return manifest, r.diags


def _name(r: _Reader, doc: dict[str, Any]) -> str | None:
    name = r.string(doc, "name")
    if name is not None and not _NAME.fullmatch(name):
        r.error(
            "name",
            f"manifest field `name`: `{name}` is not a bundle name",
            "use letters, digits, `.`, `_` and `-`, starting with a letter or digit",
        )
        return None
    return name


def _version(r: _Reader, doc: dict[str, Any]) -> str | None:
    value = doc.get("version")
    if value is None:
        return None
    if not isinstance(value, str) or parse_version(value) is None:
        r.error(
            "version",
            f"manifest field `version`: `{value}` is not a semantic version",
            "write MAJOR.MINOR.PATCH, like `1.4.0` (quote it if YAML reads it as a number)",
        )
        return None
    return value


def _requires(r: _Reader, doc: dict[str, Any]) -> str | None:
    rng = r.string(doc, "requires")
    if rng is None:
        return None
    try:
        parse_range(rng)
    except EvalError as err:
        reason = err.message.removeprefix("`semver_satisfies`: ")
        r.error(
            "requires",
            f"manifest field `requires`: {reason}",
            "write comparators like `>=0.1.0 <0.3.0`; `||` separates alternatives",
        )
        return None
    return rng


def _inputs(r: _Reader, doc: dict[str, Any]) -> dict[str, str]:
    value = doc.get("inputs")
    if value is None:
        return {}
    if not isinstance(value, dict):
        r.error(
            "inputs",
            "manifest field `inputs` must map queries to schema files",
            "write `inputs: {deploy: schemas/deploy.schema.json}`",
        )
        return {}
    out: dict[str, str] = {}
    for query, path in value.items():
        if not isinstance(query, str) or not _QUERY.fullmatch(query):
            r.error(
                "inputs",
                f"manifest field `inputs`: `{query}` is not a package or rule name",
                "name a package (`deploy`) or a rule (`access.allow`): names joined by `.`",
                r.inner("inputs", str(query), of_key=True),
            )
        elif not isinstance(path, str) or not path.strip():
            r.error(
                "inputs",
                f"manifest field `inputs.{query}` must be the path of a schema file",
                "a path from the bundle's root, like `schemas/deploy.schema.json`",
                r.inner("inputs", query),
            )
        else:
            out[query] = path.removeprefix("./")
    return out


def _audit(r: _Reader, doc: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    value = doc.get("audit")
    if value is None:
        return {}
    if not isinstance(value, dict):
        r.error(
            "audit",
            "manifest field `audit` must be a mapping with `keep` and `personal` lists",
            "write `audit: {keep: [input.model.model_id], personal: [input.subject.id]}`",
        )
        return {}
    out: dict[str, tuple[str, ...]] = {}
    paths_help = (
        "write input paths like `input.subject.id` (`*` for every item of a list: "
        "`input.approvals.*.user`)"
    )
    for key, paths in value.items():
        if key not in AUDIT_FIELDS:
            r.error(
                "audit",
                f"unknown field `audit.{key}`",
                did_you_mean(str(key), AUDIT_FIELDS) or "the fields are `keep` and `personal`",
                r.inner("audit", str(key), of_key=True),
            )
            continue
        if not isinstance(paths, list):
            r.error(
                "audit",
                f"manifest field `audit.{key}` must be a list of input paths",
                paths_help,
                r.inner("audit", key),
            )
            continue
        bad = [
            i for i, p in enumerate(paths) if not (isinstance(p, str) and _INPUT_PATH.fullmatch(p))
        ]
        for i in bad:
            r.error(
                "audit",
                f"manifest field `audit.{key}`: `{paths[i]}` is not an input path",
                paths_help,
                r.inner("audit", key, i),
            )
        if not bad:
            out[f"audit_{key}"] = tuple(paths)
    return out


def check_requires(manifest: Manifest, engine_version: str) -> Diagnostic | None:
    """Why this engine may not load the bundle, if its `requires` range excludes it."""
    if manifest.requires is None:
        return None
    if parse_version(engine_version) is None or semver_satisfies(engine_version, manifest.requires):
        return None
    return Diagnostic(
        "requires",
        f"the bundle requires tenet `{manifest.requires}`; this is tenet {engine_version}",
        None,
        "upgrade tenet, or load a version of the bundle made for this engine",
        file=MANIFEST,
    )


def _whole(message: str) -> Diagnostic:
    return Diagnostic("manifest", message, None, None, file=MANIFEST)
