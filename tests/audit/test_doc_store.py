"""The custom store sketched in docs/audit.md runs as written and its log verifies."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import REPO


def test_the_documented_memory_store_works(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (REPO / "docs" / "audit.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    (code,) = [b for b in blocks if "class MemoryStore" in b]
    monkeypatch.chdir(REPO)  # the sketch loads `policies/starter`
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/audit.md", "exec"), scope)  # it asserts that its log verifies
    (record,) = scope["store"].records()
    assert record["actor"] == "release-bot" and record["seq"] == 1
