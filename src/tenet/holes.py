"""JSON text with holes: a value encoded once with a few of its values left open (an id, a time),
so that each copy of it costs one `%` format instead of a whole encoding."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any

import orjson

__all__ = ["Holes", "json_scalar", "put", "with_holes"]

# a marker stands in a value while the text is encoded: plain ASCII, so that no encoder escapes
# it, and random, so that no value of the user's can be taken for one
_MARK = f"tenet-hole-{secrets.token_hex(8)}-"

Path = tuple[str, ...]


class Holes:
    """Encoded JSON with its holes as `%s`; `fill` takes each hole's JSON text, in the order
    of the paths it was made with."""

    __slots__ = ("_format", "_order")

    def __init__(self, form: bytes, order: tuple[int, ...]) -> None:
        self._format = form
        self._order = order

    def fill(self, values: Sequence[bytes]) -> bytes:
        return self._format % tuple([values[i] for i in self._order])


def with_holes(value: Any, paths: Sequence[Path], encode: Callable[[Any], bytes]) -> Holes:
    """`value` encoded by `encode` with the values at `paths` left open. Each path names a key
    of nested objects that is present (KeyError otherwise); `value` is not changed."""
    marked = value
    for i, path in enumerate(paths):
        marked = put(marked, path, _MARK + str(i))
    text = encode(marked)
    found = []
    for i in range(len(paths)):
        quoted = f'"{_MARK}{i}"'.encode()
        at = text.find(quoted)
        if at < 0 or text.find(quoted, at + 1) >= 0:  # an encoder that changes strings
            raise ValueError(f"the encoder did not keep hole {i} whole")
        found.append((at, i, len(quoted)))
    found.sort()
    parts = []
    pos = 0
    for at, _, size in found:
        parts.append(text[pos:at].replace(b"%", b"%%"))
        pos = at + size
    parts.append(text[pos:].replace(b"%", b"%%"))
    return Holes(b"%s".join(parts), tuple(i for _, i, _ in found))


def put(value: dict[str, Any], path: Path, new: Any) -> dict[str, Any]:
    """A copy of `value` with `new` at `path` (a key present), sharing everything off it."""
    key, rest = path[0], path[1:]
    if key not in value:
        raise KeyError(key)
    return {**value, key: put(value[key], rest, new) if rest else new}


def json_scalar(value: str | int | None) -> bytes:
    """The JSON text of a string, integer or null to fill a hole with."""
    if value is None:
        return b"null"
    if type(value) is int:
        return str(value).encode()
    if isinstance(value, str):
        if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
            return b'"' + value.encode() + b'"'
        return orjson.dumps(value)
    raise TypeError(f"a hole holds a string, integer or null, not {type(value).__name__}")
