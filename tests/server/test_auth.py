"""The token file: one token per line with an optional caller name; bad files are refused with
the line that is wrong; tokens are checked by digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenet.server.auth import TokenFileError, Tokens, refusal

A = "a" * 32
B = "b" * 20


def test_tokens_with_and_without_names() -> None:
    tokens = Tokens.parse(f"# callers\n\n{A} ci-pipeline\n  {B}\tmodel registry  \n")
    assert tokens.caller(f"Bearer {A}".encode()) == "ci-pipeline"
    assert tokens.caller(f"bearer   {B} ".encode()) == "model registry"
    assert tokens.caller(f"Bearer\t{A}".encode()) == "ci-pipeline"
    unnamed = Tokens.parse(A)
    name = unnamed.caller(f"Bearer {A}".encode())
    assert name is not None and name.startswith("token-") and len(name) == 14


def test_wrong_or_missing_tokens_name_nobody() -> None:
    tokens = Tokens.parse(A)
    for header in (None, b"", b"Bearer", f"Basic {A}".encode(), b"Bearer " + b"a" * 31, A.encode()):
        assert tokens.caller(header) is None


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "a bearer token is required"),
        (b"Bearer " + b"a" * 31, "the bearer token is wrong"),
        (b"bearer  ", "`Authorization: Bearer` holds no token"),
        (f"Basic {A}".encode(), "`Authorization` uses the `Basic` scheme"),
        (f"Token {A}".encode(), "`Authorization` uses the `Token` scheme"),
        (f"B`a {A}".encode(), "`Authorization` uses another scheme than `Bearer`"),
        (A.encode(), "`Authorization` names no scheme"),  # the token is not shown back
        (b"", "`Authorization` names no scheme"),
        (b"Bearer\t" + b"a" * 31, "the bearer token is wrong"),  # any whitespace parts them
    ],
)
def test_a_refusal_says_what_is_wrong_with_the_header(header: bytes | None, why: str) -> None:
    assert refusal(header) == why


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("short name\n", "token file:1: a token must have at least 16 characters"),
        (f"{A}\n# again\n{A} other\n", "token file:3: this token is already on an earlier line"),
        ("# nothing\n\n", "holds no token"),
        ("\u00e9" * 20, "printable ASCII"),
    ],
)
def test_bad_token_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(TokenFileError, match=message):
        Tokens.parse(text)


def test_loading_a_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"{A} svc\n")
    assert Tokens.load(path).caller(f"Bearer {A}".encode()) == "svc"
    with pytest.raises(TokenFileError, match="cannot read token file"):
        Tokens.load(tmp_path / "missing")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(TokenFileError, match="not UTF-8"):
        Tokens.load(path)
