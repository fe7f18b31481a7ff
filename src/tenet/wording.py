"""Words in messages: counts (`count(1, "record")` is "1 record", `count(3, "record")` "3
records"), and long text quoted shortened."""

from __future__ import annotations

__all__ = ["CUT", "count", "shortened"]


def count(n: int, noun: str) -> str:
    """`n` and the noun, plural unless `n` is 1 (every noun counted here takes an `s`)."""
    return f"{n} {noun}{'s' * (n != 1)}"


CUT = "..."  # what ends a text `shortened` cut; the audit log's redaction looks for it


def shortened(text: str, width: int = 60) -> str:
    """`text` as a message quotes it: whole up to `width` characters, else its start and
    `...`, so that one long value does not swamp the line."""
    return text if len(text) <= width else text[: width - len(CUT)] + CUT
