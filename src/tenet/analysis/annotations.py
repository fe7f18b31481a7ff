"""Pass `check_annotations`: `#@` lines above a check or rule, read as one YAML mapping."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml

from tenet.diagnostics import Diagnostic, did_you_mean
from tenet.syntax import ast
from tenet.yamlutil import JsonSafeLoader, yaml_problem

if TYPE_CHECKING:
    from tenet.analysis import Analysis

KEYS = ("title", "description", "controls", "owner", "remediation")
_CONTROL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/\S+$")


def parse_annotations(notes: tuple[ast.Annotation, ...]) -> tuple[dict[str, Any], list[Diagnostic]]:
    """The mapping the `#@` lines form, and what is wrong with it."""
    if not notes:
        return {}, []
    text = "\n".join(n.text[1:] if n.text.startswith(" ") else n.text for n in notes)
    first = notes[0].span
    try:
        value = yaml.load(text, Loader=JsonSafeLoader)
    except yaml.YAMLError as err:
        problem, offset, _ = yaml_problem(err)
        line = text.count("\n", 0, offset) if offset is not None else 0
        return {}, [
            Diagnostic(
                "annotation",
                f"annotations must form one YAML mapping: {problem}",
                notes[min(line, len(notes) - 1)].span,
                "write `#@ key: value`, one key per line",
            )
        ]
    if not isinstance(value, dict):
        return {}, [
            Diagnostic(
                "annotation",
                "annotations must form one YAML mapping",
                first,
                "write `#@ key: value`, one key per line",
            )
        ]
    diags: list[Diagnostic] = []
    for key, item in value.items():
        span = _key_span(notes, str(key))
        if not isinstance(key, str) or (key not in KEYS and not key.startswith("x-")):
            diags.append(
                Diagnostic(
                    "annotation",
                    f"unknown annotation key `{key}`",
                    span,
                    did_you_mean(str(key), KEYS)
                    or "the keys are title, description, controls, owner, remediation, and x-…",
                )
            )
        elif key == "controls":
            if not isinstance(item, list) or not all(isinstance(c, str) for c in item):
                diags.append(
                    Diagnostic(
                        "annotation",
                        "annotation `controls` must be a list of control ids",
                        span,
                        "write `#@ controls: [eu-ai-act/art-10, iso-42001/a.7.4]`",
                    )
                )
            else:
                for c in item:
                    if not _CONTROL.match(c):
                        diags.append(
                            Diagnostic(
                                "annotation",
                                f"control id `{c}` is not of the form `<framework>/<control>`",
                                span,
                                "name the catalogue first, e.g. `eu-ai-act/art-10`",
                            )
                        )
        elif key in KEYS and not isinstance(item, str):
            diags.append(
                Diagnostic(
                    "annotation",
                    f"annotation `{key}` must be text",
                    span,
                    f"write `#@ {key}: …` with plain text (quote it if YAML reads it otherwise)",
                )
            )
    return value, diags


def _key_span(notes: tuple[ast.Annotation, ...], key: str) -> Any:
    for n in notes:
        if n.text.strip().startswith(key):
            return n.span
    return notes[0].span


def _adjacent(definition: ast.Definition) -> list[Diagnostic]:
    """`#@` lines must stand directly above what they annotate: no blank line, no comment."""
    notes = definition.annotations
    if notes and notes[-1].span.line + 1 != definition.span.line:
        return [
            Diagnostic(
                "annotation",
                "annotations must stand directly above the check or rule they describe",
                notes[-1].span,
                f"remove the lines between this `#@` block and line {definition.span.line}",
            )
        ]
    return []


def check_annotations(an: Analysis) -> list[Diagnostic]:
    diags: list[Diagnostic] = [
        d
        for module in an.modules
        for definition in module.definitions
        for d in _adjacent(definition)
    ]
    for pkg in an.symbols.packages.values():
        for check in pkg.checks.values():
            check.annotations, found = parse_annotations(check.check.annotations)
            diags.extend(found)
        for rule in pkg.rules.values():
            merged: dict[str, Any] = {}
            defs: list[ast.Rule | ast.DefaultRule] = [*rule.definitions]
            if rule.default is not None:
                defs.append(rule.default)
            for d in defs:
                notes, found = parse_annotations(d.annotations)
                merged.update(notes)
                diags.extend(found)
            rule.annotations = merged
    return diags
