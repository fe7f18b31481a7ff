"""Static checks: the passes that run over parsed modules, in a fixed order, before compiling.

`check(modules, data, data_problem)` returns the bundle's symbol tables and every diagnostic
found; the compiler runs only when no diagnostic is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tenet.analysis.annotations import check_annotations
from tenet.analysis.collect import collect_definitions
from tenet.analysis.cycles import check_cycles
from tenet.analysis.imports import resolve_imports
from tenet.analysis.names import check_names
from tenet.analysis.symbols import ModuleScope, Symbols
from tenet.analysis.waivers import check_waivers
from tenet.diagnostics import DataDiagnostic, Diagnostic, unplaced
from tenet.gcpause import paused_gc
from tenet.syntax import ast

__all__ = ["PASSES", "Analysis", "check"]


@dataclass(eq=False)
class Analysis:
    """What the passes build up: symbol tables, module scopes, rule dependencies."""

    modules: Sequence[ast.Module]
    data: Any
    symbols: Symbols = field(default_factory=Symbols)
    scopes: dict[int, ModuleScope] = field(default_factory=dict)  # id(module) -> scope
    depends: dict[str, set[str]] = field(default_factory=dict)  # rule -> rules it reads
    dependency_spans: dict[tuple[str, str], Any] = field(default_factory=dict)
    builtins: set[str] = field(default_factory=set)  # the built-ins called anywhere
    data_problem: DataDiagnostic = unplaced  # places a data error in the file that wrote it
    # every policy file parsed: a name the symbols lack is missing, not in a file that failed
    complete: bool = True


Pass = Callable[[Analysis], list[Diagnostic]]

PASSES: tuple[tuple[str, Pass], ...] = (
    ("collect_definitions", collect_definitions),
    ("resolve_imports", resolve_imports),
    ("check_annotations", check_annotations),
    ("check_names", check_names),
    ("check_cycles", check_cycles),
    ("check_waivers", check_waivers),
)


def check(
    modules: Sequence[ast.Module],
    data: Any,
    data_problem: DataDiagnostic = unplaced,
    complete: bool = True,
) -> tuple[Analysis, list[Diagnostic]]:
    """Run every pass; later passes still run after errors so that all problems are reported.
    `data_problem` makes the diagnostic of a mistake in the data (a malformed waiver), placed
    in the data file that wrote it. `complete` false says some policy file did not parse:
    a waiver naming a check is then not refused for it, as the check may be in that file."""
    analysis = Analysis(modules, data, data_problem=data_problem, complete=complete)
    diagnostics: list[Diagnostic] = []
    with paused_gc():
        for _name, run in PASSES:
            diagnostics.extend(run(analysis))
    return analysis, diagnostics
