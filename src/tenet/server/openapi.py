"""The sidecar's OpenAPI 3.1 description, served at `/openapi.json`; the decision document's
schema is the one shipped in the package, so the two cannot drift apart."""

from __future__ import annotations

import copy
from typing import Any

import tenet
from tenet.decision import decision_schema
from tenet.runtime.evaluate import EARLIEST, LATEST

__all__ = ["openapi"]

_JSON = "application/json"

# `now` as `tenet.runtime.clock` reads it: RFC 3339 with `T` or `t`, seconds up to 59, any
# number of fraction digits, `Z`, `z` or an offset up to 23:59; the years 0001 to 9999 in UTC.
# The format (date-time) keeps the day within its month; the lookaheads keep the first and last
# day's offsets from leaving that range (a little stricter than the server, which takes the
# offsets that stay within it). It ends with `(?![\s\S])`, not `$`, which in Python matches
# before a final newline too.
RFC3339 = (
    "^(?!0000)(?!0001-01-01[Tt][^+]*[+](?!00:00))(?!9999-12-31[Tt][^-]*-(?!00:00))"
    "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    "([.][0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])(?![\\s\\S])"
)


def _rewrite_refs(node: Any) -> Any:
    """The decision schema with `#/$defs/x` pointed at `#/components/schemas/Decision_x`."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                out[k] = "#/components/schemas/Decision_" + v[len("#/$defs/") :]
            else:
                out[k] = _rewrite_refs(v)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(x) for x in node]
    return node


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref("Error")}}}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _with_head(item: dict[str, Any]) -> dict[str, Any]:
    """A GET path item that also declares HEAD: the same statuses and headers, no body."""
    get = item["get"]
    responses = {
        status: {key: value for key, value in response.items() if key != "content"}
        for status, response in get["responses"].items()
    }
    head = {**get, "summary": f"{get['summary']} (headers only)", "responses": responses}
    return {**item, "head": head}


def _schemas(max_batch: int) -> dict[str, Any]:
    decision = copy.deepcopy(decision_schema())
    defs = decision.pop("$defs", {})
    for key in ("$schema", "$id"):
        decision.pop(key, None)
    schemas: dict[str, Any] = {
        f"Decision_{name}": _rewrite_refs(schema) for name, schema in defs.items()
    }
    now = {
        "description": "The decision's clock: RFC 3339 text or epoch seconds, within the years "
        "0001 to 9999 in UTC (default, when left out: the server's clock when the request is "
        "decided). Not `null`.",
        "oneOf": [
            {"type": "string", "format": "date-time", "pattern": RFC3339},
            {"type": "number", "minimum": EARLIEST, "maximum": LATEST},
        ],
        "examples": ["2026-11-27T10:15:00Z"],
    }
    explain = {
        "description": "How much evidence the decision carries: `full` adds the evidence of "
        "passed checks and every condition of a rule definition that did not hold (default, "
        "when left out: `summary`). Not `null`.",
        "enum": ["summary", "full"],
        "default": "summary",
    }
    input = {
        "description": "The document being decided: any JSON value but `null` (left out: the "
        "empty object `{}`).",
        "not": {"type": "null"},
    }
    schemas.update(
        {
            "Decision": _rewrite_refs(decision),
            "ErrorBody": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": _ref("ErrorBody")},
            },
            "DecisionRequest": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"input": input, "now": now, "explain": explain},
                "examples": [{"input": {"subject": {"role": "ml_engineer"}, "action": "read"}}],
            },
            "DataRequest": {
                "type": "object",
                "description": "As Open Policy Agent's data API takes it; other fields are "
                "ignored.",
                "properties": {
                    "input": {**input, "description": "The input (left out: no input)."},
                    "now": now,
                },
            },
            "DataResponse": {
                "type": "object",
                "required": ["decision_id"],
                "properties": {
                    "decision_id": {"type": "string"},
                    "result": {
                        "description": "The rule's value, or for a package an object of its "
                        "rules' values with sub-packages nested. Absent when undefined."
                    },
                    "errors": {
                        "type": "array",
                        "description": "Input or evaluation errors: the result is then absent.",
                        "items": _ref("Decision_error"),
                    },
                },
            },
            "BatchRequest": {
                "type": "object",
                "required": ["requests"],
                "additionalProperties": False,
                "properties": {
                    "requests": {
                        "type": "array",
                        "maxItems": max_batch,
                        # an item that is no BatchItem is still answered 200, with an error
                        # entry in its place: only the body's shape is refused
                        "items": {
                            "anyOf": [
                                _ref("BatchItem"),
                                {
                                    "description": "Any other value: answered with an error "
                                    "entry in its place (the status it would have had alone), "
                                    "the other requests still decided."
                                },
                            ]
                        },
                    }
                },
            },
            "BatchItem": {
                "type": "object",
                "description": "One request of a batch: a decision request with its query.",
                "required": ["query"],
                "additionalProperties": False,
                "properties": {
                    "query": {"type": "string", "examples": ["access.allow"]},
                    "input": input,
                    "now": now,
                    "explain": explain,
                },
            },
            "BatchResponse": {
                "type": "object",
                "required": ["decisions"],
                "properties": {
                    "decisions": {
                        "type": "array",
                        "description": "One entry per request, in order: a decision, or an "
                        "error with the status the request would have had alone.",
                        "items": {
                            "oneOf": [
                                _ref("Decision"),
                                {
                                    "type": "object",
                                    "required": ["error", "status"],
                                    "properties": {
                                        "error": _ref("ErrorBody"),
                                        "status": {"type": "integer"},
                                    },
                                },
                            ]
                        },
                    }
                },
            },
            "BundleStatus": {
                "type": "object",
                "required": [
                    "name",
                    "version",
                    "revision",
                    "digest",
                    "loaded_at",
                    "source",
                    "last_reload_error",
                ],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "revision": {"type": ["string", "null"]},
                    "digest": {"type": "string"},
                    "loaded_at": {"type": "string", "format": "date-time"},
                    "source": {"type": "string"},
                    "last_reload_error": {"type": ["string", "null"]},
                    "last_reload_error_at": {"type": ["string", "null"]},
                    "reloads": {"type": "integer"},
                    "reload_failures": {"type": "integer"},
                },
            },
            "Health": {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"enum": ["ok", "degraded"]},
                    "bundle": {"type": "object"},
                    "last_reload_error": {"type": ["string", "null"]},
                },
            },
        }
    )
    return schemas


def openapi(auth: bool, max_body: int, max_batch: int) -> dict[str, Any]:
    """The description: with `auth`, every operation but `/health` needs a bearer token."""
    e400 = _error_response(
        "Malformed JSON, a body of the wrong shape, a bad or `null` `input`, `now` or "
        "`explain`, an input nested too deeply or holding too many values, or with "
        "`Content-Encoding: gzip` a body that is not gzip."
    )
    e401 = _error_response(
        "A missing or wrong bearer token, or another scheme than `Bearer` (when the server has "
        "a token file)."
    )
    e404 = _error_response("The query names no package or rule of the bundle.")
    e405 = _error_response("Another method than this path takes; `Allow` names it.")
    e405["headers"] = {"Allow": {"schema": {"type": "string"}, "required": True}}
    e413 = _error_response(
        f"The body, as sent or gzip-decompressed, is larger than the limit ({max_body} bytes "
        "by this server)."
    )
    e415 = _error_response("A `Content-Encoding` other than `gzip` (or `identity`).")
    e503 = _error_response(
        "Nothing is returned: `shutting_down` when the server's shutdown timeout ran out "
        "before the request was answered; `audit_unavailable` when, failing closed, its "
        "decisions could not be recorded in the decision log."
    )
    logged = {
        "Tenet-Decision-Logged": {
            "description": "With a decision log: whether the answer's decisions were recorded.",
            "schema": {"enum": ["true", "false"]},
        }
    }
    common = {"400": e400, "405": e405, "413": e413, "415": e415, "503": e503}
    if auth:
        common["401"] = e401

    def post(
        summary: str,
        request: str,
        ok: dict[str, Any],
        errors: dict[str, Any] | None = None,
        required: bool = False,
    ) -> dict[str, Any]:
        body = {"required": required, "content": {_JSON: {"schema": _ref(request)}}}
        if not required:
            body["description"] = "Optional: an empty body is the same as `{}`."
        responses = {"200": {**ok, "headers": logged}, **common, **(errors or {})}
        responses["503"] = {**e503, "headers": logged}
        return {"post": {"summary": summary, "requestBody": body, "responses": responses}}

    def get(summary: str, ok: dict[str, Any], extra: dict[str, Any] | None = None) -> Any:
        responses = {"200": ok, "405": e405, **(extra or {})}
        if auth:
            responses["401"] = e401
        return _with_head({"get": {"summary": summary, "responses": responses}})

    query_param = {
        "name": "query",
        "in": "path",
        "required": True,
        "description": "A package (`deploy.staging`, `deploy`) or rule (`access.allow`).",
        "schema": {"type": "string", "examples": ["access.allow"]},
    }
    path_param = {
        "name": "path",
        "in": "path",
        "required": True,
        "description": "A package or rule, `/`-separated as in OPA (`access/allow`).",
        "schema": {"type": "string", "examples": ["access/allow"]},
    }
    decisions = post(
        "Decide a query: the decision document",
        "DecisionRequest",
        _json_response("The decision document.", _ref("Decision")),
        {"404": e404},
    )
    decisions["post"]["parameters"] = [query_param]
    data = post(
        "A rule's value or a package's document, shaped as OPA's data API",
        "DataRequest",
        _json_response("The value; `result` is absent when undefined.", _ref("DataResponse")),
        {"404": e404},
    )
    data_root = copy.deepcopy(data)
    data_root["post"]["summary"] = "Every package's document"
    data["post"]["parameters"] = [path_param]
    paths: dict[str, Any] = {
        "/v1/decisions/{query}": decisions,
        "/v1/data/{path}": data,
        "/v1/data": data_root,
        "/v1/batch": post(
            "Many decisions in one request, in order, on one version of the bundle",
            "BatchRequest",
            _json_response(
                "One entry per request, in order: a request that cannot be decided (a bad "
                "field, an unknown query) is an error entry in its place.",
                _ref("BatchResponse"),
            ),
            required=True,
        ),
        "/v1/bundle": get(
            "The bundle deciding now, and the last reload error",
            _json_response("The active bundle.", _ref("BundleStatus")),
        ),
        "/health": _with_head(
            {
                "get": {
                    "summary": "Liveness: `degraded` while the last reload failed",
                    "security": [],
                    "responses": {
                        "200": _json_response("The server is up.", _ref("Health")),
                        "405": e405,
                    },
                }
            }
        ),
        "/ready": get(
            "Readiness: a bundle is loaded and the server is not shutting down",
            _json_response("Ready.", {"type": "object"}),
            {"503": _json_response("Shutting down.", {"type": "object"})},
        ),
        "/metrics": get(
            "Prometheus metrics",
            {
                "description": "Text exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
        ),
        "/openapi.json": get(
            "This description", _json_response("OpenAPI 3.1.", {"type": "object"})
        ),
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Tenet decision sidecar",
            "version": tenet.__version__,
            "description": "Decisions over HTTP from a Tenet bundle. See docs/sidecar.md.",
        },
        "paths": paths,
        "components": {"schemas": _schemas(max_batch)},
    }
    if auth:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
