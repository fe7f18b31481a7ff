"""Expectations on a decision document, compared the way the conformance cases define them;
shared by the conformance suite and `tenet test`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tenet.diagnostics import Diagnostic, did_you_mean
from tenet.runtime.values import equal

__all__ = [
    "EXPECT_KEYS",
    "Mismatch",
    "compare",
    "compare_case",
    "json_equal",
    "load_errors_match",
    "malformed_expect",
    "unknown_expect_keys",
]

# status in the decision -> the `expect` key naming the set of check ids with it
_STATUS_KEYS = (
    ("violated", "violated"),
    ("passed", "passed"),
    ("not_applicable", "not_applicable"),
    ("waived", "waived"),
    ("error", "errored"),
)

EXPECT_KEYS = (
    "outcome",
    "allowed",
    "result",
    "defined",
    *(key for _, key in _STATUS_KEYS),
    "messages",
    "evidence",
    "undefined",
    "error_contains",
    "controls",
    "remediation",
)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One expectation that the decision does not meet: what was expected and what it has."""

    key: str
    expected: Any
    actual: Any
    detail: str = ""  # e.g. the check id an expectation is about
    # said instead of `got …` when there is no actual value: `null` would read as one
    absent: str | None = None
    # said instead of `expected X, got Y` when the mismatch is no pair of values
    says: str | None = None

    def describe(self) -> str:
        """`key: expected X, got Y` on one line, values as JSON."""
        where = f"{self.key} {self.detail}" if self.detail else self.key
        if self.says is not None:
            return f"{where}: {self.says}"
        got = self.absent if self.absent is not None else f"got {_show(self.actual)}"
        return f"{where}: expected {_show(self.expected)}, {got}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"key": self.key, "expected": self.expected, "actual": self.actual}
        if self.detail:
            d["detail"] = self.detail
        if self.absent is not None:
            d["absent"] = self.absent
        if self.says is not None:
            d["says"] = self.says
        return d


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values with the language's number equality (`1 == 1.0`)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return equal(a, b)


def unknown_expect_keys(expect: dict[str, Any]) -> list[str]:
    """`unknown expect key `x`` messages (with a suggestion) for keys no comparison reads."""
    out = []
    for key in expect:
        if key not in EXPECT_KEYS:
            hint = did_you_mean(str(key), EXPECT_KEYS)
            out.append(f"unknown expect key `{key}`" + (f": {hint}" if hint else ""))
    return out


def _texts(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _by_check(of: Any) -> Any:
    return lambda v: isinstance(v, dict) and all(of(x) for x in v.values())


# an expect key -> whether a value has the shape the comparison reads, and that shape: a
# string where a list is meant would be compared letter by letter, and pass or fail for
# nothing to do with the policy
_SHAPES: dict[str, tuple[Any, str]] = {
    "outcome": (lambda v: isinstance(v, str), "a string (`allow`, `deny`, `error`)"),
    "allowed": (lambda v: isinstance(v, bool), "`true` or `false`"),
    "defined": (lambda v: isinstance(v, bool), "`true` or `false`"),
    **{key: (_texts, "a list of check ids (`[]` for none)") for _, key in _STATUS_KEYS},
    "messages": (_texts, "a list of messages"),
    "evidence": (_by_check(lambda v: isinstance(v, dict)), "check id -> {reference: value}"),
    "undefined": (_texts, "a list of references"),
    "error_contains": (lambda v: isinstance(v, str), "a string"),
    "controls": (_by_check(_texts), "check id -> a list of control ids"),
    "remediation": (_by_check(lambda v: isinstance(v, str)), "check id -> its remediation text"),
}


def malformed_expect(expect: dict[str, Any]) -> list[str]:
    """Messages (`` `violated` must be a list of check ids ``) for known keys whose value has
    another shape than the comparison reads."""
    out = []
    for key, value in expect.items():
        shape = _SHAPES.get(key)
        if shape is not None and not shape[0](value):
            out.append(f"`{key}` must be {shape[1]}, not {_show(value)}")
    return out


def _all_evidence(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = [e for c in doc["checks"] for e in c.get("evidence", [])]
    for d in doc.get("explanation", {}).get("definitions", []):
        out.extend(d["evidence"])
    return out


def compare(
    expect: dict[str, Any], doc: dict[str, Any], undefined_is_null: bool = True
) -> list[Mismatch]:
    """Every way the decision document `doc` differs from `expect`; [] when it meets it.
    Only the keys `expect` gives are compared (see the conformance README). Without
    `undefined_is_null`, `result` (even `null`) is only met by a defined value."""
    out: list[Mismatch] = []
    for key in ("outcome", "allowed", "defined"):
        if key in expect and doc[key] != expect[key]:
            out.append(Mismatch(key, expect[key], doc[key]))
    if "result" in expect:
        if not undefined_is_null and not doc["defined"]:
            why = "but the decision is an error" if doc["errors"] else "but the rule is undefined"
            out.append(Mismatch("result", expect["result"], None, absent=why))
        elif not json_equal(doc["result"], expect["result"]):
            out.append(Mismatch("result", expect["result"], doc["result"]))
    for status, key in _STATUS_KEYS:
        if key in expect:
            ids = sorted({c["id"] for c in doc["checks"] if c["status"] == status})
            want = expect[key]
            if set(ids) != set(want):
                out.append(Mismatch(key, sorted(want), ids))
    if "messages" in expect:
        messages = [c["message"] for c in doc["checks"] if c["status"] == "violated"]
        if messages != expect["messages"]:
            out.append(Mismatch("messages", expect["messages"], messages))
    for check_id, refs in (expect.get("evidence") or {}).items():
        values: dict[str, list[Any]] = {}
        has_check = False
        for c in doc["checks"]:
            if c["id"] == check_id:
                has_check = True
                for e in c.get("evidence", []):
                    for k, v in e.get("values", {}).items():
                        values.setdefault(k, []).append(v)
        for ref, want in refs.items():
            seen = values.get(ref, [])
            if not any(json_equal(v, want) for v in seen):
                actual = seen[0] if len(seen) == 1 else (seen or None)
                absent = None
                if not has_check:
                    absent = "but the decision has no such check"
                elif not seen:
                    absent = "but it is not in the check's evidence (never evaluated, or undefined)"
                out.append(Mismatch("evidence", want, actual, f"{check_id} `{ref}`", absent))
    if "undefined" in expect:
        seen_undefined = sorted({u for e in _all_evidence(doc) for u in e.get("undefined", [])})
        missing = [ref for ref in expect["undefined"] if ref not in seen_undefined]
        if missing:
            out.append(Mismatch("undefined", expect["undefined"], seen_undefined))
    if "error_contains" in expect:
        texts = [json.dumps(e, ensure_ascii=False) for e in doc["errors"]]
        plain = [json.dumps(e) for e in doc["errors"]]
        # and each message as written: one quoting a value (`"stage" is a required
        # property`) would otherwise have to be matched with its quotes escaped
        messages = [str(e.get("message", "")) for e in doc["errors"]]
        want_text = expect["error_contains"]
        if not any(want_text in t for t in (*texts, *plain, *messages)):
            out.append(
                Mismatch("error_contains", want_text, [e.get("message") for e in doc["errors"]])
            )
    for check_id, controls in (expect.get("controls") or {}).items():
        found = [c["controls"] for c in doc["checks"] if c["id"] == check_id]
        if not found or any(x != controls for x in found):
            out.append(Mismatch("controls", controls, found[0] if found else None, check_id))
    for check_id, text in (expect.get("remediation") or {}).items():
        found = [c.get("remediation") for c in doc["checks"] if c["id"] == check_id]
        if not found or any(x != text for x in found):
            out.append(Mismatch("remediation", text, found[0] if found else None, check_id))
    return out


def _expects_error(expect: dict[str, Any]) -> bool:
    if expect.get("outcome") == "error" or "error_contains" in expect:
        return True
    return bool(expect.get("errored"))


def compare_case(expect: dict[str, Any], doc: dict[str, Any]) -> list[Mismatch]:
    """`compare` as `tenet test` reads a case: a decision that is an error fails unless the
    case expects an error (`outcome: error`, `error_contains`, a check in `errored`), since
    `violated: []` or `allowed: false` would otherwise pass on a policy that errs on the
    very input tested; and `result` is never met by an undefined rule."""
    out = compare(expect, doc, undefined_is_null=False)
    if doc["errors"] and not _expects_error(expect):
        errors = "; ".join(f"{e['code']} at {e['location']}: {e['message']}" for e in doc["errors"])
        says = (
            f"the decision is an error: {errors} (if it should be, expect `outcome: error` or "
            "`error_contains`)"
        )
        out.insert(0, Mismatch("errors", [], doc["errors"], says=says))
    return out


# ---- load errors -----------------------------------------------------------------------------


def _matches(diag: Diagnostic, want: dict[str, Any]) -> bool:
    if "file" in want and diag.path != want["file"]:
        return False
    if "line" in want and diag.line != want["line"]:
        return False
    contains = want.get("contains", [])
    if isinstance(contains, str):
        contains = [contains]
    text = diag.render()
    return all(str(c) in text for c in contains)


def load_errors_match(wants: Sequence[dict[str, Any]], diags: Sequence[Diagnostic]) -> bool:
    """Whether each expected error is matched by a distinct reported one (a small
    backtracking search over `{file, line, contains}` patterns)."""

    def assign(i: int, used: frozenset[int]) -> bool:
        if i == len(wants):
            return True
        return any(
            j not in used and _matches(d, wants[i]) and assign(i + 1, used | {j})
            for j, d in enumerate(diags)
        )

    return assign(0, frozenset())
