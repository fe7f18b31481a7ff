"""A record's stored text and hash, linked from its prepared members (`tenet.audit.linking`),
are exactly the canonical ones; and a template's entries are those its entry would prepare."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tenet.audit.linking import EntryTemplate, entry_of, link_prepared, prepare, record_of
from tenet.audit.records import GENESIS, canonical, record_hash

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
# the keys of real entries, and others sorting around `hash`, `prev`, `prev_id` and `seq`
keys = st.sampled_from(
    ["actor", "bundle", "class", "decision", "hash", "h", "hasi", "id", "kind", "prev", "prev-x",
     "prev_ids", "query", "seq", "sep", "time", "zz", "é", ""]
)  # fmt: skip


@settings(max_examples=300)
@given(
    st.dictionaries(keys, json_values, max_size=10),
    st.none() | st.tuples(st.integers(0, 10**6), st.text(max_size=10), st.none() | st.text()),
)
def test_linking_a_prepared_entry_is_canonical(generated: dict[str, Any], tail: Any) -> None:
    entry = {**generated, "id": "x", "class": "c", "kind": "k", "time": "t"}  # never missing
    chained, stored = link_prepared(prepare(entry), tail)
    record = record_of(entry, chained)
    own = {k: v for k, v in entry.items() if k not in ("seq", "prev", "prev_id", "hash")}
    assert entry_of(prepare(entry)) == own  # read back exactly
    assert stored == canonical(record)
    assert record["hash"] == record_hash(record)
    seq, prev, prev_id = tail if tail is not None else (0, GENESIS, None)
    assert (record["seq"], record["prev"], record["prev_id"]) == (seq + 1, prev, prev_id)
    assert {k: v for k, v in record.items() if k not in ("seq", "prev", "prev_id", "hash")} == {
        k: v for k, v in entry.items() if k not in ("seq", "prev", "prev_id", "hash")
    }


scalars = st.none() | st.integers(-(2**70), 2**70) | st.text(max_size=12)


@settings(max_examples=200)
@given(
    st.dictionaries(st.sampled_from(["allowed", "decision_id", "n", "%s", "z"]), json_values),
    scalars,
    scalars,
    st.text(max_size=10),
)
def test_a_template_fills_as_the_entry_would_prepare(
    decision: dict[str, Any], new_id: Any, new_n: Any, actor: str
) -> None:
    entry = {
        "id": "a",
        "kind": "decision",
        "class": "default",
        "time": "t0",
        "actor": "someone",
        "query": "q%s",  # a `%` of the entry's own stays as it is
        "decision": {**decision, "decision_id": "a", "n": 1},
        "zz": [1, "%d"],
    }
    template = EntryTemplate(
        entry, [("id",), ("actor",), ("decision", "n"), ("decision", "decision_id")]
    )
    filled = template.fill(["b", actor, new_n, new_id])
    changed = {
        **entry,
        "id": "b",
        "actor": actor,
        "decision": {**entry["decision"], "n": new_n, "decision_id": new_id},
    }
    assert filled == prepare(changed)
