"""A bundle folder to its parts: policy sources, the merged data document, schemas, digest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tenet.diagnostics import Diagnostic
from tenet.source import Source
from tenet.yamlutil import DocumentError, check_document, load_json, load_yaml

__all__ = ["BundleFiles", "bundle_digest", "read_folder"]

MAX_DATA_BYTES = 64 * 1024 * 1024


@dataclass(eq=False)
class BundleFiles:
    root: Path
    sources: list[Source] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)  # name -> validator
    manifest: dict[str, Any] = field(default_factory=dict)
    digest: str = ""
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _counted(rel: Path) -> bool:
    return not any(p.startswith(".") or p == "__pycache__" for p in rel.parts)


def bundle_files(root: Path) -> list[Path]:
    """Every file that belongs to the bundle, sorted by relative POSIX path bytewise."""
    found = [
        p
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and _counted(p.relative_to(root))
    ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix().encode("utf-8"))


def bundle_digest(root: Path, files: list[Path]) -> str:
    lines = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        if rel == ".signature":
            continue
        lines.append(f"{rel}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n")
    return "sha256:" + hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def _merge(
    target: dict[str, Any],
    source: dict[str, Any],
    path: tuple[str, ...],
    file: str,
    owners: dict[tuple[str, ...], str],
    diags: list[Diagnostic],
) -> None:
    for key, value in source.items():
        at = (*path, key)
        if key in target:
            old = target[key]
            if isinstance(old, dict) and isinstance(value, dict):
                _merge(old, value, at, file, owners, diags)
                continue
            diags.append(
                Diagnostic(
                    "data-conflict",
                    f"data key `data.{'.'.join(at)}` is set by both `{owners.get(at, '?')}` "
                    f"and `{file}`",
                    None,
                    "give each key one home; mappings merge, other values do not",
                    file=file,
                )
            )
            continue
        target[key] = value
        owners[at] = file


def _read_data(root: Path, p: Path, rel: str, diags: list[Diagnostic]) -> Any:
    if p.stat().st_size > MAX_DATA_BYTES:
        diags.append(Diagnostic("data", f"data file `{rel}` is too large", None, None, file=rel))
        return None
    text = p.read_text("utf-8")
    try:
        doc = load_json(text) if p.suffix == ".json" else load_yaml(text)
    except (yaml.YAMLError, ValueError) as err:
        diags.append(
            Diagnostic("data", f"data file `{rel}` cannot be read: {err}", None, None, file=rel)
        )
        return None
    if doc is None:
        return {}
    try:
        check_document(doc)
    except DocumentError as err:
        diags.append(
            Diagnostic(
                "data",
                f"data file `{rel}`: {err.path or '/'}: {err.message}",
                None,
                None,
                file=rel,
            )
        )
        return None
    return doc


def _read_schema(p: Path, rel: str, diags: list[Diagnostic]) -> Any:
    try:
        schema = load_json(p.read_text("utf-8"))
    except ValueError as err:
        diags.append(
            Diagnostic("schema", f"schema `{rel}` is not JSON: {err}", None, None, file=rel)
        )
        return None
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as err:
        diags.append(
            Diagnostic("schema", f"schema `{rel}` is invalid: {err.message}", None, None, file=rel)
        )
        return None
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def read_folder(root: Path) -> BundleFiles:
    out = BundleFiles(root)
    files = bundle_files(root)
    out.digest = bundle_digest(root, files)
    owners: dict[tuple[str, ...], str] = {}
    for p in files:
        rel = p.relative_to(root).as_posix()
        parts = rel.split("/")
        if parts[0] == "tests":
            continue
        if p.suffix == ".tenet":
            try:
                out.sources.append(Source(rel, p.read_text("utf-8")))
            except UnicodeDecodeError:
                out.diagnostics.append(
                    Diagnostic("encoding", f"`{rel}` is not UTF-8 text", None, None, file=rel)
                )
        elif p.name in ("data.yaml", "data.yml", "data.json"):
            doc = _read_data(root, p, rel, out.diagnostics)
            if doc is None:
                continue
            prefix = tuple(parts[:-1])
            if not isinstance(doc, dict) and not prefix:
                out.diagnostics.append(
                    Diagnostic(
                        "data",
                        f"data file `{rel}` at the bundle root must hold a mapping",
                        None,
                        None,
                        file=rel,
                    )
                )
                continue
            _merge(out.data, _nest(prefix, doc), (), rel, owners, out.diagnostics)
        elif parts[0] == "schemas" and rel.endswith(".schema.json") and len(parts) == 2:
            validator = _read_schema(p, rel, out.diagnostics)
            if validator is not None:
                out.schemas[parts[1][: -len(".schema.json")]] = validator
        elif rel == "tenet.yaml":
            try:
                manifest = load_yaml(p.read_text("utf-8")) or {}
            except yaml.YAMLError as err:
                out.diagnostics.append(
                    Diagnostic(
                        "manifest", f"`tenet.yaml` is not valid YAML: {err}", None, None, file=rel
                    )
                )
                continue
            if not isinstance(manifest, dict):
                out.diagnostics.append(
                    Diagnostic("manifest", "`tenet.yaml` must hold a mapping", None, None, file=rel)
                )
                continue
            out.manifest = manifest
    return out


def _nest(prefix: tuple[str, ...], doc: Any) -> Any:
    for key in reversed(prefix):
        doc = {key: doc}
    return doc
