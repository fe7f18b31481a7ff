"""Reports of a test run: text for people, JSON for machines, JUnit XML for CI dashboards."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from tenet.escape import printable
from tenet.report import render_text
from tenet.testing.coverage import CoverageReport, render_coverage
from tenet.testing.runner import CaseResult, FileProblem, TestRun

__all__ = ["Threshold", "render_junit", "render_run", "run_to_dict"]


class Threshold:
    """`--threshold N` (with `--threshold-checks`: over the check items alone)."""

    def __init__(self, percent: float, checks_only: bool = False) -> None:
        self.percent = percent
        self.checks_only = checks_only

    def measured(self, coverage: CoverageReport) -> float:
        return coverage.check_percent if self.checks_only else coverage.percent

    def problem(self, coverage: CoverageReport) -> str | None:
        """A sentence saying how coverage falls short, or None when it meets the threshold."""
        got = self.measured(coverage)
        if got >= self.percent:
            return None
        what = "check coverage" if self.checks_only else "coverage"
        return f"{what} {got:.1f}% is below the threshold {self.percent:g}%"

    def verdict(self, coverage: CoverageReport) -> str:
        """The report's line on the threshold, met or not, naming what it was held to: with
        `--threshold-checks`, the check items alone, not the total shown above it."""
        problem = self.problem(coverage)
        if problem is not None:
            return f"FAIL {problem}"
        if self.checks_only:
            return (
                f"ok    check coverage {self.measured(coverage):.1f}% meets the threshold "
                f"{self.percent:g}% (--threshold-checks: the check items alone, not the total)"
            )
        got = self.measured(coverage)
        return f"ok    coverage {got:.1f}% meets the threshold {self.percent:g}%"

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


def render_run(run: TestRun, verbose: bool = False, threshold: Threshold | None = None) -> str:
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
        if threshold is not None:
            lines.append(threshold.verdict(run.coverage))
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


def run_to_dict(run: TestRun, threshold: Threshold | None = None) -> dict[str, Any]:
    """The JSON report: every case with its status (failed ones with their mismatches and
    decision), the files' problems, the counts, and coverage when measured."""
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
        if threshold is not None:
            doc["threshold"] = threshold.to_dict(run.coverage)
    return doc


# ---- JUnit XML -----------------------------------------------------------------------------------

# characters XML 1.0 cannot hold, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _seconds(s: float) -> str:
    return f"{s:.3f}"


def render_junit(run: TestRun, threshold: Threshold | None = None) -> str:
    """JUnit XML: a `testsuite` per test file, a `testcase` per case, `failure` for a case
    whose decision differs and `error` for one that could not run; with a threshold, one more
    suite `coverage` whose case fails when coverage is below it."""
    info = run.bundle.info
    errors = sum(1 for r in run.results if r.status == "error") + len(run.problems)
    failures = sum(1 for r in run.results if r.status == "failed")
    extra = 1 if run.coverage is not None and threshold is not None else 0
    below = bool(extra and run.coverage and threshold and threshold.problem(run.coverage))
    root = ET.Element(
        "testsuites",
        {
            "name": _xml_text(f"tenet test {info.name} {info.version}"),
            "tests": str(len(run.results) + len(run.problems) + extra),
            "failures": str(failures + int(below)),
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
    if extra and run.coverage is not None and threshold is not None:
        cov = run.coverage
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": "coverage",
                "tests": "1",
                "failures": str(int(below)),
                "errors": "0",
                "skipped": "0",
                "time": "0.000",
            },
        )
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("coverage.percent", cov.percent),
            ("coverage.checks_percent", cov.check_percent),
            ("coverage.threshold", threshold.percent),
        ):
            ET.SubElement(props, "property", {"name": name, "value": f"{value:g}"})
        tc = ET.SubElement(
            suite,
            "testcase",
            {"classname": f"{_xml_text(info.name)}.coverage", "name": "threshold", "time": "0.000"},
        )
        problem = threshold.problem(cov)
        if problem is not None:
            ET.SubElement(tc, "failure", {"message": problem, "type": "coverage"})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
