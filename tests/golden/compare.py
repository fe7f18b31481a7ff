"""Golden-file comparison: the output must equal the file beside the test, byte for byte;
`TENET_UPDATE_GOLDEN=1` writes the files instead."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
UPDATE = os.environ.get("TENET_UPDATE_GOLDEN") == "1"


def compare(expected_file: Path, actual: str) -> None:
    if UPDATE:
        expected_file.parent.mkdir(parents=True, exist_ok=True)
        expected_file.write_text(actual, encoding="utf-8")
        return
    assert expected_file.is_file(), (
        f"{expected_file} is missing; run with TENET_UPDATE_GOLDEN=1 to create it"
    )
    expected = expected_file.read_text(encoding="utf-8")
    assert actual == expected, (
        f"output differs from {expected_file.relative_to(HERE)}\n"
        f"--- expected\n{expected}\n--- actual\n{actual}"
    )
