"""Helpers for tests of bundles that change while they are read: releases that say which they
are, links swapped as a deployment swaps them, and a change made at a known moment."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_bundle


def release(root: Path, gen: int) -> Path:
    """A release whose policy and data say which release they are: a bundle mixed from two
    answers `pol_gen` without `consistent` (or with the other release's `pol_gen`)."""
    policy = f"package zz\n\npol_gen = {gen}\n\nconsistent if {{\n    data.gen == pol_gen\n}}\n"
    files = {"zz/gate.tenet": policy, "pad/a.txt": "a", "pad/b.txt": "b", "pad/c.txt": "c"}
    return write_bundle(root, files, {"gen": gen})


def point(link: Path, target: Path) -> None:
    """Point `link` at `target` at once, as a deployment swaps a link."""
    new = link.with_name(link.name + ".new")
    os.symlink(target, new)
    os.replace(new, link)


def after_calls(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, actions: list[Callable[[], Any]]
) -> None:
    """Run the next of `actions` after each call of `owner.name` (its result kept), until
    they run out: a change in the middle of a load, at a known moment."""
    real = getattr(owner, name)

    def wrapped(*args: Any) -> Any:
        result = real(*args)
        if actions:
            actions.pop(0)()
        return result

    monkeypatch.setattr(owner, name, wrapped)
