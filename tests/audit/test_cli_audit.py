"""`tenet audit verify | prune | query` on a log written through the Python API."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import tenet
from tenet.audit import AuditLog
from tenet.cli import main
from tests.audit.test_audit_core import DATA, DEPLOY, INPUT, MANIFEST, POLICY
from tests.conftest import write_bundle


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def make_log(tmp_path: Path) -> tuple[str, list[dict[str, Any]]]:
    root = write_bundle(
        tmp_path / "b",
        {"tenet.yaml": MANIFEST, "access.tenet": POLICY, "deploy.tenet": DEPLOY},
        DATA,
    )
    bundle = tenet.load_bundle(root)
    url = f"sqlite:///{tmp_path}/audit.db"
    log = AuditLog.open(url)
    written = []
    for i in range(3):
        inp = INPUT(i)
        if i == 1:
            inp["owner"] = inp["subject"]["id"]  # this one passes
        written.append(log.record(bundle, bundle.decide("deploy", inp), inp, actor=f"ci{i}"))
        written.append(log.record(bundle, bundle.decide("access.allow", inp), inp, actor="svc"))
    return url, written


def test_verify_passes_then_finds_tampering(tmp_path: Path) -> None:
    url, written = make_log(tmp_path)
    result = run("audit", "verify", "--log", url)
    assert result.exit_code == 0
    assert "verified: 6 records in 2 chains (access, deployments)" in result.output
    conn = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    conn.execute("DELETE FROM records WHERE id = ?", (written[2]["id"],))
    result = run("audit", "verify", "--log", url)
    assert result.exit_code == 1
    assert f"record {written[2]['id']} deleted" in result.output


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
@pytest.mark.parametrize("command", [["verify"], ["query"], ["prune"], ["report", "-o", "r.html"]])
def test_a_log_that_does_not_exist_is_an_error_not_an_empty_log(
    tmp_path: Path, scheme: str, command: list[str]
) -> None:
    missing = tmp_path / f"typo.{scheme}"
    result = run("audit", command[0], "--log", f"{scheme}:///{missing}", *command[1:])
    assert result.exit_code == 2
    assert f"no decision log at `{scheme}:///{missing}`" in result.output
    assert not missing.exists()  # nothing was created


def test_an_empty_log_verifies_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").touch()
    result = run("audit", "verify", "--log", f"jsonl:///{tmp_path}/empty.jsonl")
    assert result.exit_code == 0 and "the log holds no records yet" in result.output


def test_query_filters(tmp_path: Path) -> None:
    url, written = make_log(tmp_path)
    result = run("audit", "query", "--log", url, "--query", "deploy", "--outcome", "deny")
    assert result.exit_code == 0
    assert result.output.strip().endswith("2 records")
    assert "deploy.owner" in result.output
    result = run(
        "audit",
        "query",
        "--log",
        url,
        "--check",
        "deploy.owner",
        "--since",
        "1d",
        "--where",
        "input.model.model_id=churn",
        "--format",
        "json",
    )
    found = json.loads(result.output)
    assert {r["id"] for r in found} == {written[0]["id"], written[4]["id"]}
    result = run("audit", "query", "--log", url, "--where", "input.model.model_id=fraud")
    assert result.output.strip().endswith("0 records")


def test_bad_arguments_exit_2_without_a_traceback(tmp_path: Path) -> None:
    assert run("audit", "verify", "--log", "ftp://x").exit_code == 2
    assert run("audit", "verify", "--log", "stdout:").exit_code == 2
    url, _ = make_log(tmp_path)
    result = run("audit", "query", "--log", url, "--where", "model=churn")
    assert result.exit_code == 2
    assert "input.path=value" in result.output


def test_prune_reports_what_it_removed(tmp_path: Path) -> None:
    url, _ = make_log(tmp_path)
    result = run("audit", "prune", "--log", url, "--now", "2040-01-01T00:00:00Z", "--actor", "ops")
    assert result.exit_code == 0, result.output
    assert "access: removed 3 expired records" in result.output
    assert "deployments: removed 3 expired records" in result.output
    assert run("audit", "verify", "--log", url).exit_code == 0


def test_a_window_that_is_neither_a_duration_nor_a_time_says_both(tmp_path: Path) -> None:
    url, _ = make_log(tmp_path)
    result = run("audit", "query", "--log", url, "--since", "7x")
    assert result.exit_code == 2
    assert "`7x` is neither a window back from now such as `7d`" in result.output


def test_a_check_violated_several_times_is_listed_once_with_its_count() -> None:
    from tenet.cli_audit import _violations

    checks = [
        {"id": "data.pii_feature", "status": "violated"},
        {"id": "data.size", "status": "passed"},
        {"id": "data.pii_feature", "status": "violated"},
        {"id": "data.owner", "status": "error"},
    ]
    assert _violations({"decision": {"checks": checks}}) == "data.pii_feature ×2, data.owner"
    assert _violations({"decision": {"checks": []}}) == "-"
