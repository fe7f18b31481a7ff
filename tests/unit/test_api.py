"""The Python API: load_bundle, Bundle.decide, QueryError, bad inputs as error decisions,
limits, the decision clock, thread safety. Every decision made here is checked against the
decision schema."""

from __future__ import annotations

import collections
import enum
import hashlib
import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import tenet
from tests.conftest import assert_valid_decision, write_bundle

VARYING = ("decision_id", "evaluated_at", "duration_us")


def load(tmp_path: Path, files: dict[str, str], data: Any = None, **kw: Any) -> tenet.Bundle:
    return tenet.load_bundle(write_bundle(tmp_path / "bundle", files, data), **kw)


def decide(b: tenet.Bundle, query: str, input: Any = None, **kw: Any) -> dict[str, Any]:
    decision = b.decide(query, input, **kw)
    doc = decision.to_dict()
    assert_valid_decision(doc)
    # the quick fields agree with the document
    assert decision.outcome == doc["outcome"]
    assert decision.allowed is doc["allowed"]
    assert decision.allowed is (doc["outcome"] == "allow")
    return doc


def stable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in VARYING}


MAIN = """package main

import data.limits

default allow = false

allow if {
    input.user.role in limits.admin_roles
}

allow if {
    count(input.items) <= limits.max_items
    every item in input.items {
        item.size < 10MB
    }
}

total = sum([i.size for i in input.items])

is_big(x) if { x > limits.max_items }

names contains i.name if {
    some i in input.items
}

require owner blocking {
    input.owner
} message "no owner"

forbid big_item warning {
    some i in input.items
    i.size >= 5MB
} message "{i.name} is {i.size} bytes"
"""

DATA = {"limits": {"admin_roles": ["admin", "root"], "max_items": 3}}


@pytest.fixture
def main(tmp_path: Path) -> tenet.Bundle:
    return load(tmp_path, {"main.tenet": MAIN}, DATA)


# ---- load_bundle ------------------------------------------------------------------------------


def test_load_bundle_returns_a_bundle_with_its_info(tmp_path: Path) -> None:
    b = load(
        tmp_path,
        {"main.tenet": MAIN, "tenet.yaml": "name: ai-gov\nversion: 1.4.0\nrevision: f7a3b2c\n"},
        DATA,
    )
    assert isinstance(b, tenet.Bundle)
    assert (b.name, b.version) == ("ai-gov", "1.4.0")
    assert b.digest.startswith("sha256:") and len(b.digest) == len("sha256:") + 64
    doc = decide(b, "main.allow", {"user": {"role": "admin"}})
    assert doc["bundle"] == {
        "name": "ai-gov",
        "version": "1.4.0",
        "revision": "f7a3b2c",
        "digest": b.digest,
    }


def test_a_folder_without_manifest_is_named_after_the_folder(main: tenet.Bundle) -> None:
    assert (main.name, main.version) == ("bundle", "0.0.0")


def test_load_bundle_of_a_missing_folder_raises_policy_error(tmp_path: Path) -> None:
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(tmp_path / "missing")
    assert "missing" in str(info.value)


def test_load_bundle_lists_every_diagnostic_across_files(tmp_path: Path) -> None:
    files = {
        "a/one.tenet": "package a\n\nallow if { rolez[input.role] }\n",
        "b/two.tenet": "package b\n\ndeny if { input.x == }\n",
        "c/three.tenet": "package c\n\nok if { glob(input.p) }\n",
    }
    with pytest.raises(tenet.PolicyError) as info:
        load(tmp_path, files)
    err = info.value
    where = sorted((d.path, d.line) for d in err.diagnostics)
    assert where == [("a/one.tenet", 3), ("b/two.tenet", 3), ("c/three.tenet", 3)]
    text = str(err)
    for needle in ("a/one.tenet:3:12", "rolez", "b/two.tenet:3:", "c/three.tenet:3:9", "glob"):
        assert needle in text
    assert {d.code for d in err.diagnostics} == {"unknown-name", "syntax", "arity"}
    assert all(d.severity == "error" for d in err.diagnostics)


def test_two_errors_in_one_file_are_both_reported(tmp_path: Path) -> None:
    policy = "package main\n\na if { unknown_one == 1 }\n\nb if { unknown_two == 2 }\n"
    with pytest.raises(tenet.PolicyError) as info:
        load(tmp_path, {"main.tenet": policy})
    assert [(d.line, d.column) for d in info.value.diagnostics] == [(3, 8), (5, 8)]


def test_diagnostics_have_a_dict_form(tmp_path: Path) -> None:
    with pytest.raises(tenet.PolicyError) as info:
        load(tmp_path, {"main.tenet": "package main\nallow if { globb(input.p) }\n"})
    (d,) = info.value.diagnostics
    assert d.to_dict() == {
        "code": "unknown-function",
        "severity": "error",
        "message": "unknown function `globb`",
        "file": "main.tenet",
        "line": 2,
        "column": 12,
        "help": "did you mean `glob`?",
    }


def test_a_malformed_waiver_is_a_load_error(tmp_path: Path) -> None:
    data = {
        "waivers": [
            {
                "check": "main.owner",
                "approved_by": "cro@example.com",
                "reason": "migration",
                # no `expires`: exceptions are always time-boxed
            }
        ]
    }
    with pytest.raises(tenet.PolicyError) as info:
        load(tmp_path, {"main.tenet": MAIN}, {**DATA, **data})
    (d,) = info.value.diagnostics
    assert "waivers[0]" in d.message and "expires" in d.message


def test_a_bundle_is_reusable_and_unchanged_by_deciding(main: tenet.Bundle) -> None:
    first = stable(decide(main, "main", {"owner": "a", "items": [{"name": "x", "size": 1}]}))
    decide(main, "main", {"items": "not a list"})
    decide(main, "main.total", {"items": [{"size": 1}, {"size": "x"}]})
    again = stable(decide(main, "main", {"owner": "a", "items": [{"name": "x", "size": 1}]}))
    assert first == again


# ---- decide: queries ----------------------------------------------------------------------------


def test_rule_and_package_queries(main: tenet.Bundle) -> None:
    items = [{"name": "a", "size": 1}, {"name": "b", "size": 6_000_000}]
    doc = decide(main, "main.allow", {"items": items}, now=0)
    assert (doc["outcome"], doc["result"], doc["defined"], doc["checks"]) == (
        "allow",
        True,
        True,
        [],
    )
    assert doc["explanation"]["rule"] == "main.allow"

    doc = decide(main, "main.total", {"items": items}, now=0)
    assert (doc["outcome"], doc["allowed"], doc["result"]) == ("deny", False, 6_000_001)

    doc = decide(main, "main.names", {"items": items}, now=0)
    assert doc["result"] == ["a", "b"]
    doc = decide(main, "main.names", {}, now=0)
    assert (doc["result"], doc["defined"]) == ([], True)

    doc = decide(main, "main", {"owner": "me", "items": items}, now=0)
    assert (doc["outcome"], doc["allowed"], doc["defined"], doc["result"]) == (
        "allow",
        True,
        True,
        None,
    )
    assert "explanation" not in doc
    assert [(c["id"], c["status"]) for c in doc["checks"]] == [
        ("main.owner", "passed"),
        ("main.big_item", "violated"),
    ]
    assert doc["checks"][1]["message"] == "b is 6000000 bytes"


def test_an_undefined_rule_is_not_defined(main: tenet.Bundle) -> None:
    doc = decide(main, "main.total", {})
    assert (doc["outcome"], doc["defined"], doc["result"]) == ("deny", False, None)


def test_input_digest_is_the_sha256_of_canonical_json(main: tenet.Bundle) -> None:
    value = {"z": [1, 2.5, "é"], "a": {"y": None, "b": True}}
    doc = decide(main, "main.allow", value)
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert doc["input_digest"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    reordered = {"a": {"b": True, "y": None}, "z": [1, 2.5, "é"]}
    assert decide(main, "main.allow", reordered)["input_digest"] == doc["input_digest"]


def test_no_input_means_an_empty_object(main: tenet.Bundle) -> None:
    assert stable(decide(main, "main", None, now=0)) == stable(decide(main, "main", {}, now=0))


@pytest.mark.parametrize(
    "query", ["main.nope", "nope", "main.allow.x", "mai", "", "main..allow", "data.limits"]
)
def test_unknown_query_raises_query_error(main: tenet.Bundle, query: str) -> None:
    with pytest.raises(tenet.QueryError) as info:
        main.decide(query, {})
    assert isinstance(info.value, tenet.PolicyError)
    assert info.value.diagnostics


def test_unknown_query_suggests_a_near_name(main: tenet.Bundle) -> None:
    with pytest.raises(tenet.QueryError) as info:
        main.decide("main.alow", {})
    (d,) = info.value.diagnostics
    assert "main.alow" in d.message
    assert d.help == "did you mean `main.allow`?"


def test_querying_a_check_says_to_query_its_package(main: tenet.Bundle) -> None:
    with pytest.raises(tenet.QueryError) as info:
        main.decide("main.owner", {})
    (d,) = info.value.diagnostics
    assert d.message == "`main.owner` is a check, and a check is decided with its package"
    assert d.help == "query `main`: the decision lists `main.owner` among its checks"


def test_an_unknown_query_with_no_near_name_is_shown_this_bundle_s_names(
    main: tenet.Bundle,
) -> None:
    with pytest.raises(tenet.QueryError) as info:
        main.decide("zzzzzz", {})
    (d,) = info.value.diagnostics
    assert d.help == "name a package (`main`) or a rule (`main.allow`)"


@pytest.mark.parametrize(
    ("query", "kind", "advice"),
    [
        (None, "None", "name a package or rule as text, such as `deploy.staging`"),
        (1, "int", "name a package or rule as text, such as `deploy.staging`"),
        (b"main.allow", "bytes", "decode it first, such as `query.decode()`"),
        (("main", "allow"), "tuple", 'join its names with dots, such as `".".join(path)`'),
        (["main.allow"], "list", 'join its names with dots, such as `".".join(path)`'),
    ],
)
def test_a_query_that_is_not_text_raises_query_error(
    main: tenet.Bundle, query: Any, kind: str, advice: str
) -> None:
    for call in (main.decide, main.evaluate_document):
        with pytest.raises(tenet.QueryError) as info:
            call(query, {})
        (d,) = info.value.diagnostics
        assert (d.code, d.message, d.help) == (
            "query",
            f"the query must be a `str`, not {kind}",
            advice,
        )


def test_querying_a_function_raises_query_error(main: tenet.Bundle) -> None:
    with pytest.raises(tenet.QueryError) as info:
        main.decide("main.is_big", {})
    assert "function" in str(info.value)


def test_bad_explain_mode_is_a_value_error(main: tenet.Bundle) -> None:
    with pytest.raises(ValueError):
        main.decide("main", {}, explain="everything")


# ---- bad input is an error decision, never an exception -----------------------------------------


def _deep(n: int) -> Any:
    v: Any = 1
    for _ in range(n):
        v = {"k": [v]}
    return v


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": {1, 2}}, "/a"),
        ({"a": [(1, 2)]}, "/a/0"),
        ({"a": b"x"}, "/a"),
        ({"when": datetime(2026, 1, 1, tzinfo=UTC)}, "/when"),
        ({"a": [1, float("nan")]}, "/a/1"),
        ({"x": {"y": float("inf")}}, "/x/y"),
        ({"a": -float("inf")}, "/a"),
        ({"n": 10**400}, "/n"),
        ({"n": [0, -(10**309)]}, "/n/1"),
        ({"a/b": {"c~d": float("nan")}}, "/a~1b/c~0d"),
    ],
)
def test_non_json_input_gives_an_error_decision_naming_the_path(
    main: tenet.Bundle, value: Any, path: str
) -> None:
    for query in ("main.allow", "main"):
        doc = decide(main, query, value)
        assert doc["outcome"] == "error" and doc["allowed"] is False
        assert doc["checks"] == []
        assert [e.get("path") for e in doc["errors"]] == [path], doc["errors"]
        assert doc["errors"][0]["code"]


class Role(str, enum.Enum):  # noqa: UP042 (not StrEnum: its str() is `Role.ADMIN`)
    ADMIN = "admin"


class Size(enum.IntEnum):
    SMALL = 1


class Float(float):
    def __str__(self) -> str:
        return "not a number"


def test_subclasses_of_json_types_are_read_as_those_types(main: tenet.Bundle) -> None:
    """What `json.dumps` writes as JSON is taken as it writes it: an OrderedDict, a `str`
    enum's member (by its value, not its `str()`), an IntEnum, a float subclass (as
    numpy.float64 is), a str-subclass key."""
    odd = collections.OrderedDict(
        user={"role": Role.ADMIN},
        items=[{"name": "m", "size": Size.SMALL}, {"name": "n", "size": Float(2.5)}],
    )
    odd[Role.ADMIN] = [Size.SMALL]  # type: ignore[index]
    plain = json.loads(json.dumps(odd))
    assert plain["user"]["role"] == "admin" and plain["admin"] == [1]
    for query in ("main", "main.allow", "main.total", "main.names"):
        got, want = (
            main.decide(query, odd, explain="full"),
            main.decide(query, plain, explain="full"),
        )
        assert got.outcome == want.outcome != "error", got.errors
        assert stable(got.to_dict()) == stable(want.to_dict())
    decision = main.decide("main.allow", odd)
    assert decision.allowed is True
    assert decision.input_digest == tenet.decision.input_digest(plain)
    assert decision.made_on(odd) and decision.made_on(plain)
    document = main.evaluate_document("main", odd)
    assert document.defined and document.value == main.evaluate_document("main", plain).value


def test_non_string_object_keys_are_refused(main: tenet.Bundle) -> None:
    doc = decide(main, "main.allow", {"a": {1: "x"}})
    assert doc["outcome"] == "error"
    assert doc["errors"][0]["path"] == "/a"


def test_a_top_level_non_json_input_names_the_root(main: tenet.Bundle) -> None:
    doc = decide(main, "main", float("nan"))
    assert doc["outcome"] == "error"
    assert doc["errors"][0]["path"] == ""


def test_a_too_deep_input_is_an_error_decision(main: tenet.Bundle) -> None:
    doc = decide(main, "main.allow", {"items": _deep(150)})
    assert doc["outcome"] == "error"
    (err,) = doc["errors"]
    assert err["path"].startswith("/items/k/0/k/0")
    # within the limit the same shape is fine
    assert decide(main, "main.allow", {"items": _deep(40)})["outcome"] in ("allow", "deny")


def test_the_depth_limit_is_configurable(tmp_path: Path) -> None:
    b = load(tmp_path, {"main.tenet": MAIN}, DATA, limits=tenet.Limits(max_input_depth=5))
    assert decide(b, "main.allow", _deep(1))["outcome"] != "error"
    doc = decide(b, "main.allow", _deep(5))
    assert doc["outcome"] == "error" and doc["errors"][0]["path"]


def test_numbers_at_the_edge_of_the_double_range_are_accepted(main: tenet.Bundle) -> None:
    big = int(1.7976931348623157e308)
    for value in (big, -big, 1.7976931348623157e308, 5e-324, 2**53 + 1, -0.0):
        doc = decide(main, "main.allow", {"n": value})
        assert doc["outcome"] != "error", value


def test_the_value_count_limit_is_configurable(tmp_path: Path) -> None:
    b = load(tmp_path, {"main.tenet": MAIN}, DATA, limits=tenet.Limits(max_input_values=50))
    assert decide(b, "main.allow", {"xs": list(range(10))})["outcome"] != "error"
    doc = decide(b, "main.allow", {"xs": list(range(100))})
    assert doc["outcome"] == "error" and "path" in doc["errors"][0]


def test_the_value_count_error_names_the_first_value_past_the_limit(tmp_path: Path) -> None:
    # counted in document order: the object (1), `a` (2), `xs` (3), then xs[0] is value 4,
    # so xs[46] is value 50 and xs[47] the first past the limit, whatever follows it
    b = load(tmp_path, {"main.tenet": MAIN}, DATA, limits=tenet.Limits(max_input_values=50))
    doc = decide(b, "main.allow", {"a": 1, "xs": list(range(100)), "z": 2})
    (error,) = doc["errors"]
    assert error["path"] == "/xs/47"
    assert error["message"].startswith("input /xs/47: the document has more than 50 values")


def test_an_input_error_names_the_first_bad_value_as_written(main: tenet.Bundle) -> None:
    doc = decide(main, "main.allow", {"xs": [1, float("nan"), 2, float("inf")]})
    assert [e["path"] for e in doc["errors"]] == ["/xs/1"]


# ---- limits ---------------------------------------------------------------------------------


LOOPS = """package main

pairs = count([[i, j] for i in input.xs for j in input.xs])

require small {
    count([[i, j] for i in input.xs for j in input.xs]) < 5
}
"""


def test_step_limit_gives_an_error_decision(tmp_path: Path) -> None:
    b = load(tmp_path, {"main.tenet": LOOPS}, limits=tenet.Limits(max_steps=1000))
    xs = list(range(200))
    doc = decide(b, "main.pairs", {"xs": xs})
    assert (doc["outcome"], doc["allowed"], doc["result"]) == ("error", False, None)
    assert [e["code"] for e in doc["errors"]] == ["step_limit"]

    doc = decide(b, "main", {"xs": xs})
    assert doc["outcome"] == "error"
    assert [e["code"] for e in doc["errors"]] == ["step_limit"]
    assert doc["errors"][0]["check"] == "main.small"
    assert [c["status"] for c in doc["checks"]] == ["error"]

    # a small input stays within the limit
    doc = decide(b, "main.pairs", {"xs": [1, 2, 3]})
    assert (doc["outcome"], doc["result"]) == ("deny", 9)


def test_default_limits_allow_the_same_work(tmp_path: Path) -> None:
    b = load(tmp_path, {"main.tenet": LOOPS})
    doc = decide(b, "main.pairs", {"xs": list(range(100))})
    assert doc["result"] == 10_000


# ---- the explanation of a failed `every` -------------------------------------------------------

EVERY = """package main

require all_high {
    every d in input.ds {
        some x in d.xs
        x > 5
    }
} message "m"

high if {
    every name, d in input.named {
        ok := d.ok
        ok == true
    }
}
"""


def test_a_failed_every_names_the_element_and_the_inner_condition(tmp_path: Path) -> None:
    b = load(tmp_path, {"main.tenet": EVERY})
    doc = decide(b, "main", {"ds": [{"xs": [9]}, {"xs": [1, 2]}, {"xs": []}]})
    (every,) = doc["checks"][0]["evidence"]
    assert every["values"]["d"] == {"xs": [1, 2]}
    # the furthest path at the element: the first binding of `x` that got as far as any
    assert every["failed_element"] == {
        "index": 1,
        "bindings": {"d": {"xs": [1, 2]}},
        "evidence": [
            {
                "condition": "some x in d.xs",
                "location": "main.tenet:5:9",
                "holds": True,
                "values": {"d.xs": [1, 2], "x": 1},
                "input_paths": ["/ds/1/xs"],
            },
            {
                "condition": "x > 5",
                "location": "main.tenet:6:9",
                "holds": False,
                "values": {"x": 1},
            },
        ],
    }
    # by key, with a local of the inner body bound from the element, in a rule's explanation
    doc = decide(b, "main.high", {"named": {"a": {"ok": True}, "b": {}}})
    (definition,) = doc["explanation"]["definitions"]
    failed = definition["evidence"][-1]["failed_element"]
    assert (failed["key"], failed["bindings"]) == ("b", {"name": "b", "d": {}})
    assert failed["evidence"] == [
        {
            "condition": "ok := d.ok",
            "location": "main.tenet:12:9",
            "holds": None,
            "undefined": ["d.ok"],
        }
    ]


def test_explaining_a_failed_every_spends_no_steps(tmp_path: Path) -> None:
    # two elements tried, four bindings of `x`: six steps decide it, whatever explains it
    doc_input = {"ds": [{"xs": [9]}, {"xs": [1, 2, 3]}]}
    b = load(tmp_path, {"main.tenet": EVERY}, limits=tenet.Limits(max_steps=6))
    doc = decide(b, "main", doc_input)
    assert (doc["outcome"], doc["checks"][0]["status"]) == ("deny", "violated")
    failed = doc["checks"][0]["evidence"][0]["failed_element"]
    # re-run with the budget the element had: within it, it says why the element failed
    assert (failed["index"], failed["evidence"][-1]["condition"]) == (1, "x > 5")
    b = load(tmp_path / "5", {"main.tenet": EVERY}, limits=tenet.Limits(max_steps=5))
    assert [e["code"] for e in decide(b, "main", doc_input)["errors"]] == ["step_limit"]


# ---- the decision clock ------------------------------------------------------------------------

CLOCK = """package main

t = now()

open if { now() < time("2026-01-01T00:00:00Z") }
"""

EPOCH_2026 = 1767225600


@pytest.mark.parametrize(
    ("now", "expected", "shown"),
    [
        ("2026-01-01T00:00:00Z", EPOCH_2026, "2026-01-01T00:00:00Z"),
        ("2026-01-01T01:30:00+01:30", EPOCH_2026, "2026-01-01T00:00:00Z"),
        ("2026-01-01T00:00:00.5Z", EPOCH_2026 + 0.5, "2026-01-01T00:00:00.500000Z"),
        (EPOCH_2026, EPOCH_2026, "2026-01-01T00:00:00Z"),
        (EPOCH_2026 - 0.25, EPOCH_2026 - 0.25, "2025-12-31T23:59:59.750000Z"),
        (datetime(2026, 1, 1, tzinfo=UTC), EPOCH_2026, "2026-01-01T00:00:00Z"),
        (
            datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))),
            EPOCH_2026,
            "2026-01-01T00:00:00Z",
        ),
    ],
)
def test_now_forms(tmp_path: Path, now: Any, expected: float, shown: str) -> None:
    b = load(tmp_path, {"main.tenet": CLOCK})
    doc = decide(b, "main.t", {}, now=now)
    assert doc["result"] == expected
    assert doc["evaluated_at"] == shown


def test_now_decides_time_boxed_rules(tmp_path: Path) -> None:
    b = load(tmp_path, {"main.tenet": CLOCK})
    assert decide(b, "main.open", {}, now="2025-12-31T23:59:59Z")["result"] is True
    assert decide(b, "main.open", {}, now=EPOCH_2026)["defined"] is False


def test_without_now_the_clock_is_the_wall_clock(tmp_path: Path) -> None:
    b = load(tmp_path, {"main.tenet": CLOCK})
    before = datetime.now(UTC).timestamp()
    t = decide(b, "main.t", {})["result"]
    after = datetime.now(UTC).timestamp()
    assert before - 1 <= t <= after + 1


@pytest.mark.parametrize("now", ["yesterday", "2026-01-01", "", [2026], True, {"t": 1}])
def test_bad_now_is_a_value_error(tmp_path: Path, now: Any) -> None:
    b = load(tmp_path, {"main.tenet": CLOCK})
    with pytest.raises(ValueError):
        b.decide("main.t", {}, now=now)


# ---- threads ----------------------------------------------------------------------------------


def _inputs() -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for i in range(40):
        items = [{"name": f"m{j}", "size": (i * 7 + j) * 1_000_000} for j in range(i % 5)]
        value: dict[str, Any] = {"items": items}
        if i % 3:
            value["owner"] = f"team-{i}"
        if i % 4 == 0:
            value["user"] = {"role": "admin" if i % 8 == 0 else "guest"}
        if i % 13 == 0:
            value["items"] = [{"name": "bad", "size": "big"}]  # an evaluation error
        for q in ("main", "main.allow", "main.total", "main.names"):
            out.append((q, value))
    return out


def test_a_bundle_shared_by_threads_decides_as_sequentially(main: tenet.Bundle) -> None:
    work = _inputs() * 3
    sequential = [stable(decide(main, q, v, now=EPOCH_2026)) for q, v in work]
    assert {d["outcome"] for d in sequential} == {"allow", "deny", "error"}

    barrier = threading.Barrier(8)

    def one(job: tuple[str, Any]) -> dict[str, Any]:
        return stable(decide(main, job[0], job[1], now=EPOCH_2026))

    def start(_: int) -> None:
        barrier.wait(timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(start, range(8)))  # all eight threads exist before the work starts
        concurrent = list(pool.map(one, work))
    assert concurrent == sequential


# ---- decisions validate ------------------------------------------------------------------------


def test_full_explanations_validate_and_carry_passed_evidence(main: tenet.Bundle) -> None:
    value = {"owner": "x", "items": [{"name": "a", "size": 1}]}
    doc = decide(main, "main", value, explain="full")
    assert all("evidence" in c for c in doc["checks"])
    doc = decide(main, "main.allow", value, explain="full")
    assert doc["explanation"]["definitions"]


def test_results_are_json_and_finite(main: tenet.Bundle) -> None:
    doc = decide(main, "main.total", {"items": [{"size": 0.1}, {"size": 0.2}]})
    assert math.isclose(doc["result"], 0.30000000000000004)
    json.dumps(doc, allow_nan=False)


@pytest.mark.parametrize("value", [{1, 2}, (1, 2), b"x", object()])
def test_a_non_json_input_gives_an_error_decision_whose_document_builds(
    tmp_path: Path, value: Any
) -> None:
    root = write_bundle(tmp_path / "b", {"p.tenet": "package p\nallow if { input.a }\n"})
    decision = tenet.load_bundle(root).decide("p.allow", {"a": value})
    doc = decision.to_dict()
    assert_valid_decision(doc)
    assert doc["outcome"] == "error"
    assert doc["errors"][0]["path"] == "/a"
    assert doc["input_digest"].startswith("sha256:")


@pytest.mark.parametrize(
    "now", [float("nan"), float("inf"), 1e20, -1e20, datetime(2026, 1, 1), "yesterday"]
)
def test_an_invalid_now_is_refused(tmp_path: Path, now: Any) -> None:
    root = write_bundle(tmp_path / "b", {"p.tenet": "package p\nallow if { true }\n"})
    with pytest.raises(ValueError, match=r"now|RFC 3339"):
        tenet.load_bundle(root).decide("p.allow", {}, now=now)


def test_unknown_query_suggestions_compare_the_last_name_in_a_known_package(
    tmp_path: Path,
) -> None:
    root = write_bundle(tmp_path / "b", {"p.tenet": "package main\nt = 1\nallow if { true }\n"})
    bundle = tenet.load_bundle(root)
    with pytest.raises(tenet.QueryError) as info:
        bundle.decide("main.nope", {})
    assert info.value.diagnostics[0].help is not None
    assert "main.t" not in info.value.diagnostics[0].help
    with pytest.raises(tenet.QueryError) as info:
        bundle.decide("main.alow", {})
    assert "`main.allow`" in (info.value.diagnostics[0].help or "")


def test_the_order_of_an_input_s_keys_changes_nothing_in_the_decision(tmp_path: Path) -> None:
    # objects iterate in sorted key order, and are shown in it: same digest, same decision
    policy = (
        "package ord\n\n"
        'require show info { false } message "o={input.o}"\n\n'
        'm = {"o": input.o, "lit": {"b": 1, "a": 2}}\n'
    )
    bundle = load(tmp_path, {"ord.tenet": policy}, {})
    first = {"o": {"z": 1, "b": {"y": 2, "c": 3}, "a": 3}}
    second = {"o": {"a": 3, "b": {"c": 3, "y": 2}, "z": 1}}
    docs = [decide(bundle, q, i, now=0) for q in ("ord", "ord.m") for i in (first, second)]
    assert stable(docs[0]) == stable(docs[1]) and stable(docs[2]) == stable(docs[3])
    assert docs[0]["checks"][0]["message"] == 'o={"a": 3, "b": {"c": 3, "y": 2}, "z": 1}'
    assert json.dumps(docs[2]["result"]) == (
        '{"lit": {"a": 2, "b": 1}, "o": {"a": 3, "b": {"c": 3, "y": 2}, "z": 1}}'
    )


def test_a_document_is_a_copy_the_decision_does_not_share(tmp_path: Path) -> None:
    bundle = load(tmp_path, {"r.tenet": "package r\n\nv = input.o\n"}, {})
    d = bundle.decide("r.v", {"o": {"b": [1]}})
    d.to_dict()["result"]["b"].append(5)
    d.to_dict()["errors"].append({"code": "x"})
    assert d.result == {"b": [1]} and d.to_dict()["result"] == {"b": [1]}
    assert d.to_dict()["errors"] == [] and d.errors == []


def test_a_refused_input_s_digest_does_not_depend_on_key_order(main: tenet.Bundle) -> None:
    # a value no JSON holds (half a UTF-16 pair) is digested from another text: sorted too
    first = main.decide("main.allow", {"a": "\ud800", "b": 1})
    second = main.decide("main.allow", {"b": 1, "a": "\ud800"})
    assert first.outcome == second.outcome == "error"
    assert first.input_digest == second.input_digest


def test_a_policy_error_crosses_a_process_boundary_with_its_diagnostics(
    tmp_path: Path, main: tenet.Bundle
) -> None:
    import pickle

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.tenet").write_text("package a\nx = y\n", "utf-8")
    with pytest.raises(tenet.PolicyError) as loading:
        tenet.load_bundle(tmp_path / "bad")
    with pytest.raises(tenet.QueryError) as querying:
        main.decide("main.alow", {})
    for err in (loading.value, querying.value):
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err) and str(copy) == str(err)
        assert [(d.to_dict(), d.render()) for d in copy.diagnostics] == [
            (d.to_dict(), d.render()) for d in err.diagnostics
        ]


def test_a_diagnostic_s_dict_always_has_help(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "tenet.yaml").write_text("- a\n", "utf-8")
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(tmp_path / "b")
    assert info.value.diagnostics[0].to_dict() == {
        "code": "manifest",
        "severity": "error",
        "message": "`tenet.yaml` must hold a mapping of manifest fields",
        "file": "tenet.yaml",
        "line": None,
        "column": None,
        "help": None,
    }


@pytest.mark.parametrize(
    ("given", "error", "said"),
    [
        ({"max_steps": "10"}, TypeError, "`Limits.max_steps` must be an int, not str (convert"),
        ({"max_steps": None}, TypeError, "`Limits.max_steps` must be an int, not NoneType"),
        ({"max_input_depth": 1.5}, TypeError, "`Limits.max_input_depth` must be an int, not float"),
        (
            {"max_input_values": True},
            TypeError,
            "`Limits.max_input_values` must be an int, not bool",
        ),
        ({"max_steps": -1}, ValueError, "`Limits.max_steps` must be at least 1, not -1"),
        ({"max_input_depth": 0}, ValueError, "`Limits.max_input_depth` must be at least 1, not 0"),
        ({"max_built_size": 0}, ValueError, "`Limits.max_built_size` must be at least 1, not 0"),
        ({"max_built_bytes": "1e8"}, TypeError, "`Limits.max_built_bytes` must be an int, not str"),
    ],
)
def test_limits_refuse_a_bound_that_is_not_a_positive_int(
    given: dict[str, Any], error: type[Exception], said: str
) -> None:
    with pytest.raises(error) as info:
        tenet.Limits(**given)
    assert str(info.value).startswith(said)


@pytest.mark.parametrize(
    ("now", "shown"),
    [
        (1e400, "a number beyond the double range"),
        (-1e12, "-1000000000000"),
        (1e20, "100000000000000000000"),
    ],
)
def test_a_now_out_of_range_is_written_as_a_person_would(
    main: tenet.Bundle, now: float, shown: str
) -> None:
    with pytest.raises(ValueError) as caught:
        main.decide("main", {}, now=now)
    assert str(caught.value).startswith(f"`now` is out of range: {shown} is not between")


def test_a_decision_is_read_only(main: tenet.Bundle) -> None:
    # its document and audit record follow from it: setting `outcome` must not forge them
    d = main.decide("main", {})
    before = d.to_dict()
    for name, value in (("outcome", "allow"), ("result", True), ("errors", []), ("x", 1)):
        with pytest.raises(AttributeError, match=f"a Decision is read-only: `{name}`"):
            setattr(d, name, value)
    after = d.to_dict()
    assert (after["outcome"], after["result"]) == (before["outcome"], before["result"])
