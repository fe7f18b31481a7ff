"""Schema patterns in linear time: input schemas' `pattern` and `patternProperties` matched
by RE2, as the language's `regex` is, and patterns RE2 cannot take refused when the bundle
loads.

jsonschema matches patterns with Python's `re`, which backtracks: `^(a+)+$` against 40
characters of input takes minutes, and a sidecar validating its requests would hang on one.
Its keyword functions (and the helpers they call, such as the one finding additional
properties) name the `re` module as a global, so the validator classes Tenet uses get
copies of those functions whose globals name an RE2 search instead; jsonschema's own
classes, and anyone else's use of them in the process, are left as they are.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Iterator
from typing import Any

import jsonschema.validators
import re2

from tenet.yamlutil import pointer

__all__ = ["linear", "pattern_problems", "pattern_search"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a pattern RE2 refuses is reported by the loader, not logged


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, _OPTIONS)


def pattern_search(pattern: str, text: str) -> Any:
    """A schema pattern's first match in `text` (None if none), by RE2."""
    return _compiled(pattern).search(text)


class _Re2:
    """What jsonschema's keywords use of the `re` module: `search`, by RE2."""

    search = staticmethod(pattern_search)


def _copy(fn: types.FunctionType, made: dict[Any, Any]) -> types.FunctionType:
    """`fn` with `re` in its globals replaced, and so for every jsonschema function it calls
    by a global name (a recursive helper calls its own copy)."""
    found = made.get(fn)
    if found is not None:
        return found
    scope = dict(fn.__globals__)
    copy = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    made[fn] = copy
    if "re" in scope:
        scope["re"] = _Re2
    for name in fn.__code__.co_names:
        value = scope.get(name)
        if isinstance(value, types.FunctionType) and value.__module__.startswith("jsonschema"):
            scope[name] = _copy(value, made)
    return copy


@functools.cache
def linear(cls: Any) -> Any:
    """The validator class `cls` (a draft's) with every pattern matched by RE2."""
    made: dict[Any, Any] = {}
    keywords = {
        name: _copy(fn, made)
        for name, fn in cls.VALIDATORS.items()
        if isinstance(fn, types.FunctionType)
    }
    made_cls = jsonschema.validators.extend(cls, keywords)
    stock_evolve = made_cls.evolve

    def evolve(self: Any, **changes: Any) -> Any:
        # jsonschema picks the class of a subschema that names its own `$schema` (a whole
        # schema file reached by `$ref`) by that draft: the stock class, matching with `re`
        evolved = stock_evolve(self, **changes)
        if isinstance(evolved, made_cls):
            return evolved
        kind = linear(evolved.__class__)
        fields = kind.__attrs_attrs__  # what jsonschema's own `evolve` copies
        return kind(**{f.alias: getattr(evolved, f.name) for f in fields if f.init})

    made_cls.evolve = evolve
    return made_cls


# keywords whose value is a schema, a list of schemas, or a mapping to schemas
_ONE = (
    "additionalItems",
    "additionalProperties",
    "contains",
    "else",
    "if",
    "items",
    "not",
    "propertyNames",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_NAMED = (
    "$defs",
    "definitions",
    "dependentSchemas",
    "dependencies",
    "patternProperties",
    "properties",
)


def pattern_problems(schema: Any) -> list[tuple[str, str]]:
    """Each pattern of a schema RE2 cannot take, as (JSON pointer, why)."""
    out = []
    for where, pattern in _patterns(schema, []):
        try:
            _compiled(pattern)
        except re2.error as err:
            detail = err.args[0].decode("utf-8", "replace") if err.args else "invalid"
            out.append((pointer(where), f"pattern `{pattern}` is not RE2 syntax: {detail}"))
        except UnicodeEncodeError:
            out.append((pointer(where), "the pattern is not valid Unicode"))
    return out


def _patterns(schema: Any, at: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("pattern"), str):
        yield [*at, "pattern"], schema["pattern"]
    named = schema.get("patternProperties")
    if isinstance(named, dict):
        for pattern in named:
            yield [*at, "patternProperties", pattern], pattern
    for key in _ONE:
        yield from _patterns(schema.get(key), [*at, key])
    for key in _MANY:
        if isinstance(schema.get(key), list):
            for i, sub in enumerate(schema[key]):
                yield from _patterns(sub, [*at, key, i])
    for key in _NAMED:
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                yield from _patterns(sub, [*at, key, name])
