"""What a bundle holds, for a reviewer: identity, signature, packages, checks by severity with
their annotations (title, the controls they evidence, remediation), rules, data keys, schemas,
input schemas, framework catalogues and tests."""

from __future__ import annotations

import re
from typing import Any

from tenet.bundle import Bundle
from tenet.bundle.signing import parse_signature

__all__ = ["render_summary", "summarize"]

SEVERITIES = ("blocking", "warning", "info")
# the annotation keys a summary carries besides `controls`, in the order they are shown
_NOTES = ("title", "description", "owner", "remediation")


def _natural(text: str) -> list[Any]:
    """Sort key reading digit runs as numbers: `art-9` before `art-10`, `a.6.2.8` before
    `a.10.2`."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)
    ]


def _notes(annotations: dict[str, Any]) -> dict[str, Any]:
    """`controls` (always, `[]` when none) and the text annotations a check or rule has."""
    out: dict[str, Any] = {"controls": list(annotations.get("controls") or [])}
    out.update((k, annotations[k]) for k in _NOTES if k in annotations)
    return out


def _signature(bundle: Bundle) -> dict[str, Any] | None:
    if bundle.signature is None:
        return None
    parsed = parse_signature(bundle.signature)
    if isinstance(parsed, str):
        return {"readable": False, "problem": parsed}
    return {
        "readable": True,
        "key_id": parsed.key_id,
        "digest": parsed.digest,
        "matches_digest": parsed.digest == bundle.digest,
    }


def summarize(bundle: Bundle) -> dict[str, Any]:
    """The bundle's contents as a JSON-ready document."""
    program = bundle.program
    checks = sorted((c for cs in program.checks.values() for c in cs), key=lambda c: c.sort_key)
    return {
        "name": bundle.name,
        "version": bundle.version,
        "revision": bundle.info.revision,
        "description": bundle.manifest.description,
        "requires": bundle.manifest.requires,
        "digest": bundle.digest,
        "signature": _signature(bundle),
        "files": len(bundle.files),
        "packages": sorted({".".join(m.package) for m in bundle.modules}),
        "checks": {s: [c.full_id for c in checks if c.severity == s] for s in SEVERITIES},
        "annotations": {c.full_id: _notes(c.annotations) for c in checks},
        "rules": sorted(r for r in program.rules if r not in program.functions),
        "rule_annotations": {
            name: _notes(info.annotations)
            for name, info in sorted(program.rule_infos.items())
            if info.annotations
        },
        "controls": sorted(
            {cid for c in checks for cid in c.annotations.get("controls") or []}, key=_natural
        ),
        "frameworks": {
            key: {"name": cat.name, "source": cat.source, "controls": len(cat.controls)}
            for key, cat in sorted(bundle.frameworks.items())
        },
        "functions": sorted(program.functions),
        "data_keys": sorted(program.data) if isinstance(program.data, dict) else [],
        "schemas": sorted(program.schemas),
        "inputs": dict(sorted(bundle.manifest.inputs.items())),
        "tests": sorted(p for p in bundle.files if p.startswith("tests/")),
    }


def _names(items: list[str]) -> str:
    return ", ".join(items) if items else "none"


def _signature_line(sig: dict[str, Any] | None) -> str:
    if sig is None:
        return "none"
    if not sig["readable"]:
        return f"unreadable ({sig['problem']})"
    state = "this digest" if sig["matches_digest"] else "another digest: files changed since"
    return f"key {sig['key_id'][:16]}…, over {state}"


def _note_lines(note: dict[str, Any] | None, indent: str) -> list[str]:
    """A check's (or rule's) title and controls under its line; nothing when it has neither."""
    if not note:
        return []
    out = [f"{indent}{note['title']}"] if note.get("title") else []
    if note.get("controls"):
        out.append(f"{indent}controls: {', '.join(note['controls'])}")
    return out


def render_summary(s: dict[str, Any]) -> str:
    """The summary as text: each check with its title and controls when it has them (the
    remediation and other annotations are in the JSON form)."""
    checks = s["checks"]
    counts = ", ".join(f"{len(checks[sev])} {sev}" for sev in SEVERITIES)
    lines = [
        f"bundle {s['name']} {s['version']}",
        f"  revision:    {s['revision'] or 'none'}",
        f"  description: {s['description'] or 'none'}",
        f"  requires:    {s['requires'] or 'any engine'}",
        f"  digest:      {s['digest']}",
        f"  signature:   {_signature_line(s['signature'])}",
        f"  files:       {s['files']}",
        f"packages ({len(s['packages'])}): {_names(s['packages'])}",
        f"checks ({sum(len(v) for v in checks.values())}): {counts}",
    ]
    notes = s.get("annotations", {})
    for sev in SEVERITIES:
        for cid in checks[sev]:
            lines.append(f"  {sev:<8}  {cid}")
            lines.extend(_note_lines(notes.get(cid), " " * 14))
    if s.get("controls"):
        lines.append(f"controls claimed ({len(s['controls'])}): {_names(s['controls'])}")
    lines.append(f"rules ({len(s['rules'])}): {_names(s['rules'])}")
    for name, note in s.get("rule_annotations", {}).items():
        lines.append(f"  {name}")
        lines.extend(_note_lines(note, " " * 6))
    lines += [
        f"functions ({len(s['functions'])}): {_names(s['functions'])}",
        f"data keys ({len(s['data_keys'])}): {_names(s['data_keys'])}",
        f"schemas ({len(s['schemas'])}): {_names(s['schemas'])}",
        f"input schemas ({len(s['inputs'])}):" + ("" if s["inputs"] else " none"),
    ]
    lines.extend(f"  {query} → {path}" for query, path in s["inputs"].items())
    if s.get("frameworks"):
        lines.append(f"frameworks ({len(s['frameworks'])}):")
        width = max(len(key) for key in s["frameworks"])
        lines.extend(
            f"  {key:<{width}}  {fw['name']}, {fw['controls']} controls"
            for key, fw in s["frameworks"].items()
        )
    lines.append(f"tests ({len(s['tests'])}): {_names(s['tests'])}")
    return "\n".join(lines)
