"""What a bundle holds, for a reviewer: identity, signature, packages, checks by severity, rules,
data keys, schemas, input schemas and tests."""

from __future__ import annotations

from typing import Any

from tenet.bundle import Bundle
from tenet.bundle.signing import parse_signature

__all__ = ["render_summary", "summarize"]

SEVERITIES = ("blocking", "warning", "info")


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
        "rules": sorted(r for r in program.rules if r not in program.functions),
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


def render_summary(s: dict[str, Any]) -> str:
    """The summary as text."""
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
    for sev in SEVERITIES:
        lines.extend(f"  {sev:<8}  {cid}" for cid in checks[sev])
    lines += [
        f"rules ({len(s['rules'])}): {_names(s['rules'])}",
        f"functions ({len(s['functions'])}): {_names(s['functions'])}",
        f"data keys ({len(s['data_keys'])}): {_names(s['data_keys'])}",
        f"schemas ({len(s['schemas'])}): {_names(s['schemas'])}",
        f"input schemas ({len(s['inputs'])}):" + ("" if s["inputs"] else " none"),
    ]
    lines.extend(f"  {query} → {path}" for query, path in s["inputs"].items())
    lines.append(f"tests ({len(s['tests'])}): {_names(s['tests'])}")
    return "\n".join(lines)
