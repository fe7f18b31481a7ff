"""Audit records and their hash chains: what one record holds, how it is hashed, and how a
chain of records is checked for modification, deletion, insertion and reordering."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tenet.decision import canonical, canonical_exact, canonical_fast

__all__ = [
    "GENESIS",
    "KINDS",
    "ChainProblem",
    "Link",
    "canonical",
    "canonical_exact",
    "canonical_fast",
    "record_hash",
    "verify_chain",
    "verify_links",
]

GENESIS = "sha256:" + "0" * 64  # the `prev` of the first record of a class
KINDS = ("decision", "configuration_change", "error", "checkpoint")


def record_hash(record: dict[str, Any]) -> str:
    """The hash of a record: everything it holds but its own `hash`, its `prev` included."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return "sha256:" + hashlib.sha256(canonical(body)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first thing wrong with one class's chain."""

    retention_class: str
    record_id: str
    kind: str  # modified, deleted, inserted, reordered
    detail: str

    def describe(self) -> str:
        return f"class `{self.retention_class}`: record {self.record_id} {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Link:
    """What checking a chain needs of one record: its place and links, and whether its
    content matches its hash (worked out once, so that the record itself can be let go)."""

    id: str
    kind: Any
    hash: Any
    prev: Any
    prev_id: Any
    seq: Any
    intact: bool

    @classmethod
    def of(cls, record: dict[str, Any], index: int) -> Link:
        """`index`: the record's place in its class, naming a record that has no id."""
        return cls(
            str(record.get("id", f"#{index}")),
            record.get("kind"),
            record.get("hash"),
            record.get("prev"),
            record.get("prev_id"),
            record.get("seq"),
            record_hash(record) == record.get("hash"),
        )


def verify_chain(retention_class: str, records: Iterable[dict[str, Any]]) -> ChainProblem | None:
    """Walk one class's records in stored order; None when the chain is intact."""
    return verify_links(retention_class, [Link.of(r, i) for i, r in enumerate(records)])


def verify_links(retention_class: str, listed: list[Link]) -> ChainProblem | None:
    """`verify_chain` over the records' links.

    Each record names the hash and id of the one before it (`prev`, `prev_id`) and its place
    (`seq`). A checkpoint left by pruning starts what remains of a chain.
    """
    position = {r.hash: i for i, r in enumerate(listed)}
    expected_prev = GENESIS
    also_prev: str | None = None  # after a checkpoint, records may link to it or past it
    expected_seq = 1
    for i, r in enumerate(listed):
        if not r.intact:
            return ChainProblem(
                retention_class, r.id, "modified", "its content does not match its hash"
            )
        if i == 0 and r.kind == "checkpoint":
            # pruning removed what came before: the records kept still name the last
            # removed record, and those written since link to the checkpoint itself
            expected_prev, also_prev = str(r.prev), str(r.hash)
            expected_seq = r.seq + 1 if isinstance(r.seq, int) else 1
            continue
        if r.prev not in (expected_prev, also_prev):
            return _broken_link(retention_class, listed, i, position, expected_seq)
        elif r.seq != expected_seq:
            return ChainProblem(
                retention_class, r.id, "reordered", f"it is numbered {r.seq}, not {expected_seq}"
            )
        expected_prev, also_prev = str(r.hash), None
        expected_seq = r.seq + 1 if isinstance(r.seq, int) else expected_seq + 1
    return None


def _broken_link(
    retention_class: str,
    listed: list[Link],
    i: int,
    position: dict[Any, int],
    expected_seq: int,
) -> ChainProblem:
    """Record ``i`` does not follow the one stored before it: say what happened."""
    r = listed[i]
    at = position.get(r.prev)
    if at is not None and at > i:
        return ChainProblem(
            retention_class, r.id, "reordered", "it is stored before the record it follows"
        )
    if at is not None:
        # it links past the record(s) stored between: the first of those is not in the chain
        stray = listed[at + 1]
        if any(x.prev == stray.hash for x in listed):
            return ChainProblem(
                retention_class, stray.id, "reordered", "it is stored out of chain order"
            )
        return ChainProblem(
            retention_class, stray.id, "inserted", "no record of the chain links to it"
        )
    if i > 0 and r.seq == expected_seq:
        # no place is missing, so the record before was rewritten (and its hash recomputed)
        return ChainProblem(
            retention_class,
            listed[i - 1].id,
            "modified",
            f"the record after it ({r.id}) no longer links to it",
        )
    missing = str(r.prev_id or "?")
    return ChainProblem(
        retention_class, missing, "deleted", f"the record before {r.id} is missing from the store"
    )


def group_by_class(records: Iterable[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(str(r.get("class", "")), []).append(r)
    yield from sorted(groups.items())
