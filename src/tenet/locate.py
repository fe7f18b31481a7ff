"""Where a JSON pointer's value is written in a YAML or JSON text (an input file, a bundle's
data file), as character offsets or as lines and columns; and where and why such a text
cannot be read at all."""

from __future__ import annotations

import bisect
import json
import re
import sys
from dataclasses import dataclass
from typing import Any

import yaml

from tenet.diagnostics import Diagnostic
from tenet.escape import printable
from tenet.source import Source
from tenet.yamlutil import (
    DuplicateKeyError,
    JsonSafeLoader,
    json_help,
    json_problem,
    load_json,
    yaml_problem,
)

__all__ = [
    "InputLocator",
    "Region",
    "Unreadable",
    "duplicate_key",
    "pointer_of_reference",
    "split_pointer",
    "unreadable",
    "unreadable_diagnostic",
]


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


def pointer_of_reference(ref: str, name: str = "input", base: str = "") -> str | None:
    """The JSON pointer of the input path a reference such as `input.model.card_url` or
    `input.items[0]["a b"]` names, as far as it is a static path; None when it is not one.
    With `name` and `base`, of a reference through a local bound to the input value at
    `base` (`m.card.owner`, where `m` is the element at `/models/1`)."""
    if not ref.startswith(name) or ref[len(name) : len(name) + 1] not in ("", ".", "["):
        return None
    pos, parts = len(name), []
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
    if not parts and not base:
        return None
    return base + "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


class InputLocator:
    """Regions of an input text, found by JSON pointer.

    A YAML text is composed with the same safe loader that read it, and its nodes' marks give
    the spans. A JSON text is composed the same way when the safe loader accepts it and reads
    the same value from it (JSON is YAML only up to tabs, long keys and the like); otherwise a
    small JSON scanner gives the spans. A text neither can read locates nothing."""

    def __init__(self, text: str, is_json: bool) -> None:
        self._text = text
        self._line_starts = Source("", text).line_starts()
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
    found = _given_twice(text)
    if found is None:
        return None
    key, at = found
    return key, *Source("", text).position(at)


def _given_twice(text: str) -> tuple[str, int] | None:
    twice: list[tuple[str, int]] = []
    _compose_json(text, twice)
    return twice[0] if twice else None


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


# ---- a text that cannot be read ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Why a YAML or JSON text cannot be read, in our words: ``kind`` is `YAML` or `JSON`;
    ``offset`` is the character that shows it, None when no one character does."""

    kind: str
    message: str
    offset: int | None
    help: str | None

    def position(self, text: str) -> tuple[int, int] | None:
        """The 1-based line and column (code points) of ``offset`` in ``text``."""
        if self.offset is None:
            return None
        return Source("", text).position(self.offset)

    def said(self, text: str, line: bool = True) -> str:
        """What follows "… is not valid JSON" in a message: where (` at line 2, column 5`, or
        ` at column 5` for text of one line), why, and the help on a line of its own."""
        at = self.position(text)
        if at is None:
            where = ""
        elif line:
            where = f" at line {at[0]}, column {at[1]}"
        else:
            where = f" at column {at[1]}"
        advice = f"\n  = help: {self.help}" if self.help else ""
        return f"{where}: {self.message}{advice}"


# outside strings: what `load_json` refuses after parsing, which Python's reader does not place
_NOT_A_NUMBER = re.compile(
    r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)|(\d{' + str(sys.get_int_max_str_digits() + 1) + ",})"
)


def unreadable(text: str, is_json: bool, err: Exception) -> Unreadable:
    """Why `load_yaml` (``is_json`` false) or `load_json` could not read ``text``, from the
    error it raised: a YAML or JSON syntax error, a key given twice, a tag, an alias bomb, NaN,
    nesting too deep. An error at the end of the file is shown just after its last character."""
    kind = "JSON" if is_json else "YAML"
    offset: int | None = None
    help: str | None = None
    if isinstance(err, yaml.YAMLError):
        message, offset, help = yaml_problem(err)
    elif isinstance(err, json.JSONDecodeError):
        message, offset, help = json_problem(err), err.pos, json_help(err)
    elif isinstance(err, DuplicateKeyError):
        # the first given twice as written, which Python's reader (inner objects first) is not
        key, offset = _given_twice(text) or (err.key, None)
        message = f"the key `{printable(key)}` is given twice in one object"
        help = "give each key once: the last would silently replace the first"
    elif isinstance(err, RecursionError):
        message = "the document nests too deeply to read"
        help = "flatten the document: keep it to at most 100 levels"
    else:
        message = str(err)
        number = _NOT_A_NUMBER.search(text)
        while number is not None and number.lastindex is None:
            number = _NOT_A_NUMBER.search(text, number.end())
        if number is not None:
            offset = number.start(number.lastindex or 0)
            help = (
                "JSON numbers are finite and written in digits; quote the value if it is text"
                if number.lastindex == 1
                else "quote the number if it is an identifier rather than an amount"
            )
    end = len(text.rstrip())
    if offset is not None and offset > end:
        offset = end
    return Unreadable(kind, message, offset, help)


def unreadable_diagnostic(
    code: str, what: str, source: Source, is_json: bool, err: Exception
) -> Diagnostic:
    """A bundle file (`what`, as the message names it) that cannot be read, at the character
    that shows why, with its line and a caret."""
    found = unreadable(source.text, is_json, err)
    span = None if found.offset is None else source.span(found.offset, found.offset + 1)
    return Diagnostic(
        code,
        f"{what} is not valid {found.kind}: {found.message}",
        span,
        found.help,
        file=source.path,
    )
