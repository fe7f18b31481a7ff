"""Pass `check_cycles`: rules and functions may use each other, but never in a cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenet.diagnostics import Diagnostic

if TYPE_CHECKING:
    from tenet.analysis import Analysis


def check_cycles(an: Analysis) -> list[Diagnostic]:
    graph = an.depends
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []
    diags: list[Diagnostic] = []
    reported: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    path = " → ".join(f"`{c}`" for c in [*cycle, nxt])
                    diags.append(
                        Diagnostic(
                            "cycle",
                            f"rule `{nxt}` depends on itself: {path}",
                            an.dependency_spans.get((node, nxt)),
                            "rules and functions cannot be recursive; break the cycle",
                        )
                    )
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return diags
