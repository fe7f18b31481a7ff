"""The coverage hook: an optional `Probe` the compiler wraps around statements, definitions and
rule indexes; without one (the default) nothing is wrapped and evaluation costs nothing more."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tenet.compiler.index import RuleIndex
from tenet.source import Span
from tenet.syntax import ast

if TYPE_CHECKING:
    from tenet.compiler.bodies import Body
    from tenet.compiler.expressions import Fn
    from tenet.compiler.rules import CompiledDef

__all__ = ["Probe", "ProbedIndex"]


class Probe(Protocol):
    """What `tenet test --coverage` observes; each method returns the code to run instead."""

    def statement(
        self, stmt: ast.Statement, make: Callable[[Body], Body]
    ) -> Callable[[Body], Body]:
        """Wrap one body statement (given as the maker of its closure from the next one)."""
        ...

    def definition(self, rule: ast.Rule, body: Body) -> Body:
        """Wrap the body of a rule or function definition."""
        ...

    def constant(self, span: Span, value: Fn) -> Fn:
        """Wrap the value of a definition without a body, or of a `default`."""
        ...

    def skipped(self, span: Span, reached: Sequence[ast.Statement]) -> None:
        """A definition that rule indexing excluded: it cannot hold for this input; `reached`
        are its statements up to the one the index found false, which evaluating it would
        have run (so coverage is the same with the index or without)."""
        ...


@dataclass(eq=False)
class ProbedIndex(RuleIndex):
    """A rule index that tells the probe which definitions it excluded."""

    defs: Sequence[CompiledDef]
    probe: Probe

    @classmethod
    def around(cls, index: RuleIndex, defs: Sequence[CompiledDef], probe: Probe) -> ProbedIndex:
        return cls(index.path, index.table, index.always, defs, probe)

    def candidates(self, input: Any) -> tuple[CompiledDef, ...]:
        found = super().candidates(input)
        if len(found) != len(self.defs):
            kept = {id(d) for d in found}
            for d in self.defs:
                if id(d) not in kept:
                    self.probe.skipped(d.span, d.eq_reach.get(self.path, ()))
        return found
