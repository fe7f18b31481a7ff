"""Bundles: load a folder into a compiled, immutable `Bundle` and decide queries against it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenet.analysis import check
from tenet.bundle.loader import BundleFiles, read_folder
from tenet.compiler import compile_program
from tenet.compiler.program import Program
from tenet.decision import BundleInfo, Decision
from tenet.diagnostics import Diagnostic, PolicyError
from tenet.runtime.evaluate import Limits, evaluate, resolve_now
from tenet.syntax import ast
from tenet.syntax.parser import parse

__all__ = ["Bundle", "load_bundle"]

EXPLAIN_MODES = ("summary", "full")


@dataclass(eq=False)
class Bundle:
    """A compiled bundle. Immutable once loaded and safe to share between threads."""

    info: BundleInfo
    program: Program
    root: Path
    limits: Limits = field(default_factory=Limits)
    manifest: dict[str, Any] = field(default_factory=dict)
    modules: tuple[ast.Module, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()

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
        `now` or `explain`; every other problem is an `error` decision, never an exception."""
        start = time.perf_counter_ns()
        if explain not in EXPLAIN_MODES:
            raise ValueError(f"explain must be one of {', '.join(EXPLAIN_MODES)}, not {explain!r}")
        q = self.program.query(query)
        clock = resolve_now(now)
        doc = {} if input is None else input
        outcome = evaluate(self.program, q, doc, clock, self.limits, explain == "full")
        return Decision(outcome, self.info, doc, explain, time.perf_counter_ns() - start)


def load_bundle(path: str | os.PathLike[str], limits: Limits | None = None) -> Bundle:
    """Load and compile a bundle folder; raises PolicyError listing every problem found."""
    root = Path(path)
    if not root.is_dir():
        raise PolicyError(
            [Diagnostic("bundle", f"`{root}` is not a bundle folder", None, None, file=str(root))]
        )
    files = read_folder(root)
    return compile_files(files, limits)


def compile_files(files: BundleFiles, limits: Limits | None = None) -> Bundle:
    diags = list(files.diagnostics)
    modules: list[ast.Module] = []
    for source in files.sources:
        module, found = parse(source)
        diags.extend(found)
        if module is not None:
            modules.append(module)
    try:
        analysis, found = check(modules, files.data)
        diags.extend(found)
        errors = [d for d in diags if d.severity == "error"]
        if errors:
            raise PolicyError(errors)
        program = compile_program(analysis, files.schemas)
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
    info = BundleInfo(
        name=str(manifest.get("name") or files.root.resolve().name),
        version=str(manifest.get("version") or "0.0.0"),
        revision=str(manifest["revision"]) if manifest.get("revision") is not None else None,
        digest=files.digest,
    )
    return Bundle(
        info,
        program,
        files.root,
        limits or Limits(),
        manifest,
        tuple(modules),
        tuple(d for d in diags if d.severity != "error"),
    )
