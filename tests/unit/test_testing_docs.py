"""docs/authoring.md is runnable: its files are written and its commands run, in order, from an
empty folder, and each command's output and exit code are what the page shows.

A fenced block after `<!-- file: PATH -->` is written to PATH; a `console` block after
`<!-- run -->` holds `$ tenet ...` commands, each followed by its exact output (standard
output and error as a terminal shows them), and `$ echo $?` followed by the exit code of
the command before it (otherwise it must be 0).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from tenet.cli import main
from tests.conftest import REPO

DOC = REPO / "docs" / "authoring.md"
_BLOCK = re.compile(r"<!-- (file: (?P<path>\S+)|run) -->\n```[a-z]*\n(?P<body>.*?)```", re.S)


def _steps() -> list[tuple[str, str, str]]:
    """(kind, path, text) in the order of the page: kind is "file" or "run"."""
    text = DOC.read_text("utf-8")
    return [
        ("file" if m.group("path") else "run", m.group("path") or "", m.group("body"))
        for m in _BLOCK.finditer(text)
    ]


def _commands(block: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for line in block.splitlines(keepends=True):
        if line.startswith("$ "):
            out.append((line[2:].strip(), ""))
        else:
            assert out, f"output before any command: {line!r}"
            out[-1] = (out[-1][0], out[-1][1] + line)
    return out


def test_the_page_has_files_and_commands() -> None:
    kinds = [k for k, _, _ in _steps()]
    assert kinds.count("file") >= 6 and kinds.count("run") >= 6


def test_the_walkthrough_runs_as_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    last_exit = 0
    checked_exit = True
    for kind, path, text in _steps():
        if kind == "file":
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            continue
        for command, expected in _commands(text):
            if command == "echo $?":
                assert expected == f"{last_exit}\n", f"exit code of the command before: {last_exit}"
                checked_exit = True
                continue
            assert checked_exit, f"exit code {last_exit} of a command is not shown"
            args = shlex.split(command)
            assert args[0] == "tenet", command
            result = CliRunner().invoke(main, args[1:], catch_exceptions=False)
            assert result.output == expected, (
                f"$ {command}\n--- the page shows\n{expected}--- it prints\n{result.output}"
            )
            last_exit = result.exit_code
            checked_exit = last_exit == 0
    assert checked_exit
