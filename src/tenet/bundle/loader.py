"""A bundle's files (from a folder or an archive alike) to its parts: policy sources, the merged
data document, schemas, the manifest and the digest."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tenet.bundle.archive import archive_stem, read_archive
from tenet.bundle.files import ReadLimits, Tree, log_keys, read_folder_files
from tenet.bundle.manifest import MANIFEST, Manifest
from tenet.bundle.places import DataPlaces
from tenet.bundle.schemas import SchemaFiles
from tenet.compliance.catalogue import Catalogue, read_catalogue
from tenet.diagnostics import Diagnostic, did_you_mean
from tenet.locate import split_pointer, unreadable_diagnostic
from tenet.source import Source
from tenet.utf8 import not_utf8
from tenet.yamlutil import DocumentError, check_document, load_json, load_yaml

__all__ = ["BundleFiles", "bundle_digest", "default_name", "read_parts", "read_tree"]

MAX_DATA_BYTES = 64 * 1024 * 1024
DATA_FILES = ("data.yaml", "data.yml", "data.json")


@dataclass(eq=False)
class BundleFiles:
    root: Path
    manifest: Manifest
    digest: str
    files: Mapping[str, bytes]
    signature: bytes | None = None
    sources: list[Source] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)  # name -> validator
    input_schemas: dict[str, tuple[str, Any]] = field(default_factory=dict)  # query -> path, v.
    schema_files: SchemaFiles | None = None  # for following `$ref`s between them
    schema_reads: dict[str, tuple[str, ...]] = field(default_factory=dict)  # path -> files read
    frameworks: dict[str, Catalogue] = field(default_factory=dict)  # `frameworks/NAME.yaml`
    broken_frameworks: set[str] = field(default_factory=set)  # NAMEs whose file has errors
    places: DataPlaces = field(default_factory=DataPlaces)  # where each data key was written
    diagnostics: list[Diagnostic] = field(default_factory=list)


def read_tree(path: Path, limits: ReadLimits) -> Tree:
    """The files of a bundle folder or `.tar.gz` archive, in memory."""
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError as err:  # a name longer than the file system takes
        why = err.strerror or str(err)
        return Tree(
            diagnostics=[
                Diagnostic(
                    "bundle",
                    f"cannot read `{path}`: {why[:1].lower() + why[1:]}",
                    None,
                    file=str(path),
                )
            ]
        )
    if is_dir or is_file:
        tree = read_folder_files(path, limits) if is_dir else read_archive(path, limits)
        tree.diagnostics.extend(log_keys(tree.files))
        return tree
    return Tree(
        diagnostics=[
            Diagnostic(
                "bundle",
                f"`{path}` is neither a bundle folder nor a bundle archive",
                None,
                "give a folder, or a `.tar.gz` made by `tenet bundle build`",
                file=str(path),
            )
        ]
    )


def default_name(path: Path) -> str:
    """The bundle's name when its manifest gives none: the folder's or the archive's."""
    return path.resolve().name if path.is_dir() else archive_stem(path)


def bundle_digest(files: Mapping[str, bytes]) -> str:
    """`sha256:` + SHA-256 of `path\\0sha256(bytes)\\n` per file, sorted by path bytewise.
    Unambiguous only for names without control characters (`files.bad_name`), which the
    readers and `load_tree` refuse."""
    lines = [
        f"{rel}\0{hashlib.sha256(files[rel]).hexdigest()}\n"
        for rel in sorted(files, key=lambda r: r.encode("utf-8"))
    ]
    return "sha256:" + hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def read_parts(tree: Tree, root: Path, manifest: Manifest, digest: str) -> BundleFiles:
    """Parse every file that takes part; problems become diagnostics, never exceptions."""
    out = BundleFiles(root, manifest, digest, tree.files, tree.signature)
    named: list[str] = []  # schemas/NAME.schema.json
    for rel in sorted(tree.files, key=lambda r: r.encode("utf-8")):
        content = tree.files[rel]
        parts = rel.split("/")
        if parts[0] == "tests" or rel == MANIFEST:
            continue
        if rel.endswith(".tenet"):
            try:
                out.sources.append(Source(rel, content.decode("utf-8")))
            except UnicodeDecodeError:
                out.diagnostics.append(not_utf8(rel, content))
        elif parts[-1] in DATA_FILES:
            doc = _read_data(content, rel, out.diagnostics, out.places)
            if doc is not None:
                _merge_file(out, doc, tuple(parts[:-1]), rel)
        elif parts[0] == "schemas" and rel.endswith(".schema.json") and len(parts) == 2:
            named.append(rel)
        elif parts[0] == "frameworks" and len(parts) == 2 and rel.endswith((".yaml", ".yml")):
            key = parts[1].rsplit(".", 1)[0]
            catalogue, problems = read_catalogue(key, content, rel)
            out.diagnostics.extend(problems)
            if catalogue is not None:
                out.frameworks[key] = catalogue
            else:
                out.broken_frameworks.add(key)
    _input_schemas(out, _read_schemas(out, named))
    _check_retention(out)
    return out


def _check_retention(out: BundleFiles) -> None:
    """A bundle's retention classes decide how long its audit records are kept: a mistake in
    them (a `keep_for` that is no duration, a default class that does not exist) would keep
    records forever or prune them early without a word, so it stops the bundle loading."""
    from tenet.audit.retention import read_retention  # the audit package imports bundles

    _, problems = read_retention(out.data)
    out.diagnostics.extend(
        out.places.diagnostic("retention", message, help, at) for at, message, help in problems
    )


def _read_schemas(out: BundleFiles, named: list[str]) -> dict[str, Any]:
    """Validators, by path, of the named schemas and the manifest's input schemas. Every one
    is read before any validator is made, so that each can refer to any other."""
    schemas = out.schema_files = SchemaFiles(out.files)
    inputs = [p for p in out.manifest.inputs.values() if p in out.files]
    read = [p for p in dict.fromkeys([*named, *inputs]) if schemas.add(p, out.diagnostics)]
    validators = {p: schemas.validator(p, out.diagnostics) for p in read}
    out.schema_reads = {p: schemas.reads(p) for p, v in validators.items() if v is not None}
    for p in named:
        if validators.get(p) is not None:
            out.schemas[p.split("/")[1][: -len(".schema.json")]] = validators[p]
    return validators


def _merge_file(
    out: BundleFiles,
    doc: Any,
    prefix: tuple[str, ...],
    rel: str,
) -> None:
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
        return
    _merge(out.data, _nest(prefix, doc), (), rel, out.places, out.diagnostics)


def _input_schemas(out: BundleFiles, validators: dict[str, Any]) -> None:
    """Resolve the manifest's `inputs`: each must name a JSON Schema file of the bundle."""
    for query, path in out.manifest.inputs.items():
        if path not in out.files:
            candidates = [r for r in out.files if r.endswith(".json")]
            out.diagnostics.append(
                Diagnostic(
                    "manifest",
                    f"manifest field `inputs.{query}`: `{path}` is not a file of the bundle",
                    out.manifest.spans.get(f"inputs.{query}"),
                    did_you_mean(path, candidates) or "give a path from the bundle's root",
                    file=MANIFEST,
                )
            )
            continue
        if validators.get(path) is not None:
            out.input_schemas[query] = (path, validators[path])


def _merge(
    target: dict[str, Any],
    source: dict[str, Any],
    path: tuple[str, ...],
    file: str,
    places: DataPlaces,
    diags: list[Diagnostic],
) -> None:
    for key, value in source.items():
        at = (*path, key)
        if key in target:
            old = target[key]
            if isinstance(old, dict) and isinstance(value, dict):
                _merge(old, value, at, file, places, diags)
                continue
            diags.append(
                Diagnostic(
                    "data-conflict",
                    f"data key `data.{'.'.join(at)}` is set by both `{places.owner(at)}` "
                    f"and `{file}`",
                    places.span_in(file, at),
                    "give each key one home; mappings merge, other values do not",
                    file=file,
                )
            )
            continue
        target[key] = value
        places.owners[at] = file


def _read_data(content: bytes, rel: str, diags: list[Diagnostic], places: DataPlaces) -> Any:
    if len(content) > MAX_DATA_BYTES:
        diags.append(Diagnostic("data", f"data file `{rel}` is too large", None, None, file=rel))
        return None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        diags.append(not_utf8(rel, content))
        return None
    places.add_file(rel, text)
    is_json = rel.endswith(".json")
    try:
        doc = load_json(text) if is_json else load_yaml(text)
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        source = Source(rel, text)
        diags.append(unreadable_diagnostic("data", f"data file `{rel}`", source, is_json, err))
        return None
    if doc is None:
        return {}
    try:
        check_document(doc)
    except DocumentError as err:
        at = tuple(rel.split("/")[:-1]) + tuple(split_pointer(err.path))
        diags.append(
            Diagnostic(
                "data",
                f"data file `{rel}`: {err.path or '/'}: {err.message}",
                places.span_in(rel, at),
                "a data file holds JSON values: strings, finite numbers, booleans, null, lists "
                "and mappings with string keys",
                file=rel,
            )
        )
        return None
    return doc


def _nest(prefix: tuple[str, ...], doc: Any) -> Any:
    for key in reversed(prefix):
        doc = {key: doc}
    return doc
