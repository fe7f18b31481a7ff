"""A CI run of `tenet eval`: each input with its decision, the findings a report shows of it
(located in the input file), and the verdict of the gate under `--fail-on`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from tenet.escape import printable
from tenet.locate import InputLocator, Region, pointer_of_reference, split_pointer
from tenet.report import _check_lines, _evidence_lines, _value, render_text

__all__ = [
    "FAIL_ON",
    "Evaluated",
    "Finding",
    "PolicyLocation",
    "fails",
    "findings",
    "is_rule_query",
    "parse_location",
    "render_text_all",
    "verdict_line",
]

FAIL_ON = ("blocking", "warning", "never")

# SARIF's levels; GitHub's annotations map them to error, warning and notice
LEVEL_OF_SEVERITY = {"blocking": "error", "warning": "warning", "info": "note"}


@dataclass(frozen=True, slots=True)
class PolicyLocation:
    """A place in the bundle: a file relative to its root, and a line and column when known."""

    file: str
    line: int | None = None
    column: int | None = None
    fragment: str | None = None  # a JSON pointer into the file, for a schema rule

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file if self.fragment is None else f"{self.file}#{self.fragment}"


_LOCATION = re.compile(r"^(?P<file>.+):(?P<line>[0-9]+):(?P<column>[0-9]+)$")


def parse_location(location: str | None) -> PolicyLocation | None:
    """`deploy/gates.tenet:8:1`, or a schema rule `schemas/x.json#/required`, as a place in the
    bundle; None for `<input>`, `<policy>` and the like."""
    if not location or location.startswith("<"):
        return None
    m = _LOCATION.match(location)
    if m is not None:
        return PolicyLocation(m["file"], int(m["line"]), int(m["column"]))
    file, _, fragment = location.partition("#")
    return PolicyLocation(file, fragment=fragment if _ else None)


@dataclass
class Evaluated:
    """One input of the run: its path as given (`-` is standard input), text, and decision."""

    path: str
    text: str
    decision: dict[str, Any]
    is_json: bool = False
    input: Any = None  # the parsed input: it lets a `forbid` finding point at the bound member
    _regions: dict[str, Region | None] = field(default_factory=dict, repr=False)

    def findings(self) -> list[Finding]:
        """The decision's findings, each `forbid` one pointing at its binding when it can."""
        out = findings(self.decision)
        if self.input is None:
            return out
        return [self._refined(f) for f in out]

    def _refined(self, f: Finding) -> Finding:
        bindings = (f.check or {}).get("bindings")
        if not bindings or f.pointer is None:
            return f
        return replace(f, pointer=_bound_member(self.input, f.pointer, bindings))

    @cached_property
    def _locator(self) -> InputLocator:
        return InputLocator(self.text, self.is_json)

    def region(self, pointer: str | None) -> Region | None:
        """Where the value at ``pointer`` is written in the input; None when unknown."""
        if pointer is None:
            return None
        if pointer not in self._regions:
            self._regions[pointer] = self._locator.region(pointer)
        return self._regions[pointer]

    def unlocated(self, f: Finding) -> str | None:
        """Why a finding has no line in its input, said in its message; None when it has one.
        A report then points at the file alone: line 1 would be a guess (and may be a
        comment)."""
        if self.region(f.pointer) is not None:
            return None
        if f.pointer is None:
            # a condition that reads a rule (`code_gaps`), not an input field, or an error
            return "the input value could not be located: the evidence names no input field"
        return f"the input value {f.pointer or '/'} could not be located in the text"

    def lines(self, f: Finding) -> list[str]:
        """A finding's message, why it has no line (when it has none), and its details."""
        unlocated = self.unlocated(f)
        return [f.message, *([unlocated] if unlocated else []), *f.details]


@dataclass(frozen=True)
class Finding:
    """Something a CI report shows: a violated or error check, a rule query that denies, or an
    error of the decision that no check carries (such as an input that fails its schema)."""

    kind: str  # "check", "rule" or "error"
    rule_id: str  # the check id, the queried rule, or `tenet/<error code>`
    level: str  # "error", "warning" or "note"
    status: str  # the check's status, "deny" for a rule, the error code for an error
    message: str
    details: tuple[str, ...]  # the text report's lines under it: title, evidence, remediation
    pointer: str | None  # the input value it is about
    policy: PolicyLocation | None  # the check, the rule's definition, or the error's place
    condition: str | None = None  # the condition that decided it, and where it is
    condition_at: PolicyLocation | None = None
    check: dict[str, Any] | None = None
    severity: str | None = None

    @property
    def title(self) -> str:
        return f"{self.rule_id} ({self.severity})" if self.severity else self.rule_id


def is_rule_query(doc: dict[str, Any]) -> bool:
    return "explanation" in doc or not doc["defined"] or doc["result"] is not None


def fails(doc: dict[str, Any], fail_on: str) -> bool:
    """Whether the decision fails the gate: `blocking` on a deny or an error (any unwaived
    blocking violation, or a rule that does not hold), `warning` also on a violated warning,
    `never` not at all."""
    if fail_on == "never":
        return False
    if doc["outcome"] != "allow":
        return True
    return fail_on == "warning" and any(
        c["status"] == "violated" and c["severity"] == "warning" for c in doc["checks"]
    )


def findings(doc: dict[str, Any]) -> list[Finding]:
    """What the decision reports, in the document's order: checks, then the rule, then errors."""
    out = [_check_finding(c) for c in doc["checks"] if c["status"] in ("violated", "error")]
    if is_rule_query(doc) and doc["outcome"] == "deny":
        out.append(_rule_finding(doc))
    for e in doc["errors"]:
        if "check" not in e:
            out.append(_error_finding(e))
    return out


def _pointer(evidence: list[dict[str, Any]]) -> str | None:
    """The input value the evidence is about: a missing reference, else one it read, looking
    at the condition that decided first (the last) and then at those before it; within a
    failed `every`, at the conditions of the element it failed for first."""
    for e in reversed(evidence):
        failed = e.get("failed_element")
        if failed is not None:
            inner = _pointer(failed.get("evidence", [])) or _element_pointer(e, failed)
            if inner is not None:
                return inner
        for ref in e.get("undefined", []):
            p = pointer_of_reference(ref)
            if p is not None:
                return p
        paths = e.get("input_paths") or []
        if paths:
            return str(paths[0])
    return None


def _element_pointer(every: dict[str, Any], failed: dict[str, Any]) -> str | None:
    """Within a failed `every` over an input collection, the element it failed for: where a
    reference through the element's name is missing (`m.card.owner`), that place in it."""
    paths = every.get("input_paths") or []
    step = failed.get("index", failed.get("key"))
    if not paths or step is None:
        return None
    base = f"{paths[0]}/{str(step).replace('~', '~0').replace('/', '~1')}"
    names = [n for n, v in (failed.get("bindings") or {}).items() if isinstance(v, dict | list)]
    for inner in reversed(failed.get("evidence", [])):
        for ref in inner.get("undefined", []):
            for name in names:
                found = pointer_of_reference(ref, name, base)
                if found is not None:
                    return found
    return base


def _check_finding(c: dict[str, Any]) -> Finding:
    evidence = c.get("evidence", [])
    last = evidence[-1] if evidence else None
    if c["status"] == "error":
        level, message = "error", f"evaluation error: {c.get('error') or 'unknown'}"
    else:
        level = LEVEL_OF_SEVERITY[c["severity"]]
        message = c.get("message") or f"{c['id']} is violated"
    return Finding(
        kind="check",
        rule_id=c["id"],
        level=level,
        status=c["status"],
        message=message,
        details=tuple(line.removeprefix("      ") for line in _check_lines(c)[1:]),
        pointer=_pointer(evidence),
        policy=parse_location(c["location"]),
        condition=last["condition"] if last else None,
        condition_at=parse_location(last["location"]) if last else None,
        check=c,
        severity=c["severity"],
    )


def _rule_finding(doc: dict[str, Any]) -> Finding:
    query = doc["query"]
    exp = doc.get("explanation") or {"definitions": [], "default_used": False}
    failed = [d for d in exp["definitions"] if not d["held"]]
    evidence = failed[0]["evidence"] if failed else []
    last = evidence[-1] if evidence else None
    details: list[str] = []
    for d in failed:
        details.append(f"definition at {d['location']} did not hold")
        details.extend(_evidence_lines(d["evidence"], "  "))
    if exp.get("default_used"):
        details.append("no definition held: the default applies")
    shown = _value(doc["result"]) if doc["defined"] else "undefined"
    return Finding(
        kind="rule",
        rule_id=query,
        level="error",
        status="deny",
        message=f"{query} is {shown}",
        details=tuple(details),
        pointer=_pointer(evidence),
        policy=parse_location(failed[0]["location"]) if failed else None,
        condition=last["condition"] if last else None,
        condition_at=parse_location(last["location"]) if last else None,
    )


def _error_finding(e: dict[str, Any]) -> Finding:
    path = e.get("path")
    where = e["location"] if path is None else f"input {path or '/'} ({e['location']})"
    return Finding(
        kind="error",
        rule_id=f"tenet/{e['code']}",
        level="error",
        status=e["code"],
        message=e["message"],
        details=(f"error [{e['code']}] at {where}",),
        pointer=e.get("path"),
        policy=parse_location(e["location"]),
    )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _bound_member(doc: Any, pointer: str, bindings: dict[str, Any]) -> str:
    """For a `forbid` that iterated over the collection at ``pointer``, the pointer of the
    member its bindings name: the key or the element (the first that matches)."""
    try:
        value = doc
        for token in split_pointer(pointer):
            value = value[int(token)] if isinstance(value, list) else value[token]
    except (LookupError, ValueError, TypeError):
        return pointer
    bound = {_canonical(v) for v in bindings.values()}
    if isinstance(value, dict):
        members = [k for k in value if _canonical(k) in bound]
        members += [k for k, v in value.items() if _canonical(v) in bound]
    elif isinstance(value, list):
        members = [str(i) for i, v in enumerate(value) if _canonical(v) in bound]
    else:
        return pointer
    if not members:
        return pointer
    return pointer + "/" + str(members[0]).replace("~", "~0").replace("/", "~1")


def verdict_line(doc: dict[str, Any]) -> str:
    """The text report's last line: `DENY: 1 blocking, ...` or `DENY: access.allow is false`."""
    return render_text(doc).splitlines()[-1]


def render_text_all(items: list[Evaluated]) -> str:
    """The text report of several inputs: each under a `== path` line, then a tally."""
    blocks = [f"== {printable(item.path)}\n{render_text(item.decision)}" for item in items]
    outcomes = [item.decision["outcome"] for item in items]
    tally = ", ".join(f"{outcomes.count(o)} {o}" for o in ("allow", "deny", "error"))
    return "\n\n".join(blocks) + f"\n\n{len(items)} inputs: {tally}"
