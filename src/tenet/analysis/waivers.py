"""Pass `check_waivers`: every waiver in `data.waivers` is well formed and names a real check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenet.diagnostics import DataDiagnostic, DataPath, Diagnostic, did_you_mean, unplaced
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


def read_waivers(
    data: Any, check_ids: set[str] | None, problem: DataDiagnostic = unplaced
) -> tuple[list[Waiver], list[Diagnostic]]:
    """The waivers of a data document, and what is wrong with them (a waiver is time-boxed);
    `problem` places each in the data file that wrote it. Without `check_ids` (a policy did
    not parse, so its checks are unknown) a waiver's `check` is not looked up."""
    raw = data.get("waivers") if isinstance(data, dict) else None
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [problem("waiver", "`data.waivers` must be a list of waivers", None, _AT)]
    waivers: list[Waiver] = []
    diags: list[Diagnostic] = []
    for i, w in enumerate(raw):
        where = f"data.waivers[{i}]"
        if not isinstance(w, dict):
            diags.append(problem("waiver", f"{where} must be a mapping", None, (*_AT, i)))
            continue
        problems: list[tuple[str, str | None]] = []  # each with the key it is about, if one
        for key in ("check", "approved_by", "reason", "expires"):
            value = w.get(key)
            if not isinstance(value, str) or not value.strip():
                problems.append((f"`{key}` must be a non-empty string", key if key in w else None))
        expires_at: int | float = 0
        if isinstance(w.get("expires"), str) and w["expires"].strip():
            try:
                expires_at = parse_rfc3339(w["expires"])
            except ValueError as err:
                problems.append((f"`expires`: {err}", "expires"))
        match = w.get("match", {})
        if match is None:
            match = {}
        if not isinstance(match, dict):
            problems.append(("`match` must be a mapping of input paths to values", "match"))
            match = {}
        unknown = sorted(set(w) - {"check", "approved_by", "reason", "expires", "match"})
        if unknown:
            problems.append(
                ("unknown key " + ", ".join(f"`{k}`" for k in unknown), str(unknown[0]))
            )
        check = w.get("check")
        if isinstance(check, str) and check and check_ids is not None and check not in check_ids:
            hint = did_you_mean(check, check_ids)
            problems.append(
                (f"`check` names no check: `{check}`" + (f" ({hint})" if hint else ""), "check")
            )
        if problems:
            # point at the one key at fault, or at the whole waiver when it is more than one
            keys = {key for _, key in problems}
            only = keys.pop() if len(keys) == 1 else None
            at: DataPath = (*_AT, i) if only is None else (*_AT, i, only)
            diags.append(
                problem(
                    "waiver",
                    f"{where} is malformed: " + "; ".join(message for message, _ in problems),
                    "a waiver needs `check` (a full check id), `approved_by`, `reason`, "
                    "and `expires` (RFC 3339): exceptions are always time-boxed",
                    at,
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


_AT: DataPath = ("waivers",)


def check_waivers(an: Analysis) -> list[Diagnostic]:
    ids = {c.full_id for p in an.symbols.packages.values() for c in p.checks.values()}
    return read_waivers(an.data, ids if an.complete else None, an.data_problem)[1]
