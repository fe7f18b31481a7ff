"""The parser: text to syntax tree, the newline rules of spec section 10, precedence, literals,
reserved words. Nodes compare without their spans, so trees are compared whole."""

from __future__ import annotations

import decimal
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lark import Token
from lark.exceptions import VisitError

from tenet.diagnostics import Diagnostic
from tenet.source import Source
from tenet.syntax import ast
from tenet.syntax.parser import UNITS, _unreadable, parse, parse_expression, unit_value


def module(text: str) -> ast.Module:
    m, diags = parse(Source("t.tenet", text))
    assert not diags, "\n".join(d.render() for d in diags)
    assert m is not None
    return m


def syntax_error(text: str) -> Diagnostic:
    m, diags = parse(Source("t.tenet", text))
    assert m is None, f"expected a syntax error, parsed {m!r}"
    assert len(diags) == 1
    d = diags[0]
    assert d.code == "syntax"
    assert d.span is not None and d.span.path == "t.tenet"
    return d


def expr(text: str) -> ast.Expr:
    """The value of `x = <text>` in a one-rule policy."""
    m = module(f"package p\nx = {text}\n")
    (rule,) = m.definitions
    assert isinstance(rule, ast.Rule) and rule.value is not None
    return rule.value


def body(text: str) -> tuple[ast.Statement, ...]:
    """The statements of `allow if { <text> }`."""
    m = module(f"package p\nallow if {{\n{text}\n}}\n")
    (rule,) = m.definitions
    assert isinstance(rule, ast.Rule) and rule.body is not None
    return rule.body.statements


def V(name: str) -> ast.Var:
    return ast.Var(name)


def L(value: object) -> ast.Literal:
    return ast.Literal(value)


def F(obj: ast.Expr, *names: str) -> ast.Expr:
    for n in names:
        obj = ast.Field(obj, n)
    return obj


INPUT = V("input")


# ---- equality ignores spans ---------------------------------------------------------------------

COMPACT = (
    "package access.models\n"
    "import data.roles\n"
    "default allow = false\n"
    "allow if { some g in roles[input.role].grants; g.resource == input.resource; "
    "input.action in g.actions }\n"
    'tier = "high" if { input.risk >= 0.7 }\n'
    'require accuracy_floor blocking when input.target == "staging" { input.accuracy >= 85% } '
    'message "low {input.accuracy}"\n'
)

SPREAD = """# the same policy, laid out differently
package access.models   # trailing comment

import data.roles


default allow = false   # fail closed

allow if {
    # grants of the subject's role
    some g in roles[input.role].grants
    g.resource ==
        input.resource
    input.action in g.actions
}

tier = "high" if {
    input.risk >= 0.7
}

require accuracy_floor blocking when input.target == "staging" {
    input.accuracy >= 85%
}
message "low {input.accuracy}"
"""


def test_ast_equality_ignores_spans_whitespace_and_comments() -> None:
    a, b = module(COMPACT), module(SPREAD)
    assert a == b
    # the spans really differ, so equality did not come from identical positions
    assert a.definitions[1].span.line != b.definitions[1].span.line


def test_ast_equality_still_sees_differences() -> None:
    assert module(COMPACT) != module(COMPACT.replace("0.7", "0.8"))
    assert module(COMPACT) != module(COMPACT.replace("blocking", "warning"))
    assert expr("1 + 2") != expr("2 + 1")
    assert expr("a.b") != expr('a["b"]')


def test_number_spelling_is_not_part_of_equality() -> None:
    assert expr("1_000") == expr("1000")
    assert expr("10%") == expr("0.1")


# ---- newlines (spec section 10) ---------------------------------------------------------------


def test_newlines_inside_parentheses_and_calls() -> None:
    assert expr("(1 +\n  2\n)") == ast.Binary("+", L(1), L(2))
    stmts = body('startswith(\n    input.path,\n    "prod/"\n)')
    assert stmts == (ast.Condition(ast.Call(V("startswith"), (F(INPUT, "path"), L("prod/")))),)


def test_newlines_inside_arrays() -> None:
    assert expr("[\n  1,\n  2,\n]") == ast.ArrayLit((L(1), L(2)))


def test_newlines_inside_object_literals() -> None:
    want = ast.ObjectLit(((L("a"), L(1)), (L("b"), L(2))))
    assert expr('{\n  a: 1,\n  "b":\n    2\n}') == want
    stmts = body("o := {\n    a: 1,\n    b: 2,\n}\no.a == 1")
    assert len(stmts) == 2
    assert stmts[0] == ast.Assign("o", want)


def test_newlines_inside_an_array_comprehension() -> None:
    got = expr('[\n  a.user\n  for a in input.approvals\n  if a.status == "approved"\n]')
    assert got == ast.ArrayComp(
        F(V("a"), "user"),
        (
            ast.CompFor(("a",), F(INPUT, "approvals")),
            ast.CompIf(ast.Compare("==", F(V("a"), "status"), L("approved"))),
        ),
    )


def test_newlines_inside_set_and_object_comprehensions_before_for() -> None:
    assert expr("{a.role\n  for a in input.approvals\n}") == ast.SetComp(
        F(V("a"), "role"), (ast.CompFor(("a",), F(INPUT, "approvals")),)
    )
    assert expr("{k: v\n  for k, v in input.o\n}") == ast.ObjectComp(
        V("k"), V("v"), (ast.CompFor(("k", "v"), F(INPUT, "o")),)
    )


def test_a_line_ending_in_a_binary_operator_continues() -> None:
    stmts = body("input.a +\n    input.b > 3\ninput.c and\n    input.d\ninput.e ==\n  1")
    assert stmts == (
        ast.Condition(ast.Compare(">", ast.Binary("+", F(INPUT, "a"), F(INPUT, "b")), L(3))),
        ast.Condition(ast.BoolOp("and", F(INPUT, "c"), F(INPUT, "d"))),
        ast.Condition(ast.Compare("==", F(INPUT, "e"), L(1))),
    )


def test_a_line_starting_with_a_binary_operator_is_a_new_condition() -> None:
    d = syntax_error("package p\nallow if {\n  input.a\n  + input.b > 3\n}\n")
    assert (d.line, d.column) == (4, 3)
    # `-` can start an expression, so this is two conditions, not one subtraction
    assert body("input.a\n- input.b") == (
        ast.Condition(F(INPUT, "a")),
        ast.Condition(ast.Negate(F(INPUT, "b"))),
    )


def test_newlines_separate_conditions() -> None:
    assert body("input.a\ninput.b\n\n\ninput.c") == (
        ast.Condition(F(INPUT, "a")),
        ast.Condition(F(INPUT, "b")),
        ast.Condition(F(INPUT, "c")),
    )
    d = syntax_error("package p\nallow if { 1 == 1 2 == 2 }\n")
    assert (d.line, d.column) == (2, 19)


def test_semicolons_separate_conditions() -> None:
    want = (
        ast.Assign("x", L(1)),
        ast.Condition(ast.Compare(">", V("x"), L(0))),
        ast.Condition(F(INPUT, "ok")),
    )
    one_line = module("package p\nallow if { x := 1; x > 0; input.ok }\n")
    mixed = module("package p\nallow if {\n  x := 1;\n  x > 0; input.ok;\n}\n")
    assert one_line.definitions[0].body.statements == want  # type: ignore[union-attr]
    assert one_line == mixed


def test_message_may_start_on_the_line_after_the_closing_brace() -> None:
    same = module('package p\nrequire r {\n  input.ok\n} message "not ok"\n')
    next_line = module('package p\nrequire r {\n  input.ok\n}\nmessage "not ok"\n')
    assert same == next_line
    (check,) = next_line.definitions
    assert isinstance(check, ast.Check)
    assert check.message == "not ok"
    assert check.message_span is not None and check.message_span.line == 5


def test_comment_lines_before_a_closing_brace_message_for_or_if_count_as_blank_lines() -> None:
    blank = 'package p\nrequire r {\n  input.ok\n}\n\nmessage "not ok"\n'
    commented = 'package p\nrequire r {\n  input.ok\n}\n  # why\n# and\nmessage "not ok"\n'
    m = module(commented)
    assert m.definitions == module(blank).definitions
    assert [text for _, text in m.comments] == ["# why", "# and"]
    assert [commented[at : at + len(text)] for at, text in m.comments] == ["# why", "# and"]
    (check,) = m.definitions
    assert isinstance(check, ast.Check) and check.message_span is not None
    assert check.message_span.line == 7
    comp = module("package p\nx = {a\n# c1\nfor a in input.xs\n# c2\nif a\n# c3\n}\n")
    assert comp.definitions == module("package p\nx = {a for a in input.xs if a}\n").definitions
    assert [text for _, text in comp.comments] == ["# c1", "# c2", "# c3"]
    rule = module("package p\nx = 1\n# c\nif { input.ok }\n")
    assert rule.definitions == module("package p\nx = 1 if { input.ok }\n").definitions


def test_a_keyword_inside_a_comment_line_is_not_taken_for_one() -> None:
    text = "package p\nf(x) = 1 if { x }\n# a finding {value, rate} if message for\ny = 2\n"
    m = module(text)
    assert [d.name for d in m.definitions] == ["f", "y"]  # type: ignore[union-attr]
    assert [c for _, c in m.comments] == ["# a finding {value, rate} if message for"]


def test_an_annotation_is_not_a_comment_line_before_message() -> None:
    d = syntax_error('package p\nrequire r {\n  input.ok\n}\n#@ title: t\nmessage "m"\n')
    assert (d.line, d.column, d.message) == (6, 1, "unexpected `message`")


def test_an_unexpected_swallowing_token_is_reported_at_its_keyword() -> None:
    d = syntax_error('package p\nx = 1\n# c\n  # d\nmessage "m"\n')
    assert (d.line, d.column, d.message) == (5, 1, "unexpected `message`")
    d = syntax_error("package p\nx = [1,\n# c\n}\n")
    assert (d.line, d.column, d.message) == (4, 1, "unexpected `}`")


def test_every_body_over_several_lines() -> None:
    assert body("every x in input.xs {\n  x > 0\n  x < 10\n}") == (
        ast.EveryIn(
            ("x",),
            F(INPUT, "xs"),
            ast.Body(
                (
                    ast.Condition(ast.Compare(">", V("x"), L(0))),
                    ast.Condition(ast.Compare("<", V("x"), L(10))),
                )
            ),
        ),
    )


# ---- precedence -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("not a == b", ast.Not(ast.Compare("==", V("a"), V("b")))),
        ("a or b and c", ast.BoolOp("or", V("a"), ast.BoolOp("and", V("b"), V("c")))),
        ("a and b or c", ast.BoolOp("or", ast.BoolOp("and", V("a"), V("b")), V("c"))),
        ("-x * y", ast.Binary("*", ast.Negate(V("x")), V("y"))),
        ("1 + 2 * 3", ast.Binary("+", L(1), ast.Binary("*", L(2), L(3)))),
        ("(1 + 2) * 3", ast.Binary("*", ast.Binary("+", L(1), L(2)), L(3))),
        ("1 - 2 - 3", ast.Binary("-", ast.Binary("-", L(1), L(2)), L(3))),
        ("8 / 4 % 3", ast.Binary("%", ast.Binary("/", L(8), L(4)), L(3))),
        ("a + b == c", ast.Compare("==", ast.Binary("+", V("a"), V("b")), V("c"))),
        ("a and not b", ast.BoolOp("and", V("a"), ast.Not(V("b")))),
        ("not a and b", ast.BoolOp("and", ast.Not(V("a")), V("b"))),
        ("-a.b", ast.Negate(F(V("a"), "b"))),
        ("a not in b", ast.Compare("not in", V("a"), V("b"))),
        ("not a in b", ast.Not(ast.Compare("in", V("a"), V("b")))),
        ("a + 1 in b", ast.Compare("in", ast.Binary("+", V("a"), L(1)), V("b"))),
        ("x.y[0](1)", ast.Call(ast.Index(F(V("x"), "y"), L(0)), (L(1),))),
    ],
)
def test_precedence(text: str, tree: ast.Expr) -> None:
    assert expr(text) == tree


def test_parse_expression_agrees_with_the_rule_parser() -> None:
    text = "not input.a in [1, 2] or input.b * -2 >= 3"
    src = Source("t.tenet", text)
    assert parse_expression(src, 0, text) == expr(text)


@pytest.mark.parametrize("text", ["a < b < c", "1 == 1 == 1", "a in b in c", "a < b == c"])
def test_comparisons_do_not_chain(text: str) -> None:
    d = syntax_error(f"package p\nallow if {{ {text} }}\n")
    assert d.line == 2
    # the caret is on the second operator
    second = text.index(" ", text.index(" ", text.index(" ") + 1) + 1) + 1
    assert d.column == len("allow if { ") + second + 1


def test_chained_comparison_names_the_problem() -> None:
    d = syntax_error("package p\nallow if { 1 < input.x < 10 }\n")
    assert "chain" in d.message
    assert d.help is not None and "and" in d.help


# ---- literals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("0.85", 0.85),
        ("1_000", 1000),
        ("1e-9", 1e-9),
        ("10%", 0.1),
        ("57%", 0.57),
        ("0.5%", 0.005),
        ("100%", 1),
        ("250ms", 0.25),
        ("30s", 30),
        ("15m", 900),
        ("48h", 172800),
        ("1.5h", 5400),
        ("7d", 604800),
        ("2w", 1209600),
        ("512KB", 512_000),
        ("2GB", 2_000_000_000),
        ("2GiB", 2 * 1024**3),
        ("1MiB", 1024**2),
        ("1TiB", 1024**4),
        ('"a\\nb"', "a\nb"),
        ('"\\u00e9"', "é"),
        ("true", True),
        ("false", False),
        ("null", None),
    ],
)
def test_literal_values(text: str, value: object) -> None:
    got = expr(text)
    assert isinstance(got, ast.Literal)
    assert got.value == value
    assert type(got.value) is type(value) or {type(got.value), type(value)} == {int, float}


@pytest.mark.parametrize(
    ("text", "plain"),
    [("0.7%", "0.007"), ("1.1%", "0.011"), ("0.57m", "34.2"), ("0.000001ms", "0.000000001")],
)
def test_a_unit_literal_is_the_number_its_decimal_text_means(text: str, plain: str) -> None:
    # rounding the digits to a double and then scaling rounds twice: 0.7% gave 0.006999…
    assert expr(text) == expr(plain)


_DECIMAL_TEXT = st.builds(
    lambda whole, frac, exp: f"{whole}{'.' + frac if frac else ''}{f'e{exp}' if exp else ''}",
    st.from_regex(r"[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"[0-9]{0,20}", fullmatch=True),
    st.one_of(st.none(), st.integers(-30, 30)),
)


@given(_DECIMAL_TEXT, st.sampled_from(sorted(UNITS)))
def test_a_unit_literal_rounds_once_from_its_decimal_text(number: str, unit: str) -> None:
    mult, div = UNITS[unit]
    got = unit_value(number + unit)
    if "." not in number and "e" not in number and div == 1:
        assert type(got) is int  # integers are exact at any size
        assert got == int(number) * mult
        return
    with decimal.localcontext(prec=200):  # exact for these texts: one rounding, in float()
        assert got == float(decimal.Decimal(number) * mult / div)


def test_percent_directly_after_a_number_is_a_literal_not_modulo() -> None:
    d = syntax_error("package p\nx = 17%5\n")
    assert d.line == 2 and "percent" in d.message
    assert expr("17 % 5") == ast.Binary("%", L(17), L(5))
    assert expr("input.n % 2") == ast.Binary("%", F(INPUT, "n"), L(2))
    assert expr("10% * 2") == ast.Binary("*", L(0.1), L(2))


@pytest.mark.parametrize(
    ("text", "column", "message", "help_"),
    [
        ('x = "tab\there"', 9, "a string cannot contain a tab as it is", "write `\\t` for a tab"),
        ('x = "b\x07"', 7, "control character U+0007", "write `\\u0007`"),
        ('x = "\x00"', 6, "control character U+0000", "write `\\u0000`"),
        ('x = "a\rb"', 7, "a carriage return", "write `\\r`"),
        ('x = "fine" + "a\fb"', 16, "a form feed", "write `\\f`"),
    ],
)
def test_a_control_character_inside_a_string_points_at_it(
    text: str, column: int, message: str, help_: str
) -> None:
    d = syntax_error(f"package p\n{text}\n")
    assert (d.line, d.column) == (2, column)
    assert message in d.message and d.help is not None and help_ in d.help


def test_a_tab_inside_a_check_message_is_a_syntax_error() -> None:
    d = syntax_error('package p\nrequire c {\n  input.q\n} message "a\tb"\n')
    assert (d.line, d.column, d.message) == (4, 13, "a string cannot contain a tab as it is")


def test_a_string_may_hold_delete_and_any_other_non_control_character() -> None:
    assert expr('"\x7f\u00e9 \\t"') == L("\x7f\u00e9 \t")


def test_a_file_with_cr_only_line_ends_is_read_as_lines() -> None:
    # old Mac line ends: the grammar saw one line and refused the `\r` after the package name
    lf = 'package p\n\n# a comment\nallow if {\n    input.a == "x"\n}\n'
    module, diags = parse(Source("t.tenet", lf.replace("\n", "\r")))
    assert module is not None and module == parse(Source("t.tenet", lf))[0], diags
    d = syntax_error("package p\r\rallow if {\r    input.a +\r}\r")
    assert (d.line, d.column) == (5, 1)
    assert d.span is not None and d.span.excerpt().splitlines()[1] == "5 | }"
    d = syntax_error('package p\r\rx = "ab\r"\r')
    assert (d.line, d.column, d.message) == (3, 5, "unterminated string")


def test_a_carriage_return_in_a_file_with_line_feeds_is_a_character_of_its_line() -> None:
    source = Source("t.tenet", "a\rb\nc\r\nd")
    assert [source.position(i) for i in (2, 4, 7)] == [(1, 3), (2, 1), (3, 1)]
    assert [source.line_text(n) for n in (1, 2, 3)] == ["a\rb", "c", "d"]
    cr = Source("t.tenet", "a\rbc\r\rd")
    assert [cr.position(i) for i in (2, 3, 6)] == [(2, 1), (2, 2), (4, 1)]
    assert [cr.line_text(n) for n in (1, 2, 3, 4)] == ["a", "bc", "", "d"]


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        # an editor may show the CR as a line break: the check must not vanish into the comment
        ("package p\n# owner: ml-platform\rrequire x blocking { input.a == 1 }\n", 2, 21),
        ("package p\n#@ title: a\rb\nx = 1\n", 2, 12),
        ("package p\r\nx = 1\ry = 2\r\n", 2, 6),
    ],
)
def test_a_carriage_return_alone_in_a_file_with_line_feeds_is_a_syntax_error(
    text: str, line: int, column: int
) -> None:
    d = syntax_error(text)
    assert (d.line, d.column) == (line, column)
    assert (
        d.message == "a carriage return (CR) without a line feed, in a file whose lines end in LF"
    )
    assert d.help is not None and d.help.startswith("delete it, or end the line with LF")


def test_an_unterminated_string_points_at_its_opening_quote() -> None:
    for text in ('x = "unterminated\n', 'x = "ends in a backslash\\\n', 'x = "a\\"\r\n'):
        d = syntax_error(f"package p\n{text}y = 1\n")
        assert (d.line, d.column, d.message) == (2, 5, "unterminated string")
        assert d.help is not None and "on the same line" in d.help
    assert syntax_error('package p\nx = "no end').message == "unterminated string"


def test_an_unknown_escape_points_at_the_escape() -> None:
    d = syntax_error('package p\nx = "bad \\q escape"\n')
    assert (d.line, d.column, d.message) == (2, 10, "unknown escape `\\q` in a string")
    assert d.help is not None and all(
        e in d.help for e in ("`\\n`", "`\\t`", "`\\\\`", '`\\"`', "`\\uXXXX`")
    )
    d = syntax_error('package p\nx = "ok \\n \\u00e9 then \\u12g"\n')
    assert (d.column, d.message) == (24, "`\\u` in a string must be followed by four hex digits")


def test_a_node_the_transformer_cannot_build_is_a_diagnostic_not_visit_error() -> None:
    # Lark wraps an exception raised while building a node in VisitError: the user sees where
    source = Source("t.tenet", "package p\nx = 1 + 2\n")
    token = Token("NUMBER", "2", start_pos=18, end_pos=19)
    d = _unreadable(source, VisitError("number", token, ValueError("Bad digits")))
    assert (d.code, d.line, d.column, d.message, d.help) == (
        "syntax",
        2,
        9,
        "this number cannot be read",
        "bad digits",
    )


def test_an_integer_longer_than_python_reads_is_built_for_the_check_to_refuse() -> None:
    # Python's int() refuses more than 4300 digits: such a literal is far over 4096 bits
    got = parse_expression(Source("t.tenet", "1" * 5000), 0, "1" * 5000)
    assert isinstance(got, ast.Literal) and got.value == math.inf
    assert expr("0" * 5000 + "7") == L(7)  # leading zeros are not digits that count


def test_a_number_running_into_a_name_is_a_syntax_error() -> None:
    d = syntax_error("package p\nx = 10 + 3kg\n")
    assert (d.line, d.column) == (2, 10)


def test_bare_object_keys_are_strings() -> None:
    assert expr('{name: "x", stage: "dev"}') == expr('{"name": "x", "stage": "dev"}')
    # only in object literals: the key of an object comprehension is an expression
    comp = expr("{k: v for k, v in input.o}")
    assert isinstance(comp, ast.ObjectComp) and comp.key == V("k")
    # and a value written as a bare name stays a reference
    assert expr("{a: b}") == ast.ObjectLit(((L("a"), V("b")),))


def test_empty_braces_are_an_empty_object() -> None:
    assert expr("{}") == ast.ObjectLit(())
    assert expr("set()") == ast.Call(V("set"), ())


# ---- keywords -----------------------------------------------------------------------------------

KEYWORDS = (
    "package import as default if some every in not and or for true false null "
    "require forbid when message"
).split()


@pytest.mark.parametrize("word", KEYWORDS)
def test_keywords_are_reserved(word: str) -> None:
    d = syntax_error(f"package p\nallow if {{ {word} := 1 }}\n")
    assert d.line == 2


def test_if_as_a_local_is_a_syntax_error_at_the_keyword() -> None:
    d = syntax_error("package p\nallow if { if := 1 }\n")
    assert (d.line, d.column) == (2, 12)
    assert "`if`" in d.message


def test_contains_is_a_built_in_call_in_a_body_and_a_keyword_in_a_rule_head() -> None:
    assert body('contains(input.name, "prod")') == (
        ast.Condition(ast.Call(V("contains"), (F(INPUT, "name"), L("prod")))),
    )
    m = module("package p\nnames contains n if { some n in input.names }\n")
    (rule,) = m.definitions
    assert isinstance(rule, ast.Rule)
    assert (rule.kind, rule.name, rule.value) == ("set", "names", V("n"))


def test_severities_are_keywords_only_in_a_check_header() -> None:
    m = module("package p\nblocking = 1\nwarning if { input.x }\ninfo = blocking + 1\n")
    assert [d.name for d in m.definitions] == ["blocking", "warning", "info"]
    m = module("package p\nrequire r info { input.x }\nforbid f warning { input.y }\n")
    assert [(d.kind, d.severity) for d in m.definitions] == [  # type: ignore[union-attr]
        ("require", "info"),
        ("forbid", "warning"),
    ]
    (default_severity,) = module("package p\nrequire r { input.x }\n").definitions
    assert isinstance(default_severity, ast.Check) and default_severity.severity is None


def test_names_may_start_with_a_keyword() -> None:
    stmts = body("input_ok := input.ok\nnotes := input.notes\nform := 1\nsomething := 2")
    assert [s.name for s in stmts] == ["input_ok", "notes", "form", "something"]  # type: ignore[union-attr]


# ---- files --------------------------------------------------------------------------------------


def test_package_imports_and_definitions() -> None:
    m = module(
        "# header\npackage access.models\n\nimport data.roles\nimport data.thresholds as t\n"
        "import access.common\n\nallow if { input.ok }\n"
    )
    assert m.package == ("access", "models")
    assert m.imports == (
        ast.Import(("data", "roles"), None),
        ast.Import(("data", "thresholds"), "t"),
        ast.Import(("access", "common"), None),
    )
    assert [i.name for i in m.imports] == ["roles", "t", "common"]


def test_function_definitions() -> None:
    m = module(
        'package p\nis_prod(path) if { startswith(path, "prod/") }\n'
        'risk(score) = "high" if { score >= 0.7 }\n'
    )
    kinds = [(d.kind, d.name, d.params) for d in m.definitions]  # type: ignore[union-attr]
    assert kinds == [
        ("bool_function", "is_prod", ("path",)),
        ("value_function", "risk", ("score",)),
    ]


def test_annotations_attach_to_the_next_definition() -> None:
    m = module("package p\n#@ title: t\n#@ owner: o\nrequire r { input.x }\nallow if { true }\n")
    check, rule = m.definitions
    assert [a.text for a in check.annotations] == [" title: t", " owner: o"]
    assert rule.annotations == ()


def test_missing_package_line() -> None:
    d = syntax_error("# nothing else\nallow if { true }\n")
    assert (d.line, d.column) == (2, 1)
    assert "package" in d.message


def test_unexpected_end_of_file() -> None:
    d = syntax_error("package p\nallow if { input.x ==")
    assert d.line == 2


def test_keywords_end_at_a_word_boundary() -> None:
    # `orz` is a name, so `input.x orz` is two expressions side by side, not `input.x or z`
    err = syntax_error("package p\nz = true\nallow if { input.x orz }\n")
    assert "orz" in err.message
    assert syntax_error("package p\nallow if { input.a input.b }\n").line == 2
    assert body("notable == 1; android != 2; order")[2] == ast.Condition(V("order"))


def test_comprehension_if_may_start_a_line() -> None:
    m = module("package p\nx = {a.role for a in input.approvals\n    if a.ok}\n")
    (rule,) = m.definitions
    assert isinstance(rule, ast.Rule)
    assert isinstance(rule.value, ast.SetComp)
    assert isinstance(rule.value.clauses[1], ast.CompIf)
    m = module("package p\nx = {k: v for k, v in input.o\n    if v > 1}\n")
    assert isinstance(m.definitions[0].value, ast.ObjectComp)  # type: ignore[union-attr]


def test_keywords_are_field_names_after_a_dot() -> None:
    assert expr("input.message.if") == F(V("input"), "message", "if")
    assert expr("input.default") == F(V("input"), "default")


def test_a_line_break_is_named_plainly() -> None:
    err = syntax_error("package p\nallow if { input.x ==\n}\n")
    assert "a line break" not in err.message


def test_a_keyword_field_name_at_the_end_of_a_line_ends_the_rule() -> None:
    m = module("package m\n\na = input.default\nb = 1\n")
    assert [d.name for d in m.definitions] == ["a", "b"]  # type: ignore[union-attr]


# ---- how deep an expression may go ------------------------------------------------------------


def test_long_flat_chains_of_operators_are_not_nesting() -> None:
    for op, term in (("+", "1"), ("or", "input.a"), ("and", "input.a")):
        module("package p\nx = " + f" {op} ".join([term] * 250) + "\n")
    module("package p\nx = input" + ".a" * 250 + "\n")


def test_real_nesting_is_limited_at_200_levels() -> None:
    module("package p\nx = " + "[" * 190 + "]" * 190 + "\n")
    for text in ("[" * 201 + "]" * 201, "1 + (" * 201 + "1" + ")" * 201, "f(" * 201 + ")" * 201):
        m, diags = parse(Source("t.tenet", f"package p\nx = {text}\n"))
        assert m is None
        assert diags[0].code == "nesting" and "200 levels" in diags[0].message


def test_a_chain_too_long_for_the_later_stages_is_a_diagnostic_not_a_crash() -> None:
    for n in (400, 3000):
        text = "package p\nx = " + " + ".join(["1"] * n) + "\n"
        m, diags = parse(Source("t.tenet", text))
        assert m is None
        (d,) = diags
        assert d.code == "nesting"
        assert d.message == "this expression chains more than 300 operations"
        assert d.span is not None
        excerpt = d.span.excerpt().splitlines()
        assert all(len(line) < 120 for line in excerpt)  # not the whole 10,000-character line
        code, caret = excerpt[1], excerpt[2]
        at = caret.index("^")
        assert code[at] == text.splitlines()[1][d.span.column - 1]


def test_the_excerpt_of_a_long_line_is_a_window_around_the_caret() -> None:
    line = "x = " + "a" * 500 + "Z" + "b" * 500
    src = Source("t.tenet", line)
    excerpt = src.span(504, 505).excerpt().splitlines()
    code, caret = excerpt[1], excerpt[2]
    assert code.startswith("1 | …") and code.endswith("…")
    assert code[caret.index("^")] == "Z" and caret.count("^") == 1
    assert src.span(0, 1).excerpt().splitlines()[1].startswith("1 | x = aaa")


def test_an_excerpt_shows_control_characters_escaped_with_the_caret_under_them() -> None:
    # a NUL or a terminal escape in a file is shown, never sent to the terminal as it is
    line = 'x = "\x1b[31m" @ \x00\x07\tz'
    src = Source("t.tenet", line)
    at = line.index("z")
    code, caret = src.span(at, at + 1).excerpt().splitlines()[1:]
    assert code == '1 | x = "\\u001b[31m" @ \\u0000\\u0007\\tz'
    assert code[caret.index("^")] == "z" and caret.count("^") == 1
    code, caret = src.span(5, 6).excerpt().splitlines()[1:]  # the escape itself
    assert code[caret.index("^") :].startswith("\\u001b") and caret.count("^") == 6


@pytest.mark.parametrize(
    ("line", "before", "carets"),
    [
        # each CJK character takes two columns of a terminal: the caret counted characters
        ('\tx == "日本語日本語" and rolez', 2 + 6 + 12 + 6, 5),  # the tab is shown as `\t`
        ('x == "é\u0301" and rolez', 6 + 1 + 6, 5),  # a combining accent takes none
        ('x == "a\u200db" and rolez', 6 + 2 + 6, 5),  # nor a zero-width joiner
        ('x == "日本" + rolez日', 6 + 4 + 4, 5 + 2),  # a wide character under the span
    ],
)
def test_the_caret_is_placed_by_display_width(line: str, before: int, carets: int) -> None:
    src = Source("t.tenet", line)
    at = line.index("rolez")
    end = len(line) if line.endswith("日") else at + 5
    caret = src.span(at, end).excerpt().splitlines()[2]
    assert caret == "  | " + " " * before + "^" * carets


@pytest.mark.parametrize(
    ("text", "column", "half"),
    [
        ('x = "\\ud800"', 6, "\\ud800"),  # a high half alone
        ('x = "a\\udc00"', 7, "\\udc00"),  # a low half alone
        ('x = "\\ude00\\ud83d"', 6, "\\ude00"),  # the two halves the wrong way round
        ('x = "x\\ud83dy"', 7, "\\ud83d"),
    ],
)
def test_half_a_utf16_pair_alone_is_a_syntax_error_at_it(text: str, column: int, half: str) -> None:
    d = syntax_error(f"package p\n{text}\n")
    assert (d.line, d.column) == (2, column)
    assert d.message == f"`{half}` is half of a UTF-16 pair, without its other half"
    assert d.help is not None and "\\ud83d\\ude00" in d.help


def test_a_utf16_pair_is_one_character() -> None:
    assert expr('"\\ud83d\\ude00 \\uD83D\\uDE00"') == L("\U0001f600 \U0001f600")


def test_a_letter_that_is_not_ascii_is_not_taken_for_a_number_running_on() -> None:
    d = syntax_error("package p\ny = é\n")
    assert (d.line, d.column, d.message) == (2, 5, "unexpected character `é`")
    assert d.help is not None and "a name is ASCII letters" in d.help and '`"é"`' in d.help
    d = syntax_error("package p\ny = 10é\n")
    assert d.help is not None and "a number must not run into a name" in d.help


def test_a_byte_order_mark_is_named() -> None:
    d = syntax_error("\ufeffpackage p\nx = 1\n")
    assert (d.line, d.column) == (1, 1)
    assert d.message == "the file begins with a byte order mark (U+FEFF)"
    assert d.help is not None and "without a byte order mark" in d.help


@pytest.mark.parametrize("text", ["x = input.a == 1x", "x = 12abc", "x = 10GBx", "x = 1_000x"])
def test_a_number_running_into_a_name_says_so(text: str) -> None:
    d = syntax_error(f"package p\n{text}\n")
    assert d.help is not None and "a number must not run into a name" in d.help


@pytest.mark.parametrize(
    ("text", "column", "message", "help_"),
    [
        # after a rule's `}`: neither `message` (checks only) nor `}`, which the LALR
        # table's list (shared with a check's state) would name
        (
            "package p\nx = 1 if { input.a } ]\n",
            22,
            "unexpected `]`",
            "expected a line break, the end of the file",
        ),
        (
            "package p\nx = 1 if { input.a } else = 2\n",
            22,
            "unexpected `else`: Tenet has no `else`",
            "give the fallback value as `default <rule> = <value>`, or write another "
            "definition of the rule with its own condition",
        ),
        (
            "package p\nx if { input.a with input as {} }\n",
            16,
            "unexpected `with`: Tenet has no `with`",
            "a policy reads the input it is given; to try other input or data, write a test "
            "case (`tenet test`) or pass them to `tenet eval`",
        ),
    ],
)
def test_a_syntax_error_names_only_what_could_come_there(
    text: str, column: int, message: str, help_: str
) -> None:
    d = syntax_error(text)
    assert (d.column, d.message, d.help) == (column, message, help_)


def test_every_syntax_error_of_a_file_is_reported_not_only_the_first() -> None:
    # after an error, parsing starts again at the next definition at the margin, what lies
    # before it blanked: positions stay, and an error the first one caused is not reported
    text = (
        "package p\n\nallow if {\n    input.a ==\n}\n\n"
        "deny if { input.b = = 1 }\n\n"
        'x = "unterminated\ny = 3\n'
        "z = [1, 2\nw = 4\n\n"
        "#@ title: ok\nrequire c blocking { input.c == 1 }\n\n"
        "q if { input.q == ) }\n"
    )
    m, diags = parse(Source("t.tenet", text))
    assert m is None
    assert [(d.code, d.line, d.column, d.message) for d in diags] == [
        ("syntax", 5, 1, "unexpected `}`"),
        ("syntax", 7, 19, "`=` does not compare"),
        ("syntax", 9, 5, "unterminated string"),
        ("syntax", 12, 1, "unexpected `w`"),
        ("syntax", 17, 19, "unexpected `)`"),
    ]
    assert diags[3].span is not None and diags[3].span.excerpt().splitlines()[1] == "12 | w = 4"


def test_parsing_starts_again_only_at_a_definition_at_the_margin() -> None:
    # the lines of a body are indented: an indented line after the error is not a restart,
    # and a file whose package line does not parse reports that alone
    text = "package p\n\na if {\n    input.a = = 1\n    b = 2 = 3\n}\n"
    diags = parse(Source("t.tenet", text))[1]
    assert [(d.line, d.column) for d in diags] == [(4, 13)]
    diags = parse(Source("t.tenet", "package p q\n\nx = = 1\n"))[1]
    assert len(diags) == 1 and diags[0].line == 1
    many = "package p\n" + "".join(f"x{i} = = {i}\n" for i in range(20))
    diags = parse(Source("t.tenet", many))[1]
    assert len(diags) == 10 and diags[-1].help is not None
    assert diags[-1].help.endswith(
        "the first 10 syntax errors of the file are shown; fix them to see any after"
    )
    assert "are shown" not in (diags[-2].help or "")


@pytest.mark.parametrize(
    ("text", "line", "column", "message", "help_"),
    [
        # Rego's unification
        ("package p\nallow if { input.a = 1 }\n", 2, 20, "`=` does not compare", "`==`"),
        ("package p\nw := 3\n", 2, 3, "a rule is defined with `=`, not `:=`", "`name = value`"),
        ("package p\nx = {k | k := 1}\n", 2, 8, "unexpected character `|`", "comprehension"),
        # one operator mistyped, not a chain of comparisons
        ("package p\nx if { input.a >> 1 }\n", 2, 16, "`>>` is no operator", "`>=`"),
        ("package p\nx if { input.a =< 1 }\n", 2, 16, "`=<` is no operator", "`<=`"),
        ("package p\nx if { input.a === 1 }\n", 2, 16, "`===` is no operator", "`==`"),
        (
            "package p\nimport future.keywords.if\n",
            2,
            24,
            "there are no `future.keywords` imports: the keywords are always on",
            "delete the line",
        ),
        # the file ends inside a bracket whose contents are whole: point at the bracket
        (
            "package p\nallow if {\n    input.a == 1\n",
            2,
            10,
            "`{` is never closed: the file ends before its `}`",
            "add the `}`",
        ),
        (
            "package p\nx = f([1, 2]\n",
            2,
            6,
            "`(` is never closed: the file ends before its `)`",
            "`)`",
        ),
        # not when what is inside is cut short itself
        ("package p\nallow if {\n    input.a ==\n", 3, 15, "unexpected end of file", "expected"),
        # the parser read on into the next definition: the bracket left open, or the
        # unfinished expression, not the next line's `=` or `if`
        (
            "package p\n\nr0 = (1 +\n\nr1 = 5\n",
            3,
            6,
            "`(` is never closed: a definition starts at line 5 first",
            "add the `)`",
        ),
        (
            "package p\n\nallow if {\n    input.a\n\ndeny if {\n    input.b\n}\n",
            3,
            10,
            "`{` is never closed: a definition starts at line 6 first",
            "add the `}`",
        ),
        (
            "package p\n\ny = 1 +\n\nr1 = 5\n",
            5,
            4,
            "unexpected `=`: the expression before this line is unfinished",
            "finish it",
        ),
    ],
)
def test_syntax_errors_a_rego_author_or_an_unfinished_file_makes(
    text: str, line: int, column: int, message: str, help_: str
) -> None:
    d = syntax_error(text)
    assert (d.line, d.column, d.message) == (line, column, message)
    assert d.help is not None and help_ in d.help
