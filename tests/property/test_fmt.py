"""`tenet fmt` keeps meaning and comments and is idempotent: for generated policies (rules,
functions, checks with `when`/`message`/severity, annotations, comprehensions, `every`/`some`,
literals spread over lines, comments in every position) and for every policy we ship or the
conformance suite holds, `parse(fmt(x)) == parse(x)` and `fmt(fmt(x)) == fmt(x)`, and the
comments are the same (a comment inside an expression laid out on one line moves above it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tenet.source import Source
from tenet.syntax.format import format_text
from tenet.syntax.parser import parse
from tests.conftest import CONFORMANCE, REPO

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _comments(text: str) -> list[str]:
    module, diags = parse(Source("p.tenet", text))
    assert module is not None, diags[0].render()
    return [t.rstrip() for _, t in module.comments]


def assert_formats_well(text: str) -> str:
    before, diags = parse(Source("p.tenet", text))
    assert before is not None, f"the input does not parse:\n{text}\n{diags[0].render()}"
    once = format_text(text)
    after, diags = parse(Source("p.tenet", once))
    assert after is not None, f"formatted text does not parse:\n{once}\n{diags[0].render()}"
    assert after == before, f"the formatted text means something else:\n{text}\n---\n{once}"
    assert format_text(once) == once, f"formatting is not idempotent:\n{once}"
    # every comment is kept; one inside an expression laid out on one line moves above it
    assert sorted(_comments(once)) == sorted(_comments(text)), (
        f"comments changed:\n{text}\n---\n{once}"
    )
    return once


# ---- generated policies ------------------------------------------------------------------------

comment = st.builds(
    lambda body: "#" + body,
    st.sampled_from([" note", "", "x", "# double", "! bang", ' {braces} and "quotes"', " é"]),
)
sp = st.sampled_from([" ", "  "])
name = st.sampled_from(["allow", "deny", "tier", "level", "ok", "names", "limit"])
local = st.sampled_from(["x", "y", "k", "v", "a", "item"])
ref = st.sampled_from(
    [
        "input.a",
        "input.model.accuracy",
        'input["key-1"]',
        "input.xs[0]",
        "data.t.min",
        "t.staging.min_accuracy",
        "input.message",
        "input.default",
        "x",
        "y",
        "a.role",
    ]
)
number = st.sampled_from(["0", "1", "1_000", "0.85", "1e-9", "10%", "250ms", "2GiB", "12.5%"])
string = st.sampled_from(['"a"', '"x y"', '"{x}"', '"\\u00e9"', '"é"', '"a\\"b"', '""'])
atom = st.one_of(number, string, st.sampled_from(["true", "false", "null"]), ref)


def _wrap(e: str, parens: bool) -> str:
    return f"({e})" if parens else e


def _binary(draw: Any, children: st.SearchStrategy[str]) -> str:
    op = draw(st.sampled_from(["+", "-", "*", "/", "%", "==", "!=", "<", ">=", "in", "not in"]))
    a, b = draw(children), draw(children)
    compound_a = not _is_atom(a)
    compound_b = not _is_atom(b)
    return f"{_wrap(a, compound_a)} {op} {_wrap(b, compound_b)}"


_ATOM = re.compile(r'[\w.%]+|"(?:[^"\\]|\\.)*"|input\["key-1"\]')


def _is_atom(e: str) -> bool:
    return _ATOM.fullmatch(e) is not None


@st.composite
def boolop(draw: Any, children: st.SearchStrategy[str]) -> str:
    op = draw(st.sampled_from(["and", "or"]))
    a, b = draw(children), draw(children)
    a, b = _wrap(a, not _is_atom(a)), _wrap(b, not _is_atom(b))
    if draw(st.booleans()):
        note = f"  {draw(comment)}" if draw(st.booleans()) else ""
        own = f"\n        {draw(comment)}" if draw(st.booleans()) else ""
        return f"{a} {op}{note}{own}\n        {b}"
    return f"{a} {op} {b}"


@st.composite
def call(draw: Any, children: st.SearchStrategy[str]) -> str:
    fn = draw(st.sampled_from(["count", "startswith", "f", "common.is_admin", "set"]))
    args = draw(st.lists(children, max_size=3))
    if args and draw(st.booleans()):
        inner = "".join(
            f"\n    {a},{'  ' + draw(comment) if draw(st.booleans()) else ''}" for a in args
        )
        return f"{fn}({inner}\n)"
    return f"{fn}({', '.join(args)})"


@st.composite
def array(draw: Any, children: st.SearchStrategy[str]) -> str:
    items = draw(st.lists(children, max_size=3))
    if items and draw(st.booleans()):
        lines = []
        for item in items:
            if draw(st.booleans()):
                lines.append(f"    {draw(comment)}")
            trail = f"  {draw(comment)}" if draw(st.booleans()) else ""
            lines.append(f"    {item},{trail}")
        if draw(st.booleans()):
            lines.append(f"    {draw(comment)}")
        return "[\n" + "\n".join(lines) + "\n]"
    return "[" + ", ".join(items) + ("," if items and draw(st.booleans()) else "") + "]"


@st.composite
def obj(draw: Any, children: st.SearchStrategy[str]) -> str:
    keys = draw(
        st.lists(
            st.sampled_from(['"a"', "b", '"c-d"', "stage", "input.region"]), max_size=3, unique=True
        )
    )
    pairs = [f"{k}: {draw(children)}" for k in keys]
    if pairs and draw(st.booleans()):
        lines = []
        for pair in pairs:
            if draw(st.booleans()):
                lines.append(f"    {draw(comment)}")
            trail = f"  {draw(comment)}" if draw(st.booleans()) else ""
            lines.append(f"    {pair},{trail}")
        if draw(st.booleans()):
            lines.append(f"    {draw(comment)}")
        return "{\n" + "\n".join(lines) + "\n}"
    return "{" + ", ".join(pairs) + "}"


@st.composite
def comprehension(draw: Any, children: st.SearchStrategy[str]) -> str:
    kind = draw(st.sampled_from(["array", "set", "object"]))
    element = draw(children)
    element = _wrap(element, not _is_atom(element))
    head = f"{element}: {draw(atom)}" if kind == "object" else element
    clauses = [f"for {draw(local)} in {draw(ref)}"]
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            clauses.append(f"for k, v in {draw(ref)}")
        else:
            cond = draw(children)
            clauses.append(f"if {cond}")
    open_, close = ("[", "]") if kind == "array" else ("{", "}")
    if draw(st.booleans()):
        # spread over lines; in braces a comment may only end a line
        parts = [head, *clauses]
        text = open_ + "\n"
        for part in parts:
            trail = f"  {draw(comment)}" if draw(st.booleans()) else ""
            text += f"    {part}{trail}\n"
        return text + close
    return open_ + head + " " + " ".join(clauses) + close


expression = st.recursive(
    atom,
    lambda children: st.one_of(
        st.builds(lambda e: f"-{e}", number),
        st.builds(lambda e: f"not ({e})", children),
        st.composite(lambda draw: _binary(draw, children))(),
        boolop(children),
        call(children),
        array(children),
        obj(children),
        comprehension(children),
        st.builds(lambda e: f"({e})", children),
    ),
    max_leaves=6,
)


@st.composite
def statement(draw: Any, depth: int = 0) -> str:
    kind = draw(st.sampled_from(["cond", "cond", "assign", "some", "some2", "every"]))
    if kind == "every" and depth < 2:
        inner = draw(body(depth + 1))
        return f"every {draw(local)} in {draw(ref)} {inner}"
    if kind == "assign":
        return f"{draw(local)} :={draw(sp)}{draw(expression)}"
    if kind == "some":
        return f"some {draw(local)} in {draw(ref)}"
    if kind == "some2":
        return f"some k, v in {draw(ref)}"
    return draw(expression)


@st.composite
def body(draw: Any, depth: int = 0) -> str:
    stmts = draw(st.lists(statement(depth), min_size=1, max_size=4))
    pad = "    " * (depth + 1)
    if len(stmts) == 1 and "\n" not in stmts[0] and draw(st.booleans()):
        return "{ " + stmts[0] + " }"
    if len(stmts) > 1 and all("\n" not in s for s in stmts) and draw(st.integers(0, 4)) == 0:
        return "{ " + "; ".join(stmts) + " }"
    lines = []
    opener = f"  {draw(comment)}" if draw(st.booleans()) else ""
    for s in stmts:
        if draw(st.integers(0, 3)) == 0:
            lines.append("")
        if draw(st.integers(0, 2)) == 0:
            lines.append(pad + draw(comment))
        trail = f"  {draw(comment)}" if draw(st.integers(0, 2)) == 0 else ""
        lines.append(pad + s.replace("\n", "\n" + pad) + trail)
    if draw(st.booleans()):
        lines.append(pad + draw(comment))
    return "{" + opener + "\n" + "\n".join(lines) + "\n" + "    " * depth + "}"


@st.composite
def definition(draw: Any) -> str:
    kind = draw(
        st.sampled_from(
            ["default", "bool", "value", "value_if", "set", "set_if", "fn", "vfn", "check"]
        )
    )
    n = draw(name)
    match kind:
        case "default":
            return f"default {n} ={draw(sp)}{draw(expression)}"
        case "bool":
            return f"{n} if {draw(body())}"
        case "value":
            return f"{n} = {draw(expression)}"
        case "value_if":
            return f"{n} = {draw(expression)} if {draw(body())}"
        case "set":
            return f"{n} contains {draw(expression)}"
        case "set_if":
            return f"{n} contains {draw(expression)} if {draw(body())}"
        case "fn":
            return f"is_{n}(p, q) if {draw(body())}"
        case "vfn":
            return f"{n}_of(p) = {draw(expression)} if {draw(body())}"
    kind_ = draw(st.sampled_from(["require", "forbid"]))
    severity = draw(st.sampled_from(["", " blocking", " warning", " info"]))
    when = f" when {draw(expression)}" if draw(st.booleans()) else ""
    message = draw(
        st.sampled_from(
            ["", ' message "m"', '\nmessage "value {x} of {input.a:.1%}"', ' message "{{x}}"']
        )
    )
    return f"{kind_} c_{n}{severity}{when} {draw(body())}{message}"


@st.composite
def policy(draw: Any) -> str:
    out = []
    for _ in range(draw(st.integers(0, 2))):
        out.append(draw(comment))
    if out and draw(st.booleans()):
        out.append("")
    trail = f"  {draw(comment)}" if draw(st.booleans()) else ""
    out.append(f"package {draw(st.sampled_from(['main', 'deploy.staging', 'a.b.c']))}{trail}")
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            out.append(draw(comment))
        alias = draw(st.sampled_from(["", " as t", " as limits"]))
        out.append(
            f"import {draw(st.sampled_from(['data.t', 'access.common', 'input.subject']))}{alias}"
        )
    for _ in range(draw(st.integers(1, 5))):
        for _ in range(draw(st.integers(0, 2))):
            out.append("")
        if draw(st.booleans()):
            out.append(draw(comment))
        for note in draw(
            st.lists(st.sampled_from(["title: t", "controls: [a/b]", "x-k: 1"]), max_size=2)
        ):
            out.append(f"#@ {note}")
        d = draw(definition())
        trail = f"  {draw(comment)}" if draw(st.integers(0, 3)) == 0 else ""
        out.append(d + trail)
    if draw(st.booleans()):
        out.append(draw(comment))
    return "\n".join(out) + draw(st.sampled_from(["\n", "", "\n\n"]))


@SETTINGS
@given(policy())
@example("package main\n")
@example("# only a header\npackage main  # and a trailing one\n# and a footer")
def test_generated_policies_format_well(text: str) -> None:
    assert_formats_well(text)


# ---- shipped policies and the conformance suite ---------------------------------------------


def _shipped() -> list[Any]:
    out = []
    for path in sorted((REPO / "policies").rglob("*.tenet")):
        out.append(pytest.param(path.read_text("utf-8"), id=str(path.relative_to(REPO))))
    for f in sorted(CONFORMANCE.glob("*.yaml")):
        doc = yaml.safe_load(f.read_text("utf-8"))
        bundles = [doc.get("files") or {}]
        bundles.extend(c.get("files") or {} for c in doc.get("load_error_cases") or [])
        for i, files in enumerate(bundles):
            for rel, text in files.items():
                if rel.endswith(".tenet"):
                    out.append(pytest.param(text, id=f"{f.stem}:{i}:{rel}"))
    return out


def test_shipped_policies_are_found() -> None:
    assert len(_shipped()) >= 40  # a broken glob must fail, not silently test nothing


@pytest.mark.parametrize("text", _shipped())
def test_shipped_policies_format_well(text: str) -> None:
    module, _ = parse(Source("p.tenet", text))
    if module is None:  # a load-error case that does not parse: formatting refuses it
        with pytest.raises(ValueError, match="syntax"):
            format_text(text)
        return
    assert_formats_well(text)


def test_the_shipped_starter_bundle_is_formatted() -> None:
    for path in sorted((REPO / "policies" / "starter").rglob("*.tenet")):
        text = path.read_text("utf-8")
        assert format_text(text) == text, f"{path} is not in the canonical style"


def test_a_path_for_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="syntax"):
        format_text("package main\nallow if {\n")
