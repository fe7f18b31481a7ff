"""The sidecar's decision cache: a repeated request is answered with the same document under a
new id, never across bundles, never for errors, and never when the answer could depend on a
clock the request did not fix."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tenet.audit import open_store, verify
from tenet.bundle import load_bundle
from tenet.runtime.clock import parse_rfc3339
from tenet.server.app import Sidecar
from tenet.server.cache import MAX_KEY
from tenet.server.reload import BundleWatcher
from tests.server.helpers import ADMIN, MANIFEST, Server, make_bundle
from tests.server.test_app import call

CLOCKED = """\
package access

default allow = false

allow if {
    input.user.role == "admin"
    now() < time("2100-01-01T00:00:00Z")
}
"""

WAIVERS = """\
waivers:
  - check: deploy.staging.accuracy
    approved_by: cro
    reason: pilot
    expires: "2100-01-01T00:00:00Z"
"""

VOLATILE = ("decision_id", "duration_us")


def cache_counts(app: Sidecar) -> tuple[int, int]:
    assert app.cache is not None
    return app.cache.hits, app.cache.misses


def same_but_fresh(a: dict[str, Any], b: dict[str, Any], *fresh: str) -> None:
    """`b` answers as `a` did, with its own values of the fields named."""
    assert list(a) == list(b)  # the same fields, in the same order
    for key in (*VOLATILE, *fresh):
        a.pop(key, None)
        b.pop(key, None)
    assert a == b


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "gates")


def test_a_repeated_request_is_answered_from_the_cache_under_a_new_id(root: Path) -> None:
    app = Sidecar(BundleWatcher.open(root))
    body = {"input": ADMIN, "now": "2026-01-01T00:00:00Z", "explain": "full"}
    first = call(app, "POST", "/v1/decisions/access.allow", body)
    again = call(app, "POST", "/v1/decisions/access.allow", body)
    assert first[0] == again[0] == 200
    assert cache_counts(app) == (1, 1)
    assert first[2]["decision_id"] != again[2]["decision_id"]
    assert again[2]["evaluated_at"] == "2026-01-01T00:00:00Z"
    same_but_fresh(first[2], again[2])
    # another body, another path, another explanation: evaluated anew
    call(app, "POST", "/v1/decisions/access.allow", {**body, "explain": "summary"})
    call(app, "POST", "/v1/data/access/allow", body)
    assert cache_counts(app) == (1, 3)
    text = call(app, "GET", "/metrics")[2]
    assert 'tenet_decision_cache_requests_total{result="hit"} 1' in text
    assert "tenet_decision_cache_entries 3" in text
    assert 'tenet_decisions_total{endpoint="decisions",query="access.allow",outcome="allow"} 3' in (
        text
    )


def test_the_data_api_is_cached_too(root: Path) -> None:
    app = Sidecar(BundleWatcher.open(root))
    answers = [call(app, "POST", "/v1/data/access", {"input": ADMIN})[2] for _ in range(3)]
    assert cache_counts(app) == (2, 1)
    assert len({a["decision_id"] for a in answers}) == 3
    for a in answers[1:]:
        same_but_fresh(dict(answers[0]), a)


def test_without_now_a_policy_that_reads_the_clock_is_never_cached(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates", **{"access/main.tenet": CLOCKED})
    assert load_bundle(root).program.reads_clock
    app = Sidecar(BundleWatcher.open(root))
    for _ in range(3):
        assert call(app, "POST", "/v1/decisions/access.allow", {"input": ADMIN})[2]["allowed"]
    assert cache_counts(app) == (0, 3)
    timed = {"input": ADMIN, "now": "2026-01-01T00:00:00Z"}
    for _ in range(2):
        call(app, "POST", "/v1/decisions/access.allow", timed)
    assert cache_counts(app) == (1, 4)  # `now` in the request fixes the clock


def test_without_now_a_clockless_policy_is_cached_with_its_own_time(root: Path) -> None:
    assert not load_bundle(root).program.reads_clock
    app = Sidecar(BundleWatcher.open(root))
    first = call(app, "POST", "/v1/decisions/access.allow", {"input": ADMIN})[2]
    again = call(app, "POST", "/v1/decisions/access.allow", {"input": ADMIN})[2]
    assert cache_counts(app) == (1, 1)
    assert parse_rfc3339(again["evaluated_at"]) >= parse_rfc3339(first["evaluated_at"])
    same_but_fresh(first, again, "evaluated_at")


def test_waivers_make_a_policy_read_the_clock(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates", **{"data.yaml": WAIVERS})
    assert load_bundle(root).program.reads_clock


def test_errors_and_refusals_are_never_cached(root: Path) -> None:
    app = Sidecar(BundleWatcher.open(root))
    clash = {"input": {"clash": True}, "now": 0}
    for _ in range(2):
        status, _, doc = call(app, "POST", "/v1/decisions/access.clash", clash)
        assert status == 200 and doc["outcome"] == "error"
    for _ in range(2):
        assert call(app, "POST", "/v1/decisions/access.nope", {"now": 0})[0] == 404
        assert call(app, "POST", "/v1/decisions/access.allow", b"{")[0] == 400
    assert cache_counts(app) == (0, 6)
    assert app.cache is not None and len(app.cache) == 0


NEXT_MANIFEST = MANIFEST.replace("1.0.0", "1.1.0")  # a reload takes a new version


def test_a_reload_empties_the_cache(root: Path, tmp_path: Path) -> None:
    watcher = BundleWatcher.open(root, interval=0.01)
    app = Sidecar(watcher)
    body = {"input": ADMIN, "now": 0}
    assert call(app, "POST", "/v1/decisions/access.allow", body)[2]["allowed"] is True
    changed = make_bundle(
        tmp_path / "next",
        **{"access/main.tenet": CLOCKED.replace("admin", "x"), "tenet.yaml": NEXT_MANIFEST},
    )
    shutil.rmtree(root)
    shutil.copytree(changed, root)
    assert watcher.holder.reload().ok
    doc = call(app, "POST", "/v1/decisions/access.allow", body)[2]
    assert doc["allowed"] is False
    assert cache_counts(app) == (0, 2)


def test_the_least_recently_used_answer_goes_first(root: Path) -> None:
    app = Sidecar(BundleWatcher.open(root), cache_size=2)
    a, b, c = ({"input": {"user": {"role": r}}, "now": 0} for r in "abc")
    for body in (a, b, a, c):  # `a` was used after `b`: `b` makes room for `c`
        call(app, "POST", "/v1/decisions/access.allow", body)
    assert cache_counts(app) == (1, 3)
    call(app, "POST", "/v1/decisions/access.allow", a)
    call(app, "POST", "/v1/decisions/access.allow", b)
    assert cache_counts(app) == (2, 4)


def test_large_bodies_are_not_cached_and_size_zero_turns_the_cache_off(root: Path) -> None:
    app = Sidecar(BundleWatcher.open(root), max_body=4 * MAX_KEY)
    big = {"input": {**ADMIN, "pad": "x" * MAX_KEY}, "now": 0}
    for _ in range(2):
        assert call(app, "POST", "/v1/decisions/access.allow", big)[2]["allowed"] is True
    assert cache_counts(app) == (0, 2)
    off = Sidecar(BundleWatcher.open(root), cache_size=0)
    assert off.cache is None
    for _ in range(2):
        assert call(off, "POST", "/v1/decisions/access.allow", {"input": ADMIN})[0] == 200
    assert "tenet_decision_cache" not in call(off, "GET", "/metrics")[2]


def test_cached_answers_are_recorded_each_with_its_own_id_and_caller(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "gates")
    tokens = tmp_path / "tokens"
    alice, bob = "alice-token-for-cache-001", "bob-token-for-cache-0002"
    tokens.write_text(f"{alice} alice\n{bob} bob\n")
    url = f"sqlite:///{tmp_path}/audit.db"
    args = ["--bundle", str(root), "--token-file", str(tokens), "--decision-log", url]
    s = Server(args, tmp_path / "log", headers={"authorization": f"Bearer {alice}"})
    ids: dict[str, str] = {}
    try:
        for token, who in ((alice, "alice"), (bob, "bob"), (alice, "alice")):
            auth = {"authorization": f"Bearer {token}"}
            status, headers, doc = s.post(
                "/v1/decisions/access.allow", {"input": ADMIN, "now": 0}, headers=auth
            )
            assert status == 200 and headers["tenet-decision-logged"] == "true"
            ids[doc["decision_id"]] = who
        hits = s.metric('tenet_decision_cache_requests_total{result="hit"}', headers=auth)
        assert hits == 2
    finally:
        assert s.stop() == 0
    store = open_store(url)
    recorded = [r for r in store.records() if r["kind"] == "decision"]
    assert {r["id"]: r["actor"] for r in recorded} == ids
    assert all(r["decision"]["decision_id"] == r["id"] for r in recorded)
    assert verify(store) == []


def test_a_cached_document_with_percent_signs_and_big_numbers_is_written_as_it_was(
    root: Path,
) -> None:
    app = Sidecar(BundleWatcher.open(root))
    body = {"input": {"user": {"role": "50% %s %d %%", "level": 2**70}}, "now": 0}
    for path in ("/v1/decisions/access.allow", "/v1/decisions/access.level"):
        first = call(app, "POST", path, body, {"content-type": "application/json"})[2]
        again = call(app, "POST", path, body)[2]
        same_but_fresh(first, again)
    assert cache_counts(app) == (2, 2)
    assert again["result"] == 2**70


def test_an_answer_is_kept_as_bytes_and_reissued_exactly() -> None:
    import json
    import time

    from tenet.audit.linking import prepare, prepared
    from tenet.server.cache import Cached
    from tenet.server.http import dumps

    big = 2**70  # beyond 64 bits: read back by `json`, it stays an integer
    doc = {"decision_id": "a", "result": big, "ratio": 0.1, "é": "%s", "duration_us": 7}
    entry = {"id": "a", "kind": "decision", "class": "default", "time": "t", "actor": "x",
             "decision": doc}  # fmt: skip
    answer = Cached("allow", dumps(doc), False, prepare(entry))
    # until it is asked for again, no dict of it is kept for the garbage collector to walk
    kept = [getattr(answer, name) for name in Cached.__slots__ if hasattr(answer, name)]
    assert not any(isinstance(v, dict) for v in kept)
    body, fresh, again = answer.reissue("ops", time.perf_counter_ns())
    assert again is not None
    got = json.loads(body)
    assert got == {**doc, **fresh} and type(got["result"]) is int and got["decision_id"] != "a"
    assert prepared([again]) == [
        prepare({**entry, "id": fresh["decision_id"], "actor": "ops", "time": again.time,
                 "decision": {**doc, **fresh}})
    ]  # fmt: skip
    assert answer.document == doc


def test_data_api_records_say_the_clock_they_were_decided_at(tmp_path: Path) -> None:
    # OPA's answer has no `evaluated_at`; its record has, the caller's `now` or the server's
    # own time for each answer, cached or not
    root = make_bundle(tmp_path / "gates")
    url = f"sqlite:///{tmp_path}/audit.db"
    s = Server(["--bundle", str(root), "--decision-log", url], tmp_path / "log")
    try:
        for body in ({"input": ADMIN, "now": "2026-01-10T09:10:00Z"}, {"input": ADMIN}):
            for _ in range(2):  # the second from the cache
                status, _, doc = s.post("/v1/data/access/allow", body)
                assert status == 200 and "evaluated_at" not in doc
    finally:
        assert s.stop() == 0
    recorded = [r for r in open_store(url).records() if r["kind"] == "decision"]
    at = [r["decision"]["evaluated_at"] for r in recorded]
    assert at[:2] == ["2026-01-10T09:10:00Z"] * 2
    # without a `now`, each answer is the server's clock at the time it was given
    assert at[2] != at[3]
    for a, r in zip(at[2:], recorded[2:], strict=True):
        assert abs(parse_rfc3339(a) - parse_rfc3339(r["time"])) < 5
