"""Shared test helpers: where the shared spec lives, writing bundles, validating decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tenet.decision import decision_schema

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"

_validator = jsonschema.Draft202012Validator(decision_schema())


def assert_valid_decision(doc: dict[str, Any]) -> None:
    errors = sorted(_validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def write_bundle(root: Path, files: dict[str, str], data: Any = None) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    if data is not None:
        import json

        (root / "data.json").write_text(json.dumps(data), encoding="utf-8")
    return root


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return tmp_path / "bundle"
