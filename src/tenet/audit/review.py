"""Access review: the grants of a bundle's role table that no allowed decision used.

The role table is the bundle's `data.roles`: role → resource type → list of
`{pattern, actions}`, or, in a bundle whose grants do not depend on the resource's type,
role → list of `{pattern, actions}` (its grants hold for any type, shown as `*`). A recorded
allowed decision says which grant matched through the evidence of what held (a rule query's
holding definition, or a package query's passed checks, recorded with full explanation): the
bound grant object (a value with `pattern` and `actions`), next to `input.subject.role`,
`input.resource.type` and `input.action`, read from the evidence values or the kept input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import re2

from tenet.audit.redact import TOKEN

__all__ = ["Grant", "Review", "grants_of", "review"]


@dataclass(frozen=True, slots=True, order=True)
class Grant:
    role: str
    resource_type: str
    pattern: str
    action: str


@dataclass(frozen=True)
class Review:
    grants: list[Grant]
    used: dict[Grant, int]  # grant -> allowed decisions that used it
    decisions: int  # allowed access decisions read (a role and an action known)
    unattributed: int = 0  # of those, the ones whose evidence held no grant
    answers_only: int = 0  # of those, data API reads: their records hold the result alone
    hidden: int = 0  # of those, the ones whose grant holds a personal value, and no key to match
    not_in_table: int = 0  # of those, the ones whose grant is not in this role table

    @property
    def unused(self) -> list[Grant]:
        return [g for g in self.grants if g not in self.used]

    @property
    def unused_share(self) -> float:
        return len(self.unused) / len(self.grants) if self.grants else 0.0


def grants_of(data: Any) -> list[Grant]:
    """Every (role, resource type, pattern, action) of the role table."""
    roles = data.get("roles") if isinstance(data, dict) else None
    out: list[Grant] = []
    if not isinstance(roles, dict):
        return out
    for role, types in roles.items():
        if isinstance(types, list):  # role -> grants, for every type
            types = {ANY_TYPE: types}
        if not isinstance(types, dict):
            continue
        for rtype, grants in types.items():
            for g in grants if isinstance(grants, list) else []:
                if isinstance(g, dict) and isinstance(g.get("pattern"), str):
                    actions = g.get("actions") or []
                    if isinstance(actions, str):  # `actions: read`, one action, not its letters
                        actions = [actions]
                    for action in actions:
                        out.append(Grant(str(role), str(rtype), g["pattern"], str(action)))
    return sorted(set(out))


ANY_TYPE = "*"  # the resource type of a grant given for every type


def _facts(record: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Reference values and grant objects from the evidence of what held: the definitions of
    a rule query that held, and the passed checks of a package query (whose evidence is
    recorded when the decision was asked with full explanation)."""
    values: dict[str, Any] = dict(record.get("input") or {})
    grants: list[dict[str, Any]] = []
    document = record.get("decision") or {}
    explanation = document.get("explanation") or {}
    held = [d for d in explanation.get("definitions") or [] if d.get("held")]
    held += [c for c in document.get("checks") or [] if c.get("status") == "passed"]
    for part in held:
        for e in part.get("evidence") or []:
            for ref, v in (e.get("values") or {}).items():
                values.setdefault(ref, v)
                if isinstance(v, dict) and "pattern" in v and "actions" in v:
                    grants.append(v)
    return values, grants


def _value(values: dict[str, Any], suffix: str) -> Any:
    for ref, v in values.items():
        if ref == f"input.{suffix}" or ref.endswith("." + suffix):
            return v
    return None


def review(
    grants: list[Grant],
    records: Iterable[dict[str, Any]],
    token: Callable[[Any], str] | None = None,
) -> Review:
    """`token`: the log's keyed hash of a personal value, to match a recorded grant whose
    pattern held one (`home/ana.ortiz/**`, recorded as `home/hmac:…/**`) to its grant."""
    known = set(grants)
    patterns = sorted({g.pattern for g in grants})
    used: dict[Grant, int] = {}
    decisions = unattributed = answers_only = hidden = not_in_table = 0
    for r in records:
        if r.get("kind") != "decision" or r.get("outcome") != "allow":
            continue
        values, matched = _facts(r)
        role = _value(values, "subject.role")
        rtype = _value(values, "resource.type")
        action = _value(values, "action")
        if role is None or action is None:
            continue  # not an access decision: it says nothing of the role table
        decisions += 1
        if not matched:
            unattributed += 1
            # OPA's answer, `{decision_id, result}`: no explanation was asked or recorded
            answers_only += "outcome" not in (r.get("decision") or {})
            continue
        types = [ANY_TYPE] if rtype is None else [str(rtype), ANY_TYPE]
        found = ambiguous = False
        for g in matched:
            candidates = [
                x
                for pattern in _patterns(str(g["pattern"]), patterns, token)
                for t in types
                if (x := Grant(str(role), t, pattern, str(action))) in known
            ]
            if len(set(candidates)) > 1 and token is None:
                ambiguous = True  # without the key, several grants read the same
            elif candidates:
                used[candidates[0]] = used.get(candidates[0], 0) + 1
                found = True
                break
        if not found:
            if ambiguous:
                hidden += 1
            else:
                not_in_table += 1
    return Review(grants, used, decisions, unattributed, answers_only, hidden, not_in_table)


_HIDDEN = re2.compile(re2.escape(TOKEN) + "[0-9a-f]{32}")


def _patterns(recorded: str, patterns: list[str], token: Callable[[Any], str] | None) -> list[str]:
    """The role table's patterns a recorded one stands for: itself, or where the log hid a
    personal value in it, each pattern that reads the same with that value's token."""
    hidden = _HIDDEN.findall(recorded)
    if not hidden:
        return [recorded]
    pieces = _HIDDEN.split(recorded)
    shape = re2.compile("(.+?)".join(re2.escape(p) for p in pieces))
    out = []
    for pattern in patterns:
        m = shape.fullmatch(pattern)
        if m is not None and (
            token is None  # the shape alone: the caller tells one from several
            or all(_is_token_of(t, tok, token) for t, tok in zip(m.groups(), hidden, strict=True))
        ):
            out.append(pattern)
    return out


def _is_token_of(text: str, tok: str, token: Callable[[Any], str]) -> bool:
    """Whether `tok` hides `text`, read as text or, as a number in text, as that number."""
    if token(text) == tok:
        return True
    try:
        number = int(text)
    except ValueError:
        return False
    return token(number) == tok
