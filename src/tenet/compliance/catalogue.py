"""Framework catalogues: `frameworks/NAME.yaml` in a bundle lists the controls of one
regulation or standard; a control's id is `NAME/<control>` (`eu-ai-act/art-10`).

    name: EU AI Act
    description: Regulation (EU) 2024/1689, obligations for high-risk AI systems
    source: https://eur-lex.europa.eu/eli/reg/2024/1689/oj
    controls:
      art-10:
        title: Data and data governance
        description: Training, validation and testing data meet quality criteria.
        reference: Article 10
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from tenet.diagnostics import Diagnostic, did_you_mean
from tenet.locate import InputLocator, unreadable_diagnostic
from tenet.source import Source
from tenet.utf8 import not_utf8
from tenet.yamlutil import load_yaml

__all__ = ["Catalogue", "Control", "known_controls", "read_catalogue", "unknown_control_ids"]

_CONTROL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_FIELDS = ("name", "description", "source", "controls")
_CONTROL_FIELDS = ("title", "description", "reference")


@dataclass(frozen=True, slots=True)
class Control:
    id: str  # `<catalogue>/<control>`
    title: str
    description: str
    reference: str

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class Catalogue:
    key: str  # the file's name: `eu-ai-act`
    name: str
    description: str
    source: str
    controls: dict[str, Control] = field(default_factory=dict)  # full id -> control


class _Places:
    """Diagnostics of one catalogue file, each at the key or value it is about."""

    def __init__(self, rel: str, text: str) -> None:
        self.rel = rel
        self.source = Source(rel, text)
        self.locator = InputLocator(text, is_json=False)
        self.diags: list[Diagnostic] = []

    def bad(self, message: str, help_: str, *at: str) -> None:
        """A problem at the value of the key path `at` (at the mapping holding it, for a key
        that is missing; at the key itself when `at` ends with an empty step)."""
        path = [step for step in at if step]
        found = self.locator.bounds(path)
        span = None
        if found is not None:
            start, end, exact = found
            if (at and not at[-1]) or not exact:  # the key, or the line where the key goes
                end = start + len((path[-1:] or [""])[0]) if exact else start + 1
            span = self.source.span(start, max(end, start + 1))
        self.diags.append(Diagnostic("framework", message, span, help_, file=self.rel))


_SHAPE = "a catalogue is `name`, `source` and `controls`; see docs/compliance.md"


def read_catalogue(key: str, content: bytes, rel: str) -> tuple[Catalogue | None, list[Diagnostic]]:
    """One catalogue file; every problem is a diagnostic naming the file and the field, at its
    line and column."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None, [not_utf8(rel, content)]
    try:
        doc = load_yaml(text)
    except (yaml.YAMLError, RecursionError) as err:
        what = f"framework catalogue `{rel}`"
        return None, [unreadable_diagnostic("framework", what, Source(rel, text), False, err)]
    p = _Places(rel, text)
    if not isinstance(doc, dict):
        p.bad(f"framework catalogue `{rel}` must be a mapping", _SHAPE)
        return None, p.diags
    for k in doc:
        if k not in _FIELDS:
            hint = did_you_mean(str(k), _FIELDS) or f"the fields are {_listed(_FIELDS)}"
            p.bad(f"unknown field `{k}` in `{rel}`", hint, str(k), "")
    helps = {
        "name": "name the regulation or standard: `name: EU AI Act`",
        "source": "say where its text is: `source: https://…` or a citation",
    }
    for k in ("name", "source"):
        if not isinstance(doc.get(k), str) or not doc[k].strip():
            p.bad(f"`{rel}` needs `{k}`, a non-empty string", helps[k], k)
    raw = doc.get("controls")
    if not isinstance(raw, dict) or not raw:
        p.bad(
            f"`{rel}` needs `controls`: a mapping of control ids to their description",
            "write `controls: {art-10: {title: Data governance, reference: Article 10}}`",
            "controls",
        )
        raw = {}
    controls: dict[str, Control] = {}
    for ckey, spec in raw.items():
        where = f"`{rel}` control `{ckey}`"
        if not isinstance(ckey, str) or not _CONTROL_KEY.fullmatch(ckey):
            p.bad(
                f"{where}: `{ckey}` is not a control id",
                "use letters, digits, `.`, `_` and `-`, starting with a letter or digit: `art-10`",
                "controls",
                str(ckey),
                "",
            )
            continue
        if not isinstance(spec, dict):
            p.bad(
                f"{where} must be a mapping with `title` and `reference`",
                f"write `{ckey}: {{title: …, reference: …}}`",
                "controls",
                ckey,
            )
            continue
        unknown = [k for k in spec if k not in _CONTROL_FIELDS]
        if unknown:
            p.bad(
                f"{where}: unknown field `{unknown[0]}`",
                did_you_mean(str(unknown[0]), _CONTROL_FIELDS)
                or f"the fields are {_listed(_CONTROL_FIELDS)}",
                "controls",
                ckey,
                str(unknown[0]),
                "",
            )
        if not isinstance(spec.get("title"), str) or not spec["title"].strip():
            p.bad(f"{where} needs a `title`", "give it `title: …`, a short name", "controls", ckey)
            continue
        full = f"{key}/{ckey}"
        controls[full] = Control(
            full,
            spec["title"],
            str(spec.get("description") or ""),
            str(spec.get("reference") or ""),
        )
    if p.diags:
        return None, p.diags
    return Catalogue(
        key, doc["name"], str(doc.get("description") or ""), doc["source"], controls
    ), []


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def known_controls(catalogues: dict[str, Catalogue]) -> dict[str, Control]:
    return {cid: c for cat in catalogues.values() for cid, c in cat.controls.items()}


def unknown_control_ids(ids: list[str], catalogues: dict[str, Catalogue]) -> list[str]:
    known = known_controls(catalogues)
    return [i for i in ids if i not in known]
