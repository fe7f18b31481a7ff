"""Pass `check_cycles`: rules and functions may use each other, but never in a cycle, and in
chains at most `MAX_CHAIN` long."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from tenet.analysis.symbols import RuleTarget
from tenet.diagnostics import Diagnostic

if TYPE_CHECKING:
    from tenet.analysis import Analysis

__all__ = ["MAX_CHAIN", "check_cycles"]

# Evaluating a rule evaluates the rules it reads inside it, a few Python frames each: a chain
# longer than this could exhaust the interpreter's stack midway, an error with no place to
# point at. Checked here, where the rule that starts the chain is known.
MAX_CHAIN = 100


def _kind(an: Analysis, full_name: str) -> str:
    target = an.symbols.resolve_path(tuple(full_name.split(".")))
    return "function" if isinstance(target, RuleTarget) and target.rule.is_function else "rule"


def check_cycles(an: Analysis) -> list[Diagnostic]:
    graph = an.depends
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    diags: list[Diagnostic] = []
    reported: set[frozenset[str]] = set()
    longest: dict[str, int] = {}  # rules in the longest chain from a rule, itself included
    # depth first, with a stack of its own: a chain of thousands of rules is no error here
    for root in sorted(graph):
        if root in state:
            continue
        stack = [root]
        pending: list[Iterator[str]] = [iter(sorted(graph.get(root, ())))]
        state[root] = 1
        while stack:
            node = stack[-1]
            nxt = next(pending[-1], None)
            if nxt is None:
                stack.pop()
                pending.pop()
                state[node] = 2
                # a dependency still on the stack closes a cycle, reported below
                longest[node] = 1 + max(
                    (longest[d] for d in graph.get(node, ()) if d in longest), default=0
                )
            elif state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    path = " → ".join(f"`{c}`" for c in [*cycle, nxt])
                    diags.append(
                        Diagnostic(
                            "cycle",
                            f"{_kind(an, nxt)} `{nxt}` depends on itself: {path}",
                            an.dependency_spans.get((node, nxt)),
                            "rules and functions cannot be recursive; break the cycle",
                        )
                    )
            elif nxt not in state:
                state[nxt] = 1
                stack.append(nxt)
                pending.append(iter(sorted(graph.get(nxt, ()))))
    diags.extend(_too_long(an, longest))
    return diags


def _too_long(an: Analysis, longest: dict[str, int]) -> list[Diagnostic]:
    """A chain longer than MAX_CHAIN, at the rule where it passes the limit: the one that
    reads a chain of exactly MAX_CHAIN (the rules that read it are longer still)."""
    diags = []
    for node in sorted(n for n, length in longest.items() if length == MAX_CHAIN + 1):
        chain = [node]
        while len(chain) <= MAX_CHAIN:
            below = sorted(an.depends.get(chain[-1], ()))
            chain.append(max(below, key=lambda d: longest.get(d, 0)))
        shown = " → ".join(f"`{c}`" for c in chain[:2]) + f" → … → `{chain[-1]}`"
        diags.append(
            Diagnostic(
                "nesting",
                f"`{node}` reads a chain of {MAX_CHAIN + 1} rules and functions, each using the "
                f"next ({shown}): more than {MAX_CHAIN}",
                an.dependency_spans.get((node, chain[1])),
                "compute the value in fewer steps: read a rule further down the chain, or "
                "merge rules",
            )
        )
    return diags
