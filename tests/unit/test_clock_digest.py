"""The decision clock's text and the input digest's canonical JSON."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenet.decision import canonical_json
from tenet.runtime.clock import format_rfc3339


@given(st.floats(min_value=-5e9, max_value=2.5e11, allow_nan=False))
def test_rfc3339_text_is_datetimes(epoch: float) -> None:
    moment = datetime.fromtimestamp(epoch, UTC)
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    assert format_rfc3339(epoch) == moment.strftime(pattern)


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (-62135596800, "0001-01-01T00:00:00Z"),  # the earliest `now` a decision takes
        (-62135596799.5, "0001-01-01T00:00:00.500000Z"),
        (-30610310400, "0999-12-31T00:00:00Z"),
        (253402300799, "9999-12-31T23:59:59Z"),  # the latest
    ],
)
def test_rfc3339_years_have_four_digits(epoch: float, text: str) -> None:
    assert format_rfc3339(epoch) == text


def test_canonical_json_sorts_keys_without_whitespace() -> None:
    doc = {"b": [1, 2.0, "é"], "a": {"y": None, "x": True}}
    assert canonical_json(doc) == '{"a":{"x":true,"y":null},"b":[1,2,"é"]}'.encode()


def test_integers_beyond_64_bits_are_written_exactly() -> None:
    big = {"n": 2**70, "a": 1}
    assert canonical_json(big) == b'{"a":1,"n":1180591620717411303424}'
    assert (
        hashlib.sha256(canonical_json(big)).hexdigest()
        == hashlib.sha256(
            json.dumps(big, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
    )


def test_decision_ids_are_uuid7_ordered_by_their_millisecond() -> None:
    import time
    import uuid

    from tenet.decision import uuid7

    before = time.time_ns() // 1_000_000
    ids = [uuid7() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for text in ids:
        u = uuid.UUID(text)
        assert str(u) == text and u.version == 7 and u.variant == uuid.RFC_4122
        assert before <= u.int >> 80 <= after
    stamps = [uuid.UUID(t).int >> 80 for t in ids]
    assert stamps == sorted(stamps)
    # the random bits are spread: every hex digit shows up in every random position
    for at in (15, 16, 17, 20, 21, 22, *range(24, 36)):
        assert len({t[at] for t in ids}) == 16, at
    assert {t[19] for t in ids} == set("89ab")


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    import os

    from tenet.decision import uuid7

    uuid7()  # the parent has random bits in hand
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, ",".join(uuid7() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        theirs = {t[24:] for t in f.read().split(",")}  # the last 48 random bits
    os.waitpid(pid, 0)
    ours = {uuid7()[24:] for _ in range(50)}
    assert len(theirs) == 50 and not (ours & theirs)


def _nested(depth: int) -> list[object]:
    root: list[object] = []
    node = root
    for _ in range(depth):
        child: list[object] = []
        node.append(child)
        node = child
    return root


def test_an_input_nested_past_python_s_recursion_limit_still_has_a_digest() -> None:
    from tenet.decision import input_digest

    deep = {"a": _nested(5000)}
    digest = input_digest(deep)
    assert digest.startswith("sha256:") and digest == input_digest({"a": _nested(5000)})
    assert digest != input_digest({"a": _nested(4999)})


def test_eval_of_a_deeply_nested_input_is_an_error_decision_or_a_clear_refusal(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from tenet.cli import main

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "tenet.yaml").write_text("name: b\nversion: 1.0.0\n", "utf-8")
    (tmp_path / "b" / "p.tenet").write_text("package p\nallow = true\n", "utf-8")
    for depth, code, said in [(500, 1, "nests deeper than 100"), (5000, 2, "nests too deeply")]:
        text = '{"a": ' + "[" * depth + "]" * depth + "}"
        (tmp_path / f"d{depth}.json").write_text(text, "utf-8")
        args = [
            "eval",
            "p",
            "--bundle",
            str(tmp_path / "b"),
            "--input",
            str(tmp_path / f"d{depth}.json"),
        ]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == code and said in result.output
        assert "Traceback" not in result.output
