"""YAML and JSON documents as policy values: JSON types only, bounded, paths in errors."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

from tenet.runtime.values import DOUBLE_MAX

__all__ = ["DocumentError", "JsonSafeLoader", "check_document", "load_json", "load_yaml", "pointer"]


class JsonSafeLoader(yaml.SafeLoader):
    """A safe loader resolving plain scalars as YAML 1.2's core schema does.

    Only `true`/`false` are booleans and only `null`/`~` are null; dates, `yes`, `on` and the
    like stay strings, so a document means the same as its JSON twin.
    """


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


class DocumentError(ValueError):
    """A document that is not a policy value; ``path`` is a JSON pointer to the bad part."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '/'}: {message}")
        self.path = path
        self.message = message


def pointer(parts: list[str | int] | tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def check_document(value: Any, max_depth: int = 100, max_nodes: int = 1_000_000) -> Any:
    """Refuse anything that is not a JSON value within the limits; returns ``value``."""
    count = 0
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        v, path = stack.pop()
        count += 1
        if count > max_nodes:
            raise DocumentError(pointer(path), f"the document has more than {max_nodes} values")
        t = type(v)
        if t is str or t is bool or v is None:
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
            for k, x in v.items():
                if type(k) is not str:
                    raise DocumentError(
                        pointer(path), f"object key `{k!r}` is not a string; quote it"
                    )
                stack.append((x, (*path, k)))
        elif t is list:
            stack.extend((x, (*path, i)) for i, x in enumerate(v))
        else:
            raise DocumentError(pointer(path), f"a {t.__name__} is not a JSON value")
    return value


def load_yaml(text: str) -> Any:
    """Parse YAML safely as JSON types (raises yaml.YAMLError)."""
    return yaml.load(text, Loader=JsonSafeLoader)


def _no_constants(name: str) -> Any:
    raise ValueError(f"`{name}` is not a JSON number")


def load_json(text: str) -> Any:
    """Parse JSON, refusing NaN and Infinity (raises ValueError)."""
    return json.loads(text, parse_constant=_no_constants)
