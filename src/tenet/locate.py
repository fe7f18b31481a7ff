"""Where a JSON pointer's value is written in a YAML or JSON text (an input file, a bundle's
data file), as character offsets or as lines and columns."""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from tenet.yamlutil import JsonSafeLoader, load_json

__all__ = ["InputLocator", "Region", "duplicate_key", "pointer_of_reference", "split_pointer"]


@dataclass(frozen=True, slots=True)
class Region:
    """A span of the input text: 1-based lines and columns (code points), the end exclusive.

    ``exact`` is false when the pointer's value is not in the text (an undefined field): the
    region is then that of its nearest enclosing value."""

    start_line: int
    start_column: int
    end_line: int
    end_column: int
    exact: bool = True


@dataclass(slots=True)
class _Node:
    """A value of the text: its span, and its children (key -> (key start, node) or list)."""

    start: int
    end: int
    mapping: dict[str, tuple[int, _Node]] | None = None
    sequence: list[_Node] | None = None


def split_pointer(pointer: str) -> list[str]:
    """The unescaped reference tokens of a JSON pointer (RFC 6901); `""` is the whole text."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"`{pointer}` is not a JSON pointer")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


_STEP = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_]*)|\[(?:"((?:[^"\\]|\\.)*)"|(\d+))\]""")


def pointer_of_reference(ref: str) -> str | None:
    """The JSON pointer of the input path a reference such as `input.model.card_url` or
    `input.items[0]["a b"]` names, as far as it is a static path; None when it is not one."""
    if not ref.startswith("input"):
        return None
    pos, parts = len("input"), []
    while pos < len(ref):
        m = _STEP.match(ref, pos)
        if m is None:
            break
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) is not None:
            try:
                parts.append(json.loads(f'"{m.group(2)}"'))
            except ValueError:
                break
        else:
            parts.append(m.group(3))
        pos = m.end()
    if not parts:
        return None
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


class InputLocator:
    """Regions of an input text, found by JSON pointer.

    A YAML text is composed with the same safe loader that read it, and its nodes' marks give
    the spans. A JSON text is composed the same way when the safe loader accepts it and reads
    the same value from it (JSON is YAML only up to tabs, long keys and the like); otherwise a
    small JSON scanner gives the spans. A text neither can read locates nothing."""

    def __init__(self, text: str, is_json: bool) -> None:
        self._text = text
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._root = _compose_yaml(text, is_json)
        if self._root is None and is_json:
            self._root = _compose_json(text)

    def region(self, pointer: str) -> Region | None:
        """The region of the value at ``pointer`` (with its key, for an object member), or of
        its nearest enclosing value that is there (``exact`` false); None when the text could
        not be read or the pointer is malformed."""
        try:
            tokens = split_pointer(pointer)
        except ValueError:
            return None
        found = self.bounds(tokens)
        if found is None:
            return None
        start, end, exact = found
        sl, sc = self._position(start)
        el, ec = self._position(end)
        return Region(sl, sc, el, ec, exact)

    def bounds(self, tokens: list[str]) -> tuple[int, int, bool] | None:
        """As `region`, for the reference tokens of a pointer, as character offsets (the end
        exclusive, trailing blanks left out) and whether the value itself is there."""
        if self._root is None:
            return None
        node, start, exact = self._root, self._root.start, True
        for token in tokens:
            child: tuple[int, _Node] | None = None
            if node.mapping is not None:
                child = node.mapping.get(token)
            elif node.sequence is not None and token.isdigit():
                i = int(token)
                if str(i) == token and i < len(node.sequence):
                    child = (node.sequence[i].start, node.sequence[i])
            if child is None:
                exact = False
                break
            start, node = child
        end = node.end
        # a block collection ends where the next token starts: leave out the blank tail
        while end > start and self._text[end - 1] in " \t\r\n":
            end -= 1
        return start, max(end, start), exact

    def _position(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, index) - 1
        return line + 1, index - self._line_starts[line] + 1


# ---- YAML (and JSON that the safe loader reads the same) ---------------------------------------


def _compose_yaml(text: str, is_json: bool) -> _Node | None:
    loader = JsonSafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if is_json and loader.construct_document(node) != load_json(text):
            return None
        return _from_yaml(node)
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    finally:
        loader.dispose()


def _from_yaml(node: yaml.Node) -> _Node:
    out = _Node(node.start_mark.index, node.end_mark.index)
    if isinstance(node, yaml.MappingNode):
        out.mapping = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                out.mapping.setdefault(str(key.value), (key.start_mark.index, _from_yaml(value)))
    elif isinstance(node, yaml.SequenceNode):
        out.sequence = [_from_yaml(item) for item in node.value]
    return out


# ---- JSON the safe loader does not read -------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_scanstring: Any = json.decoder.scanstring  # type: ignore[attr-defined]


def _compose_json(text: str, twice: list[tuple[str, int]] | None = None) -> _Node | None:
    try:
        pos = _WS.match(text, 1 if text.startswith("\ufeff") else 0).end()  # type: ignore[union-attr]
        node, _ = _json_value(text, pos, twice)
        return node
    except (ValueError, IndexError, RecursionError):
        return None


def duplicate_key(text: str) -> tuple[str, int, int] | None:
    """The first key of a JSON text given a second time in its object, as written: the key
    and the 1-based line and column (code points) where it is given again; None if none is."""
    twice: list[tuple[str, int]] = []
    _compose_json(text, twice)
    if not twice:
        return None
    key, at = twice[0]
    return key, text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)


def _json_value(
    text: str, pos: int, twice: list[tuple[str, int]] | None = None
) -> tuple[_Node, int]:
    """The value starting at ``pos`` and the index after it and the whitespace that follows;
    a key given again in its object is added to ``twice`` with its start."""
    c = text[pos]
    if c == "{":
        members: dict[str, tuple[int, _Node]] = {}
        node = _Node(pos, pos, mapping=members)
        pos = _skip(text, pos + 1)
        if text[pos] == "}":
            return _close(node, text, pos)
        while True:
            key_start = pos
            if text[pos] != '"':
                raise ValueError("expected a key")
            key, pos = _scanstring(text, pos + 1, True)
            if twice is not None and key in members:
                twice.append((key, key_start))  # before any given twice inside its value
            pos = _skip(text, pos)
            if text[pos] != ":":
                raise ValueError("expected `:`")
            value, pos = _json_value(text, _skip(text, pos + 1), twice)
            members.setdefault(key, (key_start, value))
            if text[pos] == "}":
                return _close(node, text, pos)
            if text[pos] != ",":
                raise ValueError("expected `,`")
            pos = _skip(text, pos + 1)
    if c == "[":
        node = _Node(pos, pos, sequence=[])
        pos = _skip(text, pos + 1)
        if text[pos] == "]":
            return _close(node, text, pos)
        while True:
            value, pos = _json_value(text, pos, twice)
            assert node.sequence is not None
            node.sequence.append(value)
            if text[pos] == "]":
                return _close(node, text, pos)
            if text[pos] != ",":
                raise ValueError("expected `,`")
            pos = _skip(text, pos + 1)
    if c == '"':
        _, end = _scanstring(text, pos + 1, True)
    elif text.startswith(("true", "null"), pos):
        end = pos + 4
    elif text.startswith("false", pos):
        end = pos + 5
    else:
        m = _NUMBER.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError("expected a value")
        end = m.end()
    return _Node(pos, end), _skip(text, end)


def _close(node: _Node, text: str, pos: int) -> tuple[_Node, int]:
    node.end = pos + 1
    return node, _skip(text, pos + 1)


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]
