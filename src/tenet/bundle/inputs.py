"""Input schemas: which schema a query's input must match, and its failures as decision errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tenet.runtime.evaluate import ErrorEntry, Limits
from tenet.yamlutil import DocumentError, check_document, pointer

__all__ = ["input_errors", "schema_for"]

InputSchema = tuple[str, Any]  # the schema's path in the bundle, its validator


def schema_for(query: str, schemas: Mapping[str, InputSchema]) -> InputSchema | None:
    """The schema mapped to the query itself or else to its nearest enclosing package."""
    parts = query.split(".")
    for n in range(len(parts), 0, -1):
        found = schemas.get(".".join(parts[:n]))
        if found is not None:
            return found
    return None


def input_errors(schema: InputSchema, doc: Any, limits: Limits) -> list[ErrorEntry]:
    """Every way the input fails its schema, ordered by input path; [] when it validates.

    An input beyond the limits is left to evaluation, which reports it before reading it."""
    try:
        check_document(doc, limits.max_input_depth, limits.max_input_values)
    except DocumentError:
        return []
    path, validator = schema
    try:
        found = list(validator.iter_errors(doc))
    except Exception as err:  # a validator bug must not let the input through
        return [ErrorEntry("input_schema", f"the input could not be validated: {err}", path)]
    found.sort(key=lambda e: (_order(e.absolute_path), _order(e.absolute_schema_path)))
    return [_entry(path, e) for e in found]


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
        return f"{at}: {err.message}"
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
