"""Decisions as text a person reads in a CI log: one line per check, evidence under failures,
a one-line verdict."""

from __future__ import annotations

import json
from typing import Any

from tenet.escape import printable
from tenet.wording import count

__all__ = ["printable", "render_text"]

_MARKS = {"passed": "✓", "violated": "✗", "error": "✗", "not_applicable": "~", "waived": "~"}


def _value(v: Any) -> str:
    # JSON escapes C0, but not DEL, C1 or U+2028
    text = printable(json.dumps(v, ensure_ascii=False))
    return text if len(text) <= 80 else text[:77] + "..."


def _evidence_lines(evidence: list[dict[str, Any]], indent: str) -> list[str]:
    lines: list[str] = []
    for e in evidence:
        mark = (
            "error"
            if "error" in e
            else {True: "held", False: "failed", None: "undefined"}[e.get("holds")]
        )
        lines.append(f"{indent}{mark}: {e['condition']}  ({e['location']})")
        for ref, v in e.get("values", {}).items():
            lines.append(f"{indent}  {ref} = {_value(v)}")
        for ref in e.get("undefined", []):
            lines.append(f"{indent}  {ref} is undefined")
        failed = e.get("failed_element")
        if failed is not None:
            lines.extend(_failed_element_lines(failed, indent + "  "))
        if "error" in e:
            lines.append(f"{indent}  {e['error']}")
    return [printable(line) for line in lines]


def _failed_element_lines(failed: dict[str, Any], indent: str) -> list[str]:
    """Where a failed `every` first failed, and the inner conditions there (its variables,
    as bound there, are among the values above)."""
    kind = next(k for k in ("index", "key", "member") if k in failed)
    shown = failed[kind] if kind == "index" else _value(failed[kind])
    lines = [f"{indent}first element that fails: {kind} {shown}"]
    lines.extend(_evidence_lines(failed["evidence"], indent + "  "))
    return lines


def _check_lines(c: dict[str, Any]) -> list[str]:
    status = c["status"]
    mark = _MARKS[status]
    label = {
        "passed": "passed",
        "violated": "violated",
        "error": "error",
        "not_applicable": "n/a",
        "waived": "waived",
    }[status]
    head = f"{mark} {c['severity']:<8} {label:<8} {c['id']}"
    if status in ("violated", "waived") and c.get("message"):
        head += f": {c['message']}"
    elif status == "error" and c.get("error"):
        head += f": {c['error']}"
    lines = [head]
    if status in ("violated", "error"):
        if c.get("title"):
            lines.append(f"      {c['title']}")
        lines.extend(_evidence_lines(c.get("evidence", []), "      "))
        if c.get("remediation"):
            lines.append(f"      remediation: {c['remediation']}")
    elif status == "waived" and c.get("waiver"):
        w = c["waiver"]
        lines.append(f"      waived by {w['approved_by']} until {w['expires']}: {w['reason']}")
    elif status == "passed":
        lines.extend(_evidence_lines(c.get("evidence", []), "      "))  # with --explain full
    elif status == "not_applicable":
        for e in c.get("evidence", []):
            lines.append(f"      when: {e['condition']} does not hold")
    # a message or waiver reason may quote input text: it must not start a line of its own
    return [printable(line) for line in lines]


def _summary_line(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    v = s["violated"]
    parts = [
        f"{v['blocking']} blocking",
        f"{v['warning']} warning",
        f"{v['info']} info violated",
        f"{s['passed']} passed",
        f"{s['not_applicable']} not applicable",
        f"{s['waived']} waived",
        count(s["errors"], "error"),
    ]
    return ", ".join(parts)


def render_text(doc: dict[str, Any]) -> str:
    """The text form of a decision document."""
    bundle = doc["bundle"]
    digest = bundle["digest"].removeprefix("sha256:")[:12]
    lines = [f"{doc['query']} · bundle {bundle['name']} {bundle['version']} ({digest})"]
    verdict = doc["outcome"].upper()
    if "explanation" in doc or (doc["result"] is not None and not doc["checks"]):
        shown = _value(doc["result"]) if doc["defined"] else "undefined"
        lines.append(f"  {doc['query']} = {shown}")
        exp = doc.get("explanation")
        if exp:
            for d in exp["definitions"]:
                state = "held" if d["held"] else "did not hold"
                lines.append(f"  definition at {d['location']} {state}")
                lines.extend(_evidence_lines(d["evidence"], "    "))
            if exp["not_evaluated"]:
                lines.append(f"  {exp['not_evaluated']} more definition(s) not evaluated")
            if exp["default_used"]:
                lines.append("  no definition held: the default applies")
    else:
        for c in doc["checks"]:
            lines.extend("  " + line for line in _check_lines(c))
        if not doc["checks"] and not doc["errors"]:
            # allowed, as the spec says, but a gate that checks nothing must not pass unseen
            lines.append(
                f"  no check in `{doc['query']}` or its packages: nothing was checked "
                f"(a rule's value is read by querying the rule, e.g. `{doc['query']}.allow`)"
            )
    for e in doc["errors"]:
        path = e.get("path")
        # the pointer of the whole input is "", written `/` as the schema messages write it
        where = e["location"] if path is None else path or "/"
        lines.append(f"  error [{e['code']}] at {where}: {e['message']}")
    if doc["checks"] or not doc.get("explanation"):
        lines.append(f"{verdict}: {_summary_line(doc)}")
    else:
        lines.append(
            f"{verdict}: {doc['query']} is {_value(doc['result'])}"
            if doc["defined"]
            else f"{verdict}: {doc['query']} is undefined"
        )
    return "\n".join(printable(line) for line in lines)
