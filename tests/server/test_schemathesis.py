"""Schemathesis against the running sidecar's `/openapi.json`: requests generated from the
description, a bounded number per operation, never answered with a 5xx, and every answer
shaped as the description says."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from tenet.runtime.evaluate import resolve_now
from tenet.server.openapi import openapi
from tests.server.helpers import Server, make_bundle

EXAMPLES = 25  # per operation and mode: 14 in all, a few seconds

_OPERATIONS = [
    (method.upper(), path)
    for path, item in openapi(False, 4 << 20, 1000)["paths"].items()
    for method in item
]
# negative cases need something to break: a body or a path parameter (the POSTs)
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in _OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in _OPERATIONS if m == "POST"
]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = make_bundle(tmp_path_factory.mktemp("st") / "gates")
    # a body limit well above the largest batch (1000 items), so that a batch one item too
    # long is refused for its length (400), as the description says, not for its size (413)
    s = Server(["--bundle", str(root), "--max-body", str(4 << 20)], root.parent / "server.log")
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
        derandomize=True,  # the same cases on every run: a failure is one to reproduce
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
                # what the description allows is accepted, what it does not is refused
                positive_data_acceptance,
                negative_data_rejection,
            ],
        )

    check()
    assert calls[0] > 0


def test_the_command_line_run_with_every_check_passes(sidecar: Server, tmp_path: Path) -> None:
    """`st run --checks all`, as a user would run it: its coverage phase adds the boundary
    values of each schema (the first and last `now`, say) and the methods a path does not
    take, which the generated cases above do not."""
    command = "from schemathesis.cli import schemathesis; schemathesis()"
    result = subprocess.run(
        [sys.executable, "-c", command, "run", f"http://127.0.0.1:{sidecar.port}/openapi.json",
         "--checks", "all", "--max-examples", "10", "--seed", "1", "--workers", "1",
         "--generation-database", "none", "--no-color"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.mark.parametrize(
    "now",
    [
        "2026-11-27T10:15:00Z", "2026-11-27t10:15:00.123456789+02:00", "2026-11-27T10:15:00z",
        "0001-01-01T00:00:00Z", "0001-01-01T00:00:00-01:00", "9999-12-31T23:59:59+01:00",
        "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
        "2026-11-27T24:00:00Z", "2016-12-31T23:59:60Z", "2026-11-27T10:15:00Z\n",
        "2026-11-27 10:15:00Z", "2026-11-27T10:15:00+0200", "2026-11-27T10:15:00",
        "2026-13-01T00:00:00Z", "2026-11-27T10:15:00+24:00",
        -62135596800, 253402300799, -62135596801, 253402300800, 1.5, 0,
    ],
)  # fmt: skip
def test_the_declared_now_is_what_the_server_takes(now: Any) -> None:
    """The description's `now` (its pattern and range; its format keeps days within their
    months) holds exactly the values `Bundle.decide` takes."""
    schemas = openapi(False, 65536, 1000)["components"]["schemas"]
    declared = Draft202012Validator(schemas["DecisionRequest"]["properties"]["now"])
    try:
        resolve_now(now)
    except ValueError:
        taken = False
    else:
        taken = True
    assert declared.is_valid(now) == taken


def test_the_served_description_is_the_one_built(sidecar: Server) -> None:
    assert sidecar.get("/openapi.json")[2] == openapi(False, 4 << 20, 1000)
