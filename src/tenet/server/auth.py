"""Bearer tokens for the sidecar: a token file of one token per line, each optionally followed
by the caller's name, the identity recorded for its decisions."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TokenFileError", "Tokens", "refusal"]

MIN_TOKEN_CHARS = 16


class TokenFileError(ValueError):
    """The token file cannot be read or holds a malformed line; the message names the line."""


@dataclass(frozen=True, slots=True)
class Tokens:
    """The accepted tokens, kept as SHA-256 digests: a lookup compares digests, never the
    secret itself, so its time tells nothing about how much of a guess was right."""

    callers: dict[bytes, str]  # sha256(token) -> caller name

    @classmethod
    def parse(cls, text: str, where: str = "token file") -> Tokens:
        """Lines of `TOKEN [CALLER NAME]`; blank lines and lines starting with `#` are skipped.
        A caller without a name is called `token-<first 8 hex of the token's SHA-256>`."""
        callers: dict[bytes, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            token, *rest = line.split(None, 1)
            name = rest[0].strip() if rest else ""
            if len(token) < MIN_TOKEN_CHARS:
                raise TokenFileError(
                    f"{where}:{number}: a token must have at least {MIN_TOKEN_CHARS} characters"
                    " (generate one with `openssl rand -hex 32`)"
                )
            if not token.isascii() or not token.isprintable():
                raise TokenFileError(f"{where}:{number}: a token must be printable ASCII")
            digest = hashlib.sha256(token.encode("ascii")).digest()
            if digest in callers:
                raise TokenFileError(f"{where}:{number}: this token is already on an earlier line")
            callers[digest] = name or f"token-{digest.hex()[:8]}"
        if not callers:
            raise TokenFileError(f"{where} holds no token: every request would be refused")
        return cls(callers)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Tokens:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as err:
            why = err.strerror or err
            raise TokenFileError(f"cannot read token file `{path}`: {why}") from None
        except UnicodeDecodeError:
            raise TokenFileError(f"token file `{path}` is not UTF-8 text") from None
        return cls.parse(text, str(path))

    def caller(self, authorization: bytes | None) -> str | None:
        """The caller named by an `Authorization: Bearer TOKEN` header value, or None."""
        if authorization is None:
            return None
        scheme, token = _credentials(authorization)
        if scheme.lower() != b"bearer":
            return None
        return self.callers.get(hashlib.sha256(token).digest())


# an auth scheme's name as it may be shown back (RFC 9110 11.1 allows a few more characters)
_SCHEME = re.compile(rb"[A-Za-z0-9._~+-]{1,32}")


def _credentials(authorization: bytes) -> tuple[bytes, bytes]:
    """An `Authorization` header value's scheme and credentials."""
    # any whitespace parts them (`Bearer<TAB>TOKEN` names the scheme too)
    parts = authorization.split(None, 1)
    if not parts:
        return b"", b""
    return parts[0], parts[1].strip() if len(parts) > 1 else b""


def refusal(authorization: bytes | None) -> str:
    """Why an `Authorization` header value (or none) named no caller, for the 401."""
    if authorization is None:
        return "a bearer token is required"
    scheme, token = _credentials(authorization)
    if scheme.lower() == b"bearer":
        return "the bearer token is wrong" if token else "`Authorization: Bearer` holds no token"
    if not token:  # one word: perhaps the token without its scheme, not to be shown back
        return "`Authorization` names no scheme"
    if _SCHEME.fullmatch(scheme) is None:
        return "`Authorization` uses another scheme than `Bearer`"
    return f"`Authorization` uses the `{scheme.decode('ascii')}` scheme"
