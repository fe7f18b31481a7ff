"""Change impact: definitions compared by syntax tree, data compared by value, and the decisions
over a set of inputs that change between two versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tenet
from tenet.bundle.diff import InputsError, diff_bundles, render_diff
from tests.conftest import write_bundle

OLD = {
    "tenet.yaml": "name: gates\nversion: 1.0.0\n",
    "deploy/gates.tenet": """\
package deploy

import data.limits as l

require accuracy blocking {
    input.accuracy >= l.min_accuracy
} message "accuracy {input.accuracy} is too low"

require owner warning {
    input.owner
} message "name an owner"

require region blocking {
    input.region in ["eu", "us"]
} message "region {input.region} is not allowed"

high_risk if { input.risk > 0.5 }
""",
    "access.tenet": """\
package access

default allow = false

allow if { input.role == "admin" }
""",
    "data.yaml": "limits:\n  min_accuracy: 0.8\n  regions: [eu, us]\nteam: ml\n",
}

NEW = {
    "tenet.yaml": "name: gates\nversion: 1.1.0\n",
    # reformatted, commented and reordered, `0.5` written as `50%`; `owner` becomes blocking,
    # `region` is gone, `card` and `low_risk` are new
    "deploy/gates.tenet": """\
package deploy

import data.limits as l

# a comment that changes nothing
high_risk if {
    input.risk > 50%
}

low_risk if { not high_risk }

require accuracy blocking {
        input.accuracy >= l.min_accuracy
}   message "accuracy {input.accuracy} is too low"

require owner blocking {
    input.owner
} message "name an owner"

require card warning {
    input.card
} message "link a model card"
""",
    "access.tenet": """\
package access

default allow = false

allow if { input.role == "admin" }
""",
    "data.yaml": "limits:\n  min_accuracy: 0.9\n  regions: [eu, us]\nowner: platform\n",
}

INPUTS = [
    {"query": "deploy", "input": {"accuracy": 0.85, "owner": "a", "region": "eu", "card": "c"}},
    {"query": "deploy", "input": {"accuracy": 0.95, "region": "apac", "card": "c"}},
    {"query": "deploy", "input": {"accuracy": 0.95, "owner": "a", "region": "eu", "card": "c"}},
    {"query": "access.allow", "input": {"role": "admin"}, "now": "2026-01-01T00:00:00Z"},
    {"query": "deploy.low_risk", "input": {"risk": 0.1}},
]


@pytest.fixture
def pair(tmp_path: Path) -> tuple[tenet.Bundle, tenet.Bundle]:
    old = tenet.load_bundle(write_bundle(tmp_path / "old", OLD))
    new = tenet.load_bundle(write_bundle(tmp_path / "new", NEW))
    return old, new


def _lines(items: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(i) + "\n" for i in items]


def _short(b: tenet.Bundle) -> str:
    return b.digest.removeprefix("sha256:")[:12]


def test_the_diff_text(pair: tuple[tenet.Bundle, tenet.Bundle]) -> None:
    old, new = pair
    result = diff_bundles(old, new, _lines(INPUTS))
    assert render_diff(result, "`inputs.jsonl`") == "\n".join(
        [
            f"bundle gates 1.0.0 ({_short(old)}) → gates 1.1.0 ({_short(new)})",
            "checks:",
            "  + deploy.card    added at deploy/gates.tenet:20:1",
            "  ~ deploy.owner   changed at deploy/gates.tenet:16:1",
            "  - deploy.region  removed at deploy/gates.tenet:13:1",
            "rules:",
            "  + deploy.low_risk  added at deploy/gates.tenet:10:1",
            "data:",
            "  ~ data.limits.min_accuracy: 0.8 → 0.9",
            '  + data.owner = "platform"',
            '  - data.team (was "ml")',
            "input schemas: no change",
            "schemas: no change",
            "decisions over 5 inputs from `inputs.jsonl`:",
            "  line 1 deploy: allow → deny",
            "    + violated deploy.accuracy (blocking): accuracy 0.85 is too low",
            "  line 2 deploy: deny → deny",
            "    + violated deploy.owner (blocking): name an owner",
            "    - no longer violated deploy.owner (warning): name an owner",
            "    - no longer violated deploy.region (blocking): region apac is not allowed",
            "  line 5 deploy.low_risk: error → allow",
            "    - no longer an error [query] unknown query `deploy.low_risk`: "
            "no package or rule has that name",
            "summary: 1 check added, 1 removed, 1 changed; 1 rule added, 0 removed, 0 changed; "
            "1 data value added, 1 removed, 1 changed; 0 input schemas added, 0 removed, "
            "0 changed; 0 schemas added, 0 removed, 0 changed; 3 of 5 decisions changed "
            "(1 allow → deny, 1 error → allow, 2 with new violations, 0 with new errors)",
        ]
    )


def test_the_diff_json(pair: tuple[tenet.Bundle, tenet.Bundle]) -> None:
    old, new = pair
    doc = diff_bundles(old, new, _lines(INPUTS[:2])).to_dict()
    assert doc["old"]["version"] == "1.0.0" and doc["new"]["version"] == "1.1.0"
    assert [(d["kind"], d["name"], d["change"], d["at"]) for d in doc["definitions"]] == [
        ("check", "deploy.card", "added", "deploy/gates.tenet:20:1"),
        ("check", "deploy.owner", "changed", "deploy/gates.tenet:16:1"),
        ("check", "deploy.region", "removed", "deploy/gates.tenet:13:1"),
        ("rule", "deploy.low_risk", "added", "deploy/gates.tenet:10:1"),
    ]
    assert set(doc["definitions"][0]) == {"kind", "name", "change", "at"}
    assert doc["data"][0] == {
        "path": "data.limits.min_accuracy",
        "change": "changed",
        "old": 0.8,
        "new": 0.9,
    }
    assert doc["decisions"][0] == {
        "line": 1,
        "query": "deploy",
        "old_outcome": "allow",
        "new_outcome": "deny",
        "new_violations": ["deploy.accuracy (blocking): accuracy 0.85 is too low"],
        "resolved_violations": [],
        "new_errors": [],
        "resolved_errors": [],
        "waived": [],
    }
    assert doc["summary"]["decisions"] == {
        "inputs": 2,
        "changed": 2,
        "outcomes": {"allow → deny": 1},
        "with_new_violations": 2,
        "with_new_errors": 0,
    }


def test_identical_bundles_have_no_changes(tmp_path: Path) -> None:
    a = tenet.load_bundle(write_bundle(tmp_path / "a", OLD))
    b = tenet.load_bundle(write_bundle(tmp_path / "b", OLD))
    # the last input asks `deploy.low_risk`, which neither of two OLDs has: a mistake
    with pytest.raises(InputsError, match=r"line 5: unknown query `deploy\.low_risk`"):
        diff_bundles(a, b, _lines(INPUTS))
    text = render_diff(diff_bundles(a, b, _lines(INPUTS[:4])))
    assert text.splitlines()[1:] == [
        "checks: no change",
        "rules: no change",
        "data: no change",
        "input schemas: no change",
        "schemas: no change",
        "decisions over 4 inputs from the inputs:",
        "  no decision changed",
        "summary: 0 checks added, 0 removed, 0 changed; 0 rules added, 0 removed, 0 changed; "
        "0 data values added, 0 removed, 0 changed; 0 input schemas added, 0 removed, 0 changed; "
        "0 schemas added, 0 removed, 0 changed; 0 of 4 decisions changed "
        "(0 with new violations, 0 with new errors)",
    ]


def test_moving_definitions_between_files_is_not_a_change(tmp_path: Path) -> None:
    moved = dict(OLD)
    gates = OLD["deploy/gates.tenet"]
    head, rule = gates.split("high_risk")
    moved["deploy/gates.tenet"] = head
    moved["deploy/risk.tenet"] = "package deploy\n\n\n# moved\nhigh_risk" + rule
    a = tenet.load_bundle(write_bundle(tmp_path / "a", OLD))
    b = tenet.load_bundle(write_bundle(tmp_path / "b", moved))
    assert diff_bundles(a, b).definitions == []


def test_a_changed_import_changes_the_definitions_that_read_it(tmp_path: Path) -> None:
    changed = dict(OLD)
    changed["deploy/gates.tenet"] = OLD["deploy/gates.tenet"].replace(
        "import data.limits as l", "import data.other_limits as l"
    )
    changed["data.yaml"] = OLD["data.yaml"] + "other_limits: {min_accuracy: 0.8}\n"
    a = tenet.load_bundle(write_bundle(tmp_path / "a", OLD))
    b = tenet.load_bundle(write_bundle(tmp_path / "b", changed))
    assert [(c.name, c.change) for c in diff_bundles(a, b).definitions] == [
        ("deploy.accuracy", "changed")
    ]


def test_a_changed_annotation_or_message_is_a_change(tmp_path: Path) -> None:
    changed = dict(OLD)
    changed["deploy/gates.tenet"] = (
        OLD["deploy/gates.tenet"]
        .replace("require owner", "#@ controls: [iso-42001/a.6]\nrequire owner")
        .replace("is not allowed", "is not permitted")
    )
    a = tenet.load_bundle(write_bundle(tmp_path / "a", OLD))
    b = tenet.load_bundle(write_bundle(tmp_path / "b", changed))
    assert [(c.name, c.change) for c in diff_bundles(a, b).definitions] == [
        ("deploy.owner", "changed"),
        ("deploy.region", "changed"),
    ]


def test_a_literal_of_another_type_is_a_change(tmp_path: Path) -> None:
    changed = dict(OLD)
    changed["access.tenet"] = OLD["access.tenet"].replace(
        "default allow = false", "default allow = 0"
    )
    a = tenet.load_bundle(write_bundle(tmp_path / "a", OLD))
    b = tenet.load_bundle(write_bundle(tmp_path / "b", changed))
    assert [(c.name, c.change) for c in diff_bundles(a, b).definitions] == [
        ("access.allow", "changed")
    ]


def test_a_query_missing_from_one_version_is_an_error_there(
    pair: tuple[tenet.Bundle, tenet.Bundle],
) -> None:
    old, new = pair
    (change,) = diff_bundles(new, old, _lines([INPUTS[4]])).decisions
    assert (change.old_outcome, change.new_outcome) == ("allow", "error")
    assert change.new_errors == (
        "[query] unknown query `deploy.low_risk`: no package or rule has that name",
    )


def test_new_evaluation_errors_are_reported(tmp_path: Path) -> None:
    changed = dict(OLD)
    changed["access.tenet"] = OLD["access.tenet"].replace(
        'input.role == "admin"', "input.role + 1 == 2"
    )
    a = tenet.load_bundle(write_bundle(tmp_path / "a", OLD))
    b = tenet.load_bundle(write_bundle(tmp_path / "b", changed))
    (change,) = diff_bundles(a, b, _lines([INPUTS[3]])).decisions
    assert (change.old_outcome, change.new_outcome) == ("allow", "error")
    assert len(change.new_errors) == 1 and change.new_errors[0].startswith("[type_error]")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 1 is not valid JSON at column 1: expecting value"),
        ('{"query": "deploy", "query": "x"}', "line 1 is not valid JSON at column 21: the key"),
        (
            '{"query": "deploy", "input": NaN}',
            "line 1 is not valid JSON at column 30: `NaN` is not a JSON number",
        ),
        (
            '{"query": "deploy", "input": ' + "[" * 5000 + "]" * 5000 + "}",
            "line 1 is not valid JSON: the document nests too deeply to read",
        ),
        ("[1]", 'line 1 must be an object like {"query": "deploy", "input": {}}'),
        ('{"query": "deploy", "inputs": {}}', "line 1 has unknown field `inputs`"),
        ('{"query": "deploy", "now": "yesterday"}', "line 1: "),
    ],
)
def test_bad_input_lines_are_named(
    pair: tuple[tenet.Bundle, tenet.Bundle], line: str, message: str
) -> None:
    with pytest.raises(InputsError) as info:
        diff_bundles(*pair, [line])
    assert str(info.value).startswith(message)


def test_blank_lines_are_skipped_and_line_numbers_kept(
    pair: tuple[tenet.Bundle, tenet.Bundle],
) -> None:
    result = diff_bundles(*pair, ["\n", *_lines(INPUTS[:1])])
    assert result.inputs == 1
    assert result.decisions[0].line == 2


def test_a_violation_the_new_version_waives_is_said_waived_not_gone(tmp_path: Path) -> None:
    policy = 'package deploy\nrequire accuracy blocking { input.accuracy >= 0.9 } message "low"\n'
    waiver = (
        "waivers:\n  - check: deploy.accuracy\n    approved_by: cro\n    reason: pilot\n"
        '    expires: "2100-01-01T00:00:00Z"\n'
    )
    old = tenet.load_bundle(write_bundle(tmp_path / "a", {"p.tenet": policy}))
    new = tenet.load_bundle(write_bundle(tmp_path / "b", {"p.tenet": policy, "data.yaml": waiver}))
    line = '{"query": "deploy", "input": {"accuracy": 0.5}, "now": "2026-01-01T00:00:00Z"}\n'
    d = diff_bundles(old, new, [line])
    (change,) = d.decisions
    assert (change.resolved_violations, change.waived) == ((), ("deploy.accuracy (blocking): low",))
    assert "    ~ now waived deploy.accuracy (blocking): low" in render_diff(d).splitlines()


def test_an_input_schema_changed_is_a_change_of_its_own(tmp_path: Path) -> None:
    # a schema that now refuses inputs changes decisions as surely as a check does
    files = {
        "tenet.yaml": "name: s\nversion: 1.0.0\ninputs:\n  deploy: schemas/d.schema.json\n",
        "p.tenet": "package deploy\nrequire ok blocking { input.a }\n",
        "schemas/d.schema.json": '{"type": "object"}',
    }
    old = tenet.load_bundle(write_bundle(tmp_path / "a", files))
    strict = {**files, "schemas/d.schema.json": '{"type": "object", "required": ["owner"]}'}
    new = tenet.load_bundle(write_bundle(tmp_path / "b", strict))
    d = diff_bundles(old, new)
    assert [c.to_dict() for c in d.schemas] == [
        {"query": "deploy", "change": "changed", "path": "schemas/d.schema.json", "via_ref": []}
    ]
    text = render_diff(d).splitlines()
    assert "input schemas:" in text and "  ~ deploy  changed: schemas/d.schema.json" in text
    assert d.summary()["input_schemas"] == {"added": 0, "removed": 0, "changed": 1}


_REFERRING = {
    "tenet.yaml": "name: s\nversion: 1.0.0\ninputs:\n  gate: schemas/req.json\n",
    "gate.tenet": 'package gate\nrequire ok blocking { input.risk < 100 } message "x"\n',
    "schemas/req.json": '{"properties": {"risk": {"$ref": "common/risk.json"}}}',
    "schemas/common/risk.json": '{"type": "number", "maximum": 5}',
}


def test_an_input_schema_changed_behind_a_ref_is_changed(tmp_path: Path) -> None:
    # the file a `$ref` names is part of the schema: loosening it lets inputs through
    old = tenet.load_bundle(write_bundle(tmp_path / "a", _REFERRING))
    loose = {**_REFERRING, "schemas/common/risk.json": "{}"}
    new = tenet.load_bundle(write_bundle(tmp_path / "b", loose))
    d = diff_bundles(old, new)
    assert [c.to_dict() for c in d.schemas] == [
        {
            "query": "gate",
            "change": "changed",
            "path": "schemas/req.json",
            "via_ref": ["schemas/common/risk.json"],
        }
    ]
    assert render_diff(d).splitlines()[4:6] == [
        "input schemas:",
        "  ~ gate  changed: schemas/req.json (via $ref: schemas/common/risk.json)",
    ]
    assert d.summary()["input_schemas"] == {"added": 0, "removed": 0, "changed": 1}


def test_a_reformatted_schema_is_no_change(tmp_path: Path) -> None:
    old = tenet.load_bundle(write_bundle(tmp_path / "a", _REFERRING))
    spaced = {
        **_REFERRING,
        "schemas/common/risk.json": '{\n  "maximum": 5,\n  "type": "number"\n}\n',
    }
    d = diff_bundles(old, tenet.load_bundle(write_bundle(tmp_path / "b", spaced)))
    assert (d.schemas, d.named_schemas) == ([], [])


_NAMED = {
    "tenet.yaml": "name: s\nversion: 1.0.0\n",
    "gate.tenet": (
        'package gate\nrequire vendor_ok blocking { matches_schema(input.vendor, "vendor") } '
        'message "vendor malformed"\n'
    ),
    "schemas/vendor.schema.json": (
        '{"type": "object", "required": ["name"], "properties": {"name": {"$ref": "name.json"}}}'
    ),
    "schemas/name.json": '{"type": "string", "pattern": "^[a-z]+$"}',
}


def test_a_named_schema_changed_is_listed_by_name(tmp_path: Path) -> None:
    # `matches_schema` reads it: a check whose text is the same now means something else
    old = tenet.load_bundle(write_bundle(tmp_path / "a", _NAMED))
    loose = {
        **_NAMED,
        "schemas/name.json": '{"type": "string", "pattern": "^.*$"}',
        "schemas/extra.schema.json": "{}",
    }
    new = tenet.load_bundle(write_bundle(tmp_path / "b", loose))
    d = diff_bundles(old, new)
    assert d.definitions == [] and d.schemas == []
    assert [c.to_dict("name") for c in d.named_schemas] == [
        {"name": "extra", "change": "added", "path": "schemas/extra.schema.json", "via_ref": []},
        {
            "name": "vendor",
            "change": "changed",
            "path": "schemas/vendor.schema.json",
            "via_ref": ["schemas/name.json"],
        },
    ]
    text = render_diff(d).splitlines()
    assert text[5:8] == [
        "schemas:",
        "  + extra   added: schemas/extra.schema.json",
        "  ~ vendor  changed: schemas/vendor.schema.json (via $ref: schemas/name.json)",
    ]
    assert text[-1].endswith("; 1 schema added, 0 removed, 1 changed")
    assert d.to_dict()["schemas"][1]["name"] == "vendor"


def test_a_schema_referred_to_by_its_id_counts_too(tmp_path: Path) -> None:
    by_id = {
        **_REFERRING,
        "schemas/req.json": '{"properties": {"risk": {"$ref": "https://example.com/risk"}}}',
        "schemas/risk.schema.json": '{"$id": "https://example.com/risk", "maximum": 5}',
    }
    del by_id["schemas/common/risk.json"]
    old = tenet.load_bundle(write_bundle(tmp_path / "a", by_id))
    loose = {**by_id, "schemas/risk.schema.json": '{"$id": "https://example.com/risk"}'}
    d = diff_bundles(old, tenet.load_bundle(write_bundle(tmp_path / "b", loose)))
    assert [(c.query, c.via_ref) for c in d.schemas] == [("gate", ("schemas/risk.schema.json",))]
    assert [(c.query, c.via_ref) for c in d.named_schemas] == [("risk", ())]
