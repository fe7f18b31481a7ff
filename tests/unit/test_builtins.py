"""Unit tests of the built-in function library, calling each implementation directly."""

from __future__ import annotations

import math
import unicodedata
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tenet.runtime.builtins import BUILTINS
from tenet.runtime.builtins import matching as matching_module
from tenet.runtime.builtins import strings as strings_module
from tenet.runtime.values import UNDEF, EvalError, TSet


def call(name: str, *args: Any) -> Any:
    return BUILTINS[name].impl(*args)


def fails(name: str, *args: Any, code: str | None = None) -> EvalError:
    """The EvalError raised by built-in ``name``; its message must name the built-in."""
    with pytest.raises(EvalError) as info:
        BUILTINS[name].impl(*args)
    err = info.value
    assert err.message.startswith(f"`{name}`")
    assert not err.message.endswith(".")
    if code is not None:
        assert err.code == code
    return err


def same(a: Any, b: Any) -> bool:
    """Equal and of the same Python type (so 3 and 3.0 differ)."""
    return type(a) is type(b) and a == b


# --- the registry ------------------------------------------------------------------------

SPEC_GROUPS = {
    "types": "is_string is_number is_bool is_array is_object is_set is_null type_name",
    "strings": "lower upper startswith endswith contains split join trim replace len",
    "match": "glob regex",
    "numbers": "abs round floor ceil min max sum",
    "collections": "count keys values sort unique any all union intersection difference set",
    "versions": "semver_compare semver_satisfies",
    "time": "now time duration",
    "hashing": "sha256",
    "schema": "matches_schema",
    "fairness": "demographic_parity_difference equalized_odds_difference",
}


# built-ins beyond the spec, each documented as an extension in docs/language.md
EXTENSIONS = {"nfkc_casefold": "strings"}


def test_registry_holds_exactly_the_spec_set_in_its_groups() -> None:
    expected = {name: group for group, names in SPEC_GROUPS.items() for name in names.split()}
    expected |= EXTENSIONS
    assert {name: b.group for name, b in BUILTINS.items()} == expected


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_is_documented_with_an_example(name: str) -> None:
    b = BUILTINS[name]
    assert b.name == name
    assert b.doc and b.doc[0].isupper() and b.doc.endswith(".")
    assert f"{name}(" in b.example


def test_arities_and_context() -> None:
    assert (BUILTINS["set"].min_args, BUILTINS["set"].max_args) == (0, None)
    assert BUILTINS["join"].accepts(2) and not BUILTINS["join"].accepts(1)
    assert BUILTINS["replace"].accepts(3)
    assert BUILTINS["now"].min_args == BUILTINS["now"].max_args == 0
    assert BUILTINS["now"].needs_ctx and not BUILTINS["now"].pure
    assert BUILTINS["matches_schema"].needs_ctx
    needs_ctx = {name for name, b in BUILTINS.items() if b.needs_ctx}
    assert needs_ctx == {"now", "matches_schema"}


# --- types -------------------------------------------------------------------------------

VALUES: list[Any] = [None, True, False, 0, 1.5, "", "x", [], [1], {}, {"a": 1}, TSet([1])]


@pytest.mark.parametrize(
    ("name", "accepts"),
    [
        ("is_string", lambda v: type(v) is str),
        ("is_number", lambda v: type(v) in (int, float)),
        ("is_bool", lambda v: type(v) is bool),
        ("is_array", lambda v: type(v) is list),
        ("is_object", lambda v: type(v) is dict),
        ("is_set", lambda v: type(v) is TSet),
        ("is_null", lambda v: v is None),
    ],
)
def test_type_tests(name: str, accepts: Any) -> None:
    for v in VALUES:
        assert call(name, v) is accepts(v), (name, v)


def test_booleans_are_not_numbers() -> None:
    assert call("is_number", True) is False
    assert call("is_bool", 1) is False


def test_type_name() -> None:
    values: list[Any] = [None, True, 3, 2.5, "s", [], TSet(), {}]
    names = [call("type_name", v) for v in values]
    assert names == ["null", "boolean", "number", "number", "string", "array", "set", "object"]


# --- strings -----------------------------------------------------------------------------


def test_case_and_affixes() -> None:
    assert call("lower", "ABC-É") == "abc-é"
    assert call("upper", "abc") == "ABC"
    assert call("startswith", "prod/x", "prod/") is True
    assert call("startswith", "dev/x", "prod/") is False
    assert call("endswith", "model.pkl", ".pkl") is True
    assert call("endswith", "model.pt", ".pkl") is False
    assert call("contains", "hello", "ell") is True
    assert call("contains", "hello", "xyz") is False
    assert call("contains", "hello", "") is True


def test_split_join_trim_replace() -> None:
    assert call("split", "a,b,c", ",") == ["a", "b", "c"]
    assert call("split", "a,,b", ",") == ["a", "", "b"]
    assert call("split", "", ",") == [""]
    assert call("split", "a--b", "--") == ["a", "b"]
    assert call("join", "-", ["a", "b"]) == "a-b"
    assert call("join", "-", []) == ""
    assert call("join", ",", TSet(["b", "a"])) == "a,b"
    assert call("trim", " \t x y \n") == "x y"
    assert call("replace", "a-b-c", "-", "_") == "a_b_c"
    assert call("replace", "aaa", "aa", "b") == "ba"


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("alice", "alice"),
        ("ALICE", "alice"),
        ("\uff41\uff4c\uff49\uff43\uff45", "alice"),  # fullwidth
        ("\uff21LICE", "alice"),
        ("Stra\u00dfe", "strasse"),  # case folding, not lower()
        ("a\u200bl\u00adi\u2060c\ufeffe", "alice"),  # default-ignorable characters
        ("\ufb01le", "file"),  # ligature
        ("x\u00b2", "x2"),  # superscript
        ("e\u0301", "\u00e9"),  # composed
        ("\u0430lice", "\u0430lice"),  # a Cyrillic look-alike stays distinct
        ("", ""),
    ],
)
def test_nfkc_casefold(text: str, folded: str) -> None:
    assert call("nfkc_casefold", text) == folded


@given(st.text())
def test_nfkc_casefold_is_idempotent(text: str) -> None:
    assume(not strings_module._MARK_RUN.search(strings_module._without_ignorables(text)))
    once = call("nfkc_casefold", text)
    assert call("nfkc_casefold", once) == once


def test_nfkc_casefold_refuses_more_than_30_combining_marks_in_a_row() -> None:
    # Python orders a run of marks in time quadratic in its length: 240 KB took 22 s
    thirty = "a" + "\u0301\u0316" * 15
    assert call("nfkc_casefold", "A" + thirty[1:]) == unicodedata.normalize("NFC", thirty)
    for text in (
        "a" + "\u0301" * 31,
        "a" + "\u0301\u0316" * 120_000,
        "a" + "\u0301\u200d" * 31,  # a zero-width joiner is removed, so it joins the run
        "\uff76" + "\uff9e" * 31,  # halfwidth voiced marks become combining ones
    ):
        err = fails("nfkc_casefold", text, code="builtin_error")
        assert "more than 30 combining marks in a row" in err.message
    # a run is counted between letters, not in the whole string
    assert call("nfkc_casefold", ("e" + "\u0301" * 20) * 100) == ("é" + "\u0301" * 19) * 100


def test_nfkc_casefold_takes_only_strings() -> None:
    fails("nfkc_casefold", 5, code="type_error")
    fails("nfkc_casefold", ["a"], code="type_error")


def test_len_counts_code_points_and_elements() -> None:
    assert call("len", "abc") == 3
    assert call("len", "héllo😀") == 6
    assert call("len", [1, 2]) == 2
    assert call("len", TSet([1, 1, 2])) == 2
    assert call("len", {"a": 1}) == 1


HASH_E_ACUTE = "4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c"


def test_sha256() -> None:
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert call("sha256", "abc") == abc
    assert call("sha256", "") == empty
    # the digest of the UTF-8 bytes c3 a9
    assert call("sha256", "é") == HASH_E_ACUTE


def test_string_errors() -> None:
    err = fails("lower", 1, code="type_error")
    assert "got number" in err.message
    fails("upper", None, code="type_error")
    fails("startswith", "a", 1, code="type_error")
    fails("endswith", ["a"], "a", code="type_error")
    fails("contains", ["hello"], "ell", code="type_error")
    fails("split", "a,b", "", code="builtin_error")
    fails("split", 1, ",", code="type_error")
    err = fails("join", "-", ["a", 1], code="type_error")
    assert "got number" in err.message
    fails("join", 1, ["a"], code="type_error")
    fails("join", "-", "ab", code="type_error")
    fails("trim", True, code="type_error")
    fails("replace", "a", "a", 1, code="type_error")
    err = fails("len", 5, code="type_error")
    assert "got number" in err.message
    fails("len", True, code="type_error")
    fails("sha256", 1, code="type_error")
    fails("sha256", "\ud800", code="builtin_error")


# --- glob and regex ----------------------------------------------------------------------

GLOB_CASES = [
    ("dev/*", "dev/churn", True),
    ("dev/*", "dev/churn/v2", False),
    ("dev/**", "dev/churn/v2", True),
    ("dev/**", "dev", True),
    ("dev/**", "development", False),
    ("*", "dev/x", False),
    ("**", "a/b/c", True),
    ("**", "", True),
    ("**/x", "x", True),
    ("**/x", "a/b/x", True),
    ("**/x", "ax", False),
    ("**/model.pkl", "a/b/model.pkl", True),
    ("a/**/z", "a/z", True),
    ("a/**/z", "a/b/c/z", True),
    ("a/**/z", "a/b/c/y", False),
    ("a/**/**/z", "a/z", True),
    ("a**b", "axyb", True),
    ("a**b", "ax/yb", False),
    ("prod/churn-v?", "prod/churn-v2", True),
    ("prod/churn-v?", "prod/churn-v12", False),
    ("a?c", "a/c", False),
    ("?", "é", True),
    ("prod/[abc]*", "prod/bx", True),
    ("prod/[abc]*", "prod/dx", False),
    ("[a-c]", "b", True),
    ("[a-c]", "d", False),
    ("dev/[!a]*", "dev/bx", True),
    ("dev/[!a]*", "dev/ax", False),
    ("dev/[^a]*", "dev/ax", False),
    ("[!a]", "/", False),
    ("[+-0]", "/", False),
    ("[+-0]", ".", True),
    ("[]a]", "]", True),
    ("[a-]", "-", True),
    ("staging/*", "prod/x", False),
    ("x.y", "xzy", False),
    ("a+b(c)", "a+b(c)", True),
    ("Dev/*", "dev/x", False),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), GLOB_CASES)
def test_glob(pattern: str, path: str, expected: bool) -> None:
    assert call("glob", pattern, path) is expected


def test_glob_errors() -> None:
    err = fails("glob", 1, "a", code="type_error")
    assert err.message == "`glob` expects a string pattern, got number"
    fails("glob", "a", None, code="type_error")
    err = fails("glob", "dev/[ab", "dev/a", code="builtin_error")
    assert "unclosed" in err.message
    fails("glob", "[!", "a", code="builtin_error")
    fails("glob", "[z-a]", "b", code="builtin_error")
    fails("glob", "*", "\ud800", code="builtin_error")


def test_glob_compiles_each_pattern_once(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    real = matching_module._compile_glob

    def counting(pattern: str) -> Any:
        compiled.append(pattern)
        return real(pattern)

    monkeypatch.setattr(matching_module, "_compile_glob", counting)
    monkeypatch.setattr(matching_module, "_glob_cache", {})
    for _ in range(3):
        assert call("glob", "once/*", "once/x")
    assert compiled == ["once/*"]


def test_pattern_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    cache: dict[str, Any] = {}
    monkeypatch.setattr(matching_module, "_regex_cache", cache)
    for i in range(matching_module.CACHE_LIMIT + 10):
        call("regex", f"x{i}", "x")
        assert len(cache) <= matching_module.CACHE_LIMIT
    assert call("regex", "^x1$", "x1") is True


def test_regex() -> None:
    assert call("regex", "^churn-v[0-9]+$", "churn-v12") is True
    assert call("regex", "^churn-v[0-9]+$", "churn-vx") is False
    assert call("regex", "v[0-9]+", "model-v12-final") is True
    assert call("regex", "", "") is True
    assert call("regex", "(?i)PROD", "prod") is True
    assert call("regex", "^.$", "é") is True


def test_regex_errors() -> None:
    err = fails("regex", "(", "x", code="builtin_error")
    assert "bad pattern" in err.message
    fails("regex", r"(a)\1", "aa", code="builtin_error")  # backreferences are not RE2
    fails("regex", "(?=a)", "a", code="builtin_error")  # nor is look-ahead
    fails("regex", 1, "x", code="type_error")
    fails("regex", "x", 1, code="type_error")


def test_patterns_that_backtrack_elsewhere_finish() -> None:
    # a backtracking engine would not finish these in the lifetime of the test run
    assert call("regex", "^(a+)+$", "a" * 50_000 + "b") is False
    assert call("glob", "*a*a*a*a*a*a*a*b", "a" * 50_000) is False


_PLAIN = st.text(
    alphabet=st.characters(exclude_characters="*?[", exclude_categories=("Cs",)), max_size=12
)


def test_glob_refuses_a_lone_surrogate() -> None:
    fails("glob", "a", "\ud800", code="builtin_error")


@given(_PLAIN, _PLAIN)
def test_glob_without_special_characters_is_equality(pattern: str, path: str) -> None:
    assert call("glob", pattern, path) is (pattern == path)
    assert call("glob", pattern, pattern) is True


@given(st.text(alphabet="ab/.", max_size=6), st.text(alphabet="ab/.", max_size=6))
def test_glob_equality_on_a_small_alphabet(pattern: str, path: str) -> None:
    assert call("glob", pattern, path) is (pattern == path)


# --- numbers -----------------------------------------------------------------------------


def test_abs_floor_ceil() -> None:
    assert same(call("abs", -3), 3)
    assert same(call("abs", -2.5), 2.5)
    assert same(call("floor", 2.7), 2)
    assert same(call("floor", -2.5), -3)
    assert same(call("floor", 4), 4)
    assert same(call("ceil", 2.1), 3)
    assert same(call("ceil", -2.1), -2)
    assert same(call("ceil", 1e20), 10**20)
    for name in ("abs", "floor", "ceil", "round"):
        fails(name, True, code="type_error")
        fails(name, "1", code="type_error")


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (2.5, 3),
        (-2.5, -3),
        (0.5, 1),
        (-0.5, -1),
        (1.4999999999999998, 1),
        (0.49999999999999994, 0),
        (-0.4, 0),
        (2.0, 2),
        (4503599627370497.0, 4503599627370497),
        (1e300, int(1e300)),
        (7, 7),
        (10**30, 10**30),
    ],
)
def test_round_halves_away_from_zero(x: float, expected: int) -> None:
    assert same(call("round", x), expected)


def _reference_round(x: float) -> int:
    sign = -1 if x < 0 else 1
    return math.floor(abs(Fraction(x)) + Fraction(1, 2)) * sign


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_round_agrees_with_the_reference(x: float) -> None:
    r = call("round", x)
    assert type(r) is int
    assert r == _reference_round(x)


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_round_of_halves(n: int) -> None:
    x = n + 0.5
    expected = n + 1 if x > 0 else n
    assert call("round", x) == expected


def test_min_max() -> None:
    assert same(call("min", [3, 1, 2]), 1)
    assert same(call("max", [3, 1, 2]), 3)
    assert same(call("max", [1, 2.5]), 2.5)
    assert call("min", ["b", "a", "c"]) == "a"
    assert call("max", TSet(["b", "a"])) == "b"
    assert call("min", []) is UNDEF
    assert call("max", TSet()) is UNDEF
    err = fails("min", [1, "a"], code="type_error")
    assert "number and string" in err.message
    fails("max", [1, True], code="type_error")
    fails("max", [[1], [2]], code="type_error")
    fails("min", 3, code="type_error")
    fails("min", {"a": 1}, code="type_error")
    fails("max", "abc", code="type_error")


def test_sum() -> None:
    assert same(call("sum", []), 0)
    assert same(call("sum", [1, 2, 3.5]), 6.5)
    assert same(call("sum", TSet([1, 2])), 3)
    assert same(call("sum", [10**30, 1]), 10**30 + 1)
    fails("sum", [1, True], code="type_error")
    fails("sum", [1, "2"], code="type_error")
    fails("sum", 1, code="type_error")
    assert fails("sum", [1e308, 1e308]).code == "non_finite"
    fails("sum", [10**400, 1.5], code="builtin_error")


# --- collections -------------------------------------------------------------------------


def test_count() -> None:
    assert call("count", [1, 2, 3]) == 3
    assert call("count", "abc") == 3
    assert call("count", "😀") == 1
    assert call("count", TSet([1, 2])) == 2
    assert call("count", {"a": 1, "b": 2}) == 2
    fails("count", 3, code="type_error")
    fails("count", None, code="type_error")


def test_keys_values() -> None:
    obj = {"b": 1, "a": 2, "c": [3]}
    assert call("keys", obj) == ["a", "b", "c"]
    assert call("values", obj) == [2, 1, [3]]
    assert call("keys", {}) == []
    fails("keys", [1], code="type_error")
    fails("values", TSet(), code="type_error")


def test_sort() -> None:
    assert call("sort", [3, 1, 2]) == [1, 2, 3]
    mixed = [{"a": 1}, "s", TSet([1]), 2, [1], None, True, 1.5]
    assert call("sort", mixed) == [None, True, 1.5, 2, "s", [1], TSet([1]), {"a": 1}]
    result = call("sort", TSet([3, 1]))
    assert type(result) is list and result == [1, 3]
    fails("sort", {"a": 1}, code="type_error")
    fails("sort", "cba", code="type_error")


def test_unique() -> None:
    result = call("unique", [2, 1, 2, 1.0])
    assert type(result) is TSet
    assert result == TSet([1, 2])
    assert list(result) == [1, 2]
    fails("unique", "aab", code="type_error")


def test_any_all_test_for_true() -> None:
    assert call("any", [False, True]) is True
    assert call("any", [1, "true", [True]]) is False
    assert call("any", []) is False
    assert call("all", [True, True]) is True
    assert call("all", [True, 1]) is False
    assert call("all", []) is True
    assert call("all", TSet([True])) is True
    fails("any", True, code="type_error")
    fails("all", {"a": True}, code="type_error")


def test_set_operations() -> None:
    s12, s23 = TSet([1, 2]), TSet([2, 3])
    assert call("union", s12, s23) == TSet([1, 2, 3])
    assert call("intersection", s12, s23) == TSet([2])
    assert call("difference", s12, s23) == TSet([1])
    mixed = call("union", [1, 1, 2], s23)
    assert type(mixed) is TSet and list(mixed) == [1, 2, 3]
    assert type(call("intersection", [1, 2], [2.0])) is TSet
    assert call("intersection", [1, 2], [2.0]) == TSet([2])
    assert call("difference", ["a", "b"], TSet(["b"])) == TSet(["a"])
    for name in ("union", "intersection", "difference"):
        fails(name, s12, 3, code="type_error")
        fails(name, {"a": 1}, s12, code="type_error")


def test_set_constructor() -> None:
    assert call("set") == TSet()
    assert len(call("set")) == 0
    two = call("set", 1, 2)
    assert type(two) is TSet and len(two) == 2
    assert call("set", 2, 1, 2, 1.0) == TSet([1, 2])
    assert call("set", [1], [1]) == TSet([[1]])


# --- versions ----------------------------------------------------------------------------

PRECEDENCE = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2.3",
    "1.10.0",
    "2.0.0-rc.1",
    "2.0.0",
    "10.0.0",
]


def test_semver_precedence_chain() -> None:
    for i, a in enumerate(PRECEDENCE):
        for j, b in enumerate(PRECEDENCE):
            expected = (i > j) - (i < j)
            assert call("semver_compare", a, b) == expected, (a, b)


def test_semver_compare_details() -> None:
    assert call("semver_compare", "1.2.3", "1.10.0") == -1
    assert call("semver_compare", "2.0.0", "2.0.0-rc.1") == 1
    assert call("semver_compare", "1.0.0+build.1", "1.0.0+build.2") == 0
    assert call("semver_compare", "1.0.0-rc.1+x", "1.0.0-rc.1") == 0
    assert call("semver_compare", "1.0.0-2", "1.0.0-10") == -1
    assert call("semver_compare", "1.0.0-a-b", "1.0.0-a") == 1
    big = "1.0.0-" + "9" * 5000
    assert call("semver_compare", big, "1.0.0-" + "9" * 4999) == 1
    assert call("semver_compare", "9" * 5000 + ".0.0", "1.0.0") == 1


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "v1.2.3",
        "1.2",
        "1.2.3.4",
        "01.2.3",
        "1.02.3",
        "1.2.3-01",
        "1.2.3-",
        "1.2.3+",
        "1.2.3-a..b",
        "1.2.3+a..b",
        " 1.2.3",
        "1.2.3 ",
        "1.2.3-é",
        "1.2.3_4",
        "",
        "١.٢.٣",
    ],
)
def test_semver_rejects_invalid_versions(bad: str) -> None:
    err = fails("semver_compare", bad, "1.0.0", code="builtin_error")
    assert "semantic version" in err.message
    fails("semver_compare", "1.0.0", bad, code="builtin_error")
    fails("semver_satisfies", bad, ">=1.0.0", code="builtin_error")


def test_semver_type_errors() -> None:
    fails("semver_compare", 1, "1.0.0", code="type_error")
    fails("semver_satisfies", "1.0.0", 1, code="type_error")


@pytest.mark.parametrize(
    ("version", "rng", "expected"),
    [
        ("2.3.1", ">=2.0.0 <3.0.0", True),
        ("3.0.0", ">=2.0.0 <3.0.0", False),
        ("2.0.0", ">=2.0.0 <3.0.0", True),
        ("3.0.0-rc.1", ">=2.0.0 <3.0.0", True),
        ("2.0.0-rc.1", ">=2.0.0 <3.0.0", False),
        ("2.3.1", ">= 2.0.0 < 3.0.0", True),
        ("2.3.1", "  >=2.0.0   <3.0.0  ", True),
        ("1.2.3", "1.2.3", True),
        ("1.2.3", "= 1.2.3", True),
        ("1.2.3+b", "=1.2.3", True),
        ("1.2.4", "1.2.3", False),
        ("1.2.4", "!=1.2.3", True),
        ("1.2.3", "!=1.2.3", False),
        ("1.2.3", ">1.2.3", False),
        ("1.2.3", "<=1.2.3", True),
        ("1.5.0", "<1.0.0 || >=1.4.0 <2.0.0", True),
        ("0.9.0", "<1.0.0 || >=1.4.0 <2.0.0", True),
        ("1.2.0", "<1.0.0 || >=1.4.0 <2.0.0", False),
        ("1.2.0", "1.0.0||1.2.0", True),
    ],
)
def test_semver_satisfies(version: str, rng: str, expected: bool) -> None:
    assert call("semver_satisfies", version, rng) is expected


@pytest.mark.parametrize(
    "rng",
    [
        "",
        "   ",
        "||",
        ">=1.0.0 ||",
        ">=",
        ">= ",
        "^1.2.3",
        "~1.2.3",
        ">=v1.0.0",
        "1.x",
        "1.0.0 - 2.0.0",
        "==1.0.0",
        "=>1.0.0",
        "<>1.0.0",
        ">= >=1.0.0",
        ">=1.0.0,<2.0.0",
        "1.0",
    ],
)
def test_semver_satisfies_rejects_bad_ranges(rng: str) -> None:
    fails("semver_satisfies", "1.0.0", rng, code="builtin_error")


# --- time --------------------------------------------------------------------------------


def test_now_returns_the_context_clock() -> None:
    assert call("now", SimpleNamespace(now=1767225600, schemas={})) == 1767225600
    assert call("now", SimpleNamespace(now=1.5, schemas={})) == 1.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-20T14:32:15Z", 1763649135),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59Z", -1),
        ("2025-11-20t14:32:15z", 1763649135),
        ("2025-11-20T16:32:15+02:00", 1763649135),
        ("2025-11-20T09:02:15-05:30", 1763649135),
        ("2025-11-20T14:32:15-00:00", 1763649135),
        ("2025-11-20T14:32:15.000Z", 1763649135),
        ("2025-11-20T14:32:15.5Z", 1763649135.5),
        ("2025-11-20T14:32:15.25+00:00", 1763649135.25),
        ("2024-02-29T00:00:00Z", 1709164800),
        ("2026-01-03T00:00:00Z", 1767398400),
    ],
)
def test_time(text: str, expected: int | float) -> None:
    assert same(call("time", text), expected)


@pytest.mark.parametrize(
    "text",
    [
        "2025-11-20",
        "2025-11-20T14:32:15",
        "2025-11-20 14:32:15Z",
        "2025-11-20T14:32Z",
        "2025-13-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2025-11-20T24:00:00Z",
        "2025-11-20T14:60:00Z",
        "2025-11-20T14:32:15+24:00",
        "2025-11-20T14:32:15+0200",
        "2025-11-20T14:32:15.Z",
        "2025-11-20T14:32:15ZZ",
        " 2025-11-20T14:32:15Z",
        "25-11-20T14:32:15Z",
        "0000-01-01T00:00:00Z",
        "2025-11-20T14:32:15UTC",
        "",
    ],
)
def test_time_rejects_non_rfc3339(text: str) -> None:
    err = fails("time", text, code="builtin_error")
    assert "rfc 3339" in err.message.lower()


def test_a_leap_second_is_refused_as_one() -> None:
    # RFC 3339 allows `:60`, epoch seconds (and OPA) do not: the error says which it is
    err = fails("time", "2016-12-31T23:59:60Z", code="builtin_error")
    assert "is a leap second" in err.message and "`:59`" in err.message


def test_time_type_error() -> None:
    fails("time", 1763649135, code="type_error")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("48h", 172800),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("250ms", 0.25),
        ("1s500ms", 1.5),
        ("0", 0),
        ("0s", 0),
        ("30s", 30),
        ("15m", 900),
        ("7d", 604800),
        ("2w", 1209600),
        ("1000ms", 1),
        ("0.1s", 0.1),
        ("1d12h", 129600),
    ],
)
def test_duration(text: str, expected: int | float) -> None:
    assert same(call("duration", text), expected)


@pytest.mark.parametrize(
    "text",
    ["", "-1h", "+1h", "1", "h", "1.h", ".5h", "1h 30m", " 1h", "1H", "1us", "1y", "00", "1e3s"],
)
def test_duration_rejects_malformed(text: str) -> None:
    fails("duration", text, code="builtin_error")


def test_duration_errors() -> None:
    fails("duration", 3600, code="type_error")
    fails("duration", "9" * 6000 + "h", code="builtin_error")


# --- schema ------------------------------------------------------------------------------

REGISTRATION = {
    "type": "object",
    "required": ["model_id", "version"],
    "properties": {"model_id": {"type": "string"}, "version": {"type": "string"}},
}


def _ctx(**schemas: Any) -> SimpleNamespace:
    validators = {name: jsonschema.Draft202012Validator(s) for name, s in schemas.items()}
    return SimpleNamespace(now=0, schemas=validators)


def test_matches_schema() -> None:
    ctx = _ctx(
        registration=REGISTRATION,
        tags={"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        count={"type": "integer"},
    )
    assert call("matches_schema", ctx, {"model_id": "churn", "version": "2.3.1"}, "registration")
    assert call("matches_schema", ctx, {"model_id": "churn"}, "registration") is False
    assert call("matches_schema", ctx, {"model_id": 1, "version": "x"}, "registration") is False
    # a set validates as the sorted array it is written as
    assert call("matches_schema", ctx, TSet(["b", "a"]), "tags") is True
    assert call("matches_schema", ctx, 24.0, "count") is True
    assert call("matches_schema", ctx, True, "count") is False


def test_matches_schema_errors() -> None:
    ctx = _ctx(registration=REGISTRATION, broken={"$ref": "#/$defs/missing"})
    err = fails("matches_schema", ctx, {}, "nope", code="builtin_error")
    assert "nope" in err.message
    fails("matches_schema", ctx, {}, 1, code="type_error")
    fails("matches_schema", ctx, {}, "broken", code="builtin_error")


# --- fairness ----------------------------------------------------------------------------

GROUPS = {
    "a": {"tp": 40, "fp": 10, "tn": 40, "fn": 10},
    "b": {"tp": 20, "fp": 5, "tn": 60, "fn": 15},
}


def test_demographic_parity_difference() -> None:
    assert call("demographic_parity_difference", GROUPS) == pytest.approx(0.25, abs=1e-12)
    three = {**GROUPS, "c": {"tp": 30, "fp": 30, "tn": 30, "fn": 10}}
    assert call("demographic_parity_difference", three) == pytest.approx(0.35, abs=1e-12)
    equal = {
        "a": {"tp": 10, "fp": 10, "tn": 10, "fn": 10},
        "b": {"tp": 2, "fp": 2, "tn": 2, "fn": 2},
    }
    assert call("demographic_parity_difference", equal) == 0
    one = {"only": {"tp": 1, "fp": 2, "tn": 3, "fn": 4}}
    assert call("demographic_parity_difference", one) == 0


def test_equalized_odds_difference() -> None:
    tpr = 40 / 50 - 20 / 35
    fpr = 10 / 50 - 5 / 65
    assert call("equalized_odds_difference", GROUPS) == pytest.approx(max(tpr, fpr))
    assert call("equalized_odds_difference", GROUPS) == pytest.approx(0.228571, abs=1e-6)
    # here the false positive rates differ more than the true positive rates
    fpr_led = {
        "a": {"tp": 5, "fp": 9, "tn": 1, "fn": 5},
        "b": {"tp": 6, "fp": 1, "tn": 9, "fn": 4},
    }
    assert call("equalized_odds_difference", fpr_led) == pytest.approx(0.8)
    weighted = {"a": {"tp": 0.5, "fp": 0.5, "tn": 0.5, "fn": 0.5}, "b": GROUPS["b"]}
    assert call("equalized_odds_difference", weighted) == pytest.approx(0.5 - 5 / 65)


@pytest.mark.parametrize("name", ["demographic_parity_difference", "equalized_odds_difference"])
def test_fairness_errors(name: str) -> None:
    ok = GROUPS["a"]
    fails(name, {}, code="builtin_error")
    fails(name, [ok], code="type_error")
    fails(name, {"a": [1, 2, 3, 4]}, code="type_error")
    fails(name, {"a": {"tp": 1, "fp": 1, "tn": 1}}, code="builtin_error")
    fails(name, {"a": {**ok, "tp": -1}}, code="builtin_error")
    fails(name, {"a": {**ok, "fn": True}}, code="type_error")
    fails(name, {"a": {**ok, "fp": "3"}}, code="type_error")
    fails(name, {"a": {"tp": 0, "fp": 0, "tn": 0, "fn": 0}}, code="builtin_error")


def test_fairness_zero_denominators_per_rate() -> None:
    no_positives = {"a": {"tp": 0, "fp": 3, "tn": 5, "fn": 0}, "b": GROUPS["b"]}
    err = fails("equalized_odds_difference", no_positives, code="builtin_error")
    assert "zero denominator" in err.message
    no_negatives = {"a": {"tp": 3, "fp": 0, "tn": 0, "fn": 5}, "b": GROUPS["b"]}
    fails("equalized_odds_difference", no_negatives, code="builtin_error")
    # selection rate is still defined for both
    assert call("demographic_parity_difference", no_positives) == pytest.approx(3 / 8 - 0.25)


_GLOB_ALPHABET = st.text(alphabet="ab/*?[]!é", max_size=8)


@given(_GLOB_ALPHABET, st.text(alphabet="ab/é", max_size=8))
def test_glob_engines_agree(pattern: str, path: str) -> None:
    # the quick Python-engine path and RE2 must give the same answers
    from tenet.runtime.builtins import matching

    try:
        regex = matching.glob_regex(pattern)
    except EvalError:
        return
    slow = matching._re2_compile("glob", regex)
    assert call("glob", pattern, path) is (slow.fullmatch(path) is not None)


def test_trim_takes_unicode_white_space_only() -> None:
    # Python's strip() also takes U+001C-U+001F, information separators, not space
    from tenet.runtime.builtins.strings import trim

    assert trim("\u3000 churn\u2028\n") == "churn"
    assert trim("\x1cchurn\x1f") == "\x1cchurn\x1f"
