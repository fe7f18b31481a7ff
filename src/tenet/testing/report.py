"""Reports of a test run: text for people, JSON for machines, JUnit XML for CI dashboards."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from tenet.escape import printable
from tenet.report import render_text
from tenet.testing.coverage import CoverageReport, render_coverage
from tenet.testing.runner import CaseResult, FileProblem, TestRun

__all__ = ["Threshold", "render_junit", "render_run", "run_to_dict"]


class Threshold:
    """`--threshold N`, or with `checks_only` (`--threshold-checks`) one over the check items
    alone. Coverage is held to it unrounded: 5 of 11 (45.45…%) is below 45.46."""

    def __init__(self, percent: float, checks_only: bool = False) -> None:
        self.percent = percent
        self.checks_only = checks_only

    @property
    def _given(self) -> str:
        """The threshold as written (`90`, `99.99999`): `:g` alone would round it."""
        short = f"{self.percent:g}"
        return short if float(short) == self.percent else repr(self.percent)

    def _ratio(self, coverage: CoverageReport) -> Fraction:
        covered, total = coverage.check_counts if self.checks_only else coverage.counts
        return Fraction(100) if total == 0 else Fraction(100 * covered, total)

    def measured(self, coverage: CoverageReport) -> float:
        """The percentage held to the threshold, unrounded."""
        return float(self._ratio(coverage))

    def _shown(self, coverage: CoverageReport) -> str:
        """The percentage with one decimal, or as many more as it takes not to read as
        meeting a threshold it is below (89.97%, not 90.0%, below 90%)."""
        got = self._ratio(coverage)
        places = 1
        while places < 6 and got < Fraction(self.percent):
            if Fraction(round(float(got), places)) < Fraction(self.percent):
                break
            places += 1
        return f"{float(got):.{places}f}"

    def problem(self, coverage: CoverageReport) -> str | None:
        """A sentence saying how coverage falls short, or None when it meets the threshold."""
        if self._ratio(coverage) >= Fraction(self.percent):
            return None
        what = "check coverage" if self.checks_only else "coverage"
        return f"{what} {self._shown(coverage)}% is below the threshold {self._given}%"

    def verdict(self, coverage: CoverageReport, alone: bool = True) -> str:
        """The report's line on the threshold, met or not, naming what it was held to: with
        `--threshold-checks`, the check items alone, and when it is the only threshold, not
        the total shown above it."""
        problem = self.problem(coverage)
        if problem is not None:
            return f"FAIL {problem}"
        got = self._shown(coverage)
        if self.checks_only:
            total = ", not the total" if alone else ""
            return (
                f"ok    check coverage {got}% meets the threshold {self._given}% "
                f"(--threshold-checks: the check items alone{total})"
            )
        return f"ok    coverage {got}% meets the threshold {self._given}%"

    def to_dict(self, coverage: CoverageReport) -> dict[str, Any]:
        return {
            "percent": self.percent,
            "checks_only": self.checks_only,
            "measured": self.measured(coverage),
            "met": self.problem(coverage) is None,
        }


def _summary(r: CaseResult) -> str:
    if r.status == "error":
        return r.error or "error"
    return "; ".join(m.describe() for m in r.mismatches)


def _entries(run: TestRun) -> list[CaseResult | FileProblem]:
    """Case results and file problems, in file and line order."""
    entries: list[CaseResult | FileProblem] = [*run.results, *run.problems]

    def key(e: CaseResult | FileProblem) -> tuple[str, int]:
        if isinstance(e, FileProblem):
            return e.file, e.line or 0
        return e.case.file, e.case.line or 0

    return sorted(entries, key=key)


def render_run(run: TestRun, verbose: bool = False, thresholds: Sequence[Threshold] = ()) -> str:
    """One line per failing case (`FAIL` with expected and actual values, then the decision's
    explanation indented; `ERROR` for a case that could not run), with `verbose` an `ok`
    line per passing case too, coverage when measured, and the closing `N passed, N failed`."""
    lines: list[str] = []
    for e in _entries(run):
        # a case's name, query or file name is the test file's text: a line break in one
        # must not start a line of its own (`::error` in a CI log), nor an escape be obeyed
        if isinstance(e, FileProblem):
            name = f" {e.name}" if e.name else ""
            lines.append(printable(f"ERROR {e.where}{name}: {e.message}"))
        elif e.passed:
            if verbose:
                lines.append(printable(f"ok    {e.case.where} {e.case.name}"))
        else:
            label = "FAIL " if e.status == "failed" else "ERROR"
            lines.append(printable(f"{label} {e.case.where} {e.case.name}: {_summary(e)}"))
            if e.decision is not None:
                lines.extend("    " + line for line in render_text(e.decision).splitlines())
    if run.coverage is not None:
        lines.append(render_coverage(run.coverage))
        lines.extend(t.verdict(run.coverage, len(thresholds) == 1) for t in thresholds)
    if not run.results and not run.problems:
        lines.append("no test cases found")
    lines.append(f"{run.passed} passed, {run.failed} failed")
    return "\n".join(lines)


def _case_dict(r: CaseResult) -> dict[str, Any]:
    c = r.case
    d: dict[str, Any] = {"file": c.file, "line": c.line, "name": c.name, "query": c.query}
    d["status"] = r.status
    if r.mismatches:
        d["mismatches"] = [m.to_dict() for m in r.mismatches]
    if r.error is not None:
        d["error"] = r.error
    if not r.passed and r.decision is not None:
        d["decision"] = r.decision
    return d


def run_to_dict(run: TestRun, thresholds: Sequence[Threshold] = ()) -> dict[str, Any]:
    """The JSON report: every case with its status (failed ones with their mismatches and
    decision), the files' problems, the counts, and coverage when measured; `threshold` is
    the first threshold, and `threshold_checks` the one on the check items when both are
    given."""
    doc: dict[str, Any] = {
        "bundle": run.bundle.info.to_dict(),
        "files": list(run.files),
        "cases": [_case_dict(r) for r in run.results],
        "problems": [
            {"file": p.file, "line": p.line, "name": p.name, "message": p.message}
            for p in run.problems
        ],
        "passed": run.passed,
        "failed": run.failed,
    }
    if run.coverage is not None:
        doc["coverage"] = run.coverage.to_dict()
        for key, t in zip(_threshold_keys(thresholds), thresholds, strict=True):
            doc[key] = t.to_dict(run.coverage)
    return doc


def _threshold_keys(thresholds: Sequence[Threshold]) -> list[str]:
    """`threshold` for one threshold, as it always was; with two, the second (on the check
    items) is `threshold_checks`."""
    return ["threshold", "threshold_checks"][: len(thresholds)]


# ---- JUnit XML -----------------------------------------------------------------------------------

# characters XML 1.0 cannot hold, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _seconds(s: float) -> str:
    return f"{s:.3f}"


def render_junit(run: TestRun, thresholds: Sequence[Threshold] = ()) -> str:
    """JUnit XML: a `testsuite` per test file, a `testcase` per case, `failure` for a case
    whose decision differs and `error` for one that could not run; with thresholds, one more
    suite `coverage` with a case per threshold that fails when coverage is below it."""
    info = run.bundle.info
    cov = run.coverage
    limits = list(zip(_threshold_keys(thresholds), thresholds, strict=True)) if cov else []
    errors = sum(1 for r in run.results if r.status == "error") + len(run.problems)
    failures = sum(1 for r in run.results if r.status == "failed")
    below = sum(1 for _, t in limits if cov is not None and t.problem(cov) is not None)
    root = ET.Element(
        "testsuites",
        {
            "name": _xml_text(f"tenet test {info.name} {info.version}"),
            "tests": str(len(run.results) + len(run.problems) + len(limits)),
            "failures": str(failures + below),
            "errors": str(errors),
            "time": _seconds(sum(r.seconds for r in run.results)),
        },
    )
    for rel in run.files:
        results = [r for r in run.results if r.case.file == rel]
        problems = [p for p in run.problems if p.file == rel]
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": _xml_text(rel),
                "tests": str(len(results) + len(problems)),
                "failures": str(sum(1 for r in results if r.status == "failed")),
                "errors": str(sum(1 for r in results if r.status == "error") + len(problems)),
                "skipped": "0",
                "time": _seconds(sum(r.seconds for r in results)),
            },
        )
        classname = _xml_text(f"{info.name}.{rel.rsplit('.', 1)[0].replace('/', '.')}")
        for r in results:
            attrs = {"classname": classname, "name": _xml_text(r.case.name), "file": rel}
            if r.case.line:
                attrs["line"] = str(r.case.line)
            attrs["time"] = _seconds(r.seconds)
            tc = ET.SubElement(suite, "testcase", attrs)
            if r.status == "failed":
                failure = ET.SubElement(
                    tc, "failure", {"message": _xml_text(_summary(r)), "type": "mismatch"}
                )
                if r.decision is not None:
                    failure.text = _xml_text(render_text(r.decision))
            elif r.status == "error":
                ET.SubElement(tc, "error", {"message": _xml_text(_summary(r)), "type": "error"})
        for p in problems:
            attrs = {"classname": classname, "name": _xml_text(p.name or rel), "file": rel}
            if p.line:
                attrs["line"] = str(p.line)
            tc = ET.SubElement(suite, "testcase", attrs)
            ET.SubElement(tc, "error", {"message": _xml_text(p.message), "type": "test-file"})
    if limits and cov is not None:
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": "coverage",
                "tests": str(len(limits)),
                "failures": str(below),
                "errors": "0",
                "skipped": "0",
                "time": "0.000",
            },
        )
        props = ET.SubElement(suite, "properties")
        shown = [("coverage.percent", cov.percent), ("coverage.checks_percent", cov.check_percent)]
        shown.extend((f"coverage.{key}", t.percent) for key, t in limits)
        for name, value in shown:
            ET.SubElement(props, "property", {"name": name, "value": f"{value:g}"})
        for key, t in limits:
            tc = ET.SubElement(
                suite,
                "testcase",
                {"classname": f"{_xml_text(info.name)}.coverage", "name": key, "time": "0.000"},
            )
            problem = t.problem(cov)
            if problem is not None:
                ET.SubElement(tc, "failure", {"message": problem, "type": "coverage"})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
