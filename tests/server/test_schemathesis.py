"""Schemathesis against the running sidecar's `/openapi.json`: requests generated from the
description, a bounded number per operation, never answered with a 5xx, and every answer
shaped as the description says."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tenet.server.openapi import openapi
from tests.server.helpers import Server, make_bundle

EXAMPLES = 25  # per operation and mode: 14 in all, a few seconds

_OPERATIONS = [
    (method.upper(), path)
    for path, item in openapi(False, 65536, 1000)["paths"].items()
    for method in item
]
# negative cases need something to break: a body or a path parameter (the POSTs)
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in _OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in _OPERATIONS if m == "POST"
]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = make_bundle(tmp_path_factory.mktemp("st") / "gates")
    s = Server(["--bundle", str(root), "--max-body", "65536"], root.parent / "server.log")
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def api(sidecar: Server) -> Any:
    """The description as the server serves it, loaded by schemathesis."""
    return schemathesis.openapi.from_url(f"http://127.0.0.1:{sidecar.port}/openapi.json")


# The operations are named here rather than through schemathesis' pytest plugin, whose lazy
# loading does not run under this pytest; the description itself is the live server's.
@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_request_gets_a_server_error(
    api: Any, sidecar: Server, method: str, path: str, mode: GenerationMode
) -> None:
    """Positive cases fit the description; negative ones break it (bad bodies, wrong types)."""
    operation = api[path][method]
    base_url = f"http://127.0.0.1:{sidecar.port}"
    calls = [0]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any) -> None:
        calls[0] += 1
        response = case.call(base_url=base_url, timeout=30)
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )

    check()
    assert calls[0] > 0


def test_the_served_description_is_the_one_built(sidecar: Server) -> None:
    assert sidecar.get("/openapi.json")[2] == openapi(False, 65536, 1000)
