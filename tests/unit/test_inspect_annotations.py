"""`tenet bundle inspect` shows what each check claims: its title and the controls it evidences
(text and JSON), its remediation and other annotations (JSON), annotated rules, the controls
the checks claim in all, and the bundle's framework catalogues."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import tenet
from tenet.bundle.summary import render_summary, summarize
from tenet.cli import main
from tests.conftest import REPO, write_bundle

MANIFEST = """\
name: gates
version: 2.0.0
description: annotated gates
"""

POLICY = """\
package gates

#@ title: accuracy floor
#@ controls: [act/art-10, act/art-9]
#@ remediation: retrain until accuracy reaches 0.9
#@ owner: ml-governance@example.com
#@ x-ticket: GOV-7
require accuracy {
    input.accuracy >= 0.9
} message "accuracy {input.accuracy} is below 0.9"

#@ controls: [act/art-2]
require reviewed warning {
    input.reviewed == true
}

#@ title: drift is reported
forbid drift info {
    input.drift > 0.2
}

require unclaimed {
    true
}

#@ title: the verdict
#@ controls: [act/art-2]
allow if {
    input.accuracy >= 0.9
}

helper if { true }
"""

CATALOGUE = """\
name: Example Act
source: https://example.org/act
controls:
  art-2: {title: Human oversight, reference: Article 2}
  art-9: {title: Risk management, reference: Article 9}
  art-10: {title: Data governance, reference: Article 10}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_bundle(
        tmp_path / "gates",
        {"tenet.yaml": MANIFEST, "gates.tenet": POLICY, "frameworks/act.yaml": CATALOGUE},
    )


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_the_summary_carries_each_checks_annotations(root: Path) -> None:
    s = summarize(tenet.load_bundle(root))
    assert s["annotations"] == {
        "gates.accuracy": {
            "controls": ["act/art-10", "act/art-9"],
            "title": "accuracy floor",
            "owner": "ml-governance@example.com",
            "remediation": "retrain until accuracy reaches 0.9",
        },
        "gates.reviewed": {"controls": ["act/art-2"]},
        "gates.drift": {"controls": [], "title": "drift is reported"},
        "gates.unclaimed": {"controls": []},
    }
    # x- keys are for tools that know them; the summary leaves them out
    assert "x-ticket" not in s["annotations"]["gates.accuracy"]
    assert s["rule_annotations"] == {
        "gates.allow": {"controls": ["act/art-2"], "title": "the verdict"}
    }
    # every control a check claims, once, digits compared as numbers
    assert s["controls"] == ["act/art-2", "act/art-9", "act/art-10"]
    assert s["frameworks"] == {
        "act": {"name": "Example Act", "source": "https://example.org/act", "controls": 3}
    }
    # the old keys keep their shape
    assert s["checks"] == {
        "blocking": ["gates.accuracy", "gates.unclaimed"],
        "warning": ["gates.reviewed"],
        "info": ["gates.drift"],
    }


def test_inspect_text_lists_title_and_controls_under_each_check(root: Path) -> None:
    result = run("bundle", "inspect", root)
    assert result.exit_code == 0, result.output
    digest = tenet.load_bundle(root).digest
    assert result.stdout == "\n".join(
        [
            "bundle gates 2.0.0",
            "  revision:    none",
            "  description: annotated gates",
            "  requires:    any engine",
            f"  digest:      {digest}",
            "  signature:   none",
            "  files:       3",
            "packages (1): gates",
            "checks (4): 2 blocking, 1 warning, 1 info",
            "  blocking  gates.accuracy",
            "              accuracy floor",
            "              controls: act/art-10, act/art-9",
            "  blocking  gates.unclaimed",
            "  warning   gates.reviewed",
            "              controls: act/art-2",
            "  info      gates.drift",
            "              drift is reported",
            "controls claimed (3): act/art-2, act/art-9, act/art-10",
            "rules (2): gates.allow, gates.helper",
            "  gates.allow",
            "      the verdict",
            "      controls: act/art-2",
            "functions (0): none",
            "data keys (0): none",
            "schemas (0): none",
            "input schemas (0): none",
            "frameworks (1):",
            "  act  Example Act, 3 controls",
            "tests (0): none",
            "",
        ]
    )
    # the remediation is in the JSON form, not in the text
    assert "retrain" not in result.stdout


def test_inspect_json_has_remediation_and_controls(root: Path) -> None:
    result = run("bundle", "inspect", root, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    accuracy = doc["annotations"]["gates.accuracy"]
    assert accuracy["remediation"] == "retrain until accuracy reaches 0.9"
    assert accuracy["controls"] == ["act/art-10", "act/art-9"]
    assert doc["annotations"]["gates.unclaimed"] == {"controls": []}
    assert doc["controls"] == ["act/art-2", "act/art-9", "act/art-10"]


def test_a_bundle_without_annotations_or_catalogues_shows_no_extra_lines(tmp_path: Path) -> None:
    root = write_bundle(
        tmp_path / "plain", {"main.tenet": "package main\n\nrequire ok {\n    true\n}\n"}
    )
    s = summarize(tenet.load_bundle(root))
    assert s["annotations"] == {"main.ok": {"controls": []}}
    assert s["rule_annotations"] == {} and s["controls"] == [] and s["frameworks"] == {}
    text = render_summary(s)
    assert "controls" not in text and "frameworks" not in text
    assert "  blocking  main.ok\nrules (0): none" in text


def test_inspect_on_the_shipped_bundle_shows_the_record_keeping_check() -> None:
    result = run("bundle", "inspect", REPO / "policies" / "ai-governance")
    assert result.exit_code == 0, result.output
    assert (
        "  blocking  deploy.production.high_risk_log_retention\n"
        "              a high-risk system's logs are kept at least six months\n"
        "              controls: eu-ai-act/art-12, iso-42001/a.6.2.8, nist-ai-rmf/manage-4.1\n"
    ) in result.stdout
    assert "  nist-ai-rmf  NIST AI RMF, 72 controls\n" in result.stdout
    doc = json.loads(
        run("bundle", "inspect", REPO / "policies" / "ai-governance", "--format", "json").stdout
    )
    notes = doc["annotations"]
    # every check of the standard bundle has a title, a remediation and at least one control
    assert all(n.get("title") and n.get("remediation") and n["controls"] for n in notes.values())
    assert doc["controls"][:7] == [f"eu-ai-act/art-{n}" for n in range(9, 16)]
