"""The audit report: one self-contained HTML page (inline SVG charts, no scripts, no network)
answering what an auditor asks first about a window of the decision log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from tenet.audit.records import record_time, version_of
from tenet.runtime.clock import format_rfc3339

__all__ = ["Summary", "render_html", "summarize"]

# where a kept input names its model: a request about a model (`model: {model_id: …}`), or a
# model's own record (registration, fairness report, training data)
MODEL_PATHS = ("input.model.model_id", "input.model_id")

OUTCOMES = ("allow", "deny", "error")
COLORS = {"allow": "#2e7d32", "deny": "#c62828", "error": "#ef6c00"}


@dataclass
class Summary:
    since: float
    until: float
    incident: float | None
    decisions: int = 0
    by_day: dict[str, Counter[str]] = field(default_factory=dict)
    violated_checks: Counter[str] = field(default_factory=Counter)
    by_version: dict[str, Counter[str]] = field(default_factory=dict)
    models: Counter[str] = field(default_factory=Counter)
    callers: Counter[str] = field(default_factory=Counter)
    changes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # chain verification

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": format_rfc3339(self.since),
            "until": format_rfc3339(self.until),
            "incident": format_rfc3339(self.incident) if self.incident is not None else None,
            "decisions": self.decisions,
            "by_day": {d: dict(c) for d, c in sorted(self.by_day.items())},
            "violated_checks": dict(self.violated_checks.most_common()),
            "error_rate_by_version": {
                v: {"decisions": sum(c.values()), "errors": c["error"]}
                for v, c in sorted(self.by_version.items())
            },
            "models": dict(self.models.most_common()),
            "callers": dict(self.callers.most_common()),
            "changes_before_incident": self.changes,
            "chain_problems": self.problems,
        }


def summarize(
    records: Iterable[dict[str, Any]],
    since: float,
    until: float,
    incident: float | None = None,
    problems: list[str] | None = None,
) -> Summary:
    s = Summary(since, until, incident, problems=list(problems or []))
    for r in records:
        t = record_time(r)
        if t is None or not since <= t <= until:
            continue
        if r.get("kind") == "configuration_change":
            if incident is None or t <= incident:
                s.changes.append(r)
            continue
        if r.get("kind") != "decision":
            continue
        s.decisions += 1
        outcome = str(r.get("outcome"))
        day = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")
        s.by_day.setdefault(day, Counter())[outcome] += 1
        version = version_of(r.get("bundle") or {})  # builds of one version apart
        s.by_version.setdefault(version, Counter())[outcome] += 1
        for c in (r.get("decision") or {}).get("checks") or []:
            if c.get("status") == "violated":
                s.violated_checks[str(c.get("id"))] += 1
        kept = r.get("input") or {}
        model = next((kept[p] for p in MODEL_PATHS if kept.get(p) is not None), None)
        if model is not None:
            s.models[str(model)] += 1
        s.callers[str(r.get("actor"))] += 1
    s.changes.sort(key=lambda r: str(r.get("time")), reverse=True)
    return s


# ---- HTML --------------------------------------------------------------------------------


def _window_days(since: float, until: float) -> list[str]:
    """Every day of the window, so that the time axis is the window's, quiet days included."""
    first = datetime.fromtimestamp(since, UTC).date()
    last = datetime.fromtimestamp(until, UTC).date()
    span = min((last - first).days, 3660)
    return [(first + timedelta(days=i)).isoformat() for i in range(span + 1)]


def _bars_over_time(by_day: dict[str, Counter[str]], days: list[str]) -> str:
    if not by_day:
        return "<p>No decisions in this window.</p>"
    days = sorted(set(days) | set(by_day))
    width, height, pad = 720, 220, 30
    peak = max(sum(c.values()) for c in by_day.values()) or 1
    step = (width - 2 * pad) / len(days)
    bar = min(48.0, max(1.0, step * 0.8))
    parts = [
        f'<svg role="img" aria-label="decisions per day by outcome" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    parts.append(
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#888"/>'
    )
    for i, day in enumerate(days):
        y = float(height - pad)
        for outcome in OUTCOMES:
            n = by_day.get(day, Counter())[outcome]
            if not n:
                continue
            h = (height - 2 * pad) * n / peak
            y -= h
            parts.append(
                f'<rect x="{pad + i * step:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{COLORS[outcome]}"><title>{escape(day)}: {n} {outcome}</title></rect>'
            )
    parts.append(
        f'<text x="{pad}" y="{height - 8}" font-size="11">{escape(days[0])}</text>'
        f'<text x="{width - pad}" y="{height - 8}" font-size="11" text-anchor="end">'
        f"{escape(days[-1])}</text>"
        f'<text x="{pad}" y="{pad - 10}" font-size="11">{peak} per day at most</text>'
    )
    parts.append("</svg>")
    legend = " ".join(
        f'<span class="key" style="background:{COLORS[o]}"></span>{o}' for o in OUTCOMES
    )
    return "".join(parts) + f'<p class="legend">{legend}</p>'


def _hbars(counts: list[tuple[str, float]], unit: str, color: str = "#1565c0") -> str:
    if not counts:
        return "<p>None.</p>"
    width, row = 720, 22
    peak = max(v for _, v in counts) or 1
    height = row * len(counts) + 4
    parts = [
        f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, v) in enumerate(counts):
        w = 300 * v / peak
        shown = f"{v:.1%}" if unit == "%" else f"{v:g}"
        parts.append(
            f'<text x="0" y="{i * row + 15}" font-size="12">{escape(label[:48])}</text>'
            f'<rect x="330" y="{i * row + 4}" width="{w:.1f}" height="14" fill="{color}"/>'
            f'<text x="{336 + w:.1f}" y="{i * row + 15}" font-size="12">{shown}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    if not rows:
        return "<p>None.</p>"
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:800px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{border-bottom:1px solid #eee;padding:.3rem .5rem;text-align:left}
.ok{color:#2e7d32}.bad{color:#c62828;font-weight:bold}
.key{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem}
.legend{font-size:.85rem}
"""


def render_html(s: Summary, log_url: str) -> str:
    d = s.to_dict()
    chain = (
        '<p class="ok">Every hash chain verifies.</p>'
        if not s.problems
        else '<p class="bad">The log does not verify:</p><ul>'
        + "".join(f"<li>{escape(p)}</li>" for p in s.problems)
        + "</ul>"
    )
    rates = sorted(
        ((v, c["error"] / sum(c.values())) for v, c in s.by_version.items()),
        key=lambda x: -x[1],
    )
    version_rows = [
        (v, str(sum(c.values())), str(c["error"]), f"{c['error'] / sum(c.values()):.1%}")
        for v, c in sorted(s.by_version.items())
    ]
    changes = [
        (
            _shown_time(str(r.get("time"))),
            str(r.get("actor")),
            _change(r.get("event") or {}),
            str(r.get("id")),
        )
        for r in s.changes
    ]
    incident = (
        f"before the incident at {escape(d['incident'])}" if d["incident"] else "in the window"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Tenet audit report to {escape(_shown_time(d["until"]))}</title>
<style>{_STYLE}</style></head>
<body>
<h1>Audit report</h1>
<p>Decision log <code>{escape(log_url)}</code>, from {escape(_shown_time(d["since"]))} to
{escape(_shown_time(d["until"]))}:
{s.decisions} decisions.</p>
{chain}
<h2>Decisions over time, by outcome</h2>
{_bars_over_time(s.by_day, _window_days(s.since, s.until))}
<h2>Most violated checks</h2>
{_hbars([(k, float(v)) for k, v in s.violated_checks.most_common(15)], "n", "#c62828")}
<h2>Error rate by bundle version</h2>
{_hbars(rates, "%", "#ef6c00")}
{_table(("bundle version", "decisions", "errors", "error rate"), version_rows)}
<h2>Most-used models</h2>
{_table(("model", "decisions"), [(k, str(v)) for k, v in s.models.most_common(15)])}
<h2>Callers</h2>
{_table(("caller", "decisions"), [(k, str(v)) for k, v in s.callers.most_common(15)])}
<h2>Changes made {incident}</h2>
{_table(("time", "who", "change", "record"), changes)}
</body></html>
"""


def _change(event: dict[str, Any]) -> str:
    old = event.get("old") or {}
    new = event.get("new") or {}

    return f"{event.get('action', 'change')}: {version_of(old)} → {version_of(new)}"


def _shown_time(text: str) -> str:
    """RFC 3339 to the second, for people."""
    return text[:19] + "Z" if len(text) > 20 else text
