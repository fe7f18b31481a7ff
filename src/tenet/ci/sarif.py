"""Decisions as SARIF 2.1.0: one run, the checks as rules, each failed check a located result."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

import tenet
from tenet.ci.run import LEVEL_OF_SEVERITY, Evaluated, Finding, PolicyLocation
from tenet.locate import InputLocator, Region

__all__ = ["SARIF_SCHEMA", "fingerprint", "render_sarif", "uri_of"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_ERROR_RULES = {
    "input_schema": "the input matches the bundle's input schema",
    "invalid_input": "the input holds only JSON values within the engine's limits",
}


def uri_of(path: str) -> str:
    """A URI reference for a file path: relative paths stay relative (GitHub resolves them
    against the repository), absolute ones become `file:` URIs."""
    if PurePath(path).is_absolute():
        return Path(path).as_uri()
    posix = Path(os.path.normpath(path)).as_posix()
    return quote(posix, safe="/!$&'()*+,;=@-._~")


def fingerprint(path: str, f: Finding) -> str:
    """What code scanning follows a finding by across runs: its rule, its input file however
    the path was spelled (`./x.yaml` is `x.yaml`), and what tells it from the rule's other
    findings in that file: a check's bindings (a `require` has one finding per file), or an
    error's input path, place in the bundle (the schema rule) and message."""
    where = path if path == "-" else Path(os.path.normpath(path)).as_posix()
    which: Any = (f.check or {}).get("bindings")
    if f.kind == "error":
        which = {"path": f.pointer, "at": str(f.policy or ""), "message": f.message}
    identity = json.dumps([f.rule_id, where, which], sort_keys=True)
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


class _Rules:
    """The run's rules in order of first appearance, by id."""

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}

    def add(self, rule_id: str, make: Any) -> int:
        if rule_id not in self._index:
            self._index[rule_id] = len(self.rules)
            self.rules.append(make())
        return self._index[rule_id]


def _check_rule(c: dict[str, Any]) -> dict[str, Any]:
    controls = list(c.get("controls") or [])
    description = f"{c['severity']} check at {c['location']}"
    if controls:
        description += f"; controls: {', '.join(controls)}"
    rule: dict[str, Any] = {
        "id": c["id"],
        "name": c["id"].rsplit(".", 1)[-1],
        "shortDescription": {"text": c.get("title") or c["id"]},
        "fullDescription": {"text": description},
        "defaultConfiguration": {"level": LEVEL_OF_SEVERITY[c["severity"]]},
        "properties": {
            "severity": c["severity"],
            "controls": controls,
            "tags": list(dict.fromkeys(["tenet", c["severity"], *controls])),
        },
    }
    if c.get("remediation"):
        rule["help"] = {"text": c["remediation"]}
    return rule


def _other_rule(f: Finding) -> dict[str, Any]:
    if f.kind == "rule":
        text = f"the rule {f.rule_id} is true"
    else:
        text = _ERROR_RULES.get(f.status, f"the decision has no `{f.status}` error")
    return {
        "id": f.rule_id,
        "name": f.rule_id.rsplit("/", 1)[-1].rsplit(".", 1)[-1],
        "shortDescription": {"text": text},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["tenet"]},
    }


class _Renderer:
    def __init__(self, query: str, bundle_path: str) -> None:
        self.query = query
        self.bundle_path = bundle_path
        self.bundle_is_dir = Path(bundle_path).is_dir()
        self.rules = _Rules()

    def policy_artifact(self, where: PolicyLocation) -> dict[str, Any]:
        if self.bundle_is_dir:
            return {"uri": uri_of(os.path.join(self.bundle_path, where.file))}
        return {"uri": quote(where.file, safe="/!$&'()*+,;=@-._~"), "uriBaseId": "BUNDLE"}

    def policy_location(self, n: int, where: PolicyLocation, text: str) -> dict[str, Any]:
        physical: dict[str, Any] = {"artifactLocation": self.policy_artifact(where)}
        if where.line is not None:
            physical["region"] = {"startLine": where.line, "startColumn": where.column or 1}
        elif where.fragment is not None:
            region = self.schema_region(where.file, where.fragment)
            if region is not None:
                physical["region"] = {
                    "startLine": region.start_line,
                    "startColumn": region.start_column,
                    "endLine": region.end_line,
                    "endColumn": region.end_column,
                }
        return {"id": n, "physicalLocation": physical, "message": {"text": text}}

    def schema_region(self, file: str, fragment: str) -> Region | None:
        """Where a schema rule (a JSON pointer into a schema file of a bundle folder) is."""
        if not self.bundle_is_dir:
            return None
        try:
            text = (Path(self.bundle_path) / file).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        region = InputLocator(text, is_json=file.endswith(".json")).region(fragment)
        return region if region is not None and region.exact else None

    def input_location(self, item: Evaluated, f: Finding) -> dict[str, Any]:
        artifact: dict[str, Any] = (
            {"description": {"text": "standard input"}}
            if item.path == "-"
            else {"uri": uri_of(item.path)}
        )
        region = item.region(f.pointer)
        physical: dict[str, Any] = {"artifactLocation": artifact}
        location: dict[str, Any] = {"physicalLocation": physical}
        unlocated = item.unlocated(f)
        if unlocated is not None:
            location["message"] = {"text": unlocated}  # the file, and no region: no line
        if region is not None:
            physical["region"] = {
                "startLine": region.start_line,
                "startColumn": region.start_column,
                "endLine": region.end_line,
                "endColumn": region.end_column,
            }
            if f.pointer is not None:
                text = (
                    f"the input value {f.pointer or '/'}"
                    if region.exact
                    else f"{f.pointer} is missing from this value"
                )
                location["message"] = {"text": text}
        return location

    def result(self, item: Evaluated, f: Finding) -> dict[str, Any]:
        if f.check is not None:
            check = f.check
            index = self.rules.add(f.rule_id, lambda: _check_rule(check))
        else:
            index = self.rules.add(f.rule_id, lambda: _other_rule(f))
        related = []
        if f.policy is not None:
            what = {
                "check": f"check {f.rule_id}",
                "rule": f"definition of {f.rule_id}",
            }.get(
                f.kind,
                f"the schema rule {f.policy}"
                if f.policy.fragment is not None
                else f"where the `{f.status}` error was raised",
            )
            related.append(self.policy_location(1, f.policy, what))
        if f.condition_at is not None and f.condition is not None:
            related.append(self.policy_location(2, f.condition_at, f.condition))
        bindings = (f.check or {}).get("bindings")
        result: dict[str, Any] = {
            "ruleId": f.rule_id,
            "ruleIndex": index,
            "kind": "fail",
            "level": f.level,
            "message": {"text": "\n".join(item.lines(f))},
            "locations": [self.input_location(item, f)],
            "partialFingerprints": {"tenetFinding/v1": fingerprint(item.path, f)},
            "properties": {"status": f.status},
        }
        if related:
            result["relatedLocations"] = related
        if f.severity is not None:
            result["properties"]["severity"] = f.severity
        if f.check is not None:
            result["properties"]["controls"] = list(f.check.get("controls") or [])
        if bindings is not None:
            result["properties"]["bindings"] = bindings
        return result


def render_sarif(
    items: list[Evaluated], query: str, bundle_path: str, exit_code: int, fail_on: str
) -> str:
    """The SARIF log of a run: the tool with every check seen as a rule, and a result, located
    in its input file, for each violated or error check (and each denied rule or input error)."""
    r = _Renderer(query, bundle_path)
    results: list[dict[str, Any]] = []
    for item in items:
        for c in item.decision["checks"]:
            r.rules.add(c["id"], lambda c=c: _check_rule(c))
        results.extend(r.result(item, f) for f in item.findings())
    bundle = items[0].decision["bundle"] if items else {}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "tenet",
                "version": tenet.__version__,
                "semanticVersion": tenet.__version__,
                "rules": r.rules.rules,
            }
        },
        "invocations": [{"executionSuccessful": True, "exitCode": exit_code}],
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {
            "query": query,
            "failOn": fail_on,
            "bundle": bundle,
            "decisions": [
                {
                    "input": item.path,
                    "outcome": item.decision["outcome"],
                    "decision_id": item.decision["decision_id"],
                    "input_digest": item.decision["input_digest"],
                    "evaluated_at": item.decision["evaluated_at"],
                }
                for item in items
            ],
        },
    }
    if not r.bundle_is_dir:
        run["originalUriBaseIds"] = {
            "BUNDLE": {"description": {"text": f"the root of the bundle archive {bundle_path}"}}
        }
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False)
