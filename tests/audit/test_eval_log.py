"""`tenet eval --decision-log`: every decision recorded with its actor; fail closed on demand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tenet.audit import StoreError, open_store, verify
from tenet.audit.log import AuditLog
from tenet.cli import main
from tests.conftest import REPO

STARTER = REPO / "policies" / "starter"
EXAMPLES = REPO / "examples" / "starter"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_every_input_is_recorded_with_its_actor(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    code, _ = run(
        "eval", "deploy.staging", "--bundle", str(STARTER),
        "--input", str(EXAMPLES / "staging-pass.yaml"),
        "--input", str(EXAMPLES / "staging-fail.yaml"),
        "--decision-log", url, "--actor", "release-bot", "--format", "json",
    )  # fmt: skip
    assert code == 1
    records = list(open_store(url).records())
    assert [(r["outcome"], r["actor"], r["query"]) for r in records] == [
        ("allow", "release-bot", "deploy.staging"),
        ("deny", "release-bot", "deploy.staging"),
    ]
    assert verify(open_store(url)) == []


@pytest.mark.parametrize("fmt", ["json", "junit", "sarif", "github"])
def test_stdout_records_never_mix_with_a_machine_readable_report(fmt: str) -> None:
    code, out = run(
        "eval", "deploy.staging", "--bundle", str(STARTER),
        "--input", str(EXAMPLES / "staging-pass.yaml"),
        "--decision-log", "stdout:", "--format", fmt,
    )  # fmt: skip
    assert code == 2
    assert f"would mix its records with the {fmt} report" in out and "= help:" in out


def test_stdout_records_come_before_a_text_report() -> None:
    code, out = run(
        "eval", "deploy.staging", "--bundle", str(STARTER),
        "--input", str(EXAMPLES / "staging-pass.yaml"),
        "--decision-log", "stdout:", "--actor", "ci",
    )  # fmt: skip
    assert code == 0
    first, rest = out.split("\n", 1)
    assert json.loads(first)["actor"] == "ci" and "deploy.staging" in rest


def test_an_unopenable_log_stops_before_deciding(tmp_path: Path) -> None:
    code, out = run(
        "eval", "deploy.staging", "--bundle", str(STARTER),
        "--input", str(EXAMPLES / "staging-pass.yaml"),
        "--decision-log", f"sqlite:///{tmp_path}/missing/audit.db",
    )  # fmt: skip
    assert code == 2
    assert "cannot open the decision log" in out


@pytest.mark.parametrize(("flag", "expected"), [((), 0), (("--audit-fail-closed",), 1)])
def test_an_unrecorded_decision_fails_closed_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: tuple[str, ...], expected: int
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise StoreError("the disk is full")

    monkeypatch.setattr(AuditLog, "record", refuse)
    code, out = run(
        "eval", "deploy.staging", "--bundle", str(STARTER),
        "--input", str(EXAMPLES / "staging-pass.yaml"),
        "--decision-log", f"sqlite:///{tmp_path}/audit.db", *flag,
    )  # fmt: skip
    assert code == expected
    assert "was not recorded: the disk is full" in out
    said = "NOT RECORDED: 1 decision not recorded, counted as denied (--audit-fail-closed)"
    assert (said in out) == bool(flag)
