"""Rule indexing: for a rule with many definitions, dispatch on the value of one input path so
that only the definitions that can hold are evaluated.

A definition whose body has a top-level condition `input.a.b == "x"` (or `"x" == input.a.b`)
can hold only when the path's value equals the constant: the body is a conjunction and the
condition reads no local variable. Definitions without such a condition are always
candidates. Skipped definitions raise nothing, as the language allows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenet.analysis.names import chain_of, resolve_chain
from tenet.analysis.symbols import InputTarget, ModuleScope
from tenet.runtime.values import UNDEF, freeze
from tenet.syntax import ast

if TYPE_CHECKING:
    from tenet.compiler.rules import CompiledDef

__all__ = ["RuleIndex", "build_index", "equality_keys"]

MIN_DEFINITIONS = 4  # below this a scan is as cheap as a lookup
MAX_ENTRIES = 2_000_000  # keys x always-candidates: past this, no index
_SCALARS = (str, int, float, bool, type(None))


def _static_input_path(e: ast.Expr, scope: ModuleScope, bound: set[str]) -> tuple[str, ...] | None:
    found = chain_of(e)
    if found is None:
        return None
    root, steps = found
    if root.name in bound or not all(isinstance(s, ast.Field) for s in steps):
        return None
    target = scope.lookup(root.name)
    if target is None:
        return None
    target, used, problem = resolve_chain(scope, target, steps)
    if problem is not None or not isinstance(target, InputTarget):
        return None
    return (*target.path, *(s.name for s in steps[used:] if isinstance(s, ast.Field)))


def equality_keys(
    body: ast.Body | None, params: tuple[str, ...], scope: ModuleScope
) -> dict[tuple[str, ...], Any]:
    """The input paths a body requires to equal a constant: path -> frozen constant."""
    if body is None:
        return {}
    bound = set(params)
    for s in body.statements:
        if isinstance(s, ast.Assign):
            bound.add(s.name)
        elif isinstance(s, ast.SomeIn):
            bound.update(s.names)
    out: dict[tuple[str, ...], Any] = {}
    for s in body.statements:
        if not isinstance(s, ast.Condition):
            continue
        e = s.expr
        if not isinstance(e, ast.Compare) or e.op != "==":
            continue
        for ref, lit in ((e.left, e.right), (e.right, e.left)):
            if isinstance(lit, ast.Literal) and type(lit.value) in _SCALARS:
                path = _static_input_path(ref, scope, bound)
                if path is not None and path not in out:
                    out[path] = freeze(lit.value)
                    break
    return out


@dataclass(eq=False)
class RuleIndex:
    path: tuple[str, ...]
    table: dict[Any, tuple[CompiledDef, ...]]  # key -> candidates in source order
    always: tuple[CompiledDef, ...]  # definitions without a condition on the path

    def candidates(self, input: Any) -> tuple[CompiledDef, ...]:
        v = input
        for k in self.path:
            if type(v) is not dict:
                return self.always
            v = v.get(k, UNDEF)
        t = type(v)
        if t is str or t is int or t is float or t is bool or v is None:
            return self.table.get(freeze(v), self.always)
        return self.always


def build_index(
    defs: list[CompiledDef], keys: list[dict[tuple[str, ...], Any]]
) -> RuleIndex | None:
    """An index over the path most definitions test, or None when it would not pay."""
    if len(defs) < MIN_DEFINITIONS:
        return None
    counts = Counter(p for k in keys for p in k)
    if not counts:
        return None
    path, n = counts.most_common(1)[0]
    if n < 2 or n * 2 < len(defs):
        return None
    by_key: dict[Any, list[int]] = {}
    always: list[int] = []
    for i, k in enumerate(keys):
        if path in k:
            by_key.setdefault(k[path], []).append(i)
        else:
            always.append(i)
    if len(by_key) * max(1, len(always)) > MAX_ENTRIES:
        return None
    table = {
        key: tuple(defs[i] for i in sorted([*members, *always])) for key, members in by_key.items()
    }
    return RuleIndex(path, table, tuple(defs[i] for i in always))
