"""The sidecar's OpenAPI 3.1 description, served at `/openapi.json`; the decision document's
schema is the one shipped in the package, so the two cannot drift apart."""

from __future__ import annotations

import copy
from typing import Any

import tenet
from tenet.decision import decision_schema

__all__ = ["openapi"]

_JSON = "application/json"


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


def _schemas(max_batch: int) -> dict[str, Any]:
    decision = copy.deepcopy(decision_schema())
    defs = decision.pop("$defs", {})
    for key in ("$schema", "$id"):
        decision.pop(key, None)
    schemas: dict[str, Any] = {
        f"Decision_{name}": _rewrite_refs(schema) for name, schema in defs.items()
    }
    now = {
        "description": "The decision's clock: RFC 3339 text or epoch seconds (default: the "
        "server's clock when the request is decided).",
        "oneOf": [{"type": "string"}, {"type": "number"}],
        "examples": ["2026-11-27T10:15:00Z"],
    }
    explain = {
        "description": "How much evidence the decision carries: `full` adds the evidence of "
        "passed checks and every condition of a rule definition that did not hold.",
        "enum": ["summary", "full"],
        "default": "summary",
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
                "properties": {
                    "input": {"description": "The document being decided (default `{}`)."},
                    "now": now,
                    "explain": explain,
                },
                "examples": [{"input": {"subject": {"role": "ml_engineer"}, "action": "read"}}],
            },
            "DataRequest": {
                "type": "object",
                "description": "As Open Policy Agent's data API takes it; other fields are "
                "ignored.",
                "properties": {"input": {}, "now": now},
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
                        "items": {
                            "type": "object",
                            "required": ["query"],
                            "additionalProperties": False,
                            "properties": {
                                "query": {"type": "string", "examples": ["access.allow"]},
                                "input": {},
                                "now": now,
                                "explain": explain,
                            },
                        },
                    }
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
        "Malformed JSON, a body of the wrong shape, a bad `now` or `explain`, or an input "
        "nested too deeply or holding too many values."
    )
    e401 = _error_response("A missing or wrong bearer token (when the server has a token file).")
    e404 = _error_response("The query names no package or rule of the bundle.")
    e413 = _error_response(f"The body is larger than the limit ({max_body} bytes by this server).")
    common = {"400": e400, "413": e413}
    if auth:
        common["401"] = e401

    def post(summary: str, request: str, ok: dict[str, Any], **errors: Any) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "requestBody": {"required": False, "content": {_JSON: {"schema": _ref(request)}}},
                "responses": {"200": ok, **common, **errors},
            }
        }

    def get(summary: str, ok: dict[str, Any], extra: dict[str, Any] | None = None) -> Any:
        responses = {"200": ok, **(extra or {})}
        if auth:
            responses["401"] = e401
        return {"get": {"summary": summary, "responses": responses}}

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
        **{"404": e404},
    )
    decisions["post"]["parameters"] = [query_param]
    data = post(
        "A rule's value or a package's document, shaped as OPA's data API",
        "DataRequest",
        _json_response("The value; `result` is absent when undefined.", _ref("DataResponse")),
        **{"404": e404},
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
            _json_response("One entry per request, in order.", _ref("BatchResponse")),
        ),
        "/v1/bundle": get(
            "The bundle deciding now, and the last reload error",
            _json_response("The active bundle.", _ref("BundleStatus")),
        ),
        "/health": {
            "get": {
                "summary": "Liveness: `degraded` while the last reload failed",
                "security": [],
                "responses": {"200": _json_response("The server is up.", _ref("Health"))},
            }
        },
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
