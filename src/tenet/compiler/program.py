"""A compiled bundle: rules, checks by package, waivers and schemas, and query resolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenet.analysis.symbols import RuleInfo
from tenet.analysis.waivers import Waiver
from tenet.compiler.checks import CompiledCheck
from tenet.compiler.rules import CompiledRule
from tenet.diagnostics import Diagnostic, QueryError, did_you_mean

__all__ = ["Program", "Query", "check_query_text"]


@dataclass(frozen=True, eq=False)
class Query:
    text: str
    rule: CompiledRule | None  # a rule query
    checks: tuple[CompiledCheck, ...]  # a package query: every check in and below it


@dataclass(eq=False)
class Program:
    rules: dict[str, CompiledRule]
    checks: dict[tuple[str, ...], list[CompiledCheck]]
    namespaces: set[tuple[str, ...]]
    waivers: dict[str, list[Waiver]]
    schemas: dict[str, Any]
    data: Any
    functions: set[str]
    rule_infos: dict[str, RuleInfo]
    # whether a decision can depend on its `now` beyond `evaluated_at`: the policy calls
    # `now()`, or a waiver expires (callers that reuse decisions must then key them on `now`)
    reads_clock: bool = True

    def package_query(self, text: str) -> Query:
        """The query of a package: every check in and below it ("" is every package, which
        the data API reads but a decision cannot name)."""
        path = tuple(text.split(".")) if text else ()
        found = [
            c for pkg, checks in self.checks.items() if pkg[: len(path)] == path for c in checks
        ]
        found.sort(key=lambda c: c.sort_key)
        return Query(text, None, tuple(found))

    def query(self, text: str) -> Query:
        """Resolve a query, or raise QueryError (it names neither a package nor a rule)."""
        check_query_text(text)
        path = tuple(text.split(".")) if text else ()
        if path in self.namespaces:
            return self.package_query(text)
        rule = self.rules.get(text)
        if rule is not None:
            if rule.kind == "function":
                raise QueryError(
                    [
                        Diagnostic(
                            "query",
                            f"`{text}` is a function and cannot be queried",
                            None,
                            "query a rule or package that calls it",
                        )
                    ]
                )
            return Query(text, rule, ())
        if any(c.name == path[-1] for c in self.checks.get(path[:-1], ())):
            package = ".".join(path[:-1])
            raise QueryError(
                [
                    Diagnostic(
                        "query",
                        f"`{text}` is a check, and a check is decided with its package",
                        None,
                        f"query `{package}`: the decision lists `{text}` among its checks",
                    )
                ]
            )
        raise QueryError(
            [
                Diagnostic(
                    "query",
                    f"unknown query `{text}`: no package or rule has that name",
                    None,
                    self._suggest(path) or self._examples(),
                )
            ]
        )

    def _examples(self) -> str:
        """What may be queried, named from this bundle: a package with checks, and a rule."""
        package = min((".".join(p) for p, checks in self.checks.items() if checks), default=None)
        rule = min((r for r in self.rules if r not in self.functions), default=None)
        named = []
        if package is not None:
            named.append(f"a package (`{package}`)")
        if rule is not None:
            named.append(f"a rule (`{rule}`)")
        if not named:
            return "this bundle has no package or rule to query"
        return "name " + " or ".join(named)

    def _suggest(self, path: tuple[str, ...]) -> str | None:
        """Within a known package, compare the last name only; else whole names."""
        names = [".".join(p) for p in self.namespaces] + [
            r for r in self.rules if r not in self.functions
        ]
        parent = ".".join(path[:-1])
        if path[:-1] in self.namespaces:
            members = [n[len(parent) + 1 :] for n in names if n.startswith(parent + ".")]
            hint = did_you_mean(path[-1], [m for m in members if "." not in m])
            return hint.replace("`", f"`{parent}.", 1) if hint else None
        return did_you_mean(".".join(path), names)


def check_query_text(text: object) -> None:
    """Raise QueryError for a query that is not text: a caller's `None`, bytes read off a
    queue, or a path as a tuple would otherwise fail deep in resolving it, or be read as the
    name `None`."""
    if isinstance(text, str):
        return
    kind = "None" if text is None else type(text).__name__
    if isinstance(text, bytes | bytearray):
        advice = "decode it first, such as `query.decode()`"
    elif isinstance(text, tuple | list):
        advice = 'join its names with dots, such as `".".join(path)`'
    else:
        advice = "name a package or rule as text, such as `deploy.staging`"
    raise QueryError([Diagnostic("query", f"the query must be a `str`, not {kind}", None, advice)])
