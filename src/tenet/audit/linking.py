"""How an entry becomes a record of its class's chain: encoded once, where it is made
(`prepare`), then numbered, linked and hashed by the store inside its transaction
(`link_prepared`) without being read back.

A record's stored text is its canonical JSON (`records.canonical`): sorted keys, so the four keys
linking adds (`hash`, `prev`, `prev_id`, `seq`) fall at fixed places between the entry's own.
A prepared entry holds its own members cut at those places; linking joins them with the four,
byte for byte the canonical text of the whole record.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import orjson

from tenet.audit.records import GENESIS
from tenet.audit.records import canonical_exact as _exact
from tenet.audit.records import canonical_fast as _fast
from tenet.holes import Holes, json_scalar, put, with_holes

__all__ = [
    "LINK_KEYS",
    "Chained",
    "Entry",
    "EntryTemplate",
    "Prepared",
    "Tail",
    "entry_of",
    "link_all",
    "link_prepared",
    "prepare",
    "prepared",
    "record_of",
]

Entry = dict[str, Any]  # what `AuditLog` makes of a decision or event, before it is linked
LINK_KEYS = ("hash", "prev", "prev_id", "seq")  # sorted, as in the canonical text
Tail = tuple[int, str, str | None]  # seq, hash, id of a class's last record
Chained = tuple[int, str, str | None, str]  # a record's seq, prev, prev_id and hash


class Prepared(NamedTuple):
    """An entry ready to be linked: the columns a store indexes, and its canonical members cut
    around `LINK_KEYS` (five runs of `"key":value` pairs, each possibly empty). A named tuple:
    the sidecar makes one per logged decision, and a frozen dataclass costs several times
    more to make."""

    id: str
    cls: str
    kind: str
    time: str
    query: str | None
    outcome: str | None
    actor: str | None
    members: tuple[bytes, bytes, bytes, bytes, bytes]


def prepare(entry: dict[str, Any]) -> Prepared:
    """Encode an entry once (any `hash`, `prev`, `prev_id` or `seq` it holds is replaced by
    linking)."""
    m0, m1, m2, m3, m4 = _encoder(_groups(entry))[0]
    return Prepared(*_columns(entry), (m0, m1, m2, m3, m4))


def entry_of(p: Prepared) -> Entry:
    """The entry a prepared one was made from, read back exactly (by `json`: an integer
    beyond 64 bits stays one)."""
    entry: Entry = json.loads(b"{" + b",".join([m for m in p.members if m]) + b"}")
    return entry


def _groups(entry: Entry) -> list[dict[str, Any]]:
    """The entry's members in the five runs `LINK_KEYS` cut them into."""
    groups: list[dict[str, Any]] = [{}, {}, {}, {}, {}]
    known = _RUN_OF
    for key, value in entry.items():
        run = known.get(key)
        if run is None:
            run = -1 if key in LINK_KEYS else _group(key)
            if len(known) < 1024:  # entries have a dozen keys, always the same
                known[key] = run
        if run >= 0:
            groups[run][key] = value
    return groups


_RUN_OF: dict[str, int] = {}  # key -> its run (-1 for `LINK_KEYS`), as met


def _encoder(groups: list[dict[str, Any]]) -> tuple[list[bytes], Callable[[Any], bytes]]:
    """The runs encoded, and the encoder used: orjson, unless it refuses a value of the entry
    (an integer beyond 64 bits); then `json` for every run, as `canonical` does for the whole
    record, since the two write some floats differently."""
    try:
        return [_fast(g)[1:-1] if g else b"" for g in groups], _fast
    except TypeError:
        return [_exact(g)[1:-1] if g else b"" for g in groups], _exact


def prepared(entries: Sequence[Entry | Prepared]) -> list[Prepared]:
    """Entries, each prepared unless it already is."""
    return [e if isinstance(e, Prepared) else prepare(e) for e in entries]


def _columns(
    entry: dict[str, Any],
) -> tuple[str, str, str, str, str | None, str | None, str | None]:
    return (
        entry["id"],
        entry["class"],
        entry["kind"],
        entry["time"],
        entry.get("query"),
        entry.get("outcome"),
        entry.get("actor"),
    )


def link_prepared(p: Prepared, tail: Tail | None) -> tuple[Chained, bytes]:
    """The entry made the record after `tail` (None: the first of its class): its links, and
    its canonical text, which holds its hash."""
    seq, prev, prev_id = tail if tail is not None else (0, GENESIS, None)
    seq += 1
    m0, m1, m2, m3, m4 = p.members
    prev_field = b'"prev":' + orjson.dumps(prev)
    prev_id_field = b'"prev_id":' + orjson.dumps(prev_id)
    seq_field = b'"seq":' + str(seq).encode()
    body = b",".join([x for x in (m1, prev_field, m2, prev_id_field, m3, seq_field, m4) if x])
    head = m0 + b"," if m0 else b""
    digest = "sha256:" + hashlib.sha256(b"{" + head + body + b"}").hexdigest()
    stored = b"{" + head + b'"hash":"' + digest.encode() + b'",' + body + b"}"
    return (seq, prev, prev_id, digest), stored


def link_all(
    entries: Sequence[Prepared],
    tails: dict[str, Tail],
    find: Callable[[str], Tail | None] = lambda cls: None,
) -> list[tuple[Chained, bytes]]:
    """Link entries in order, each after the last record of its class: `tails` holds those
    known (and is updated), `find` looks up the others (None: a class with no record yet)."""
    linked = []
    for p in entries:
        tail = tails[p.cls] if p.cls in tails else find(p.cls)
        chained, text = link_prepared(p, tail)
        tails[p.cls] = (chained[0], chained[3], p.id)
        linked.append((chained, text))
    return linked


def record_of(entry: Entry, chained: Chained) -> dict[str, Any]:
    """The record an entry became, as a dict, from the links its store gave it."""
    seq, prev, prev_id, digest = chained
    return {**entry, "seq": seq, "prev": prev, "prev_id": prev_id, "hash": digest}


class EntryTemplate:
    """Prepared entries that differ from one entry only at a few paths: each answer the
    sidecar's decision cache gives is a record of its own, with its own id, time, actor and
    decision id, and the rest of the record as before.

    `paths` name the values that change (`("id",)`, `("decision", "decision_id")`); `fill`
    takes their new values, in the same order. A changed `id`, `time` or `actor` is also
    that column's new value."""

    __slots__ = ("_columns", "_encode", "_entry", "_holes", "_members", "_paths", "_slots")

    def __init__(self, entry: Entry, paths: Sequence[tuple[str, ...]]) -> None:
        for path in paths:
            if path[0] in LINK_KEYS:
                raise ValueError(f"`{path[0]}` is set by linking, not by the entry")
        self._entry = entry
        self._paths = tuple(paths)
        self._columns = _columns(entry)
        names = ("id", "class", "kind", "time", "query", "outcome", "actor")
        self._slots = tuple(
            (names.index(path[0]), i)
            for i, path in enumerate(paths)
            if len(path) == 1 and path[0] in names
        )
        # the encoder the entry takes whatever its holes hold, as long as orjson takes that
        blank = entry
        for path in paths:
            blank = put(blank, path, "")
        self._encode = _encoder(_groups(blank))[1]
        self._members: list[bytes] = []
        self._holes: list[tuple[int, Holes, tuple[int, ...]]] = []
        for g, group in enumerate(_groups(entry)):
            indexes = tuple(i for i, path in enumerate(paths) if _group(path[0]) == g)
            if indexes:
                holes = with_holes(group, [paths[i] for i in indexes], self._runs)
                self._holes.append((g, holes, indexes))
                self._members.append(b"")
            else:
                self._members.append(self._encode(group)[1:-1])

    def _runs(self, group: dict[str, Any]) -> bytes:
        return self._encode(group)[1:-1]

    def fill(
        self, values: Sequence[str | int | None], texts: Sequence[bytes] | None = None
    ) -> Prepared:
        """The entry with `values` at the paths; `texts`, when given, are their JSON texts
        (`holes.json_scalar`), for a caller that has them already."""
        if self._encode is _fast and any([_beyond_orjson(v) for v in values if type(v) is int]):
            changed = self._entry
            for path, value in zip(self._paths, values, strict=True):
                changed = put(changed, path, value)
            return prepare(changed)  # a value orjson refuses: the whole entry by `json`
        members = self._members.copy()
        if texts is None:
            texts = [json_scalar(v) for v in values]
        for g, holes, indexes in self._holes:
            members[g] = holes.fill([texts[i] for i in indexes])
        c: list[Any] = list(self._columns)
        for column, i in self._slots:
            c[column] = values[i]
        m0, m1, m2, m3, m4 = members
        return Prepared(c[0], c[1], c[2], c[3], c[4], c[5], c[6], (m0, m1, m2, m3, m4))


def _beyond_orjson(value: Any) -> bool:
    return type(value) is int and not -(2**63) <= value < 2**64


def _group(key: str) -> int:
    """Which run of members a key other than `LINK_KEYS` falls in."""
    return bisect.bisect_left(LINK_KEYS, key)
