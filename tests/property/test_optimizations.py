"""Indexing, constant folding and the fast paths change nothing: on generated policies and
inputs, the engine with every optimisation switched off decides exactly as the default one.

Conditions that can raise are left out of the generated policies: the language lets an
index skip a definition that cannot hold, and a skipped definition raises nothing, so with
raising conditions the two engines may rightly differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tenet
from tests.conftest import assert_valid_decision, write_bundle

FIELDS = ("role", "action", "kind")
LITERALS = ('"a"', '"b"', '"c"', "1", "2", "1.0", "true", "null")
VALUES = ["a", "b", "c", 1, 2, 1.0, True, None, [1], {"x": 1}]

literal = st.sampled_from(LITERALS)
field = st.sampled_from(FIELDS)

condition = st.one_of(
    st.builds(lambda f, v: f"input.{f} == {v}", field, literal),
    st.builds(lambda f, v: f"{v} == input.{f}", field, literal),
    st.builds(lambda f, v: f"input.{f} != {v}", field, literal),
    st.builds(lambda n: f"input.n > {n}", st.integers(-2, 5)),
    st.builds(lambda p: f'startswith(input.path, "{p}")', st.sampled_from(["", "a", "a/b"])),
    st.builds(lambda n: f"count([1, 2, 3]) > {n} - 1", st.integers(0, 4)),
    st.builds(lambda v: f"some x@ in input.xs\n    x@ == {v}", literal),
    st.builds(lambda f: f"not input.{f}", field),
    st.just("1 + 2 * 3 == 7"),
    st.builds(lambda f, v: f"input.{f} == {v} or input.n == 1", field, literal),
)

body = st.lists(condition, min_size=1, max_size=3).map(
    lambda cs: "\n    ".join(c.replace("x@", f"x{i}") for i, c in enumerate(cs))
)


def _policy(allow: list[str], levels: list[tuple[str, str]], names: list[tuple[str, str]]) -> str:
    out = ["package main", "", "default allow = false", 'default level = "none"', ""]
    out += [f"allow if {{\n    {b}\n}}\n" for b in allow]
    out += [f'level = "{v}" if {{\n    {b}\n}}\n' for v, b in levels]
    out += [f"names contains {v} if {{\n    {b}\n}}\n" for v, b in names]
    out += ['names contains "always"\n']
    out += ['require gate {\n    allow\n} message "allow is {allow}"\n']
    return "\n".join(out)


policies = st.builds(
    _policy,
    st.lists(body, min_size=1, max_size=12),
    st.lists(st.tuples(st.sampled_from(["x", "y"]), body), max_size=4),
    st.lists(st.tuples(literal, body), max_size=4),
)

inputs = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "role": st.sampled_from(VALUES),
            "action": st.sampled_from(VALUES),
            "kind": st.sampled_from(VALUES),
            "n": st.integers(-3, 6),
            "path": st.sampled_from(["", "a", "a/b/c", "b"]),
            "xs": st.lists(st.sampled_from(VALUES), max_size=3),
        },
    ),
    min_size=1,
    max_size=6,
)

OFF = tenet.CompileOptions(indexing=False, folding=False, fast_paths=False)
_counter = [0]


def _essence(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "outcome": doc["outcome"],
        "defined": doc["defined"],
        "result": json.dumps(doc["result"], sort_keys=True),
        "errors": sorted(e["code"] for e in doc["errors"]),
        "checks": [(c["id"], c["status"], c["message"]) for c in doc["checks"]],
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies, inputs)
def test_optimisations_change_no_decision(
    tmp_path_factory: Any, policy: str, docs: list[Any]
) -> None:
    _counter[0] += 1
    root: Path = write_bundle(tmp_path_factory.mktemp(f"opt{_counter[0]}"), {"main.tenet": policy})
    fast = tenet.load_bundle(root)
    plain = tenet.load_bundle(root, options=OFF)
    for doc in docs:
        for query in ("main.allow", "main.level", "main.names", "main"):
            a = fast.decide(query, doc, now="2026-01-01T00:00:00Z").to_dict()
            b = plain.decide(query, doc, now="2026-01-01T00:00:00Z").to_dict()
            assert_valid_decision(a)
            assert _essence(a) == _essence(b), (policy, doc, query)
            if "explanation" in a:
                held_a = [d["location"] for d in a["explanation"]["definitions"] if d["held"]]
                held_b = [d["location"] for d in b["explanation"]["definitions"] if d["held"]]
                # a boolean rule stops at its first holding definition, whichever engine
                assert held_a[:1] == held_b[:1], (policy, doc, query)


def test_the_index_is_used_on_the_generated_shape(tmp_path: Path) -> None:
    # guards the property above against testing two unindexed engines
    policy = _policy([f'input.role == "{r}"' for r in "abcdef"], [], [])
    root = write_bundle(tmp_path / "b", {"main.tenet": policy})
    fast = tenet.load_bundle(root)
    plain = tenet.load_bundle(root, options=OFF)
    rule = fast.program.rules["main.allow"]
    assert rule.index is not None
    assert plain.program.rules["main.allow"].index is None
    doc = fast.decide("main.allow", {"role": "c"}).to_dict()
    assert doc["explanation"]["not_evaluated"] == 5
    assert plain.decide("main.allow", {"role": "c"}).to_dict()["explanation"]["not_evaluated"] == 3
