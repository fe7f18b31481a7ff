"""The built-in function table: name -> arity, implementation, documentation.

Adding a built-in is one entry in one group module. The evaluator never calls a built-in
with an undefined argument (the call is undefined instead); an implementation raises
:class:`~tenet.runtime.values.EvalError` for arguments it cannot take and may return
``UNDEF`` where the language says the result is undefined.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BUILTINS", "Builtin", "register"]


@dataclass(frozen=True, slots=True)
class Builtin:
    name: str
    group: str
    min_args: int
    max_args: int | None  # None: any number of arguments from min_args up
    impl: Callable[..., Any]
    doc: str
    example: str = ""
    # a pure built-in with constant arguments is folded at compile time
    pure: bool = True
    # the implementation takes the evaluation context first (``ctx.now``, ``ctx.schemas``)
    needs_ctx: bool = False

    def arity_text(self) -> str:
        if self.max_args is None:
            return f"at least {self.min_args}"
        if self.min_args == self.max_args:
            return str(self.min_args)
        return f"{self.min_args} to {self.max_args}"

    def accepts(self, n: int) -> bool:
        return n >= self.min_args and (self.max_args is None or n <= self.max_args)


BUILTINS: dict[str, Builtin] = {}


def register(
    name: str,
    group: str,
    args: int | tuple[int, int | None],
    doc: str,
    example: str = "",
    *,
    pure: bool = True,
    needs_ctx: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator adding one entry to :data:`BUILTINS`."""
    lo, hi = (args, args) if isinstance(args, int) else args

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in BUILTINS:
            raise RuntimeError(f"built-in {name} registered twice")
        BUILTINS[name] = Builtin(name, group, lo, hi, fn, doc, example, pure, needs_ctx)
        return fn

    return add


def _load_groups() -> None:
    # imported for their registrations
    from tenet.runtime.builtins import (  # noqa: F401
        collections,
        fairness,
        matching,
        numbers,
        schema,
        strings,
        time,
        types,
        versions,
    )


_load_groups()
