"""The controls × checks matrix: for each control of a bundle's framework catalogues, the
checks that evidence it (through their `#@ controls` annotations), and the gaps."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tenet.compliance.catalogue import Catalogue, Control
from tenet.wording import count

if TYPE_CHECKING:
    from tenet.bundle import Bundle

__all__ = ["Matrix", "build_matrix", "render_csv", "render_text"]


@dataclass
class Matrix:
    catalogues: list[Catalogue]
    rows: list[tuple[Control, list[str]]]  # every control, with the checks evidencing it
    unknown: dict[str, list[str]] = field(default_factory=dict)  # claimed, in no catalogue
    unannotated: list[str] = field(default_factory=list)  # checks claiming no control

    @property
    def gaps(self) -> list[Control]:
        return [c for c, checks in self.rows if not checks]

    def to_dict(self) -> dict[str, Any]:
        return {
            "frameworks": [
                {"name": c.key, "title": c.name, "source": c.source} for c in self.catalogues
            ],
            "controls": [{**control.to_dict(), "checks": checks} for control, checks in self.rows],
            "gaps": [c.id for c in self.gaps],
            "unknown_controls": self.unknown,
            "checks_without_controls": self.unannotated,
        }


def check_controls(bundle: Bundle) -> dict[str, list[str]]:
    """Every check's full id and the control ids its annotations claim."""
    out: dict[str, list[str]] = {}
    for checks in bundle.program.checks.values():
        for c in checks:
            out[c.full_id] = list(c.annotations.get("controls") or [])
    return dict(sorted(out.items()))


def build_matrix(bundle: Bundle, framework: str | None = None) -> Matrix:
    """Raises KeyError naming the framework when the bundle has no such catalogue."""
    catalogues = [bundle.frameworks[framework]] if framework else list(bundle.frameworks.values())
    claimed = check_controls(bundle)
    by_control: dict[str, list[str]] = {}
    for check_id, controls in claimed.items():
        for cid in controls:
            by_control.setdefault(cid, []).append(check_id)
    known = {cid for cat in bundle.frameworks.values() for cid in cat.controls}
    rows = [
        (control, by_control.get(control.id, []))
        for cat in sorted(catalogues, key=lambda c: c.key)
        for control in cat.controls.values()
    ]
    unknown = {
        cid: checks
        for cid, checks in sorted(by_control.items())
        if cid not in known and (framework is None or cid.startswith(framework + "/"))
    }
    unannotated = [cid for cid, controls in claimed.items() if not controls]
    return Matrix(catalogues, rows, unknown, unannotated)


def render_text(m: Matrix) -> str:
    lines: list[str] = []
    for cat in m.catalogues:
        lines.append(f"{cat.name} ({cat.key}) — {cat.source}")
        for control, checks in m.rows:
            if not control.id.startswith(cat.key + "/"):
                continue
            mark = "✓" if checks else "✗"
            lines.append(f"  {mark} {control.id}  {control.title}")
            for c in checks:
                lines.append(f"      {c}")
            if not checks:
                lines.append("      gap: no check evidences this control")
    total = len(m.rows)
    covered = total - len(m.gaps)
    lines.append(
        f"{covered} of {count(total, 'control')} evidenced by a check, {count(len(m.gaps), 'gap')}"
    )
    if m.unknown:
        lines.append("controls claimed by checks but defined by no catalogue:")
        lines.extend(f"  {cid}: {', '.join(checks)}" for cid, checks in m.unknown.items())
    if m.unannotated:
        lines.append(f"checks that claim no control: {', '.join(m.unannotated)}")
    return "\n".join(lines)


def render_csv(m: Matrix) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["framework", "control", "title", "reference", "check"])
    for control, checks in m.rows:
        fw = control.id.split("/", 1)[0]
        for c in checks or [""]:
            w.writerow([fw, control.id, control.title, control.reference, c])
    return out.getvalue()
