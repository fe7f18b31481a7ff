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
from tenet.locate import unreadable_diagnostic
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


def _bad(rel: str, message: str, help_: str | None = None) -> Diagnostic:
    return Diagnostic("framework", message, None, help_, file=rel)


def read_catalogue(key: str, content: bytes, rel: str) -> tuple[Catalogue | None, list[Diagnostic]]:
    """One catalogue file; every problem is a diagnostic naming the file and the field."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None, [not_utf8(rel, content)]
    try:
        doc = load_yaml(text)
    except (yaml.YAMLError, RecursionError) as err:
        what = f"framework catalogue `{rel}`"
        return None, [unreadable_diagnostic("framework", what, Source(rel, text), False, err)]
    if not isinstance(doc, dict):
        return None, [_bad(rel, f"framework catalogue `{rel}` must be a mapping")]
    diags = [
        _bad(rel, f"unknown field `{k}` in `{rel}`", did_you_mean(str(k), _FIELDS))
        for k in doc
        if k not in _FIELDS
    ]
    for k in ("name", "source"):
        if not isinstance(doc.get(k), str) or not doc[k].strip():
            diags.append(_bad(rel, f"`{rel}` needs `{k}`, a non-empty string"))
    raw = doc.get("controls")
    if not isinstance(raw, dict) or not raw:
        diags.append(
            _bad(rel, f"`{rel}` needs `controls`: a mapping of control ids to their description")
        )
        raw = {}
    controls: dict[str, Control] = {}
    for ckey, spec in raw.items():
        where = f"`{rel}` control `{ckey}`"
        if not isinstance(ckey, str) or not _CONTROL_KEY.fullmatch(ckey):
            diags.append(_bad(rel, f"{where}: ids are letters, digits, `.`, `_` and `-`"))
            continue
        if not isinstance(spec, dict):
            diags.append(_bad(rel, f"{where} must be a mapping with `title` and `reference`"))
            continue
        unknown = [k for k in spec if k not in _CONTROL_FIELDS]
        if unknown:
            diags.append(
                _bad(
                    rel,
                    f"{where}: unknown field `{unknown[0]}`",
                    did_you_mean(str(unknown[0]), _CONTROL_FIELDS),
                )
            )
        if not isinstance(spec.get("title"), str) or not spec["title"].strip():
            diags.append(_bad(rel, f"{where} needs a `title`"))
            continue
        full = f"{key}/{ckey}"
        controls[full] = Control(
            full,
            spec["title"],
            str(spec.get("description") or ""),
            str(spec.get("reference") or ""),
        )
    if diags:
        return None, diags
    return Catalogue(
        key, doc["name"], str(doc.get("description") or ""), doc["source"], controls
    ), []


def known_controls(catalogues: dict[str, Catalogue]) -> dict[str, Control]:
    return {cid: c for cat in catalogues.values() for cid, c in cat.controls.items()}


def unknown_control_ids(ids: list[str], catalogues: dict[str, Catalogue]) -> list[str]:
    known = known_controls(catalogues)
    return [i for i in ids if i not in known]
