"""`matches_schema`: validation of a value against a JSON Schema shipped in the bundle."""

from __future__ import annotations

from typing import Any

from tenet.runtime.builtins import register
from tenet.runtime.builtins.types import builtin_error, want_string
from tenet.runtime.values import charge_elements, nodes, to_json


@register(
    "matches_schema",
    "schema",
    2,
    "True when the value is valid against the bundle's JSON Schema `schemas/NAME.schema.json`, "
    "using the schema's `$schema` draft (2020-12 by default); an unknown name is an error.",
    'matches_schema({"model_id": "churn", "version": "2.3.1"}, "registration") == true',
    pure=False,
    needs_ctx=True,
)
def matches_schema(ctx: Any, value: Any, name: Any) -> bool:
    schema_name = want_string("matches_schema", name, "a schema name string")
    validator = ctx.schemas.get(schema_name)
    if validator is None:
        raise builtin_error("matches_schema", f"no schema named `{schema_name}` in the bundle")
    charge_elements(nodes(value))  # converted, then validated, value by value
    try:
        return bool(validator.is_valid(to_json(value)))
    except Exception as e:  # an unresolvable `$ref` and the like: fail closed, with the reason
        reason = (str(e).splitlines() or [type(e).__name__])[0][:200]
        raise builtin_error(
            "matches_schema", f"schema `{schema_name}` could not be applied: {reason}"
        ) from e
