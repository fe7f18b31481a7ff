"""Starting the sidecar from another program: the address it announces once bound."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tenet.server.runner import announced_port


def _printing(text: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", f"import sys, time; print({text!r}, flush=True); time.sleep(5)"],
        stdout=subprocess.PIPE,
    )


@pytest.mark.parametrize(
    "line, port",
    [
        (
            "tenet serve: listening on http://127.0.0.1:4321 (bundle b 1.0.0, sha256:00, pid 7)",
            4321,
        ),
        ("tenet serve: listening on http://[::1]:8181 (bundle b 1.0.0, sha256:00, pid 7)", 8181),
    ],
)
def test_the_port_is_read_from_the_announcement(line: str, port: int) -> None:
    proc = _printing(line)
    try:
        assert announced_port(proc, 10) == port
    finally:
        proc.kill()
        proc.wait()


def test_a_line_without_an_address_is_an_error() -> None:
    proc = _printing("something else")
    try:
        with pytest.raises(RuntimeError, match="announced no address"):
            announced_port(proc, 10)
    finally:
        proc.kill()
        proc.wait()


def test_a_server_that_exits_first_did_not_start() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], stdout=subprocess.PIPE)
    with pytest.raises(RuntimeError, match="did not start"):
        announced_port(proc, 10)
    proc.wait()
