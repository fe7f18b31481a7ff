"""Input schemas: which schema a query's input must match, and its failures as decision errors."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from tenet.bundle.schema_regex import pattern_search
from tenet.runtime.evaluate import ErrorEntry
from tenet.wording import count
from tenet.yamlutil import pointer

__all__ = ["input_errors", "schema_for", "schemas_errors", "schemas_for"]

InputSchema = tuple[str, Any]  # the schema's path in the bundle, its validator


def schema_for(query: str, schemas: Mapping[str, InputSchema]) -> InputSchema | None:
    """The schema mapped to the query itself or else to its nearest enclosing package."""
    parts = query.split(".")
    for n in range(len(parts), 0, -1):
        found = schemas.get(".".join(parts[:n]))
        if found is not None:
            return found
    return None


def schemas_for(query: str, schemas: Mapping[str, InputSchema]) -> list[InputSchema]:
    """The schemas a query's input must match: its own, or its nearest enclosing package's;
    a query with neither (a package above every mapped one, the data API's root) those of
    the packages and rules below it, which it evaluates too. Without them an input that
    `acc.sub`'s schema refuses would be decided by `acc.sub`'s checks through a query of
    `acc`. A query that has a schema is checked against it alone: its author said what its
    input is, and a sub-package may take another (`data.audit` under `data`)."""
    found = schema_for(query, schemas) if query else None
    if found is not None:
        return [found]
    prefix = f"{query}." if query else ""
    below = [schema for name, schema in sorted(schemas.items()) if name.startswith(prefix)]
    return list({schema[0]: schema for schema in below}.values())  # a file mapped twice: once


def schemas_errors(query: str, schemas: Mapping[str, InputSchema], doc: Any) -> list[ErrorEntry]:
    """How an admitted input (`admit_input`) fails the schemas of `schemas_for`, schema by
    schema."""
    return [e for schema in schemas_for(query, schemas) for e in input_errors(schema, doc)]


def input_errors(schema: InputSchema, doc: Any) -> list[ErrorEntry]:
    """Every way an admitted input fails its schema, ordered by input path; [] when it
    validates."""
    path, validator = schema
    try:
        found = list(validator.iter_errors(doc))
    except Exception as err:  # a validator bug must not let the input through
        return [ErrorEntry("input_schema", f"the input could not be validated: {err}", path)]
    _place_false_schemas(found, validator.schema, doc)
    found.sort(key=lambda e: (_order(e.absolute_path), _order(e.absolute_schema_path)))
    return [_entry(path, e) for e in found]


def _place_false_schemas(found: list[Any], root: Any, doc: Any) -> None:
    """jsonschema reports a value whose schema is `false` (`"properties": {"x": false}`, a
    `patternProperties` or `prefixItems` entry) at the object or array holding it, without
    its key: put the key back. The errors come in jsonschema's own order, which is the order
    of the `false` members present, so the n-th such error at one place is the n-th member
    (found by walking the schema and the input to it, when no `$ref` lies on the way)."""
    seen: dict[tuple[Any, ...], int] = {}
    for err in found:
        where = list(err.absolute_schema_path)
        if err.validator is not None or err.parent is not None or not where:
            continue
        place = (*where, "@", *err.absolute_path)
        n = seen.get(place, 0)
        seen[place] = n + 1
        members = _false_members(where, root, list(err.absolute_path), doc)
        if n < len(members):
            key, schema_key = members[n]
            err.path.append(key)
            err.schema_path.append(schema_key)


def _false_members(where: list[Any], root: Any, path: list[Any], doc: Any) -> list[tuple[Any, Any]]:
    """The (input key, schema key) of each `false` member of the keyword at `where` that
    the input at `path` has, in the order jsonschema visits them."""
    schema, value = root, doc
    for key in where[:-1]:
        if not isinstance(schema, dict | list):
            return []
        try:
            schema = schema[key]
        except (KeyError, IndexError, TypeError):
            return []
    try:
        for key in path:
            value = value[key]
    except (KeyError, IndexError, TypeError):
        return []
    keyword = where[-1]
    members = schema.get(keyword) if isinstance(schema, dict) else None
    if keyword == "properties" and isinstance(members, dict) and isinstance(value, dict):
        return [(name, name) for name, sub in members.items() if sub is False and name in value]
    if keyword == "patternProperties" and isinstance(members, dict) and isinstance(value, dict):
        return [
            (name, pattern)
            for pattern, sub in members.items()
            if sub is False
            for name in value
            if pattern_search(pattern, name)
        ]
    if keyword == "prefixItems" and isinstance(members, list) and isinstance(value, list):
        return [(i, i) for i, sub in enumerate(members[: len(value)]) if sub is False]
    return []


def _order(path: Any) -> list[tuple[int, int, str]]:
    """A sort key for a path of keys and indexes: indexes in numeric order."""
    return [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path]


def _entry(schema_path: str, err: Any) -> ErrorEntry:
    at = pointer(list(err.absolute_path))
    within = pointer(list(err.absolute_schema_path))
    return ErrorEntry("input_schema", _message(err), f"{schema_path}#{within}", path=at)


SHOWN_FORMS = 3  # of an `anyOf` or `oneOf` that nothing matched, the forms explained


def _message(err: Any) -> str:
    """`/path: what is wrong`. When no form of an `anyOf` or `oneOf` matches, jsonschema only
    says so (quoting the whole value): say instead why each form failed, by its most specific
    error (the deepest in the input), so that the form the author meant shows what to fix."""
    at = pointer(list(err.absolute_path)) or "/"
    forms = err.validator_value if isinstance(err.validator_value, list) else []
    if err.validator not in ("anyOf", "oneOf") or not err.context or not forms:
        return f"{at}: {_text(err)}"
    by_form: dict[int, list[Any]] = {}
    for sub in err.context:
        by_form.setdefault(sub.relative_schema_path[0], []).append(sub)
    reasons = [
        f"form {i + 1}: {_message(max(subs, key=lambda e: len(e.absolute_path)))}"
        for i, subs in sorted(by_form.items())[:SHOWN_FORMS]
    ]
    if len(by_form) > SHOWN_FORMS:
        reasons.append(f"and {len(by_form) - SHOWN_FORMS} more")
    return f"{at}: matches none of the {len(forms)} allowed forms ({'; '.join(reasons)})"


# ---- messages with values written as JSON --------------------------------------------------------
#
# jsonschema's messages quote the value and the schema's keyword value with Python's `repr`
# (`None is not of type 'object'`, `'production' is not one of ['dev', 'prod']`): for the
# validators that phrase it so, the message is written here, with JSON values.


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _jsons(values: Any) -> str:
    return ", ".join(_json(v) for v in values)


def _type(err: Any) -> str:
    types = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
    return f"{_json(err.instance)} is not of type {_jsons(types)}"


def _required(err: Any) -> str | None:
    for name in err.validator_value:
        if err.message == f"{name!r} is a required property":
            return f"{_json(name)} is a required property"
    return None


def _dependent_required(err: Any) -> str | None:
    for name, needed in err.validator_value.items():
        for each in needed:
            if err.message == f"{each!r} is a dependency of {name!r}":
                return f"{_json(each)} is required when {_json(name)} is given"
    return None


def _additional(err: Any) -> str | None:
    if not isinstance(err.instance, dict) or not isinstance(err.schema, dict):
        return None
    known = err.schema.get("properties", {})
    patterns = list(err.schema.get("patternProperties", {}))
    extras = [
        k for k in err.instance if k not in known and not any(re.search(p, k) for p in patterns)
    ]
    if not extras:
        return None
    verb = "was" if len(extras) == 1 else "were"
    return f"additional properties are not allowed ({_jsons(sorted(extras))} {verb} unexpected)"


def _compared(phrase: str) -> Callable[[Any], str]:
    return lambda err: f"{_json(err.instance)} {phrase} {_json(err.validator_value)}"


def _items(err: Any) -> str | None:
    if err.validator_value is not False or not isinstance(err.instance, list):
        return None
    allowed = len(err.schema.get("prefixItems", [])) if isinstance(err.schema, dict) else 0
    extra = err.instance[allowed:]
    return f"expected at most {count(allowed, 'item')}, but found {len(extra)} more: {_json(extra)}"


_UNEVALUATED = re.compile(
    r"Unevaluated (properties|items) are not allowed \((.*) (was|were) unexpected\)", re.S
)


def _unevaluated(err: Any) -> str | None:
    """`unevaluatedProperties`/`unevaluatedItems`: which names or items were left over is
    jsonschema's to work out (what the other keywords evaluated), so its list is read back
    from its text, a `repr` of JSON values, and written as JSON."""
    found = _UNEVALUATED.fullmatch(err.message)
    if found is None:
        return None
    what, listed, verb = found.groups()
    try:
        values = ast.literal_eval(f"[{listed}]")
    except (ValueError, SyntaxError):
        return None
    return f"unevaluated {what} are not allowed ({_jsons(values)} {verb} unexpected)"


_MESSAGES: dict[str, Callable[[Any], str | None]] = {
    "type": _type,
    "enum": _compared("is not one of"),
    "const": lambda err: f"{_json(err.validator_value)} was expected",
    "required": _required,
    "dependentRequired": _dependent_required,
    "additionalProperties": _additional,
    "minimum": _compared("is less than the minimum of"),
    "maximum": _compared("is greater than the maximum of"),
    "exclusiveMinimum": _compared("is less than or equal to the minimum of"),
    "exclusiveMaximum": _compared("is greater than or equal to the maximum of"),
    "multipleOf": _compared("is not a multiple of"),
    "pattern": _compared("does not match"),
    "format": _compared("is not a"),
    "not": _compared("should not be valid under"),
    "oneOf": lambda err: (
        f"{_json(err.instance)} matches more than one of the "
        f"{len(err.validator_value)} allowed forms"
    ),
    "items": _items,
    "unevaluatedProperties": _unevaluated,
    "unevaluatedItems": _unevaluated,
}


def _text(err: Any) -> str:
    """jsonschema's message for an error, with values written as JSON: our own text for the
    validators in `_MESSAGES`, else its text with a leading `repr` of the value replaced
    (`[] is too short`, `{} has non-unique elements` ...)."""
    make = _MESSAGES.get(err.validator or "")
    text = None
    if make is not None:
        try:
            text = make(err)
        except (TypeError, AttributeError, re.error):
            text = None  # a keyword value of an unexpected shape: say what jsonschema says
    if text is not None:
        return text
    shown = repr(err.instance)
    if err.message.startswith(shown):
        return _json(err.instance) + err.message[len(shown) :]
    if err.message.startswith("False schema does not allow "):
        return f"no value is allowed here, and {_json(err.instance)} is given"
    return str(err.message)
