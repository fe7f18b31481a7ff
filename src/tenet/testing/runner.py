"""`tenet test`: read a bundle's test files, decide every case against the bundle (or a
variant of it compiled with the case's data overrides), and compare with its expectations."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from tenet.analysis import check
from tenet.bundle import Bundle
from tenet.compiler import compile_program
from tenet.decision import canonical_json
from tenet.diagnostics import PolicyError, QueryError, did_you_mean
from tenet.locate import unreadable
from tenet.runtime.values import type_name
from tenet.testing.coverage import CoverageReport, Recorder, coverage_report
from tenet.testing.expect import Mismatch, compare_case, malformed_expect, unknown_expect_keys
from tenet.utf8 import NotUtf8, decode_utf8
from tenet.yamlutil import DocumentError, check_document, load_yaml_with_nodes

__all__ = [
    "CaseResult",
    "FileProblem",
    "OverrideError",
    "TestCase",
    "TestRun",
    "apply_data",
    "override_path",
    "read_test_file",
    "run_tests",
    "test_files",
]

FILE_KEYS = ("name", "data", "cases")
CASE_KEYS = ("name", "query", "input", "now", "data", "expect")
_NOT_FOR_TESTS = {
    "files": "a bundle's tests take their policies from the bundle; remove `files`",
    "load_error_cases": "`tenet test` runs decisions only; test load errors with `tenet check`",
}


@dataclass(frozen=True)
class TestCase:
    """One case of a test file, as written (its `data` is the file's and its own, merged)."""

    __test__ = False  # not a pytest class

    file: str
    index: int
    name: str
    line: int | None
    query: str
    input: Any
    now: Any
    data: Mapping[str, Any] | None
    expect: Mapping[str, Any]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class FileProblem:
    """A test file, or one case of it, that cannot be run as written: counted as a failure."""

    file: str
    message: str
    line: int | None = None
    name: str | None = None  # the case's name, when the problem is one case

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class CaseResult:
    case: TestCase
    status: str  # passed, failed, error
    mismatches: list[Mismatch] = field(default_factory=list)
    decision: dict[str, Any] | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class TestRun:
    """Everything a report needs: the bundle, each case's result, unreadable files."""

    __test__ = False

    bundle: Bundle
    files: list[str]
    results: list[CaseResult] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    coverage: CoverageReport | None = None

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed) + len(self.problems)


def test_files(bundle: Bundle) -> list[str]:
    """The bundle's test files: YAML under `tests/` (any depth), in path order."""
    return sorted(
        rel for rel in bundle.files if rel.startswith("tests/") and rel.endswith((".yaml", ".yml"))
    )


# ---- reading test files ----------------------------------------------------------------------


def _unknown_keys(doc: Mapping[str, Any], allowed: Sequence[str], what: str) -> list[str]:
    out = []
    for key in doc:
        if key in _NOT_FOR_TESTS:
            out.append(f"`{key}` is not part of a bundle test file: {_NOT_FOR_TESTS[key]}")
        elif key not in allowed:
            hint = did_you_mean(str(key), allowed)
            out.append(f"unknown {what} key `{key}`" + (f": {hint}" if hint else ""))
    return out


def read_test_file(rel: str, raw: bytes) -> tuple[list[TestCase], list[FileProblem]]:
    """The cases of one test file, and what is wrong with it (each problem fails the run)."""
    try:
        text = decode_utf8(raw)
        doc, nodes = load_yaml_with_nodes(text)
        check_document(doc)
    except NotUtf8 as bad:
        message = f"the test file is not UTF-8 text: {bad.where()}; save it as UTF-8"
        return [], [FileProblem(rel, message, bad.line)]
    except (yaml.YAMLError, RecursionError) as err:
        why = unreadable(text, False, err)
        message = f"the test file is not valid YAML: {why.message}"
        message += f" ({why.help})" if why.help else ""
        at = why.position(text)
        return [], [FileProblem(rel, message, at[0] if at is not None else None)]
    except (DocumentError, ValueError) as err:
        return [], [FileProblem(rel, f"the test file cannot be read: {err}")]
    if not isinstance(doc, dict):
        return [], [FileProblem(rel, "a test file holds a mapping with `cases`")]
    problems = [FileProblem(rel, m) for m in _unknown_keys(doc, FILE_KEYS, "test file")]
    file_data = doc.get("data")
    if file_data is not None and not isinstance(file_data, dict):
        problems.append(FileProblem(rel, "`data` must be a mapping of data paths to values"))
        file_data = None
    cases_doc = doc.get("cases")
    if not isinstance(cases_doc, list) or not cases_doc:
        problems.append(FileProblem(rel, "a test file needs a non-empty list `cases`"))
        return [], problems
    cases_node = nodes["cases"][1]
    lines = [n.start_mark.line + 1 for n in getattr(cases_node, "value", ())]
    cases: list[TestCase] = []
    for i, c in enumerate(cases_doc):
        line = lines[i] if i < len(lines) else None
        name = (
            str(c.get("name")) if isinstance(c, dict) and c.get("name") is not None else f"#{i + 1}"
        )

        if not isinstance(c, dict):
            problems.append(
                FileProblem(rel, "a case is a mapping with `query` and `expect`", line, name)
            )
            continue
        found = _unknown_keys(c, CASE_KEYS, "case")
        if not isinstance(c.get("query"), str) or not c["query"]:
            found.append("a case needs `query`: a package or rule")
        expect = c.get("expect")
        if not isinstance(expect, dict):
            found.append("a case needs `expect`: a mapping of what the decision must show")
        elif not expect:
            found.append(
                "`expect: {}` tests nothing: say what the decision must show "
                "(`outcome: allow`, `violated: []`, …)"
            )
        else:
            found.extend(unknown_expect_keys(expect))
            found.extend(malformed_expect(expect))
        case_data = c.get("data")
        if case_data is not None and not isinstance(case_data, dict):
            found.append("`data` must be a mapping of data paths to values")
        if found:
            problems.append(FileProblem(rel, "; ".join(found), line, name))
            continue
        data = _merge_overrides(file_data, case_data)
        inp = c.get("input")
        cases.append(
            TestCase(
                rel,
                i,
                name,
                line,
                c["query"],
                {} if inp is None else inp,
                c.get("now"),
                data,
                expect,  # type: ignore[arg-type]
            )
        )
    return cases, problems


def _merge_overrides(
    a: Mapping[str, Any] | None, b: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """The file's overrides, then the case's, as one override."""
    if not a:
        return b or None
    if not b:
        return a
    out: dict[str, Any] = {}
    for over in (a, b):
        for key, value in over.items():
            out[key] = _deep_merge(out[key], value) if key in out else value
    return out


# ---- data overrides ----------------------------------------------------------------------------


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _deep_merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


class OverrideError(ValueError):
    """A data override whose path is malformed or leads where the bundle's data has nothing."""


# a key as in a policy: a name up to the next `.` or `[`, or `["any text"]` (a JSON string)
_BARE_KEY = re.compile(r'[^.\["\]]+')
_QUOTED_KEY = re.compile(r'\[("(?:[^"\\]|\\.)*")\]')


def override_path(key: str) -> list[str]:
    """The keys a data override names: `a.b.c`, or with a key that holds a `.` or a bracket,
    `licenses["cc-by-4.0"]`; a leading `data.` is optional. Raises OverrideError."""
    keys: list[str] = []
    pos = 0
    while pos < len(key):
        quoted = _QUOTED_KEY.match(key, pos)
        if quoted is not None:
            keys.append(json.loads(quoted.group(1)))
            pos = quoted.end()
            continue
        if pos > 0 and key[pos] == ".":
            pos += 1
        bare = _BARE_KEY.match(key, pos) if pos == 0 or key[pos - 1] == "." else None
        if bare is None:
            raise OverrideError(
                f"`{key}` is not a data path: write keys joined by `.`, and a key that holds "
                '`.`, `[` or `"` as `["…"]`, like `licenses["cc-by-4.0"]`'
            )
        keys.append(bare.group())
        pos = bare.end()
    if len(keys) > 1 and keys[0] == "data" and not key.startswith("["):
        keys = keys[1:]
    if not keys:
        raise OverrideError("an empty key is no data path")
    return keys


def _shown(keys: Sequence[str]) -> str:
    """A key path as `data.a.b["c.d"]`."""
    return "data" + "".join(
        f".{k}" if k and not set(k) & set('.["] ') else f"[{json.dumps(k)}]" for k in keys
    )


def apply_data(data: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """The bundle's data with an override applied, as OPA's `with data.x as …`: each key is a
    path into `data` (see `override_path`); its value replaces the value there, merging deeply
    where both are mappings, and may add a key to a mapping the data has. Every key before
    the last must be in the data and hold a mapping: else the override would mock a place no
    policy reads (a typo, a key holding a `.`), and OverrideError says so. `data` itself is
    not changed."""
    out: dict[str, Any] = copy.deepcopy(dict(data))
    for key, value in override.items():
        path = override_path(str(key))
        target = out
        for n, part in enumerate(path[:-1]):
            nxt = target.get(part)
            if not isinstance(nxt, dict):
                raise OverrideError(_missed(key, path, n, target))
            target = nxt
        last = path[-1]
        target[last] = _deep_merge(target[last], value) if last in target else value
    return out


_KINDS = {"string": "a string", "number": "a number", "boolean": "a boolean", "null": "null"}
_KINDS["array"] = "a list"


def _missed(key: str, path: list[str], n: int, target: dict[str, Any]) -> str:
    """Why the override `key` cannot go through `path[n]` of the mapping `target`."""
    at = _shown(path[: n + 1])
    if path[n] in target:
        what = _KINDS.get(type_name(target[path[n]]), "a value")
        return f"override `{key}`: `{at}` is {what}, not a mapping the override could go into"
    hint = ""
    for end in range(len(path), n + 1, -1):  # `cc-by-4` `0` for the key `cc-by-4.0`
        joined = ".".join(path[n:end])
        if joined in target:
            hint = f": did you mean `{_shown([*path[:n], joined, *path[end:]])}`?"
            hint += " A key that holds a `.` is written in brackets"
            break
    else:
        keys = {str(k) for k in target}
        near = did_you_mean(path[n], keys)
        found = next((k for k in keys if near == did_you_mean(path[n], [k])), None)
        hint = f": did you mean `{_shown([*path[:n], found])}`?" if near and found else ""
    return f"override `{key}`: the bundle's data has no `{at}`{hint}"


# ---- running -----------------------------------------------------------------------------------


class _Variants:
    """The bundle compiled once per distinct data override (and once more with a probe)."""

    def __init__(self, bundle: Bundle, probe: Recorder | None) -> None:
        self.bundle = bundle
        self.probe = probe
        self.cache: dict[bytes, Bundle | PolicyError] = {}

    def get(self, override: Mapping[str, Any] | None) -> Bundle:
        if override is None and self.probe is None:
            return self.bundle
        key = canonical_json(override or {})
        found = self.cache.get(key)
        if found is None:
            data = self.bundle.program.data
            if override:
                data = apply_data(data, override)
            try:
                found = self._compile(data)
            except PolicyError as err:
                found = err
            self.cache[key] = found
        if isinstance(found, PolicyError):
            raise found
        return found

    def _compile(self, data: Any) -> Bundle:
        analysis, diags = check(self.bundle.modules, data)
        errors = [d for d in diags if d.severity == "error"]
        if errors:
            raise PolicyError(errors)
        program = compile_program(analysis, self.bundle.program.schemas, None, self.probe)
        return dataclasses.replace(self.bundle, program=program)


def _run_case(case: TestCase, variants: _Variants, probe: Recorder | None) -> CaseResult:
    start = time.perf_counter()
    try:
        bundle = variants.get(case.data)
    except OverrideError as err:
        return CaseResult(case, "error", error=str(err))
    except PolicyError as err:
        messages = "; ".join(d.message for d in err.diagnostics)
        return CaseResult(case, "error", error=f"the data override does not load: {messages}")
    try:
        decision = bundle.decide(case.query, case.input, now=case.now)
    except QueryError as err:
        d = err.diagnostics[0]
        text = d.message + (f" ({d.help})" if d.help else "")
        return CaseResult(case, "error", error=text, seconds=time.perf_counter() - start)
    except ValueError as err:
        return CaseResult(case, "error", error=str(err), seconds=time.perf_counter() - start)
    doc = decision.to_dict()
    if probe is not None:
        probe.observe(doc)
    mismatches = compare_case(dict(case.expect), doc)
    status = "failed" if mismatches else "passed"
    return CaseResult(case, status, mismatches, doc, seconds=time.perf_counter() - start)


def run_tests(
    bundle: Bundle,
    files: Mapping[str, bytes] | None = None,
    coverage: bool = False,
) -> TestRun:
    """Run the cases of `files` (relative name -> content; by default the bundle's own test
    files) against `bundle`; with `coverage`, also record what the cases evaluated."""
    if files is None:
        files = {rel: bundle.files[rel] for rel in test_files(bundle)}
    probe = Recorder() if coverage else None
    variants = _Variants(bundle, probe)
    run = TestRun(bundle, sorted(files))
    for rel in run.files:
        cases, problems = read_test_file(rel, files[rel])
        run.problems.extend(problems)
        for case in cases:
            run.results.append(_run_case(case, variants, probe))
    if probe is not None:
        run.coverage = coverage_report(bundle.modules, probe)
    return run
