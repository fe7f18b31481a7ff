"""What of an input an audit record may hold: the manifest's `audit.keep` paths as they are,
and every value at an `audit.personal` path replaced by a keyed hash wherever it appears."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Redactor", "load_key"]

KEY_ENV = "TENET_AUDIT_KEY"


def load_key(store_path: Path | None, key_file: Path | None = None) -> bytes:
    """The key personal values are hashed with: a key file, `TENET_AUDIT_KEY`, or a key kept
    beside the store (made on first use, readable by its owner only)."""
    if key_file is not None:
        return key_file.read_bytes().strip()
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    if store_path is None:
        return secrets.token_bytes(32)  # stdout: tokens correlate within this process only
    path = store_path.with_name(store_path.name + ".key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        key = secrets.token_hex(32).encode()
        f.write(key)
    return key


def _lookup(doc: Any, path: str) -> tuple[Any, bool]:
    """The value at `path` and whether it is there. A `*` segment matches every item of a
    list (or value of a mapping): the value is then the list of what the path finds."""
    parts = path.split(".")[1:]  # the paths start with `input.`
    if "*" not in parts:
        v = doc
        for part in parts:
            if not isinstance(v, dict) or part not in v:
                return None, False
            v = v[part]
        return v, True
    found = list(_every(doc, parts))
    return found, bool(found)


def _every(v: Any, parts: list[str]) -> Iterator[Any]:
    if not parts:
        yield v
        return
    part, rest = parts[0], parts[1:]
    if part == "*":
        items = v if isinstance(v, list) else list(v.values()) if isinstance(v, dict) else []
        for item in items:
            yield from _every(item, rest)
    elif isinstance(v, dict) and part in v:
        yield from _every(v[part], rest)


class Redactor:
    def __init__(self, keep: Sequence[str], personal: Sequence[str], key: bytes) -> None:
        self.keep = tuple(keep)
        self.personal = tuple(personal)
        self.key = key

    def token(self, value: Any) -> str:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()[:32]
        return f"hmac:{digest}"

    def secrets_of(self, input: Any) -> list[tuple[Any, str]]:
        """The personal values of this input, each with its token."""
        out: list[tuple[Any, str]] = []
        for path in self.personal:
            value, found = _lookup(input, path)
            values = value if found and "*" in path.split(".") else [value] if found else []
            for v in values:
                if v is not None and v != "" and not any(v == s for s, _ in out):
                    out.append((v, self.token(v)))
        return out

    def apply(self, input: Any, document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The kept input paths and the decision document, personal values replaced."""
        found = self.secrets_of(input)
        kept: dict[str, Any] = {}
        for path in self.keep:
            value, present = _lookup(input, path)
            if present:
                kept[path] = _scrub(value, found)
        return kept, _scrub(document, found)


def _scrub(value: Any, found: list[tuple[Any, str]]) -> Any:
    if not found:
        return value
    for secret, token in found:
        if type(value) is type(secret) and value == secret:
            return token
    if isinstance(value, dict):
        return {k: _scrub(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, found) for v in value]
    if isinstance(value, str):
        # a rendered message may quote the value inside other text
        for secret, token in found:
            if isinstance(secret, str | int | float) and not isinstance(secret, bool):
                text = str(secret)
                if text and text in value:
                    value = value.replace(text, token)
    return value
