"""YAML and JSON documents as policy values: JSON types only, bounded, paths in errors."""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

import yaml

from tenet.runtime.values import DOUBLE_MAX

__all__ = [
    "DocumentError",
    "DuplicateKeyError",
    "JsonSafeLoader",
    "check_document",
    "is_text",
    "json_problem",
    "load_json",
    "load_yaml",
    "load_yaml_with_nodes",
    "pointer",
]


MAX_YAML_CHARS = 64 * 1024 * 1024
MAX_YAML_VALUES = 1_000_000


# Half of a UTF-16 pair with no other half: JSON's `\ud800` escape decodes to one, though it
# is no character, and no UTF-8 text (an answer, a log record) can hold it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_MESSAGE = (
    "the text holds a lone surrogate (an unpaired `\\ud800`–`\\udfff` escape), which is not "
    "a character: pair it (`\\ud83d\\ude00`) or write the character itself"
)


def is_text(s: str) -> bool:
    """Whether a string is text: it holds no half of a UTF-16 pair alone."""
    return s.isascii() or not _LONE_SURROGATE.search(s)


class JsonSafeLoader(yaml.SafeLoader):
    """A safe loader resolving plain scalars as YAML 1.2's core schema does.

    Only `true`/`false` are booleans and only `null`/`~` are null; dates, `yes`, `on` and the
    like stay strings, so a document means the same as its JSON twin. Only the JSON types can
    be built (any other tag is an error), and a document may expand, aliases included, to at
    most ``max_values`` values: an alias bomb is refused while it is parsed, before it grows.
    """

    max_values = MAX_YAML_VALUES
    # refuse half a UTF-16 pair alone (JSON's "\ud800" escape) where it is read: a bundle's
    # files; an input leaves it to evaluation, which makes it an `invalid_input` decision
    text_only = True

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> values it expands to

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._sizes:
                raise yaml.composer.ComposerError(
                    None, None, f"alias `*{event.anchor}` refers to itself", event.start_mark
                )
        node = super().compose_node(parent, index)
        if self.text_only and isinstance(node, yaml.ScalarNode) and not is_text(node.value):
            raise yaml.composer.ComposerError(None, None, _SURROGATE_MESSAGE, node.start_mark)
        if node is not None and id(node) not in self._sizes:
            size = _expanded_size(node, self._sizes)
            if size > self.max_values:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"the document expands to more than {self.max_values} values "
                    "(aliases included)",
                    node.start_mark,
                )
            self._sizes[id(node)] = size
        return node


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """The values a freshly composed node stands for, its children (and aliases) counted."""
    if isinstance(node, yaml.SequenceNode):
        return 1 + sum(sizes[id(child)] for child in node.value)
    if isinstance(node, yaml.MappingNode):
        return 1 + sum(sizes[id(k)] + sizes[id(v)] for k, v in node.value)
    return 1


def _construct_other_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None,
        None,
        f"the tag `{node.tag}` is not allowed: documents hold JSON values only",
        node.start_mark,
    )


_JSON_TAGS = ("null", "bool", "int", "float", "str", "seq", "map")
JsonSafeLoader.yaml_constructors = {
    **{
        f"tag:yaml.org,2002:{t}": yaml.SafeLoader.yaml_constructors[f"tag:yaml.org,2002:{t}"]
        for t in _JSON_TAGS
    },
    None: _construct_other_tag,
}
JsonSafeLoader.yaml_implicit_resolvers = {}
_RESOLVERS = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
]
for _tag, _pattern, _first in _RESOLVERS:
    JsonSafeLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _construct_yaml_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


JsonSafeLoader.add_constructor("tag:yaml.org,2002:int", _construct_yaml_int)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # a key given twice would silently keep its last value: in evidence that is a lie
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str | int | float | bool) or key is None:
            if key in seen and type(key) is type(loader.construct_object(seen[key])):
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"the key `{key}` is given twice",
                    key_node.start_mark,
                )
            seen[key] = key_node
    return yaml.SafeLoader.construct_mapping(loader, node)


def _construct_yaml_map(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    data: dict[Any, Any] = {}
    yield data
    data.update(_construct_mapping(loader, node))


JsonSafeLoader.add_constructor("tag:yaml.org,2002:map", _construct_yaml_map)


class DocumentError(ValueError):
    """A document that is not a policy value; ``path`` is a JSON pointer to the bad part."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '/'}: {message}")
        self.path = path
        self.message = message


def pointer(parts: list[str | int] | tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def check_document(value: Any, max_depth: int = 100, max_nodes: int = 1_000_000) -> Any:
    """Refuse anything that is not a JSON value within the limits; returns ``value``.

    Values are visited in document order (children pushed last first), so the path of an
    error is that of the first bad value as the document is written, and for too many
    values that of the first value past the limit."""
    count = 0
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        v, path = stack.pop()
        count += 1
        if count > max_nodes:
            raise DocumentError(
                pointer(path),
                f"the document has more than {max_nodes} values (counted in document order, "
                "this is the first past the limit)",
            )
        t = type(v)
        if t is str:
            if not is_text(v):
                raise DocumentError(pointer(path), _SURROGATE_MESSAGE)
            continue
        if t is bool or v is None:
            continue
        if t is int:
            if abs(v) > DOUBLE_MAX:
                raise DocumentError(pointer(path), "the number is beyond the double range")
            continue
        if t is float:
            if not math.isfinite(v):
                raise DocumentError(pointer(path), "numbers must be finite")
            continue
        if len(path) >= max_depth:
            raise DocumentError(pointer(path), f"the document nests deeper than {max_depth}")
        if t is dict:
            for k in v:
                if type(k) is not str:
                    raise DocumentError(
                        pointer(path), f"object key `{k!r}` is not a string; quote it"
                    )
                if not is_text(k):
                    # the path stops at the object: the key itself cannot be printed
                    raise DocumentError(
                        pointer(path), "a key of this object: " + _SURROGATE_MESSAGE
                    )
            stack.extend((x, (*path, k)) for k, x in reversed(v.items()))
        elif t is list:
            stack.extend((v[i], (*path, i)) for i in range(len(v) - 1, -1, -1))
        else:
            raise DocumentError(pointer(path), f"a {t.__name__} is not a JSON value")
    return value


def load_yaml(text: str, text_only: bool = True) -> Any:
    """Parse YAML safely as JSON types (raises yaml.YAMLError); with `text_only` false, a
    string holding half a UTF-16 pair alone is read as it is, for evaluation to refuse."""
    loader = _loader(text)
    loader.text_only = text_only
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml_with_nodes(text: str) -> tuple[Any, dict[str, tuple[yaml.Node, yaml.Node]]]:
    """Parse like `load_yaml`, and also give each top-level key's key and value nodes, whose
    ``start_mark.index`` and ``end_mark.index`` place an error in the text."""
    loader = _loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        nodes: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    nodes.setdefault(str(k.value), (k, v))
        return loader.construct_document(node), nodes
    finally:
        loader.dispose()


def _loader(text: str) -> JsonSafeLoader:
    if len(text) > MAX_YAML_CHARS:
        raise yaml.YAMLError(f"the document is longer than {MAX_YAML_CHARS} characters")
    return JsonSafeLoader(text)


def _no_constants(name: str) -> Any:
    raise ValueError(f"`{name}` is not a JSON number")


class DuplicateKeyError(ValueError):
    """A JSON object that gives a key twice; `tenet.locate.duplicate_key` finds where."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key `{key}` is given twice in one object")
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def load_json(text: str) -> Any:
    """Parse JSON, refusing NaN, Infinity and keys given twice (raises ValueError; for a
    syntax error json.JSONDecodeError, whose text `json_problem` gives in our words)."""
    try:
        return json.loads(text, parse_constant=_no_constants, object_pairs_hook=_unique_keys)
    except ValueError as err:
        if "int_max_str_digits" not in str(err):
            raise
        # Python's text advises a setting of its own that no user of Tenet can change
        raise ValueError(
            f"a number has more than {sys.get_int_max_str_digits()} digits, more than is read"
        ) from None


def json_problem(err: json.JSONDecodeError) -> str:
    """A JSON syntax error in our words, its position apart (`err.lineno`, `err.colno`)."""
    if err.msg.startswith("Unexpected UTF-8 BOM"):  # "(decode using utf-8-sig)": Python's
        return "a byte order mark stands where the document should start"
    # "Invalid control character at", "Unterminated string starting at": the position follows
    msg = err.msg.removesuffix(" at").removesuffix(" starting")
    return msg[:1].lower() + msg[1:]
