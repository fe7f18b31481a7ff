"""The evidence pack: per control of one framework, the checks that evidence it, what
happened under them in a window of the decision log (passed, violated, waived), the waivers
in force, and the most recent decisions with their ids, bundle versions and chain hashes, so
that a reader can go from a control to the exact decision record."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from tenet.audit.records import record_time, version_of
from tenet.compliance.matrix import build_matrix
from tenet.runtime.clock import format_rfc3339
from tenet.wording import count

if TYPE_CHECKING:
    from tenet.bundle import Bundle

__all__ = ["ControlEvidence", "Pack", "build_pack", "render_pack_html"]

RECENT = 5
# what a check's result counts as; `error` too: a check that could not be evaluated is not
# evidence of a control working, and must not vanish from the pack
STATUSES = ("passed", "violated", "waived", "error")
COLORS = {"passed": "#2e7d32", "violated": "#c62828", "waived": "#6a1b9a", "error": "#ef6c00"}


@dataclass
class ControlEvidence:
    id: str
    title: str
    reference: str
    description: str
    checks: list[str]
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # check -> status -> n
    waivers: list[dict[str, Any]] = field(default_factory=list)
    # the waivers the window's decisions were waived by, as their records say, with how many
    # decisions each waived and under which bundle: an earlier version's waiver, expired or
    # removed since, is not among `waivers` in force
    applied: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)

    def totals(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for c in self.counts.values():
            out.update(c)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "reference": self.reference,
            "description": self.description,
            "checks": [
                {"id": c, **{s: self.counts.get(c, Counter())[s] for s in STATUSES}}
                for c in self.checks
            ],
            "totals": {s: self.totals()[s] for s in STATUSES},
            "waivers": self.waivers,
            "waivers_applied": self.applied,
            "recent_decisions": self.recent,
        }


@dataclass
class Pack:
    framework: str
    title: str
    source: str
    bundle: dict[str, Any]
    since: float
    until: float
    decisions: int
    chain_ok: bool
    chain_problems: list[str]
    controls: list[ControlEvidence]
    records: dict[str, dict[str, Any]]  # id -> the record facts the pack links to
    other_bundles: dict[str, int] = field(default_factory=dict)  # decisions left out, by bundle
    # this bundle's decisions in the window by the version that made them (`version_of`)
    versions: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "title": self.title,
            "source": self.source,
            "bundle": self.bundle,
            "since": format_rfc3339(self.since),
            "until": format_rfc3339(self.until),
            "decisions": self.decisions,
            "other_bundles": self.other_bundles,
            "versions": self.versions,
            "chain_verifies": self.chain_ok,
            "chain_problems": self.chain_problems,
            "controls": [c.to_dict() for c in self.controls],
            "gaps": [c.id for c in self.controls if not c.checks],
            "records": self.records,
        }


def _waivers(bundle: Bundle, check_ids: list[str], now: float) -> list[dict[str, Any]]:
    out = []
    for check_id in check_ids:
        for w in bundle.program.waivers.get(check_id, []):
            if now < w.expires_at:
                out.append({"check": check_id, **w.to_dict()})
    return out


def build_pack(
    bundle: Bundle,
    framework: str,
    records: Iterable[dict[str, Any]],
    since: float,
    until: float,
    chain_problems: list[str],
) -> Pack:
    """Raises KeyError when the bundle has no catalogue named `framework`."""
    matrix = build_matrix(bundle, framework)
    catalogue = bundle.frameworks[framework]
    controls = [
        ControlEvidence(c.id, c.title, c.reference, c.description, checks)
        for c, checks in matrix.rows
    ]
    by_check: dict[str, list[ControlEvidence]] = {}
    for ev in controls:
        for check_id in ev.checks:
            by_check.setdefault(check_id, []).append(ev)
            ev.counts.setdefault(check_id, Counter())
        ev.waivers = _waivers(bundle, ev.checks, until)
    linked: dict[str, dict[str, Any]] = {}
    decisions = 0
    window = []
    others: Counter[str] = Counter()  # decisions of other bundles, by name: not this pack's
    for r in records:
        t = record_time(r) if r.get("kind") == "decision" else None
        if t is None or not since <= t <= until:
            continue
        name = str((r.get("bundle") or {}).get("name"))
        if name == bundle.info.name:  # every version of this bundle
            window.append(r)
        else:
            others[name] += 1
    window.sort(key=lambda r: str(r.get("time")), reverse=True)
    versions: Counter[str] = Counter()
    applied: dict[tuple[int, str], dict[str, Any]] = {}
    for r in window:
        decisions += 1
        version = version_of(r.get("bundle") or {})
        versions[version] += 1
        seen: dict[int, str] = {}
        for c in (r.get("decision") or {}).get("checks") or []:
            status = str(c.get("status"))
            for ev in by_check.get(str(c.get("id")), []):
                ev.counts[str(c["id"])][status] += 1
                if status == "waived":
                    _applied(applied, ev, str(c["id"]), c.get("waiver"), version)
                if status in STATUSES and id(ev) not in seen:
                    seen[id(ev)] = status
                    if len(ev.recent) < RECENT:
                        ev.recent.append(_recent(r, str(c["id"]), status))
                        linked[str(r["id"])] = _facts(r)
    return Pack(
        framework,
        catalogue.name,
        catalogue.source,
        bundle.info.to_dict(),
        since,
        until,
        decisions,
        not chain_problems,
        chain_problems,
        controls,
        linked,
        dict(sorted(others.items())),
        dict(versions.most_common()),
    )


def _applied(
    applied: dict[tuple[int, str], dict[str, Any]],
    ev: ControlEvidence,
    check_id: str,
    waiver: Any,
    version: str,
) -> None:
    """Count a decision waived under `waiver` (as its record gives it) in the control's list."""
    w = waiver if isinstance(waiver, dict) else {}
    fields = {k: w.get(k) for k in ("approved_by", "reason", "expires")}
    key = (id(ev), json.dumps([check_id, fields, version], sort_keys=True, default=str))
    found = applied.get(key)
    if found is None:
        found = applied[key] = {"check": check_id, **fields, "bundle": version, "decisions": 0}
        ev.applied.append(found)
    found["decisions"] += 1


def others_note(pack: Pack) -> str:
    """What the pack left out: decisions of other bundles in the same log."""
    if not pack.other_bundles:
        return ""
    n = sum(pack.other_bundles.values())
    names = ", ".join(f"{name} ({k})" for name, k in pack.other_bundles.items())
    return f"{count(n, 'decision')} of other bundles left out: {names}"


def _versions_html(pack: Pack) -> str:
    """The versions that made the window's decisions, when another than the one reported
    on did: its checks and waivers may differ from those listed here."""
    current = version_of(pack.bundle)
    if set(pack.versions) <= {current}:
        return ""
    rows = "".join(
        f"<li><code>{escape(v)}</code>: {count(n, 'decision')}"
        + (" (the bundle reported on)" if v == current else "")
        + "</li>"
        for v, n in pack.versions.items()
    )
    return (
        "<p>The decisions were made by more than this build of the bundle; each recent "
        "decision and record below names its own:</p><ul>" + rows + "</ul>"
    )


def _others_html(pack: Pack) -> str:
    note = others_note(pack)
    return f" ({escape(note)})" if note else ""


def _recent(r: dict[str, Any], check_id: str, status: str) -> dict[str, Any]:
    bundle = r.get("bundle") or {}
    return {
        "record": r.get("id"),
        "time": r.get("time"),
        "check": check_id,
        "status": status,
        "outcome": r.get("outcome"),
        "bundle_version": version_of(bundle),
        "hash": r.get("hash"),
    }


def _facts(r: dict[str, Any]) -> dict[str, Any]:
    bundle = r.get("bundle") or {}
    return {
        "id": r.get("id"),
        "class": r.get("class"),
        "seq": r.get("seq"),
        "time": r.get("time"),
        "query": r.get("query"),
        "outcome": r.get("outcome"),
        "actor": r.get("actor"),
        "bundle": f"{bundle.get('name')} {bundle.get('version')} ({bundle.get('digest')})",
        "prev": r.get("prev"),
        "hash": r.get("hash"),
    }


# ---- HTML --------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:900px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0}
td,th{border-bottom:1px solid #eee;padding:.25rem .4rem;text-align:left;vertical-align:top}
code{font-size:.8rem;word-break:break-all}.ok{color:#2e7d32}.bad{color:#c62828;font-weight:bold}
.gap{color:#c62828}.muted{color:#666}
"""


def _bar(totals: Counter[str]) -> str:
    n = sum(totals[s] for s in STATUSES)
    width = 300
    if not n:
        return '<span class="muted">no decisions in the window</span>'
    parts = [
        f'<svg role="img" width="{width + 260}" height="18" viewBox="0 0 {width + 260} 18" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    x = 0.0
    for s in STATUSES:
        w = width * totals[s] / n
        if w:
            parts.append(
                f'<rect x="{x:.1f}" y="2" width="{w:.1f}" height="14" fill="{COLORS[s]}">'
                f"<title>{totals[s]} {s}</title></rect>"
            )
        x += w
    label = ", ".join(f"{totals[s]} {s}" for s in STATUSES)
    parts.append(f'<text x="{width + 6}" y="14" font-size="11">{escape(label)}</text></svg>')
    return "".join(parts)


def _control_html(ev: ControlEvidence) -> str:
    anchor = escape(ev.id.replace("/", "-"))
    head = (
        f'<h2 id="{anchor}">{escape(ev.id)}: {escape(ev.title)}</h2>'
        f'<p class="muted">{escape(" — ".join(x for x in (ev.reference, ev.description) if x))}</p>'
    )
    if not ev.checks:
        return head + '<p class="gap">Gap: no check evidences this control.</p>'
    rows = "".join(
        f"<tr><td><code>{escape(c)}</code></td>"
        + "".join(f"<td>{ev.counts.get(c, Counter())[s]}</td>" for s in STATUSES)
        + "</tr>"
        for c in ev.checks
    )
    checks = (
        "<table><thead><tr><th>check</th>"
        + "".join(f"<th>{s}</th>" for s in STATUSES)
        + f"</tr></thead><tbody>{rows}</tbody></table>"
    )
    waivers = (
        "<p>Waivers in force:</p><table><thead><tr><th>check</th><th>approved by</th>"
        "<th>reason</th><th>expires</th></tr></thead><tbody>"
        + "".join(
            f"<tr><td><code>{escape(w['check'])}</code></td><td>{escape(w['approved_by'])}</td>"
            f"<td>{escape(w['reason'])}</td><td>{escape(w['expires'])}</td></tr>"
            for w in ev.waivers
        )
        + "</tbody></table>"
        if ev.waivers
        else '<p class="muted">No waiver in force.</p>'
    )
    applied = (
        "<p>Waivers the window's decisions were waived by, as recorded:</p><table><thead><tr>"
        "<th>check</th><th>approved by</th><th>reason</th><th>expires</th><th>bundle</th>"
        "<th>decisions</th></tr></thead><tbody>"
        + "".join(
            f"<tr><td><code>{escape(w['check'])}</code></td>"
            + "".join(f"<td>{escape(str(w[k]))}</td>" for k in ("approved_by", "reason", "expires"))
            + f"<td><code>{escape(w['bundle'])}</code></td><td>{w['decisions']}</td></tr>"
            for w in ev.applied
        )
        + "</tbody></table>"
        if ev.applied
        else ""
    )
    recent = (
        "<p>Most recent decisions:</p><table><thead><tr><th>time</th><th>record</th>"
        "<th>check</th><th>status</th><th>bundle</th><th>chain hash</th></tr></thead><tbody>"
        + "".join(
            f"<tr><td>{escape(str(d['time'])[:19])}Z</td>"
            f'<td><a href="#rec-{escape(str(d["record"]))}">{escape(str(d["record"]))}</a></td>'
            f"<td><code>{escape(d['check'])}</code></td><td>{escape(d['status'])}</td>"
            f"<td>{escape(d['bundle_version'])}</td>"
            f"<td><code>{escape(str(d['hash'])[:23])}…</code></td></tr>"
            for d in ev.recent
        )
        + "</tbody></table>"
        if ev.recent
        else ""
    )
    return head + _bar(ev.totals()) + checks + waivers + applied + recent


def render_pack_html(pack: Pack, log_url: str) -> str:
    d = pack.to_dict()
    chain = (
        '<p class="ok">The audit chain verifies.</p>'
        if pack.chain_ok
        else '<p class="bad">The audit chain does NOT verify:</p><ul>'
        + "".join(f"<li>{escape(p)}</li>" for p in pack.chain_problems)
        + "</ul>"
    )
    gaps = d["gaps"]
    index = "".join(
        f'<li><a href="#{escape(c.id.replace("/", "-"))}">{escape(c.id)}</a> {escape(c.title)}'
        + (' <span class="gap">(gap)</span>' if not c.checks else "")
        + "</li>"
        for c in pack.controls
    )
    records = "".join(
        f'<tr id="rec-{escape(str(r["id"]))}"><td><code>{escape(str(r["id"]))}</code></td>'
        f"<td>{escape(str(r['class']))} #{escape(str(r['seq']))}</td>"
        f"<td>{escape(str(r['time']))}</td><td>{escape(str(r['query']))}</td>"
        f"<td>{escape(str(r['outcome']))}</td><td>{escape(str(r['actor']))}</td>"
        f"<td><code>{escape(str(r['bundle']))}</code></td>"
        f"<td><code>{escape(str(r['prev']))}</code></td><td><code>{escape(str(r['hash']))}</code></td>"
        "</tr>"
        for r in pack.records.values()
    )
    bundle = pack.bundle
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Evidence pack: {escape(pack.title)}</title><style>{_STYLE}</style></head>
<body>
<h1>Evidence pack: {escape(pack.title)}</h1>
<p>Framework <code>{escape(pack.framework)}</code> (<code>{escape(pack.source)}</code>).
Bundle {escape(str(bundle["name"]))} {escape(str(bundle["version"]))}
(<code>{escape(str(bundle["digest"]))}</code>).
Decision log <code>{escape(log_url)}</code> from {escape(d["since"][:19])}Z to
{escape(d["until"][:19])}Z: {pack.decisions} decisions of this bundle{_others_html(pack)}.</p>
{_versions_html(pack)}
{chain}
<p>{len(pack.controls) - len(gaps)} of {len(pack.controls)} controls are evidenced by a check
({count(len(gaps), "gap")}).</p>
<ul>{index}</ul>
{"".join(_control_html(c) for c in pack.controls)}
<h2 id="records">Decision records</h2>
<p class="muted">Each record holds the hash of the one before it in its retention class;
<code>tenet audit verify</code> checks every link.</p>
<table><thead><tr><th>record</th><th>class #</th><th>time</th><th>query</th><th>outcome</th>
<th>caller</th><th>bundle</th><th>prev hash</th><th>hash</th></tr></thead>
<tbody>{records}</tbody></table>
</body></html>
"""
