"""Decisions as JUnit XML: one testsuite per input, one testcase per check, for CI test reports."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from tenet.ci.run import Evaluated, Finding, is_rule_query
from tenet.wording import shortened

__all__ = ["render_junit"]

# XML 1.0 cannot hold these characters at all, not even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _el(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, {k: _clean(v) for k, v in attrs.items()})


def _where(item: Evaluated, f: Finding) -> str:
    region = item.region(f.pointer)
    name = "standard input" if item.path == "-" else item.path
    if region is None:
        return f"at {name}, line not known ({item.unlocated(f)})"
    what = f.pointer or "/"
    if not region.exact:
        what = f"{what} is missing from the value here"
    return f"at {name}:{region.start_line}:{region.start_column} ({what})"


def _body(item: Evaluated, f: Finding) -> str:
    lines = [f.message, _where(item, f)]
    if f.kind == "check" and f.policy is not None:
        lines.append(f"check {f.rule_id} at {f.policy}")
    lines.extend(f.details)
    return _clean("\n".join(lines) + "\n")


def _skip_message(c: dict[str, Any]) -> str:
    if c["status"] == "waived":
        w = c.get("waiver") or {}
        return (
            f"waived by {w.get('approved_by')} until {w.get('expires')}: {w.get('reason')}"
            if w
            else "waived"
        )
    conditions = [e["condition"] for e in c.get("evidence", [])]
    return "not applicable" + (f": when {conditions[0]} does not hold" if conditions else "")


def _case_name(c: dict[str, Any]) -> str:
    bindings = c.get("bindings")
    if not bindings:
        return str(c["id"])
    shown = ", ".join(f"{k}={_short(v)}" for k, v in bindings.items())
    return f"{c['id']} [{shown}]"


def _short(v: Any) -> str:
    return shortened(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))


def _suite(root: ET.Element, item: Evaluated) -> dict[str, int]:
    doc = item.decision
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    suite = _el(root, "testsuite", name=item.path)
    props = _el(suite, "properties")
    bundle = doc["bundle"]
    for name, value in (
        ("query", doc["query"]),
        ("outcome", doc["outcome"]),
        ("bundle", f"{bundle['name']} {bundle['version']}"),
        ("bundle_digest", bundle["digest"]),
        ("input_digest", doc["input_digest"]),
        ("decision_id", doc["decision_id"]),
    ):
        _el(props, "property", name=name, value=str(value))
    found = item.findings()
    by_check = {id(f.check): f for f in found if f.check is not None}
    for c in doc["checks"]:
        case = _el(suite, "testcase", name=_case_name(c), classname=item.path, file=item.path)
        counts["tests"] += 1
        f = by_check.get(id(c))
        if f is not None:
            failure = _el(case, "failure", message=f.message, type=f.status + ":" + c["severity"])
            failure.text = _body(item, f)
            counts["failures"] += 1
        elif c["status"] in ("not_applicable", "waived"):
            _el(case, "skipped", message=_skip_message(c))
            counts["skipped"] += 1
    for f in found:
        if f.kind == "check":
            continue
        name = f.rule_id
        if f.kind == "error" and f.pointer is not None:
            name += f" at {f.pointer or '/'}"  # several schema errors: one case each
        case = _el(suite, "testcase", name=name, classname=item.path, file=item.path)
        counts["tests"] += 1
        if f.kind == "rule":
            _el(case, "failure", message=f.message, type="deny").text = _body(item, f)
            counts["failures"] += 1
        else:
            _el(case, "error", message=f.message, type=f.status).text = _body(item, f)
            counts["errors"] += 1
    if is_rule_query(doc) and doc["outcome"] == "allow":
        _el(suite, "testcase", name=doc["query"], classname=item.path, file=item.path)
        counts["tests"] += 1
    for key, n in counts.items():
        suite.set(key, str(n))
    suite.set("time", f"{doc['duration_us'] / 1e6:.6f}")
    suite.set("timestamp", str(doc["evaluated_at"]).removesuffix("Z"))
    return counts


def render_junit(items: list[Evaluated], query: str) -> str:
    """The JUnit XML report of a run: a `testsuites` with one `testsuite` per input."""
    root = ET.Element("testsuites", {"name": _clean(f"tenet eval {query}")})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for item in items:
        for key, n in _suite(root, item).items():
            totals[key] += n
    for key, n in totals.items():
        root.set(key, str(n))
    total_us = sum(item.decision["duration_us"] for item in items)
    root.set("time", f"{total_us / 1e6:.6f}")
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
