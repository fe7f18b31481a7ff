"""Audit records and their hash chains: what one record holds, how it is hashed, and how a
chain of records is checked for modification, deletion, insertion and reordering."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tenet.decision import canonical, canonical_exact, canonical_fast
from tenet.runtime.clock import format_rfc3339, parse_rfc3339

__all__ = [
    "GENESIS",
    "KINDS",
    "UNREADABLE",
    "Anchor",
    "ChainProblem",
    "Link",
    "Stored",
    "anchor_of",
    "canonical",
    "canonical_exact",
    "canonical_fast",
    "check_anchor",
    "record_hash",
    "record_time",
    "verify_chain",
    "verify_links",
    "version_of",
]

GENESIS = "sha256:" + "0" * 64  # the `prev` of the first record of a class
KINDS = ("decision", "configuration_change", "error", "checkpoint")


def version_of(bundle: Any) -> str:
    """A recorded bundle (a record's `bundle`) for people: its name, version and the start of
    its digest, since two builds of one version (a waiver added) are different bundles. An
    event written by other software may name a version as text: it is shown as it is."""
    if not bundle:
        return "nothing"
    if not isinstance(bundle, dict):
        return bundle if isinstance(bundle, str) else json.dumps(bundle, ensure_ascii=False)
    digest = str(bundle.get("digest") or "").removeprefix("sha256:")[:12]
    return f"{bundle.get('name', '?')} {bundle.get('version', '?')} ({digest})"


def record_hash(record: dict[str, Any]) -> str:
    """The hash of a record: everything it holds but its own `hash`, its `prev` included."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return "sha256:" + hashlib.sha256(canonical(body)).hexdigest()


# the hash of what a store yields for a row or line that is no record (damaged, or edited):
# verification reports it as modified, and what reports on records passes it by
UNREADABLE = "unreadable"


class Stored(dict[str, Any]):
    """A record as a store read it, with the text it was stored as. The hash was taken over
    the canonical text, and a record is intact only if it is stored as that text: an edit
    that leaves the parsed value alone, such as a second copy of a key in front (which
    SQLite's JSON functions read, and Python's parser overrides), is still an edit."""

    __slots__ = ("text",)

    def __init__(self, value: dict[str, Any], text: str | bytes) -> None:
        super().__init__(value)
        self.text = text.encode() if isinstance(text, str) else text


def record_time(record: dict[str, Any]) -> float | None:
    """When a record was made; None for one whose time does not read (a damaged line, an
    edited record: `verify` names it, and the other readers pass it by)."""
    try:
        return parse_rfc3339(str(record.get("time")))
    except ValueError:
        return None


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
    time: Any
    keep: Any  # keep_seconds
    flaw: str | None  # why the record is not intact; None when it is

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
            record.get("time"),
            record.get("keep_seconds"),
            _flaw(record),
        )


def _flaw(record: dict[str, Any]) -> str | None:
    if record.get("hash") == UNREADABLE:
        return str(record.get("flaw") or "it does not read as a record")
    if record_hash(record) != record.get("hash"):
        return "its content does not match its hash"
    if isinstance(record, Stored) and canonical(record) != record.text:
        if record.text.strip() != record.text:  # a line rewritten with `\r\n`, say
            return (
                "it is not stored as the text its hash was taken over (white space or a `\\r` "
                "added around it: the log was written out again in another layout)"
            )
        return "it is not stored as the text its hash was taken over (a key given twice?)"
    if record.get("kind") == "checkpoint":
        return _checkpoint_flaw(record)
    return None


def _checkpoint_flaw(record: dict[str, Any]) -> str | None:
    """What a checkpoint says of itself that cannot all be true: re-hashed after an edit, it
    was forged. It names the last record it removed twice (as the record it follows and in its
    event); it took that record's place, so as many records as its number were removed in
    all; it is kept for ever; and it removed nothing made after it."""
    event = record.get("event")
    if not isinstance(event, dict) or event.get("last_removed_hash") != record.get("prev"):
        return "its `last_removed_hash` is not the record it follows (`prev`)"
    seq, removed, total = record.get("seq"), event.get("removed"), event.get("total_removed")
    if not (
        type(seq) is int
        and type(removed) is int
        and type(total) is int
        and 1 <= removed <= total == seq
    ):
        return f"it says it removed {removed} record(s), {total} in all, up to record {seq}"
    if record.get("keep_seconds") is not None:
        return "a checkpoint is kept for ever, and this one says otherwise (`keep_seconds`)"
    until, made = record_time({"time": event.get("removed_until")}), record_time(record)
    if until is None or made is None or until > made:
        return f"it removed records made until {event.get('removed_until')}, after its own time"
    return None


def verify_chain(retention_class: str, records: Iterable[dict[str, Any]]) -> ChainProblem | None:
    """Walk one class's records in stored order; None when the chain is intact."""
    return verify_links(retention_class, [Link.of(r, i) for i, r in enumerate(records)])


def verify_links(
    retention_class: str, listed: list[Link], now: float | None = None
) -> ChainProblem | None:
    """`verify_chain` over the records' links.

    Each record names the hash and id of the one before it (`prev`, `prev_id`) and its place
    (`seq`). A checkpoint left by pruning starts what remains of a chain; one dated after
    `now` (default: the clock) means records were pruned before they expired.
    """
    position = {r.hash: i for i, r in enumerate(listed)}
    expected_prev = GENESIS
    also_prev: str | None = None  # after a checkpoint, records may link to it or past it
    expected_seq = 1
    walked: set[Any] = set()  # hashes of the records walked: a second copy is inserted
    for i, r in enumerate(listed):
        if r.flaw is not None:
            return ChainProblem(retention_class, r.id, "modified", r.flaw)
        if r.hash in walked:
            return ChainProblem(
                retention_class, r.id, "inserted", "it is a second copy of a record stored before"
            )
        walked.add(r.hash)
        if i == 0 and r.kind == "checkpoint":
            if _after(r.time, time.time() if now is None else now):
                return ChainProblem(
                    retention_class,
                    r.id,
                    "pruned early",
                    f"its checkpoint is dated {r.time}, in the future: records were removed "
                    "as of a time to come, before they expired",
                )
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


CLOCK_SLACK = 300.0  # seconds a checkpoint may be dated ahead of the verifying clock


def _after(when: Any, now: float) -> bool:
    try:
        return parse_rfc3339(str(when)) > now + CLOCK_SLACK
    except ValueError:
        return False  # the record's hash covers its time: a bad one is the writer's


def _expires_after(expires: str, pruned_at: float) -> bool:
    """Whether a record anchored to be kept until `expires` was pruned before then. No clock
    slack: `prune` removes a record only once its own time plus its keep has passed, by the
    same clock that dates the checkpoint; the microsecond is the rounding of written times."""
    try:
        return parse_rfc3339(expires) > pruned_at + 1e-6
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Anchor:
    """A record of a chain noted elsewhere (a ticket, a signed commit) when the log was
    verified: the chain must still reach it, with the same hash, unless pruned since, and
    not pruned before `expires` (when it was to be kept until then)."""

    retention_class: str
    seq: int
    hash: str
    # RFC 3339: when the record may first be pruned; NEVER for a record kept forever; None
    # for a checkpoint, which a later prune may replace at any time
    expires: str | None = None

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """`CLASS:SEQ:HASH[@EXPIRES]`, as `tenet audit verify` prints it (ValueError
        otherwise)."""
        parts = text.split(":", 2)
        digest, _, expires = parts[-1].partition("@")
        if (
            len(parts) != 3
            or not parts[0]
            or not parts[1].isdigit()
            or not _HASH.fullmatch(digest)
            or (expires and expires != NEVER and not _is_time(expires))
        ):
            raise ValueError(
                f"`{text}` is not an anchor `CLASS:SEQ:sha256:…[@EXPIRES]`, as `tenet audit "
                "verify` prints"
            )
        return cls(parts[0], int(parts[1]), digest, expires or None)

    def __str__(self) -> str:
        until = f"@{self.expires}" if self.expires else ""
        return f"{self.retention_class}:{self.seq}:{self.hash}{until}"


_HASH = re.compile(r"sha256:[0-9a-f]{64}")
NEVER = "never"  # the expiry of a record kept forever


def _is_time(text: str) -> bool:
    try:
        parse_rfc3339(text)
    except ValueError:
        return False
    return True


def anchor_of(cls: str, link: Link) -> Anchor | None:
    """The anchor of a chain's last record (None for a record without its place)."""
    if not isinstance(link.seq, int):
        return None
    expires = None
    if link.kind != "checkpoint" and link.keep is None:
        expires = NEVER
    elif link.kind != "checkpoint" and isinstance(link.keep, int | float):
        try:
            expires = format_rfc3339(parse_rfc3339(str(link.time)) + link.keep)
        except (ValueError, OverflowError, OSError):
            expires = None
    return Anchor(cls, link.seq, str(link.hash), expires)


def check_anchor(anchor: Anchor, listed: list[Link]) -> ChainProblem | None:
    """Whether the chain of `listed` (the anchor's class) still holds the anchored record,
    or pruned it once it had expired."""
    cls, seq = anchor.retention_class, anchor.seq
    if not listed:
        return ChainProblem(cls, f"#{seq}", "deleted", "the whole chain is gone")
    if any(link.hash == anchor.hash and link.seq == seq for link in listed):
        return None  # still there (a checkpoint too, when the anchor was one)
    first = listed[0]
    if first.kind == "checkpoint" and isinstance(first.seq, int) and seq <= first.seq:
        if seq == first.seq and first.prev != anchor.hash:
            return ChainProblem(
                cls, first.id, "modified", f"the last record pruned is not the anchored {seq}"
            )
        if anchor.expires == NEVER:
            return ChainProblem(
                cls,
                first.id,
                "pruned early",
                f"it removed record {seq}, anchored as kept forever, at {first.time}",
            )
        if anchor.expires and _expires_after(anchor.expires, _time(first.time)):
            return ChainProblem(
                cls,
                first.id,
                "pruned early",
                f"it removed record {seq}, anchored to be kept until {anchor.expires}, "
                f"at {first.time}",
            )
        return None  # pruned since it was anchored, once expired
    for link in listed:
        if link.seq == seq and link.kind != "checkpoint":
            return ChainProblem(
                cls,
                link.id,
                "modified",
                "it is not the record anchored: the chain was rewritten from there",
            )
    last = listed[-1].seq
    return ChainProblem(
        cls,
        f"#{seq}",
        "deleted",
        f"the chain ends at record {last}, before the anchored record {seq}: records were "
        "removed from its end",
    )


def _time(text: Any) -> float:
    try:
        return parse_rfc3339(str(text))
    except ValueError:
        return float("inf")  # a checkpoint without a readable time proves nothing


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
