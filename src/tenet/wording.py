"""Counts in messages: `count(1, "record")` is "1 record", `count(3, "record")` "3 records"."""

from __future__ import annotations

__all__ = ["count"]


def count(n: int, noun: str) -> str:
    """`n` and the noun, plural unless `n` is 1 (every noun counted here takes an `s`)."""
    return f"{n} {noun}{'s' * (n != 1)}"
