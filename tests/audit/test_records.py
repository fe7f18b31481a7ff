"""A record's stored text and hash, written the fast way, are exactly the canonical ones."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tenet.audit.records import GENESIS, canonical, record_hash
from tenet.audit.stores import link_encoded

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
def test_link_encoded_is_canonical(entry: dict[str, Any], tail: Any) -> None:
    record, stored = link_encoded(entry, tail)
    assert stored.encode() == canonical(record)
    assert record["hash"] == record_hash(record)
    seq, prev, prev_id = tail if tail is not None else (0, GENESIS, None)
    assert (record["seq"], record["prev"], record["prev_id"]) == (seq + 1, prev, prev_id)
    assert {k: v for k, v in record.items() if k not in ("seq", "prev", "prev_id", "hash")} == {
        k: v for k, v in entry.items() if k not in ("seq", "prev", "prev_id", "hash")
    }
