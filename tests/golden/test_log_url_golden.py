"""Golden-output test of what the commands say to a decision log URL naming standard output:
the commands that read a log refuse `stdout` and `stdout:` alike, since a log written there
cannot be read back; `--decision-log`, where `stdout:` is accepted, answers `stdout` with it.

Expected output: log_urls/stdout.txt, each command with its exit code and standard error.
Regenerate after an intended change of output:

    TENET_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden/test_log_url_golden.py

then read the changed file before committing it.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tenet.cli import main
from tests.conftest import REPO
from tests.golden.compare import HERE, compare

BUNDLE = "policies/ai-governance"
READERS = [
    ("audit", "verify"),
    ("audit", "prune"),
    ("audit", "query"),
    ("audit", "access-review", "--bundle", BUNDLE),
    ("audit", "report", "-o", "-"),
    ("compliance", "report", "--bundle", BUNDLE, "--framework", "eu-ai-act", "-o", "-"),
]
EVAL = ("eval", "deploy.staging", "--bundle", BUNDLE, "--input")
INPUT = "examples/ai-governance/deploy/staging-fail.yaml"


def test_stdout_log_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # commands as a user types them; the hint's path is from here
    runs = [(*args, "--log", url) for args in READERS for url in ("stdout", "stdout:")]
    runs.append(("audit", "verify", "--log", "STDOUT:"))  # a scheme is in any case
    runs.append((*EVAL, INPUT, "--decision-log", "stdout"))
    out = []
    for args in runs:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert "Traceback" not in result.output and result.stdout == ""
        out.append(f"$ tenet {' '.join(args)}\nexit {result.exit_code}\n{result.stderr}")
    compare(HERE / "log_urls" / "stdout.txt", "\n".join(out).replace(str(REPO), "<repo>"))
