"""Pass `check_waivers`: every waiver in `data.waivers` is well formed and names a real check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenet.diagnostics import Diagnostic, did_you_mean
from tenet.runtime.clock import parse_rfc3339

if TYPE_CHECKING:
    from tenet.analysis import Analysis

__all__ = ["Waiver", "check_waivers", "read_waivers"]


@dataclass(frozen=True, slots=True)
class Waiver:
    check: str
    match: tuple[tuple[tuple[str, ...], Any], ...]  # input path -> required value
    expires: str
    expires_at: int | float
    approved_by: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"approved_by": self.approved_by, "reason": self.reason, "expires": self.expires}


def read_waivers(data: Any, check_ids: set[str]) -> tuple[list[Waiver], list[Diagnostic]]:
    """The waivers of a data document, and what is wrong with them (a waiver is time-boxed)."""
    raw = data.get("waivers") if isinstance(data, dict) else None
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [_bad("`data.waivers` must be a list of waivers", None)]
    waivers: list[Waiver] = []
    diags: list[Diagnostic] = []
    for i, w in enumerate(raw):
        where = f"data.waivers[{i}]"
        if not isinstance(w, dict):
            diags.append(_bad(f"{where} must be a mapping", None))
            continue
        problems = []
        for key in ("check", "approved_by", "reason", "expires"):
            value = w.get(key)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"`{key}` must be a non-empty string")
        expires_at: int | float = 0
        if isinstance(w.get("expires"), str) and w["expires"].strip():
            try:
                expires_at = parse_rfc3339(w["expires"])
            except ValueError as err:
                problems.append(f"`expires`: {err}")
        match = w.get("match", {})
        if match is None:
            match = {}
        if not isinstance(match, dict):
            problems.append("`match` must be a mapping of input paths to values")
            match = {}
        unknown = sorted(set(w) - {"check", "approved_by", "reason", "expires", "match"})
        if unknown:
            problems.append("unknown key " + ", ".join(f"`{k}`" for k in unknown))
        check = w.get("check")
        if isinstance(check, str) and check and check not in check_ids:
            hint = did_you_mean(check, check_ids)
            problems.append(f"`check` names no check: `{check}`" + (f" ({hint})" if hint else ""))
        if problems:
            diags.append(
                _bad(
                    f"{where} is malformed: " + "; ".join(problems),
                    "a waiver needs `check` (a full check id), `approved_by`, `reason`, "
                    "and `expires` (RFC 3339): exceptions are always time-boxed",
                )
            )
            continue
        paths = tuple(
            (tuple(p.removeprefix("input.").split(".")), v) for p, v in sorted(match.items())
        )
        waivers.append(
            Waiver(w["check"], paths, w["expires"], expires_at, w["approved_by"], w["reason"])
        )
    return waivers, diags


def _bad(message: str, help_: str | None) -> Diagnostic:
    return Diagnostic("waiver", message, None, help_, file="data.waivers")


def check_waivers(an: Analysis) -> list[Diagnostic]:
    ids = {c.full_id for p in an.symbols.packages.values() for c in p.checks.values()}
    return read_waivers(an.data, ids)[1]
