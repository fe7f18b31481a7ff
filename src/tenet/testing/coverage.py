"""Coverage of policy tests: which definitions, checks and conditions the cases evaluated, and
which outcomes they reached, counted branch-like (a check never violated is uncovered)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tenet.compiler.bodies import Body, Cont
from tenet.compiler.expressions import Fn
from tenet.escape import printable
from tenet.source import Span, display_width
from tenet.syntax import ast
from tenet.wording import shortened

__all__ = ["CoverageReport", "FileCoverage", "Recorder", "coverage_report", "render_coverage"]

Key = tuple[str, int, int]  # file, line, column of a definition, statement or check


def _key(span: Span) -> Key:
    return span.path, span.line, span.column


class Recorder:
    """A `tenet.compiler.probe.Probe` that remembers what ran; one recorder is shared by
    every variant of a bundle compiled for a test run, so items merge by source position."""

    def __init__(self) -> None:
        self.statements: set[Key] = set()  # statements evaluated
        self.statements_held: set[Key] = set()
        self.definitions: set[Key] = set()  # definitions evaluated (constants: their value)
        self.held: set[Key] = set()  # definitions whose body held for some binding
        self.not_held: set[Key] = set()  # ... did not hold, or that rule indexing excluded
        self.checks: dict[str, set[str]] = {}  # full check id -> statuses seen

    # ---- the probe ---------------------------------------------------------------------------

    def statement(
        self, stmt: ast.Statement, make: Callable[[Body], Body]
    ) -> Callable[[Body], Body]:
        key = _key(stmt.span)
        evaluated, held = self.statements, self.statements_held

        def wrapped(nxt: Body) -> Body:
            def after(ctx: Any, fr: list[Any], k: Cont) -> bool:
                held.add(key)
                return nxt(ctx, fr, k)

            run = make(after)

            def before(ctx: Any, fr: list[Any], k: Cont) -> bool:
                evaluated.add(key)
                return run(ctx, fr, k)

            return before

        return wrapped

    def definition(self, rule: ast.Rule, body: Body) -> Body:
        key = _key(rule.span)
        evaluated, held, not_held = self.definitions, self.held, self.not_held

        def run(ctx: Any, fr: list[Any], k: Cont) -> bool:
            hit = False

            def seen(ctx: Any, fr: list[Any]) -> bool:
                nonlocal hit
                hit = True
                return k(ctx, fr)

            evaluated.add(key)
            result = body(ctx, fr, seen)  # an evaluation error leaves the outcome unseen
            (held if hit else not_held).add(key)
            return result

        return run

    def constant(self, span: Span, value: Fn) -> Fn:
        key = _key(span)
        evaluated = self.definitions

        def run(ctx: Any, fr: list[Any]) -> Any:
            evaluated.add(key)
            return value(ctx, fr)

        return run

    # ---- decisions ---------------------------------------------------------------------------

    def observe(self, doc: dict[str, Any]) -> None:
        """Record the check outcomes of one decision document."""
        for c in doc.get("checks", ()):
            self.checks.setdefault(c["id"], set()).add(c["status"])


# ---- the report ------------------------------------------------------------------------------


@dataclass
class Item:
    """One counted thing: a check, a rule definition, or (uncounted) a condition."""

    kind: str  # check, definition, constant, default, condition
    name: str  # the check's or rule's name, or the condition's text
    line: int
    column: int
    seen: dict[str, bool]  # outcome -> reached (e.g. passed, violated)
    counted: tuple[str, ...]  # the outcomes that count towards the percentage
    text: str = ""  # the line of source it is on

    @property
    def covered(self) -> int:
        return sum(1 for o in self.counted if self.seen[o])

    @property
    def total(self) -> int:
        return len(self.counted)

    def missing(self) -> list[str]:
        return [o for o in self.counted if not self.seen[o]]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "name": self.name, "line": self.line}
        d["column"] = self.column
        d.update(self.seen)
        if self.counted:
            d["covered"] = self.covered
            d["total"] = self.total
        return d


def _percent(covered: int, total: int) -> float:
    return 100.0 if total == 0 else round(100.0 * covered / total, 1)


@dataclass
class FileCoverage:
    file: str
    items: list[Item] = field(default_factory=list)

    def _count(self, kinds: Iterable[str] | None = None) -> tuple[int, int]:
        chosen = [i for i in self.items if kinds is None or i.kind in kinds]
        return sum(i.covered for i in chosen), sum(i.total for i in chosen)

    @property
    def counts(self) -> tuple[int, int]:
        return self._count()

    @property
    def check_counts(self) -> tuple[int, int]:
        return self._count(("check",))

    def uncovered(self) -> list[Item]:
        """Items with an outcome never reached, and conditions never evaluated."""
        out = []
        for i in self.items:
            if i.missing() or (i.kind == "condition" and not i.seen["evaluated"]):
                out.append(i)
        return out

    def to_dict(self) -> dict[str, Any]:
        covered, total = self.counts
        ccovered, ctotal = self.check_counts
        return {
            "file": self.file,
            "covered": covered,
            "total": total,
            "percent": _percent(covered, total),
            "checks": {"covered": ccovered, "total": ctotal, "percent": _percent(ccovered, ctotal)},
            "uncovered_lines": sorted({i.line for i in self.uncovered()}),
            "items": [i.to_dict() for i in self.items],
        }


@dataclass
class CoverageReport:
    files: list[FileCoverage]

    def _sum(self, pick: Callable[[FileCoverage], tuple[int, int]]) -> tuple[int, int]:
        pairs = [pick(f) for f in self.files]
        return sum(c for c, _ in pairs), sum(t for _, t in pairs)

    @property
    def counts(self) -> tuple[int, int]:
        return self._sum(lambda f: f.counts)

    @property
    def check_counts(self) -> tuple[int, int]:
        return self._sum(lambda f: f.check_counts)

    @property
    def percent(self) -> float:
        return _percent(*self.counts)

    @property
    def check_percent(self) -> float:
        return _percent(*self.check_counts)

    def to_dict(self) -> dict[str, Any]:
        covered, total = self.counts
        ccovered, ctotal = self.check_counts
        return {
            "covered": covered,
            "total": total,
            "percent": self.percent,
            "checks": {"covered": ccovered, "total": ctotal, "percent": self.check_percent},
            "files": [f.to_dict() for f in self.files],
        }


def _statements(body: ast.Body) -> Iterable[ast.Statement]:
    for s in body.statements:
        yield s
        if isinstance(s, ast.EveryIn):
            yield from _statements(s.body)


def _condition(s: ast.Statement, rec: Recorder) -> Item:
    key = _key(s.span)
    text = " ".join(s.span.text().split())
    seen = {"evaluated": key in rec.statements, "held": key in rec.statements_held}
    return Item("condition", text, s.span.line, s.span.column, seen, ())


def coverage_report(modules: Sequence[ast.Module], rec: Recorder) -> CoverageReport:
    """Every definition, check and condition of the modules, with what the recorder saw."""
    files: list[FileCoverage] = []
    for module in sorted(modules, key=lambda m: m.span.path):
        fc = FileCoverage(module.span.path)
        source = module.span.source
        for d in module.definitions:
            key = _key(d.span)
            match d:
                case ast.Check():
                    full_id = ".".join((*module.package, d.name))
                    statuses = rec.checks.get(full_id, set())
                    seen = {
                        "passed": "passed" in statuses,
                        "violated": bool(statuses & {"violated", "waived"}),
                        "not_applicable": "not_applicable" in statuses,
                        "error": "error" in statuses,
                    }
                    fc.items.append(
                        Item("check", d.name, d.span.line, d.span.column, seen, _CHECK_OUTCOMES)
                    )
                    fc.items.extend(_condition(s, rec) for s in _statements(d.body))
                case ast.Rule(body=ast.Body() as body):
                    seen = {
                        "evaluated": key in rec.definitions,
                        "held": key in rec.held,
                        "not_held": key in rec.not_held,
                    }
                    item = Item("definition", d.name, d.span.line, d.span.column, seen, _BRANCHES)
                    fc.items.append(item)
                    fc.items.extend(_condition(s, rec) for s in _statements(body))
                case ast.Rule():
                    seen = {"evaluated": key in rec.definitions}
                    item = Item("constant", d.name, d.span.line, d.span.column, seen, _ONCE)
                    fc.items.append(item)
                case ast.DefaultRule():
                    seen = {"evaluated": key in rec.definitions}
                    item = Item("default", d.name, d.span.line, d.span.column, seen, _ONCE)
                    fc.items.append(item)
        for item in fc.items:
            item.text = source.line_text(item.line)
        fc.items.sort(key=lambda i: (i.line, i.column))
        files.append(fc)
    return CoverageReport(files)


_CHECK_OUTCOMES = ("passed", "violated")
_BRANCHES = ("held", "not_held")
_ONCE = ("evaluated",)

_WHAT = {
    ("check", "passed"): "never passed",
    ("check", "violated"): "never violated",
    ("definition", "held"): "never held",
    ("definition", "not_held"): "never failed to hold",
    ("constant", "evaluated"): "never evaluated",
    ("default", "evaluated"): "never used",
}


def _reason(item: Item) -> str:
    if item.kind == "condition":
        return f"condition `{shortened(item.name)}` never evaluated"
    what = {"check": "check", "definition": "rule", "constant": "rule", "default": "default"}
    missing = item.missing()
    if item.kind == "check" and len(missing) == 2:
        reached = [o.replace("_", " ") for o in ("not_applicable", "error") if item.seen[o]]
        missing_text = (
            f"never passed or violated (only {' and '.join(reached)})"
            if reached
            else "never evaluated"
        )
    elif item.kind == "definition" and len(missing) == 2:
        missing_text = "never evaluated"
    else:
        missing_text = ", ".join(_WHAT[(item.kind, m)] for m in missing)
    return f"{what[item.kind]} `{item.name}` {missing_text}"


def _never_ran(item: Item) -> bool:
    if item.kind == "check":
        return not any(item.seen.values())
    if item.kind == "definition":
        return not (item.seen["evaluated"] or item.seen["not_held"])
    return not item.seen["evaluated"]


def render_coverage(report: CoverageReport) -> str:
    """The text report: a line per file with its counts, then each line of policy holding
    something not covered, marked `✗` (nothing on it covered) or `!` (partly covered)."""
    lines = ["coverage:"]
    for f in report.files:
        covered, total = f.counts
        ccovered, ctotal = f.check_counts
        lines.append(
            f"  {f.file}  {covered}/{total} ({_percent(covered, total):.1f}%), "
            f"checks {ccovered}/{ctotal} ({_percent(ccovered, ctotal):.1f}%)"
        )
        by_line: dict[int, list[Item]] = {}
        for item in f.uncovered():
            by_line.setdefault(item.line, []).append(item)
        width = len(str(max(by_line, default=0)))
        for line in sorted(by_line):
            items = by_line[line]
            mark = "✗" if all(_never_ran(i) for i in items) else "!"
            text = items[0].text.rstrip()
            lines.append(f"    {line:>{width}} {mark} {printable(text)}")
            # a caret under each thing not covered, as `check` places one: the line may hold
            # several conditions, and which one was never evaluated is the point
            by_column: dict[int, list[Item]] = {}
            for item in items:
                by_column.setdefault(item.column, []).append(item)
            for column in sorted(by_column):
                at = display_width(printable(text[: column - 1]))
                reasons = "; ".join(_reason(i) for i in by_column[column])
                lines.append(f"    {' ' * width}   {' ' * at}^ {reasons}")
    covered, total = report.counts
    ccovered, ctotal = report.check_counts
    lines.append(
        f"total: {covered}/{total} items ({report.percent:.1f}%), "
        f"checks {ccovered}/{ctotal} ({report.check_percent:.1f}%)"
    )
    return "\n".join(lines)
