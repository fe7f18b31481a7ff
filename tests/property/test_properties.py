"""Properties that hold for every text, input and number hypothesis can think of:

(a) loading any text as a policy raises nothing but PolicyError;
(b) any JSON-ish input gives a decision that validates against the schema, never an exception;
(c) arithmetic and comparison agree with a plain Python reference.

Each bundle with fixed content is loaded once per test function; examples re-use it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import tenet
from tenet.runtime.values import DOUBLE_MAX
from tests.conftest import assert_valid_decision, write_bundle

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---- (a) loading arbitrary text ---------------------------------------------------------------

KEYWORDS = (
    "package import as default if some every in not and or for true false null "
    "require forbid when message contains blocking warning info"
).split()
NAMES = "p main x y k v allow deny input data roles count glob lower set now time t a b".split()
OPERATORS = [*"== != < <= > >= + - * / % := = . , ; : ( ) [ ] { } {{ }}".split(), "not in"]
LITERALS = [
    "0",
    "1",
    "17%5",
    "10%",
    "250ms",
    "2GiB",
    "1e-9",
    "1_000",
    "0.85",
    "1e999",
    "99999999999999999999999999",
    '"s"',
    '"a\\nb"',
    '"{x}"',
    '"{x:.1%}"',
    '"{"',
    '"}"',
    '"{{x}}"',
    '"\\u00e9"',
    '"unterminated',
]
LAYOUT = [" ", "  ", "\n", "\n\n", "\t", "\r\n", "# comment\n", "#@ title: t\n", "#@ x\n"]
SNIPPETS = [
    "package p\n",
    "package a.b\n",
    "import data.roles\n",
    "import data.x as y\n",
    "default allow = false\n",
    "allow if { input.ok }\n",
    "x = 1\n",
    "s contains v if { some v in input.xs }\n",
    "f(a) = a + 1\n",
    'require r { input.a } message "m {input.a}"\n',
    "forbid q warning { some k, v in input; v > 1 }\n",
    "every x in input.xs { x }\n",
    "[x for x in input.xs if x]",
    "{k: v for k, v in input.o}",
    "{x for x in input.xs}",
]
FRAGMENTS = KEYWORDS + NAMES + OPERATORS + LITERALS + LAYOUT + SNIPPETS

grammarish = st.lists(st.sampled_from(FRAGMENTS), max_size=60).map(
    lambda parts: " ".join(parts) if len(parts) % 3 == 0 else "".join(parts)
)
policy_text = st.one_of(
    st.text(max_size=300),
    grammarish,
    grammarish.map(lambda s: "package p\n" + s),
    st.tuples(grammarish, st.text(max_size=20), grammarish).map(
        lambda t: "package p\n" + t[0] + t[1] + t[2]
    ),
)


@pytest.fixture(scope="module")
def text_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("text")


@SETTINGS
@given(text=policy_text)
@example(text="package p\nx = " + "(" * 3000 + "1" + ")" * 3000 + "\n")
@example(text="package p\nx = " + "-" * 5000 + "1\n")
@example(text="package p\nx = [" * 2000)
@example(text="package p\n#@ title: [\nallow if { true }\n")
@example(text='package p\nrequire r { true } message "{"\n')
@example(text="\ufeffpackage p\nallow if { true }\n")
@example(text="package p\nx = 1e999\n")
def test_loading_any_text_raises_only_policy_error(text_root: Path, text: str) -> None:
    (text_root / "main.tenet").write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        bundle = tenet.load_bundle(text_root)
    except tenet.PolicyError as err:
        assert err.diagnostics
        for d in err.diagnostics:
            assert d.severity == "error"
            assert d.message
            rendered = d.render()  # rendering a diagnostic never fails either
            assert d.location() in rendered
        return
    assert isinstance(bundle, tenet.Bundle)


# ---- (b) any input gives a valid decision -----------------------------------------------------

POLICY = """package p

import data.cfg

default allow = false

allow if { input.user.role == "admin" }

allow if {
    some k, v in input
    v == cfg.magic
}

n = count(input.items)
total = sum(input.items)
biggest = max(input.items)
firsts = [x for x in input.items if x > 1]
names = {k for k in input}
sizes = {k: count(v) for k, v in input if is_array(v)}
lowered = lower(input.name)
scaled = input.a * 2 + input.b / 3
joined = input.a + input.b
remainder = input.a % input.b
inside if { input.a in input.b }
outside if { input.a not in input.b }
ordered if { input.a < input.b }
same if { input.a == input.b }
shape = type_name(input.a)
deep = input.a.b.c[0].d
pairs = [[i, type_name(x)] for i, x in input.items]
keys_of = keys(input.user)
uniq = unique(input.items)
sorted_items = sort(input.items)
everything_positive if { every x in input.items { x > 0 } }
matched if { regex("^a+b", input.name) }
globbed if { glob("a/**/c", input.name) }
versioned if { semver_satisfies(input.version, ">=1.0.0 <2.0.0") }
recent if { time(input.ts) < now() - duration("48h") }
halves contains h if {
    some x in input.items
    h := x / 2
}

require has_owner {
    input.owner
} message "owner {input.owner} at {input.a:.1%}"

forbid null_items warning {
    some i, x in input.items
    x == null
} message "item {i} is {x}"

require few_items info when is_array(input.items) {
    count(input.items) < 10
}

forbid long_keys {
    some k in input
    len(k) > 3
} message "key {k} is long"

require numbers_only {
    every k, v in input {
        is_number(v)
    }
}
"""

QUERIES = [
    "p",
    "p.allow",
    "p.n",
    "p.total",
    "p.biggest",
    "p.firsts",
    "p.names",
    "p.sizes",
    "p.lowered",
    "p.scaled",
    "p.joined",
    "p.remainder",
    "p.inside",
    "p.outside",
    "p.ordered",
    "p.same",
    "p.shape",
    "p.deep",
    "p.pairs",
    "p.keys_of",
    "p.uniq",
    "p.sorted_items",
    "p.everything_positive",
    "p.matched",
    "p.globbed",
    "p.versioned",
    "p.recent",
    "p.halves",
]

KEYS = ["items", "a", "b", "user", "role", "name", "owner", "version", "ts", "c", "d", "0"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.integers(min_value=-int(DOUBLE_MAX), max_value=int(DOUBLE_MAX)),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["admin", "1.2.3", "aab", "a/b/c", "2026-01-01T00:00:00Z", "", "é"]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(keys, children, max_size=6),
    ),
    max_leaves=25,
)


def _nest(depth_and_leaf: tuple[int, Any]) -> Any:
    depth, leaf = depth_and_leaf
    v = leaf
    for i in range(depth):
        v = [v] if i % 2 else {"a": v}
    return v


deep_values = st.tuples(st.integers(0, 130), scalars).map(_nest)
inputs = st.one_of(
    st.dictionaries(keys, json_values, max_size=8),
    json_values,
    st.dictionaries(keys, deep_values, max_size=2),
)


@pytest.fixture(scope="module")
def policy_bundle(tmp_path_factory: pytest.TempPathFactory) -> tenet.Bundle:
    root = tmp_path_factory.mktemp("policy") / "b"
    return tenet.load_bundle(write_bundle(root, {"p.tenet": POLICY}, {"cfg": {"magic": 42}}))


def _assert_decision(bundle: tenet.Bundle, query: str, value: Any, explain: str) -> None:
    decision = bundle.decide(query, value, now="2026-06-01T00:00:00Z", explain=explain)
    doc = decision.to_dict()
    assert_valid_decision(doc)
    assert doc["allowed"] is (doc["outcome"] == "allow")
    assert (doc["outcome"] == "error") is bool(doc["errors"])
    # an internal error is a Python exception the evaluator caught: an engine bug
    assert not [e for e in doc["errors"] if e["code"] == "internal"], doc["errors"]
    if query != "p":
        assert doc["checks"] == []
        if doc["outcome"] != "error":
            assert doc["defined"] is (doc["result"] is not None)


@SETTINGS
@given(value=inputs, explain=st.sampled_from(["summary", "full"]))
@example(value={"items": [1, 2, 3], "a": 1, "b": 0}, explain="summary")
@example(value={"items": [1, None, "x"], "a": "a", "b": "abc", "name": "aab"}, explain="full")
@example(value={"a": {"b": {"c": [{"d": 1}]}}, "user": {"role": "admin"}}, explain="full")
@example(value={"a": 1e308, "b": 1e308, "items": [1e308, 1e308]}, explain="summary")
@example(value={"a": 2**1000, "b": 0.5, "version": "1.2.3", "ts": "bad"}, explain="summary")
@example(value=_nest((200, 1)), explain="summary")
@example(value=[1, 2], explain="full")
@example(value="text", explain="summary")
def test_any_input_gives_a_valid_decision(
    policy_bundle: tenet.Bundle, value: Any, explain: str
) -> None:
    for query in QUERIES:
        _assert_decision(policy_bundle, query, value, explain)


def test_the_fixed_policy_exercises_every_outcome(policy_bundle: tenet.Bundle) -> None:
    # guards the property above against a policy that never decides anything interesting
    outcomes = {
        policy_bundle.decide(q, v).outcome
        for q in QUERIES
        for v in ({"items": [1, 2], "a": 1, "b": 2}, {"items": "x", "a": "s", "b": 0}, {})
    }
    assert outcomes == {"allow", "deny", "error"}


# ---- (c) arithmetic and comparison ------------------------------------------------------------

OPS: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "add": ("+", operator.add),
    "sub": ("-", operator.sub),
    "mul": ("*", operator.mul),
    "div": ("/", operator.truediv),
    "mod": ("%", operator.mod),  # replaced by _mod below
    "eq": ("==", operator.eq),
    "ne": ("!=", operator.ne),
    "lt": ("<", operator.lt),
    "le": ("<=", operator.le),
    "gt": (">", operator.gt),
    "ge": (">=", operator.ge),
}
ARITH_POLICY = "package arith\n\n" + "".join(
    f"{name} = input.a {sym} input.b\n" for name, (sym, _) in OPS.items()
)


class Error:
    """The reference says: an evaluation error."""


ERROR = Error()


def _whole(v: int | float) -> int | None:
    if isinstance(v, int):
        return v
    return int(v) if v.is_integer() else None


def _mod(a: int | float, b: int | float) -> Any:
    x, y = _whole(a), _whole(b)
    if x is None or y is None or y == 0:
        return ERROR
    r = abs(x) % abs(y)
    return -r if x < 0 else r


def reference(name: str, a: int | float, b: int | float) -> Any:
    if name == "mod":
        return _mod(a, b)
    if name == "div" and b == 0:
        return ERROR
    try:
        r = OPS[name][1](a, b)
    except OverflowError:
        return ERROR
    if isinstance(r, float) and not math.isfinite(r):
        return ERROR
    return r


numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.integers(min_value=-20, max_value=20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(round),
    st.floats(min_value=-100, max_value=100, allow_nan=False).map(lambda f: float(round(f))),
    st.sampled_from([0, 0.0, -0.0, 1, -1, 1.0, 0.5, 2**53, 2**53 + 1, 1e308, 5e-324, 7, -7]),
)


@pytest.fixture(scope="module")
def arith_bundle(tmp_path_factory: pytest.TempPathFactory) -> tenet.Bundle:
    root = tmp_path_factory.mktemp("arith") / "b"
    return tenet.load_bundle(write_bundle(root, {"arith.tenet": ARITH_POLICY}))


def _same_number(got: Any, want: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    return isinstance(got, int | float) and got == want


@SETTINGS
@given(name=st.sampled_from(sorted(OPS)), a=numbers, b=numbers)
@example(name="mod", a=-7, b=3)
@example(name="mod", a=7, b=-3)
@example(name="mod", a=7.0, b=2)
@example(name="mod", a=7.5, b=2)
@example(name="mod", a=7, b=0)
@example(name="div", a=1, b=0)
@example(name="div", a=1, b=-0.0)
@example(name="div", a=1, b=3)
@example(name="div", a=1e308, b=1e-308)
@example(name="mul", a=1e308, b=10)
@example(name="add", a=1e308, b=1e308)
@example(name="sub", a=0.3, b=0.1)
@example(name="eq", a=1, b=1.0)
@example(name="eq", a=2**53 + 1, b=float(2**53))
@example(name="lt", a=2**53, b=float(2**53 + 2))
@example(name="ne", a=0.0, b=-0.0)
def test_arithmetic_agrees_with_python(
    arith_bundle: tenet.Bundle, name: str, a: int | float, b: int | float
) -> None:
    want = reference(name, a, b)
    decision = arith_bundle.decide(f"arith.{name}", {"a": a, "b": b}, now=0)
    doc = decision.to_dict()
    assert_valid_decision(doc)
    if want is ERROR:
        assert doc["outcome"] == "error", (name, a, b, doc["result"])
        assert doc["errors"] and doc["errors"][0]["location"].startswith("arith.tenet:")
        return
    assert doc["outcome"] != "error", (name, a, b, doc["errors"])
    assert doc["defined"] is True
    assert _same_number(doc["result"], want), (name, a, b, doc["result"], want)
    assert doc["outcome"] == ("allow" if doc["result"] is True else "deny")


@SETTINGS
@given(a=numbers, b=numbers)
def test_comparisons_are_consistent(
    arith_bundle: tenet.Bundle, a: int | float, b: int | float
) -> None:
    got = {
        name: arith_bundle.decide(f"arith.{name}", {"a": a, "b": b}, now=0).result
        for name in ("eq", "ne", "lt", "le", "gt", "ge")
    }
    assume(None not in got.values())
    assert got["eq"] is not got["ne"]
    assert got["le"] is (got["lt"] or got["eq"])
    assert got["ge"] is (got["gt"] or got["eq"])
    assert [got["lt"], got["eq"], got["gt"]].count(True) == 1
