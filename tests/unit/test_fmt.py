"""`tenet fmt`: the canonical style, where comments go, and the command's modes (in place,
`--check`, `--diff`, standard input) and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tenet.cli import main
from tenet.syntax.format import format_text
from tests.property.test_fmt import assert_formats_well


def fmt(text: str) -> str:
    return assert_formats_well(text)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # spacing, one blank line after `package`
        ("package   a.b\nx=1+2*3\n", "package a.b\n\nx = 1 + 2 * 3\n"),
        # parentheses only where precedence needs them
        ("package a\nx = (1 + 2) * (3)\n", "package a\n\nx = (1 + 2) * 3\n"),
        ("package a\nx = 1 - (2 - 3)\n", "package a\n\nx = 1 - (2 - 3)\n"),
        ("package a\nx = (1 - 2) - 3\n", "package a\n\nx = 1 - 2 - 3\n"),
        ("package a\nx = not (a or b) and (c)\n", "package a\n\nx = not (a or b) and c\n"),
        ("package a\nx = (a or b) or c\n", "package a\n\nx = a or b or c\n"),
        ("package a\nx = a or (b or c)\n", "package a\n\nx = a or (b or c)\n"),
        ("package a\nx = -(-1)\n", "package a\n\nx = --1\n"),
        ("package a\nx = (-x).y\n", "package a\n\nx = (-x).y\n"),
        ("package a\nx = (a == b) == c\n", "package a\n\nx = (a == b) == c\n"),
        ('package a\nx = not "a" in b\n', 'package a\n\nx = not "a" in b\n'),
        # literals keep their spelling; bare keys stay bare
        (
            'package a\nx = {stage: 10%, "k": 1_000, "b": "\\u00e9"}\n',
            'package a\n\nx = {stage: 10%, "k": 1_000, "b": "\\u00e9"}\n',
        ),
        # `;` becomes one statement per line
        (
            "package a\nr if { x := 1; x > 0 }\n",
            "package a\n\nr if {\n    x := 1\n    x > 0\n}\n",
        ),
        # a one-line body written so stays on one line
        ("package a\nr if {input.x}\n", "package a\n\nr if { input.x }\n"),
        ("package a\nr if {\n  input.x\n}\n", "package a\n\nr if {\n    input.x\n}\n"),
        # imports first group; a blank line between imports and definitions
        (
            "package a\nimport data.x\nimport data.y as z\nr = z\n",
            "package a\n\nimport data.x\nimport data.y as z\n\nr = z\n",
        ),
        # at most one blank line
        ("package a\n\n\n\nx = 1\n\n\n\ny = 2\n", "package a\n\nx = 1\n\ny = 2\n"),
        # definitions spanning lines are set apart by a blank line
        (
            "package a\nr if {\n  input.x\n}\ns = 1\nt = 2\n",
            "package a\n\nr if {\n    input.x\n}\n\ns = 1\nt = 2\n",
        ),
        # a message on the next line joins the closing brace
        (
            'package a\nrequire c {\n  input.x\n}\nmessage "m"\n',
            'package a\n\nrequire c {\n    input.x\n} message "m"\n',
        ),
        # severity and `when` as written
        (
            "package a\nrequire c warning when input.k=='x' {\ninput.x\n}\n".replace("'", '"'),
            'package a\n\nrequire c warning when input.k == "x" {\n    input.x\n}\n',
        ),
    ],
)
def test_canonical_style(source: str, expected: str) -> None:
    assert fmt(source) == expected


def test_leading_and_trailing_comments_stay_at_their_lines() -> None:
    source = """\
# file header
package a # after package
# about x
x = 1 # after x
r if { # after the brace
    # before the condition
    input.x # after the condition
    # closing the body
} # after the rule
# at the end
"""
    assert (
        fmt(source)
        == """\
# file header
package a  # after package

# about x
x = 1  # after x
r if {  # after the brace
    # before the condition
    input.x  # after the condition
    # closing the body
}  # after the rule
# at the end
"""
    )


def test_comments_inside_spread_literals_stay_with_their_elements() -> None:
    source = """\
package a

regions = [
    "eu-west-1", # Ireland
    # the second
    "eu-central-1" # Frankfurt
]
"""
    assert (
        fmt(source)
        == """\
package a

regions = [
    "eu-west-1",  # Ireland
    # the second
    "eu-central-1",  # Frankfurt
]
"""
    )


def test_a_comment_inside_an_expression_on_one_line_moves_above_it() -> None:
    source = "package a\n\nr if {\n    (input.x +\n    # why\n    1) > 1\n}\n"
    assert fmt(source) == "package a\n\nr if {\n    # why\n    input.x + 1 > 1\n}\n"


def test_a_comment_line_between_the_closing_brace_and_message_is_kept() -> None:
    source = 'package a\n\nrequire c {\n    input.q\n}\n# why\nmessage "m"\n'
    assert fmt(source) == 'package a\n\n# why\nrequire c {\n    input.q\n} message "m"\n'


def test_a_line_broken_after_and_stays_broken() -> None:
    source = "package a\n\nr if {\n    input.a == 1 and  # first\n  input.b == 2\n}\n"
    assert fmt(source) == (
        "package a\n\nr if {\n    input.a == 1 and  # first\n        input.b == 2\n}\n"
    )


def test_trailing_comments_of_consecutive_lines_align() -> None:
    source = "package a\n\nmax_latency = 250ms # 0.25\nretention = 2w # 1209600\n"
    assert fmt(source) == (
        "package a\n\nmax_latency = 250ms  # 0.25\nretention = 2w       # 1209600\n"
    )


def test_annotations_stay_directly_above() -> None:
    source = "package a\n#@ title: t\n#@ controls: [a/b]\nrequire c {\n  true\n}\n"
    assert fmt(source) == (
        "package a\n\n#@ title: t\n#@ controls: [a/b]\nrequire c {\n    true\n}\n"
    )


def test_a_long_one_line_body_becomes_a_block() -> None:
    long = " and ".join(f"input.field_{i} == {i}" for i in range(8))
    out = fmt(f"package a\n\nr if {{ {long} }}\n")
    assert out == f"package a\n\nr if {{\n    {long}\n}}\n"


def test_tabs_and_crlf() -> None:
    assert fmt("package a\r\n\r\nr if {\r\n\tinput.x\r\n}\r\n") == (
        "package a\n\nr if {\n    input.x\n}\n"
    )


def test_every_and_comprehensions() -> None:
    source = """\
package a
r if {
    every a in input.approvals {a.ok}
    every k, v in input.m {
        v > 1
        k != ""
    }
}
xs = [x.id for x in input.xs if x.ok]
s = {
  a.role
  for a in input.approvals # each
}
"""
    assert (
        fmt(source)
        == """\
package a

r if {
    every a in input.approvals { a.ok }
    every k, v in input.m {
        v > 1
        k != ""
    }
}

xs = [x.id for x in input.xs if x.ok]
s = {
    a.role
    for a in input.approvals  # each
}
"""
    )


def test_syntax_errors_are_raised() -> None:
    with pytest.raises(ValueError, match="syntax"):
        format_text("package a\nr if {\n")


# ---- the command ---------------------------------------------------------------------------

MESSY = "package   a\nx=1\n"
CLEAN = "package a\n\nx = 1\n"


def run(*args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(main, ["fmt", *args], input=stdin, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "p" / "sub").mkdir(parents=True)
    (tmp_path / "p" / ".hidden").mkdir()
    (tmp_path / "p" / "a.tenet").write_text(MESSY)
    (tmp_path / "p" / "sub" / "b.tenet").write_text(CLEAN)
    (tmp_path / "p" / ".hidden" / "c.tenet").write_text(MESSY)
    (tmp_path / "p" / "data.yaml").write_text("x: 1\n")
    return tmp_path / "p"


def test_rewrites_in_place(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    result = run(str(root))
    assert result.exit_code == 0
    assert result.stdout == f"reformatted {root.as_posix()}/a.tenet\n"
    assert "1 of 2 files reformatted" in result.stderr
    assert (root / "a.tenet").read_text() == CLEAN
    assert (root / ".hidden" / "c.tenet").read_text() == MESSY  # hidden folders are skipped


def test_check_lists_files_that_would_change_and_exits_1(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    result = run("--check", str(root))
    assert result.exit_code == 1
    assert result.stdout == f"would reformat {root.as_posix()}/a.tenet\n"
    assert (root / "a.tenet").read_text() == MESSY
    assert run("--check", str(root / "sub")).exit_code == 0


def test_diff_shows_the_change_and_writes_nothing(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    result = run("--diff", str(root / "a.tenet"))
    assert result.exit_code == 0
    assert "-package   a\n" in result.stdout and "+package a\n" in result.stdout
    assert "+x = 1\n" in result.stdout
    assert (root / "a.tenet").read_text() == MESSY
    assert run("--check", "--diff", str(root / "a.tenet")).exit_code == 1


def test_a_change_of_line_endings_is_said_in_the_diff_and_the_check(tmp_path: Path) -> None:
    # the diff of CRLF lines against LF ones showed lines that look the same, and
    # `would reformat` did not say why
    path = tmp_path / "crlf.tenet"
    path.write_bytes(b"package p\r\n\r\nallow if { input.a }\r\n")
    shown = path.as_posix()
    diff = run("--diff", str(path)).stdout.splitlines()
    assert diff[:3] == [
        f"{shown}: line endings change from CRLF to LF",
        f"--- {shown} (before)",
        f"+++ {shown} (formatted)",
    ]
    check = run("--check", str(path))
    assert check.stdout == f"would reformat {shown} (line endings change from CRLF to LF)\n"
    assert run("--diff", "-", stdin="package p\r\n").stdout.startswith(
        "<stdin>: line endings change from CRLF to LF\n--- <stdin> (before)"
    )
    assert "line endings" not in run("--diff", str(_tree(tmp_path) / "a.tenet")).stdout


def test_a_file_with_cr_only_line_ends_is_formatted_to_lf(tmp_path: Path) -> None:
    # old Mac line ends did not parse: fmt refused the file the docs said it converts
    path = tmp_path / "cr.tenet"
    path.write_bytes(b"package p\r\rallow if {input.a}\r")
    shown = path.as_posix()
    check = run("--check", str(path))
    assert check.stdout == f"would reformat {shown} (line endings change from CR to LF)\n"
    diff = run("--diff", str(path)).stdout_bytes.decode()  # `.stdout` turns CRLF into LF
    assert diff.splitlines()[:3] == [
        f"{shown}: line endings change from CR to LF",
        f"--- {shown} (before)",
        f"+++ {shown} (formatted)",
    ]
    # every diff line ends in a line feed: a `\r` alone would move the cursor back over it
    assert "-package p\r\n-\r\n-allow if {input.a}\r\n+package p\n" in diff
    assert run(str(path)).stdout == f"reformatted {shown}\n"
    assert path.read_bytes() == b"package p\n\nallow if { input.a }\n"
    assert fmt("package a\r\rr if {\r\tinput.x\r}\r") == "package a\n\nr if {\n    input.x\n}\n"


def test_standard_input(tmp_path: Path) -> None:
    assert run("-", stdin=MESSY).stdout == CLEAN
    assert run("--check", "-", stdin=MESSY).exit_code == 1
    assert run("--check", "-", stdin=CLEAN).exit_code == 0


def test_a_file_that_does_not_parse_exits_2_and_others_are_still_formatted(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path)
    (root / "broken.tenet").write_text("package a\nr if {\n")
    result = run(str(root))
    assert result.exit_code == 2
    assert "error[syntax]" in result.stderr
    assert (root / "a.tenet").read_text() == CLEAN


def test_permissions_are_kept(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "a.tenet").chmod(0o600)
    run(str(root))
    assert (root / "a.tenet").stat().st_mode & 0o777 == 0o600


def test_a_tree_built_without_source_text() -> None:
    from tenet.source import Source
    from tenet.syntax import ast
    from tenet.syntax.format import format_module
    from tenet.syntax.parser import parse

    body = ast.Body((ast.Condition(ast.Compare("==", ast.Var("x"), ast.Literal("a"))),))
    module = ast.Module(
        ("p",),
        (ast.Import(("data", "x"), None),),
        (
            ast.DefaultRule("allow", ast.Literal(False)),
            ast.Rule("bool", "allow", (), None, body),
            ast.Check("require", "c", None, None, body, "x is {x}"),
        ),
    )
    text = format_module(module)
    assert text == (
        "package p\n\nimport data.x\n\ndefault allow = false\nallow if {\n"
        '    x == "a"\n}\n\nrequire c {\n    x == "a"\n} message "x is {x}"\n'
    )
    parsed, _ = parse(Source("p.tenet", text))
    assert parsed == module


def test_special_files_found_in_a_folder_are_refused_without_waiting(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "a.tenet").write_text(CLEAN)
    (root / "l1.tenet").symlink_to("l2.tenet")
    (root / "l2.tenet").symlink_to("l1.tenet")
    os.mkfifo(root / "x.tenet")  # read, it would block until a writer came
    (root / "dir.tenet").mkdir()  # a folder: its files are found, it is not one
    (root / "dir.tenet" / "b.tenet").write_text(CLEAN)
    result = run("--check", str(root))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot read `{root}/l1.tenet`: Too many levels of symbolic links\n"
        f"error: cannot read `{root}/l2.tenet`: Too many levels of symbolic links\n"
        f"error: cannot read `{root}/x.tenet`: it is not a regular file\n"
        "0 of 5 files would be reformatted, 3 could not be formatted\n"
    )


def test_stdin_is_held_to_utf8_as_a_file_is() -> None:
    result = CliRunner().invoke(main, ["fmt", "-"], input=b'package a\n\nx = "caf\xe9"\n')
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: `<stdin>` is not UTF-8 text: line 3, column 9 holds the byte 0xe9 "
        "(at byte offset 19)\n"
    )


def _closed_stdin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tenet.cli", *args],
        preexec_fn=lambda: os.close(0),  # as `<&-` does
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["fmt", "-"],
        ["eval", "a.allow", "--bundle", "{bundle}", "--input", "-"],
        ["fairness", "compute", "--predictions", "-", "--label", "y", "--prediction", "p",
         "--group", "g"],
    ],
)  # fmt: skip
def test_a_closed_stdin_cannot_be_read(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "a.tenet").write_text("package a\n\nallow if { input.x }\n")
    proc = _closed_stdin(*(a.format(bundle=tmp_path) for a in args))
    assert proc.returncode == 2
    assert proc.stderr == "error: cannot read standard input: it is closed\n"
