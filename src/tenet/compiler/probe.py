"""The coverage hook: an optional `Probe` the compiler wraps around statements and definitions
(a probed program has no rule index); without one (the default) nothing is wrapped and
evaluation costs nothing more."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from tenet.source import Span
from tenet.syntax import ast

if TYPE_CHECKING:
    from tenet.compiler.bodies import Body
    from tenet.compiler.expressions import Fn

__all__ = ["Probe"]


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
