"""Evaluation details the conformance cases leave open: evidence shape, forbid bindings,
template errors, waivers over several bindings, limits, explanations of errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tenet
from tests.conftest import assert_valid_decision, write_bundle


def bundle(tmp_path: Path, text: str, data: Any = None, **files: str) -> tenet.Bundle:
    return tenet.load_bundle(write_bundle(tmp_path / "b", {"main.tenet": text, **files}, data))


def decide(b: tenet.Bundle, query: str, input: Any, **kw: Any) -> dict[str, Any]:
    doc = b.decide(query, input, **kw).to_dict()
    assert_valid_decision(doc)
    return doc


def by_id(doc: dict[str, Any], check_id: str) -> list[dict[str, Any]]:
    return [c for c in doc["checks"] if c["id"] == check_id]


def test_forbid_reports_each_distinct_binding_once_with_bindings(tmp_path: Path) -> None:
    b = bundle(
        tmp_path,
        """package main
forbid pii {
    some f in input.features
    f in ["email", "ssn"]
} message "feature {f} is personal data"
""",
    )
    doc = decide(b, "main", {"features": ["ssn", "age", "email", "ssn"]})
    violations = by_id(doc, "main.pii")
    assert [v["message"] for v in violations] == [
        "feature ssn is personal data",
        "feature email is personal data",
    ]
    assert [v["bindings"] for v in violations] == [{"f": "ssn"}, {"f": "email"}]
    assert doc["summary"]["violated"]["blocking"] == 2


def test_require_evidence_is_the_furthest_path(tmp_path: Path) -> None:
    b = bundle(
        tmp_path,
        """package main
require has_lead {
    some a in input.approvals
    a.role == "ml_lead"
    a.status == "approved"
} message "no approved ml lead ({a.role})"
""",
    )
    doc = decide(
        b,
        "main",
        {
            "approvals": [
                {"role": "owner", "status": "approved"},
                {"role": "ml_lead", "status": "x"},
            ]
        },
    )
    (check,) = by_id(doc, "main.has_lead")
    assert check["status"] == "violated"
    # the second approval got further (role matched, status did not): its bindings render
    assert check["message"] == "no approved ml lead (ml_lead)"
    assert [e["holds"] for e in check["evidence"]] == [True, True, False]
    assert check["evidence"][-1]["values"] == {"a.status": "x"}


def test_passed_checks_carry_evidence_only_with_full_explain(tmp_path: Path) -> None:
    b = bundle(tmp_path, "package main\nrequire ok { input.ok == true }\n")
    assert "evidence" not in decide(b, "main", {"ok": True})["checks"][0]
    full = decide(b, "main", {"ok": True}, explain="full")["checks"][0]
    assert full["evidence"][0]["holds"] is True
    assert full["evidence"][0]["values"] == {"input.ok": True}


def test_a_bad_format_spec_makes_the_check_an_error(tmp_path: Path) -> None:
    b = bundle(tmp_path, 'package main\nrequire ok { input.n > 5 } message "n is {input.n:.1q}"\n')
    doc = decide(b, "main", {"n": 1})
    assert doc["outcome"] == "error"
    assert by_id(doc, "main.ok")[0]["status"] == "error"
    assert doc["errors"][0]["check"] == "main.ok"


def test_a_message_that_fails_keeps_the_evidence_of_the_violation(tmp_path: Path) -> None:
    # the body was evaluated and failed: why is still worth showing, though the message is not
    b = bundle(
        tmp_path,
        """package main
require floor {
    input.accuracy >= 0.9
} message "accuracy {input.accuracy} for model {input.model:.2f}"
forbid pair {
    some x in input.xs
    x > 1
} message "{x} / {1 / input.zero}"
""",
    )
    doc = decide(b, "main", {"accuracy": 0.5, "model": "churn", "xs": [1, 2], "zero": 0})
    floor, pair = doc["checks"]
    assert floor["status"] == pair["status"] == "error"
    assert floor["evidence"] == [
        {
            "condition": "input.accuracy >= 0.9",
            "location": "main.tenet:3:5",
            "holds": False,
            "values": {"input.accuracy": 0.5},
            "input_paths": ["/accuracy"],
        }
    ]
    assert [(e["condition"], e["holds"], e["values"]) for e in pair["evidence"]] == [
        ("some x in input.xs", True, {"input.xs": [1, 2], "x": 2}),
        ("x > 1", True, {"x": 2}),
    ]
    assert [(e["code"], e["check"]) for e in doc["errors"]] == [
        ("template", "main.floor"),
        ("division_by_zero", "main.pair"),
    ]


def test_a_whole_number_from_arithmetic_takes_an_integer_format(tmp_path: Path) -> None:
    # `6 / 3` is 2 (`1 == 1.0`), and prints as 2: `:d` and `:x` take it as an integer does
    policy = (
        "package main\n"
        'require ok { input.n < 0 } message "{6 / 3:d} {input.f:d} {input.n:x} {7 / 2:.1f} '
        '{1e16 * 1:d}"\n'
    )
    doc = decide(bundle(tmp_path, policy), "main", {"n": 255.0, "f": 1.0})
    assert by_id(doc, "main.ok")[0]["status"] == "violated", doc
    assert by_id(doc, "main.ok")[0]["message"] == "2 1 ff 3.5 10000000000000000"
    bad = decide(bundle(tmp_path / "b", policy), "main", {"n": 2.5, "f": 1.0})
    assert (
        "bad format `:x` for 2.5: `x` is no format for a number with a fraction"
        in (bad["errors"][0]["message"])
    )
    text = decide(
        bundle(tmp_path / "c", 'package main\nrequire ok { false } message "{6 / 3:s}"\n'),
        "main",
        {},
    )
    assert (
        "bad format `:s` for 2: `s` is no format for a whole number" in text["errors"][0]["message"]
    )


@pytest.mark.parametrize(
    ("spec", "n", "reason"),
    [
        ("c", 1114112, "not in range"),  # past the last code point
        ("c", -1, "not in range"),
        ("c", 55296, "it is not a character"),  # half a UTF-16 pair: no output holds it
        ("c", 10**30, "too large"),
        (">100000000", 1, "width or precision over 1000"),  # a 100 MB message each time
        (".100000f", 1, "width or precision over 1000"),
    ],
)
def test_a_format_that_cannot_give_text_is_a_template_error_at_the_message(
    tmp_path: Path, spec: str, n: int, reason: str
) -> None:
    b = bundle(
        tmp_path, f'package main\nrequire ok {{ input.n > 1e300 }} message "{{input.n:{spec}}}"\n'
    )
    doc = decide(b, "main", {"n": n})
    (error,) = doc["errors"]
    assert error["code"] == "template" and reason in error["message"], error
    assert error["location"].startswith("main.tenet:2:")
    json.dumps(doc, ensure_ascii=False).encode()  # the answer is text
    expected = "violated" if spec == "c" else "error"  # `:c` of 65 is `A`
    assert decide(b, "main", {"n": 65})["checks"][0]["status"] == expected


def test_an_error_in_when_is_an_error_with_the_when_as_evidence(tmp_path: Path) -> None:
    b = bundle(tmp_path, "package main\nrequire ok when input.n > 1 { true }\n")
    doc = decide(b, "main", {"n": "x"})
    (check,) = by_id(doc, "main.ok")
    assert check["status"] == "error"
    assert check["evidence"][0]["condition"] == "input.n > 1"


def test_one_waiver_covers_every_binding_of_its_check(tmp_path: Path) -> None:
    b = bundle(
        tmp_path,
        "package main\nforbid big { some v in input.xs\n v > 1 }\n",
        {
            "waivers": [
                {
                    "check": "main.big",
                    "expires": "2030-01-01T00:00:00Z",
                    "approved_by": "cro",
                    "reason": "known",
                }
            ]
        },
    )
    doc = decide(b, "main", {"xs": [2, 3]}, now="2026-01-01T00:00:00Z")
    assert [c["status"] for c in doc["checks"]] == ["waived", "waived"]
    assert doc["allowed"] is True
    assert doc["checks"][0]["waiver"]["approved_by"] == "cro"


def test_a_waiver_for_an_unknown_check_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(tenet.PolicyError, match=r"main\.okk"):
        bundle(
            tmp_path,
            "package main\nrequire ok { true }\n",
            {
                "waivers": [
                    {
                        "check": "main.okk",
                        "expires": "2030-01-01T00:00:00Z",
                        "approved_by": "x",
                        "reason": "y",
                    }
                ]
            },
        )


def test_step_limit_fails_closed(tmp_path: Path) -> None:
    root = write_bundle(
        tmp_path / "b",
        {"main.tenet": "package main\nn = count([1 for x in input.xs for y in input.xs])\n"},
    )
    b = tenet.load_bundle(root, limits=tenet.Limits(max_steps=1000))
    doc = decide(b, "main.n", {"xs": list(range(100))})
    assert doc["outcome"] == "error"
    assert doc["errors"][0]["code"] == "step_limit"


def test_an_error_ends_the_explanation_with_its_evidence(tmp_path: Path) -> None:
    b = bundle(tmp_path, "package main\ndefault g = false\ng if { input.a < 1 }\n")
    doc = decide(b, "main.g", {"a": "x"})
    assert doc["outcome"] == "error"
    (d,) = doc["explanation"]["definitions"]
    assert d["evidence"][0]["values"] == {"input.a": "x"}


def test_boolean_rule_explanation_counts_definitions_not_evaluated(tmp_path: Path) -> None:
    b = bundle(
        tmp_path,
        "package main\nallow if { input.a }\nallow if { input.b }\nallow if { input.c }\n",
    )
    doc = decide(b, "main.allow", {"a": True})
    exp = doc["explanation"]
    assert [d["held"] for d in exp["definitions"]] == [True]
    assert exp["not_evaluated"] == 2


def test_value_rule_conflict_between_bindings_is_an_error(tmp_path: Path) -> None:
    b = bundle(tmp_path, "package main\nx = v if { some v in input.vs }\n")
    assert decide(b, "main.x", {"vs": [1, 1]})["result"] == 1
    doc = decide(b, "main.x", {"vs": [1, 2]})
    assert doc["outcome"] == "error"
    assert "main.x" in doc["errors"][0]["message"]


def test_object_comprehension_key_conflict_is_an_error(tmp_path: Path) -> None:
    b = bundle(tmp_path, "package main\no = {u.k: u.v for u in input.us}\n")
    assert decide(b, "main.o", {"us": [{"k": "a", "v": 1}, {"k": "a", "v": 1}]})["result"] == {
        "a": 1
    }
    assert decide(b, "main.o", {"us": [{"k": "a", "v": 1}, {"k": "a", "v": 2}]})["outcome"] == (
        "error"
    )


def test_imports_of_packages_rules_and_input(tmp_path: Path) -> None:
    b = bundle(
        tmp_path,
        """package main
import lib.checks
import lib.checks.is_prod as prod
import input.model as m
a if { checks.is_prod(m.path) }
b if { prod(m.path) }
""",
        None,
        **{"lib.tenet": 'package lib.checks\nis_prod(p) if { startswith(p, "prod/") }\n'},
    )
    assert decide(b, "main.a", {"model": {"path": "prod/x"}})["result"] is True
    doc = decide(b, "main.b", {"model": {"path": "prod/x"}})
    assert doc["result"] is True
    ev = doc["explanation"]["definitions"][0]["evidence"][0]
    assert ev["input_paths"] == ["/model/path"]


def test_query_of_unknown_name_suggests(tmp_path: Path) -> None:
    b = bundle(tmp_path, "package main\nallow if { true }\n")
    with pytest.raises(tenet.QueryError, match=r"main\.allow"):
        b.decide("main.alow", {})


def test_numbers_render_whole_in_messages(tmp_path: Path) -> None:
    b = bundle(
        tmp_path,
        'package main\nrequire ok { input.h < 1 } message "{input.h * 24} {[1, 2.0]} {input.s}"\n',
    )
    doc = decide(b, "main", {"h": 1.0, "s": "x"})
    assert doc["checks"][0]["message"] == "24 [1, 2] x"


def test_missing_evidence_in_a_nested_comprehension_never_passes(tmp_path: Path) -> None:
    b = bundle(
        tmp_path,
        """package main
require no_pii {
    count([f for m in input.models for f in m.features if f in ["ssn"]]) == 0
}
""",
    )
    doc = decide(b, "main", {"models": [{"id": "churn"}]})
    (check,) = doc["checks"]
    assert check["status"] == "violated"
    assert check["evidence"][0]["undefined"] == ["m.features"]
    ok = decide(b, "main", {"models": [{"features": ["age"]}]})
    assert ok["checks"][0]["status"] == "passed"


def test_a_step_limit_error_names_where_it_stopped(tmp_path: Path) -> None:
    root = write_bundle(
        tmp_path / "b",
        {"main.tenet": "package main\nr if {\n    some a in input.xs\n    a < 0\n}\n"},
    )
    b = tenet.load_bundle(root, limits=tenet.Limits(max_steps=5))
    doc = decide(b, "main.r", {"xs": list(range(10))})
    assert doc["errors"][0]["code"] == "step_limit"
    assert doc["errors"][0]["location"] == "main.tenet:3:5"


_STEPS_POLICY = """package main

default allow = false

dep = count([x for x in input.ys if x > 0])

allow if {
    dep > 0
    some x in input.xs
    x == 5
}
"""


@pytest.mark.parametrize("max_steps", [44, 46])
def test_a_step_limit_error_is_explained_where_the_decision_stopped(
    tmp_path: Path, max_steps: int
) -> None:
    # the explanation's re-run reused the rules the first pass settled, and so had their
    # steps to spare: it got past the limit and said the definition held
    root = write_bundle(tmp_path / "b", {"main.tenet": _STEPS_POLICY})
    b = tenet.load_bundle(root, limits=tenet.Limits(max_steps=max_steps))
    doc = decide(b, "main.allow", {"ys": list(range(1, 41)), "xs": list(range(1, 41))})
    message = f"evaluation took more than {max_steps} steps and was stopped"
    assert doc["errors"] == [
        {"code": "step_limit", "message": message, "location": "main.tenet:9:5"}
    ]
    (d,) = doc["explanation"]["definitions"]
    assert d["held"] is False
    assert [(e["condition"], e["holds"], e.get("error")) for e in d["evidence"]] == [
        ("dep > 0", True, None),
        ("some x in input.xs", None, message),
    ]


@pytest.mark.parametrize(
    "options", [None, tenet.CompileOptions(indexing=False, folding=False, fast_paths=False)]
)
def test_no_step_limit_error_is_explained_as_a_definition_that_held(
    tmp_path: Path, options: tenet.CompileOptions | None
) -> None:
    root = write_bundle(tmp_path / "b", {"main.tenet": _STEPS_POLICY})
    for max_steps in range(1, 60):
        b = tenet.load_bundle(root, limits=tenet.Limits(max_steps=max_steps), options=options)
        doc = decide(b, "main.allow", {"ys": list(range(1, 41)), "xs": list(range(1, 41))})
        (d,) = doc["explanation"]["definitions"]
        if doc["outcome"] == "error":
            assert not d["held"], max_steps
            assert d["evidence"][-1]["error"] == doc["errors"][0]["message"], max_steps
        else:
            assert d["held"], max_steps


def test_annotations_must_stand_directly_above(tmp_path: Path) -> None:
    with pytest.raises(tenet.PolicyError, match="directly above") as info:
        bundle(tmp_path, "package main\n#@ title: far\n\n# note\nrequire c { false }\n")
    assert info.value.diagnostics[0].line == 2


def test_to_dict_returns_a_copy(tmp_path: Path) -> None:
    b = bundle(tmp_path, "package main\nrequire c { false }\n")
    decision = b.decide("main", {})
    decision.to_dict()["summary"]["errors"] = 99
    assert decision.to_dict()["summary"]["errors"] == 0


def test_an_import_naming_both_data_and_a_package_is_ambiguous(tmp_path: Path) -> None:
    with pytest.raises(tenet.PolicyError, match="ambiguous") as info:
        bundle(
            tmp_path,
            "package data.retention\nx = 1\n",
            {"retention": {"x": 2}},
            **{"q.tenet": "package q\nimport data.retention\ny = retention.x\n"},
        )
    assert info.value.diagnostics[0].path == "q.tenet"


def test_a_body_less_rule_names_the_reference_that_left_it_undefined(tmp_path: Path) -> None:
    b = bundle(
        tmp_path,
        """package gov.review
names = [a.user for a in input.approvals if a.ok]
total = input.a + input.b.c
""",
    )
    doc = decide(b, "gov.review.names", {"model": {"name": "x"}})
    assert doc["defined"] is False
    (definition,) = doc["explanation"]["definitions"]
    assert definition["held"] is False
    (entry,) = definition["evidence"]
    assert entry["condition"] == "[a.user for a in input.approvals if a.ok]"
    assert entry["location"] == "main.tenet:2:9"
    assert entry["holds"] is None and entry["undefined"] == ["input.approvals"]
    doc = decide(b, "gov.review.total", {"a": 1})
    assert doc["explanation"]["definitions"][0]["evidence"][0]["undefined"] == ["input.b"]
    held = decide(b, "gov.review.names", {"approvals": [{"user": "u", "ok": True}]})
    assert held["result"] == ["u"]
    (definition,) = held["explanation"]["definitions"]
    assert definition["held"] is True
    assert definition["evidence"][0]["holds"] is True


def test_the_longest_chain_the_parser_accepts_evaluates_explains_and_formats(
    tmp_path: Path,
) -> None:
    from tenet.syntax.format import format_text

    n = 295  # MAX_TREE_DEPTH (300) counts the rule, body and condition levels too
    sums = " + ".join(["input.a"] * n)
    ors = " or\n    ".join(["input.b"] * n)
    text = f"package main\ntotal = {sums}\nany_b if {{\n    {ors}\n}}\n"
    b = bundle(tmp_path, text)
    assert decide(b, "main.total", {"a": 1}, explain="full")["result"] == n
    assert decide(b, "main.any_b", {"b": True}, explain="full")["result"] is True
    assert decide(b, "main.any_b", {}, explain="full")["defined"] is False
    assert format_text(text).count(" or") == n - 1


def test_a_local_bound_to_part_of_the_input_reads_with_its_pointer(tmp_path: Path) -> None:
    # CI annotations point at the field a condition read through a local, not its parent
    policy = """package main
require approved {
    bg := input.subject.bg
    bg.approved_by != input.subject.id
}
forbid unreviewed {
    some d in input.ds
    not d.reviewed
}
forbid big {
    some name, m in input.models
    m.size > 10
}
forbid pair {
    some i, row in input.rows
    row[1] > 1
}
"""
    doc = decide(
        bundle(tmp_path, policy),
        "main",
        {
            "subject": {"id": "a", "bg": {"approved_by": "a"}},
            "ds": [{"reviewed": True}, {"reviewed": False}],
            "models": {"x": {"size": 1}, "y": {"size": 11}},
            "rows": [[0, 0], [0, 2]],
        },
    )
    paths = {c["id"]: c["evidence"][-1]["input_paths"] for c in doc["checks"]}
    assert paths == {
        "main.approved": ["/subject/bg/approved_by", "/subject/id"],
        "main.unreviewed": ["/ds/1/reviewed"],
        "main.big": ["/models/y/size"],
        "main.pair": ["/rows/1/1"],
    }


def test_a_whole_float_index_reads_with_the_element_s_pointer(tmp_path: Path) -> None:
    b = bundle(tmp_path, "package main\nr if { input.xs[1.0] > 0 }\n")
    doc = decide(b, "main.r", {"xs": [1, 2]}, explain="full")
    (evidence,) = doc["explanation"]["definitions"][0]["evidence"]
    assert evidence["input_paths"] == ["/xs/1"]


def test_a_missing_data_key_is_named_at_its_first_missing_step(tmp_path: Path) -> None:
    # as `input.a.b` names `input.a`: constant folding of data must not hide which key is missing
    policy = "package main\nr if { data.th.o }\ns if { data.th2.o.x.y }\n"
    b = bundle(tmp_path, policy, {"th2": {"o": {}}})
    undefined = {
        q: decide(b, q, {})["explanation"]["definitions"][0]["evidence"][0]["undefined"]
        for q in ("main.r", "main.s")
    }
    assert undefined == {"main.r": ["data.th"], "main.s": ["data.th2.o.x"]}


def test_duration_keeps_to_the_integers_arithmetic_keeps(tmp_path: Path) -> None:
    b = bundle(tmp_path, "package main\nd = duration(input.s)\n")
    assert decide(b, "main.d", {"s": "90w"})["result"] == 90 * 7 * 86400
    doc = decide(b, "main.d", {"s": "9" * 1300 + "w"})
    assert doc["outcome"] == "error" and doc["errors"][0]["code"] == "overflow"


def test_sum_keeps_to_the_integers_arithmetic_keeps(tmp_path: Path) -> None:
    big = "9" * 1233  # 4,096 bits, the most kept exact: four of them are over
    b = bundle(tmp_path, f"package main\nr = sum([{big}, {big}, {big}, {big}])\n")
    doc = decide(b, "main.r", {})
    assert doc["outcome"] == "error" and doc["errors"][0]["code"] == "overflow"


def test_the_fairness_built_ins_read_groups_in_key_order(tmp_path: Path) -> None:
    # which group an error names does not depend on the order of the input's keys
    b = bundle(tmp_path, "package main\nr = demographic_parity_difference(input.g)\n")
    empty = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    first = decide(b, "main.r", {"g": {"b": empty, "a": {"tp": 1}}})
    second = decide(b, "main.r", {"g": {"a": {"tp": 1}, "b": empty}})
    assert first["errors"] == second["errors"] and "group `a`" in first["errors"][0]["message"]


def test_a_value_too_deep_to_write_is_an_error_not_an_exception(tmp_path: Path) -> None:
    # evaluation nests deeper than Python can write JSON: the decision says so
    def wrap(x: str) -> str:
        return "[" * 170 + x + "]" * 170

    policy = f"package main\na = {wrap('1')}\nb = {wrap('a')}\nc = {wrap('b')}\n"
    policy += "require x { is_array(c) }\n"
    b = bundle(tmp_path, policy)
    doc = decide(b, "main.c", {})
    assert doc["outcome"] == "error" and doc["errors"][0]["code"] == "limit"
    full = decide(b, "main", {}, explain="full")
    (evidence,) = full["checks"][0]["evidence"]
    assert full["outcome"] == "allow" and evidence["values"]["c"] == "<nested too deeply to show>"


def test_a_big_integer_and_a_decimal_are_ordered_as_sort_orders_them(tmp_path: Path) -> None:
    # one total order: `<` agrees with sort and max, exactly, beyond the double range too
    big = "1" + "0" * 400
    policy = (
        f"package main\nlt = 1.5 < {big}\ngt = {big} > 1.5\nm = max([1.5, {big}]) == {big}\n"
        f"s = sort([{big}, 1.5])[0] == 1.5\nsum_ = 1.5 + {big}\n"
    )
    b = bundle(tmp_path, policy)
    for q in ("main.lt", "main.gt", "main.m", "main.s"):
        assert decide(b, q, {})["result"] is True, q
    assert decide(b, "main.sum_", {})["errors"][0]["code"] == "overflow"  # arithmetic still


def test_a_value_exactly_at_a_decimal_unit_limit_is_not_over_it(tmp_path: Path) -> None:
    b = bundle(
        tmp_path,
        """package main
forbid disparity_over_limit { input.disparity > 0.7% } message "over"
require latency_ok { input.latency <= 0.57m } message "slow"
lim_pct = 0.7%
""",
    )
    doc = decide(b, "main", {"disparity": 0.007, "latency": 34.2})
    assert [c["status"] for c in doc["checks"]] == ["passed", "passed"]
    assert decide(b, "main.lim_pct", {})["result"] == 0.007


_LONG = {"s": "a" * 30_000, "t": "b" * 30_000, "r": list(range(10))}


@pytest.mark.parametrize(
    ("expr", "limit", "built"),
    [
        # the default limit: a 60 KB input made `replace` build 900 million characters (930 MB)
        ('replace(input.s, "a", input.t)', None, "`replace` would build a string of 900000000"),
        ('join("-", [input.t for a in input.r])', 300_000, "`join` would build a string of 300009"),
        ("input.t + input.t", 50_000, "`+` would build a string of 60000"),
        ("input.r + input.r", 19, "`+` would build an array of 20"),
    ],
)
def test_a_value_too_large_to_build_is_an_error_before_it_is_built(
    tmp_path: Path, expr: str, limit: int | None, built: str
) -> None:
    root = write_bundle(
        tmp_path / "b",
        {"main.tenet": f'package main\nrequire ok {{ count({expr}) < 9 }} message "m"\n'},
    )
    limits = tenet.Limits() if limit is None else tenet.Limits(max_built_size=limit)
    doc = decide(tenet.load_bundle(root, limits=limits), "main", _LONG)
    unit = "elements" if "array" in built else "characters"
    assert doc["errors"] == [
        {
            "code": "size_limit",
            "message": f"{built} {unit}, over the limit of {limits.max_built_size} "
            "(`max_built_size`)",
            "location": "main.tenet:2:20",
            "check": "main.ok",
        }
    ]
    assert doc["checks"][0]["status"] == "error"


def test_values_within_the_built_size_limit_are_built(tmp_path: Path) -> None:
    text = 'package main\nx = replace(input.s, "a", "bc")\ny = input.r + [1]\n'
    root = write_bundle(tmp_path / "b", {"main.tenet": text})
    limited = tenet.load_bundle(root, limits=tenet.Limits(max_built_size=6))
    assert decide(limited, "main.x", {"s": "aaa"})["result"] == "bcbcbc"
    assert decide(limited, "main.y", {"r": [0] * 5})["result"] == [0] * 5 + [1]
    assert decide(limited, "main.y", {"r": [0] * 6})["errors"][0]["code"] == "size_limit"


def test_a_package_document_keeps_to_the_built_size_limit(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"main.tenet": "package main\ny = input.r + [1]\n"})
    b = tenet.load_bundle(root, limits=tenet.Limits(max_built_size=6))
    assert b.evaluate_document("main", {"r": [0] * 5}).to_dict()["result"] == {"y": [0] * 5 + [1]}
    errors = b.evaluate_document("main", {"r": [0] * 6}).to_dict()["errors"]
    assert [e["code"] for e in errors] == ["size_limit"]


# Each value built here is small; together they were not bounded (a comprehension of 3,000
# `replace` calls, each 3 MB, would build 9 GB from a 6 KB input). With these limits the
# tenth 100,000-character string is refused, before it is built.
_MANY = {"s": "a" * 100, "t": "b" * 1_000, "r": list(range(600))}
_SMALL = tenet.Limits(max_built_bytes=1_000_000)


@pytest.mark.parametrize(
    ("expr", "what"),
    [
        ('[replace(input.s, "a", input.t) for i in input.r]', "`replace`"),
        ("[input.t + input.t for i in input.r]", "`+`"),
        ('[join("", [input.t, input.t]) for i in input.r]', "`join`"),
        ('[split(input.t, "") for i in input.r] ', None),
        ("[upper(input.t) for i in input.r for j in input.r]", "`upper`"),
        # arrays and objects of references, a few pointers each, but 360,000 of them
        ("[[i, j] for i in input.r for j in input.r]", "an array"),
        ('[{"i": i, "j": j} for i in input.r for j in input.r]', "an object"),
        ("{i * 1000 + j for i in input.r for j in input.r}", "a set comprehension"),
        ("[j for i in input.r for j in input.r]", "an array comprehension"),
    ],
)
def test_the_values_a_decision_builds_are_bounded_in_all(
    tmp_path: Path, expr: str, what: str | None
) -> None:
    if what is None:
        expr, what = '[split(input.t, "b") for i in input.r]', "`split`"
    b = tenet.load_bundle(
        write_bundle(tmp_path / "b", {"main.tenet": f"package main\nx = {expr}\n"}),
        limits=_SMALL,
    )
    doc = decide(b, "main.x", _MANY)
    assert doc["errors"] == [
        {
            "code": "size_limit",
            "message": f"{what} took the values this evaluation built past 1000000 bytes "
            "(`max_built_bytes`)",
            "location": doc["errors"][0]["location"],
        }
    ]
    # within the budget, the same definitions are evaluated
    small = {"s": "a", "t": "b", "r": [0, 1]}
    assert decide(b, "main.x", small)["errors"] == []


def test_each_value_built_counts_its_object_too(tmp_path: Path) -> None:
    # a two-element list is 72 bytes, not the 16 of its two references: 14,400 of them are
    # 64 + 16 bytes each, over 1 MB; 10,000 are within it
    text = "package main\nx = [[i, j] for i in input.r for j in input.r]\n"
    b = tenet.load_bundle(write_bundle(tmp_path / "b", {"main.tenet": text}), limits=_SMALL)
    doc = decide(b, "main.x", {"r": list(range(120))})
    assert [e["code"] for e in doc["errors"]] == ["size_limit"]
    assert decide(b, "main.x", {"r": list(range(100))})["errors"] == []


def test_the_messages_of_violations_count_as_built(tmp_path: Path) -> None:
    text = 'package main\nforbid f { some i in input.r } message "{i}: {input.t}{input.t}"\n'
    b = tenet.load_bundle(write_bundle(tmp_path / "b", {"main.tenet": text}), limits=_SMALL)
    # 50 messages of 60,000 characters: 3 MB (their evidence, 50 x 51 values, is 160 KB)
    doc = decide(b, "main", {"r": list(range(50)), "t": "b" * 30_000})
    assert [(e["code"], e["check"]) for e in doc["errors"]] == [("size_limit", "main.f")]
    assert "the message took the values" in doc["errors"][0]["message"]
    assert len(decide(b, "main", {"r": list(range(50)), "t": "b" * 1_000})["checks"]) == 50


def test_the_evidence_of_violations_counts_as_built(tmp_path: Path) -> None:
    # each violation's evidence holds the whole `input.r` it read: n violations, n² values
    text = 'package main\nforbid f {\n    some i in input.r\n    i >= 0\n} message "{i}"\n'
    b = tenet.load_bundle(write_bundle(tmp_path / "b", {"main.tenet": text}), limits=_SMALL)
    # each violation writes 131 values, about 64 bytes each: 130 x 131 x 64 bytes is over 1 MB
    doc = decide(b, "main", {"r": list(range(130))})
    assert [(e["code"], e["check"]) for e in doc["errors"]] == [("size_limit", "main.f")]
    assert "the evidence of the violations took the values" in doc["errors"][0]["message"]
    assert doc["outcome"] == "error"
    # 115 x 116 x 64 bytes is within it: every violation, with its evidence
    doc = decide(b, "main", {"r": list(range(115))})
    assert len(doc["checks"]) == 115 and doc["errors"] == []
    assert doc["checks"][-1]["evidence"][0]["values"]["input.r"] == list(range(115))


def test_an_element_of_a_traced_some_counts_four_steps(tmp_path: Path) -> None:
    # traced for its evidence, an element takes a few times a plain step's time
    text = (
        "package main\nxs = [x for x in input.r if x >= 0]\n"
        'forbid f {\n    some x in input.r\n    x < 0\n} message "{x}"\n'
    )
    root = write_bundle(tmp_path / "b", {"main.tenet": text})
    b = tenet.load_bundle(root, limits=tenet.Limits(max_steps=300))
    r = {"r": list(range(100))}
    assert decide(b, "main.xs", r)["errors"] == []  # 100 plain steps
    assert [e["code"] for e in decide(b, "main", r)["errors"]] == ["step_limit"]  # 400
    b = tenet.load_bundle(root, limits=tenet.Limits(max_steps=500))
    assert decide(b, "main", r)["checks"][0]["status"] == "passed"


# One step each, but walking 2,000 characters or values: 20,000 characters is 20 steps
# (three times that for a regex), 2,000 values compared or sorted 800 steps.
_LARGE = {
    "s": "a" * 20_000,
    "t": "a" * 19_999 + "b",
    "a": list(range(1_000)),
    "b": [0] * 1_000,
    "f": "\ufdfa" * 1_000,  # NFKC makes each 18 letters
}


@pytest.mark.parametrize(
    ("expr", "steps"),
    [
        ("input.a == input.b", 800),
        ("input.a < input.b", 800),
        ("-1 in input.a", 400),
        ("count(sort(input.a)) == 0", 400),
        ("count(unique(input.a)) == 0", 400),
        ('regex("b$", input.s)', 60),
        ("contains(input.s, input.t)", 40),
        ("input.s == input.t", 20),
        ('count(split(input.s, "b")) == 0', 40),
        ('sha256(input.s) == ""', 40),
        ('nfkc_casefold(input.s) == ""', 22_000),
        ('nfkc_casefold(input.f) == ""', 2_800),
    ],
)
def test_a_step_that_walks_large_values_costs_steps_in_proportion(
    tmp_path: Path, expr: str, steps: int
) -> None:
    """The step limit bounds time: one call over large values cannot do a step's work
    millions of times over."""
    root = write_bundle(tmp_path / "b", {"main.tenet": f"package main\nx if {{ {expr} }}\n"})
    over = tenet.load_bundle(root, limits=tenet.Limits(max_steps=steps // 2))
    doc = decide(over, "main.x", _LARGE)
    assert [e["code"] for e in doc["errors"]] == ["step_limit"]
    assert doc["errors"][0]["location"].startswith("main.tenet:2:")
    within = tenet.load_bundle(root, limits=tenet.Limits(max_steps=steps * 2))
    assert decide(within, "main.x", _LARGE)["errors"] == []
