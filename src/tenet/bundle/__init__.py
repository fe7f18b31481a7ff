"""Bundles: load a folder or archive into a compiled, immutable `Bundle` and decide queries."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tenet.analysis import check
from tenet.analysis.symbols import Symbols
from tenet.bundle.documents import Document, evaluate_document
from tenet.bundle.files import ReadLimits, Tree, badly_named
from tenet.bundle.inputs import InputSchema, schemas_errors
from tenet.bundle.loader import BundleFiles, bundle_digest, default_name, read_parts, read_tree
from tenet.bundle.manifest import MANIFEST, Manifest, check_requires, parse_manifest
from tenet.bundle.signing import KeyFileError, PublicKeyLike, load_public_key, verify_signature
from tenet.compiler import CompileOptions, compile_program
from tenet.compiler.program import Program
from tenet.compliance.catalogue import Catalogue
from tenet.decision import BundleInfo, Decision
from tenet.diagnostics import Diagnostic, PolicyError, did_you_mean
from tenet.runtime.evaluate import Limits, Outcome, admit_input, evaluate, resolve_now
from tenet.syntax import ast
from tenet.syntax.parser import parse

__all__ = [
    "Bundle",
    "Document",
    "ReadLimits",
    "bundle_digest",
    "compile_files",
    "load_bundle",
    "load_tree",
    "open_tree",
]

EXPLAIN_MODES = ("summary", "full")


@dataclass(eq=False)
class Bundle:
    """A compiled bundle. Immutable once loaded and safe to share between threads."""

    info: BundleInfo
    program: Program
    root: Path
    limits: Limits = field(default_factory=Limits)
    manifest: Manifest = field(default_factory=lambda: Manifest("bundle"))
    modules: tuple[ast.Module, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()
    files: Mapping[str, bytes] = field(default_factory=dict)  # relative path -> bytes
    signature: bytes | None = None  # the raw `.signature`, if the bundle has one
    input_schemas: Mapping[str, InputSchema] = field(default_factory=dict)
    frameworks: Mapping[str, Catalogue] = field(default_factory=dict)  # name -> catalogue
    # each schema file's path -> the files it reads through `$ref`s, itself included
    schema_reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def digest(self) -> str:
        return self.info.digest

    def decide(
        self,
        query: str,
        input: Any = None,
        now: Any = None,
        explain: str = "summary",
    ) -> Decision:
        """Evaluate a query. Raises QueryError for an unknown query and ValueError for a bad
        `now` or `explain`; every other problem is an `error` decision, never an exception.

        When the manifest maps the query (or a package holding it) to an input schema, an
        input that fails it gives an `error` decision listing every failure; nothing is
        evaluated."""
        start = time.perf_counter_ns()
        if explain not in EXPLAIN_MODES:
            raise ValueError(f"explain must be one of {', '.join(EXPLAIN_MODES)}, not {explain!r}")
        q = self.program.query(query)
        clock = resolve_now(now)
        doc, refused = admit_input({} if input is None else input, self.limits)
        invalid = [refused] if refused else schemas_errors(query, self.input_schemas, doc)
        if invalid:
            outcome = Outcome(q, clock, errors=invalid)
        else:
            outcome = evaluate(self.program, q, doc, clock, self.limits, explain == "full")
        return Decision(outcome, self.info, doc, explain, time.perf_counter_ns() - start)

    def evaluate_document(self, path: str, input: Any = None, now: Any = None) -> Document:
        """The value at `path` as Open Policy Agent's data API gives it: a rule's value, or for
        a package an object of its rules' values (undefined ones left out) with sub-packages
        nested; "" is every package. Raises QueryError and ValueError as `decide` does; an
        input or evaluation error leaves the document undefined and is listed in `errors`."""
        return evaluate_document(self, path, input, now)


def open_tree(path: str | os.PathLike[str], read_limits: ReadLimits | None = None) -> Tree:
    """A bundle folder's or archive's files in memory; raises PolicyError when they cannot be
    read safely (links, `..`, devices, past the bounds ...)."""
    tree = read_tree(Path(path), read_limits or ReadLimits())
    if tree.diagnostics:
        raise PolicyError(tree.diagnostics)
    return tree


def load_bundle(
    path: str | os.PathLike[str],
    limits: Limits | None = None,
    public_key: PublicKeyLike | None = None,
    read_limits: ReadLimits | None = None,
    options: CompileOptions | None = None,
) -> Bundle:
    """Load and compile a bundle folder or `.tar.gz` archive; raises PolicyError listing every
    problem found. With `public_key` (an Ed25519 key, PEM text or bytes, or a PEM file's path),
    a bundle whose `.signature` is missing, by another key or over other files is refused.
    `options` switches compiler optimisations off (for testing that they change nothing)."""
    return load_tree(open_tree(path, read_limits), Path(path), limits, public_key, options)


def load_tree(
    tree: Tree,
    root: Path,
    limits: Limits | None = None,
    public_key: PublicKeyLike | None = None,
    options: CompileOptions | None = None,
) -> Bundle:
    """Compile files already in memory; `root` is where they came from (it names the bundle
    when the manifest does not). The signature is checked before anything is parsed."""
    misnamed = badly_named(tree)
    if misnamed:  # the digest could not tell their files apart
        raise PolicyError(misnamed)
    digest = bundle_digest(tree.files)
    if public_key is not None:
        try:
            key = load_public_key(public_key)
        except KeyFileError as err:  # refused as a bad signature is: the bundle is not vouched for
            raise PolicyError([Diagnostic("signature", str(err), None, _KEY_HELP)]) from None
        problem = verify_signature(tree.signature, digest, key)
        if problem is not None:
            raise PolicyError([problem])
    manifest, problems = parse_manifest(tree.files.get(MANIFEST), default_name(root))
    from tenet import __version__

    too_new = check_requires(manifest, __version__)
    if too_new is not None:
        raise PolicyError([too_new])
    files = read_parts(tree, root, manifest, digest)
    files.diagnostics[:0] = problems
    return compile_files(files, limits, options)


_KEY_HELP = (
    "give the Ed25519 public key the bundle was signed with: an `Ed25519PublicKey`, PEM text "
    "or bytes, or a PEM file's path"
)


def compile_files(
    files: BundleFiles, limits: Limits | None = None, options: CompileOptions | None = None
) -> Bundle:
    diags = list(files.diagnostics)
    modules: list[ast.Module] = []
    for source in files.sources:
        module, found = parse(source)
        diags.extend(found)
        if module is not None:
            modules.append(module)
    try:
        complete = len(modules) == len(files.sources)
        analysis, found = check(modules, files.data, files.places.diagnostic, complete)
        diags.extend(found)
        if complete:  # else a package may be missing only because its file did not parse
            diags.extend(_unknown_inputs(files.manifest, analysis.symbols))
        errors = [d for d in diags if d.severity == "error"]
        if errors:
            raise PolicyError(errors)
        program = compile_program(analysis, files.schemas, options)
    except RecursionError:
        raise PolicyError(
            [
                *diags,
                Diagnostic(
                    "nesting",
                    "a policy nests too deeply to compile",
                    None,
                    "split deeply nested expressions into named rules",
                    file=str(files.root),
                ),
            ]
        ) from None
    manifest = files.manifest
    info = BundleInfo(manifest.name, manifest.version, manifest.revision, files.digest)
    return Bundle(
        info,
        program,
        files.root,
        limits or Limits(),
        manifest,
        tuple(modules),
        tuple(d for d in diags if d.severity != "error"),
        MappingProxyType(dict(files.files)),
        files.signature,
        MappingProxyType(dict(files.input_schemas)),
        MappingProxyType(dict(files.frameworks)),
        MappingProxyType(dict(files.schema_reads)),
    )


def _unknown_inputs(manifest: Manifest, symbols: Symbols) -> list[Diagnostic]:
    """The manifest's `inputs` keys that name no package or rule of the policies; told with
    every other problem, as they need the policies read but not compiled."""
    names = [".".join(p) for p in (*symbols.packages, *symbols.prefixes) if p] + [
        info.full_name
        for pkg in symbols.packages.values()
        for info in pkg.rules.values()
        if info.kind != "function"
    ]
    return [
        Diagnostic(
            "manifest",
            f"manifest field `inputs`: `{query}` is no package or rule of the bundle",
            manifest.keys.get(f"inputs.{query}"),
            did_you_mean(query, names) or "name a package (`deploy`) or a rule (`access.allow`)",
            file=MANIFEST,
        )
        for query in manifest.inputs
        if query not in names
    ]
