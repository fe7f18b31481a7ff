"""RFC 3339 timestamps to epoch seconds and back; the only clock policies see is `now()`."""

from __future__ import annotations

from datetime import UTC, datetime

from tenet.runtime.builtins.time import epoch_seconds

__all__ = ["format_rfc3339", "parse_rfc3339"]


def parse_rfc3339(text: str) -> int | float:
    """Epoch seconds of an RFC 3339 timestamp: an int when whole. Raises ValueError."""
    value = epoch_seconds(text)
    if value is None:
        raise ValueError(f"`{text}` is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z")
    return value


def format_rfc3339(epoch: int | float) -> str:
    """UTC RFC 3339 text, with microseconds only when the time has a fraction."""
    moment = datetime.fromtimestamp(epoch, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
