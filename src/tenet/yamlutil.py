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
    "json_help",
    "json_problem",
    "load_json",
    "load_yaml",
    "load_yaml_with_nodes",
    "plain_json",
    "pointer",
    "yaml_problem",
]


MAX_YAML_CHARS = 64 * 1024 * 1024
MAX_YAML_VALUES = 1_000_000


# Half of a UTF-16 pair with no other half: JSON's `\ud800` escape decodes to one, though it
# is no character, and no UTF-8 text (an answer, a log record) can hold it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_PROBLEM = (
    "the text holds a lone surrogate (an unpaired `\\ud800`–`\\udfff` escape), which is not "
    "a character"
)
_SURROGATE_HELP = "pair it (`\\ud83d\\ude00`) or write the character itself"
_SURROGATE_MESSAGE = f"{_SURROGATE_PROBLEM}: {_SURROGATE_HELP}"


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


_TAG_NOT_ALLOWED = "is not allowed: documents hold JSON values only"


def _construct_other_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    tag = str(node.tag)
    if tag.startswith("tag:yaml.org,2002:"):  # as it is written: `!!python/object`
        tag = "!!" + tag.removeprefix("tag:yaml.org,2002:")
    raise yaml.constructor.ConstructorError(
        None, None, f"the tag `{tag}` {_TAG_NOT_ALLOWED}", node.start_mark
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
    try:
        return int(text)
    except ValueError:  # Python's text advises a setting of its own no user can change
        raise yaml.constructor.ConstructorError(None, None, _TOO_LONG, node.start_mark) from None


JsonSafeLoader.add_constructor("tag:yaml.org,2002:int", _construct_yaml_int)


_FIRST_GIVEN = "first given"


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # a key given twice would silently keep its last value: in evidence that is a lie
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str | int | float | bool) or key is None:
            if key in seen and type(key) is type(loader.construct_object(seen[key])):
                raise yaml.constructor.ConstructorError(
                    _FIRST_GIVEN,
                    seen[key].start_mark,
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


def plain_json(value: Any, max_depth: int = 100, max_nodes: int = 1_000_000) -> Any:
    """`value` with every instance of a subclass of a JSON type made that type, as `json.dumps`
    writes it: an OrderedDict an object, a `str` enum's member its text, an `IntEnum`'s its
    number, numpy.float64 a number. Anything else is left for `check_document` to refuse, and
    so is what lies deeper than `max_depth` or past `max_nodes` values (a container that holds
    itself, or one list many times over)."""
    budget = max_nodes

    def plain(v: Any, depth: int) -> Any:
        nonlocal budget
        budget -= 1
        t = type(v)
        if t is str or t is int or t is float or t is bool or v is None:
            return v
        if depth >= max_depth or budget < 0:
            return v
        if isinstance(v, dict):
            return {
                (str.__str__(k) if type(k) is not str and isinstance(k, str) else k): plain(
                    x, depth + 1
                )
                for k, x in v.items()
            }
        if isinstance(v, list):
            return [plain(x, depth + 1) for x in v]
        # the base types' own conversions: a subclass may redefine `__str__` (an Enum does)
        if isinstance(v, str):
            return str.__str__(v)
        if isinstance(v, int):
            return int.__int__(v)
        if isinstance(v, float):
            return float.__float__(v)
        return v

    return plain(value, 0)


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
        raise ValueError(_TOO_LONG) from None


def json_problem(err: json.JSONDecodeError) -> str:
    """A JSON syntax error in our words, its position apart (`err.lineno`, `err.colno`)."""
    if err.msg.startswith("Unexpected UTF-8 BOM"):  # "(decode using utf-8-sig)": Python's
        return "a byte order mark stands where the document should start"
    # "Invalid control character at", "Unterminated string starting at": the position follows
    msg = err.msg.removesuffix(" at").removesuffix(" starting")
    return msg[:1].lower() + msg[1:]


_JSON_HELP = {
    "Expecting value": "write a value: a string in double quotes, a number, `true`, `false`, "
    "`null`, an object or a list (JSON allows no `,` after the last item)",
    "Expecting property name enclosed in double quotes": "write each key in double quotes, "
    '`"key": value` (JSON allows no `,` after the last member)',
    "Expecting ':' delimiter": "separate a key from its value with `:`",
    "Expecting ',' delimiter": "separate the items of a list or object with `,`",
    "Extra data": "a JSON file holds one value: remove what follows it, or make a list of them",
    "Unterminated string starting at": 'end the string with `"`',
    "Invalid control character at": "write a line break in a string as `\\n` and a tab as `\\t`",
    "Invalid \\escape": "write a backslash in a string as `\\\\`",
    "Invalid \\uXXXX escape": "a `\\u` escape takes four hex digits, like `\\u00e9`",
}


def json_help(err: json.JSONDecodeError) -> str | None:
    """Advice for a JSON syntax error (see `json_problem`)."""
    if err.msg.startswith("Unexpected UTF-8 BOM"):
        return "save the file as UTF-8 without a byte order mark"
    return _JSON_HELP.get(err.msg)


# What PyYAML calls a token, as a reader of the file would say it.
_TOKENS = {
    "<block mapping start>": "a new key",
    "<block sequence start>": "a list item",
    "<block end>": "the end of the indented block",
    "<scalar>": "a value",
    "<stream end>": "the end of the file",
    "<stream start>": "the start of the file",
    "<document start>": "`---`",
    "<document end>": "`...`",
    "<alias>": "an alias",
    "<anchor>": "an anchor",
    "<tag>": "a tag",
    "<directive>": "a `%` directive",
    "-": "a list item `-`",
    "?": "a key",
    ":": "a `:`",
    ",": "a `,`",
}
# what PyYAML found, as it quotes it: "but found '<scalar>'", "found character '\\t' that …"
_FOUND = re.compile(r"""(?:found|got)\b[^'"]*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""")
_QUOTED = re.compile(r"'([^']*)'")


def _said(token: str) -> str:
    if token in _TOKENS:
        return _TOKENS[token]
    if token in ("\\n", "\\r", "\\x85", "\\u2028", "\\u2029"):
        return "the end of the line"
    if token == "\\t":
        return "a tab"
    if token in ("\\0", "\\x00"):
        return "the end of the text"
    return f"`` {token} ``" if "`" in token else f"`{token}`"


# problems PyYAML words the same wherever they are, in our words and with advice
_FIXED = {
    "mapping values are not allowed here": (
        "a `:` stands after a value where no key can start",
        'quote a value that holds `: ` (`"a: b"`), or put a nested mapping on its own line, '
        "indented below its key",
    ),
    "found character '\\t' that cannot start any token": (
        "a tab stands where YAML allows only spaces",
        "indent with spaces, never tabs",
    ),
    "but found another document": (
        "the file holds more than one document",
        "remove the `---` line and what follows it, or merge the documents into one",
    ),
    "found unhashable key": (
        "a key is a list or a mapping",
        "keys are text: write the key as plain text, or quote it",
    ),
}
_TOO_LONG = f"a number has more than {sys.get_int_max_str_digits()} digits, more than is read"
_FIXED[_TOO_LONG] = (_TOO_LONG, "quote the number if it is an identifier rather than an amount")


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def yaml_problem(err: yaml.YAMLError) -> tuple[str, int | None, str | None]:
    """A YAML error in our words, without PyYAML's names for its tokens and strings: what is
    wrong, the character offset that shows it best (None when nowhere in particular), and
    advice."""
    if isinstance(err, yaml.reader.ReaderError):
        code = err.character if isinstance(err.character, int) else ord(str(err.character)[:1])
        escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
        return (
            f"the character U+{code:04X} is not allowed in YAML text",
            err.position,
            f"remove it, or write it as `{escape}` in a double-quoted string",
        )
    if not isinstance(err, yaml.MarkedYAMLError):
        return str(err), None, None
    problem, context = err.problem or "", err.context or ""
    mark, start = err.problem_mark, err.context_mark
    offset = mark.index if mark is not None else None
    found = _FOUND.search(problem)
    raw = (found.group(1) or found.group(2) or "") if found is not None else ""
    token = _said(raw)
    opened = f" that starts at {_at(start)}" if start is not None else ""
    message, help = "", None
    if context == _FIRST_GIVEN:
        message = problem
        help = f"give each key once: it is first given at {_at(start)}"
    elif problem.endswith(_TAG_NOT_ALLOWED):
        message = problem
        help = "remove the tag: a document holds strings, numbers, `true`, `false`, `null`, "
        help += "lists and mappings"
    elif problem.startswith("the document expands to more than"):
        message = problem
        help = "write the values out rather than aliases of aliases"
    elif problem.startswith("alias `*") and problem.endswith("refers to itself"):
        message = problem
        help = "an alias can repeat only a value that ends before it"
    elif problem == _SURROGATE_MESSAGE:
        message, help = _SURROGATE_PROBLEM, _SURROGATE_HELP
    elif problem.startswith("expected <block end>, but found"):
        if raw == "-":
            message = f"a list item `-` stands among the keys of the mapping{opened}"
            help = "put a list under a key: `key:` on its own line, then `  - item` below it"
        elif raw == ":":
            message = f"a `:` with no key before it stands among the keys of the mapping{opened}"
            help = "write `key: value`, the key and its `:` on one line"
        elif raw == "?" and "collection" in context:
            message = f"a key stands among the items of the list{opened}"
            help = "a list and a mapping cannot share one level: make it an item (`- key: "
            help += "value`), or give the list a key"
        else:
            of = "items of the list" if "collection" in context else "keys of the mapping"
            message = f"{token} is not indented like the {of}{opened}"
            help = f"indent it with spaces exactly as far as the other {of.split(' of ')[0]}, "
            help += "or further, below a key that ends with `:`"
    elif problem.startswith("expected '<document start>'"):
        message = f"{token} follows the end of the document"
        help = "a file holds one value: indent this line under a key, or remove it"
    elif problem.startswith(("expected ',' or ']'", "expected ',' or '}'")):
        what, pair = ("list", "[]") if "]" in problem else ("mapping", "{}")
        message = f"the {what} `{pair[0]}`{opened} is not closed: {token} stands where "
        message += f"`,` or `{pair[1]}` should"
        help = f"separate its items with `,` and close it with `{pair[1]}`; quote an item "
        help += "that holds `: ` or `,`"
        if raw == "<stream end>" and start is not None:
            message = f"the {what} `{pair[0]}`{opened} is not closed before the end of the file"
            offset = start.index  # the end of the file says nothing: show the opening
    elif problem.startswith("expected the node content"):
        message = f"a value is missing before {token}"
        help = "write a value, or `null` for none"
    elif problem in _FIXED:
        message, help = _FIXED[problem]
    elif problem.endswith("that cannot start any token"):
        message = f"{token} cannot start a value"
        help = f'quote the value: `"{raw}…"`'
    elif problem == "could not find expected ':'" and start is not None:
        message = f"the key at {_at(start)} has no `:`"
        help = "write `key: value`, or indent a value that goes on from the line above"
        offset = start.index
    elif problem == "found unexpected end of stream" and "quoted" in context:
        message = "the string is not closed: the file ends inside it"
        help = "end the string with the quote it starts with"
        offset = start.index if start is not None else offset
    elif problem.startswith("found unknown escape character"):
        message = f"`\\{raw}` is no escape of a double-quoted string"
        help = "write a backslash as `\\\\`, or use single quotes, which have no escapes"
    elif problem.startswith("found undefined alias"):
        message = f"the alias `*{raw}` names no anchor"
        help = f"define the anchor `&{raw}` on a value before the alias"
    elif context in ("while scanning an anchor", "while scanning an alias"):
        sign = "an anchor `&`" if "anchor" in context else "an alias `*`"
        message = f"{sign} must be followed by a name, not {token}"
        help = "name it with letters, digits, `-` and `_` (`&base`); quote a value that "
        help += "starts with `&` or `*`"
    elif context.startswith("found duplicate anchor"):
        name = _QUOTED.search(context)
        message = f"the anchor `&{name.group(1) if name else ''}` is defined twice"
        help = f"give each anchor its own name (the first is at {_at(start)})" if start else None
    else:
        # what no case above words: PyYAML's text, its token names said as a reader would
        text = f"{context}: {problem}" if context and not context.startswith("while") else problem
        message = _QUOTED.sub(lambda m: _said(m.group(1)), text)
        message = re.sub(r"<[a-z ]+>", lambda m: _said(m.group(0)), message)
        message = message[:1].lower() + message[1:]
        help = "quote a text value that holds YAML's signs (`: `, ` #`, `&`, `*`, `!`, `|`, "
        help += "`>`, `[`, `{`)"
    return message, offset, help
