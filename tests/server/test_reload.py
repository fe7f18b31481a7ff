"""Hot reload: the watcher loads a changed bundle once it holds still, a bad version keeps the
old one deciding and is reported, and under concurrent requests no request fails while the
bundle is swapped good → bad → good."""

from __future__ import annotations

import http.client
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

import tenet
from tenet.bundle.archive import build_archive
from tenet.server import reload as reload_module
from tenet.server.reload import BundleWatcher, fingerprint
from tests.changing import after_calls, point, release
from tests.conftest import write_bundle
from tests.server.helpers import Server, poll

V1 = "package main\nallow if { input.level < 3 }\n"
BAD = "package main\nallow if { input.level < \n"
V2 = "package main\nallow if { input.level < 2 }\n"


# The watcher's tests edit one version in place (with `allow_same_version`, as when writing a
# bundle): what a reload may replace the bundle with is tested in tests/unit/test_bundle_reload.py.


def _bundle(root: Path, policy: str) -> Path:
    return write_bundle(root, {"tenet.yaml": "name: gates\nversion: 1.0.0\n", "main.tenet": policy})


def _replace(path: Path, data: bytes) -> None:
    """Replace a file at once, as a deployment should (write beside it, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _digest(root: Path, policy: str, tmp: Path) -> str:
    return tenet.load_bundle(_bundle(tmp / f"d{abs(hash(policy))}", policy)).digest


# ---- the watcher, ticked by hand -------------------------------------------------------------


def test_a_change_is_loaded_once_it_holds_still(tmp_path: Path) -> None:
    root = _bundle(tmp_path / "b", V1)
    w = BundleWatcher.open(root, interval=0, allow_same_version=True)
    first = w.bundle
    w.tick()
    assert w.bundle is first  # nothing changed
    _replace(root / "main.tenet", V2.encode())
    w.tick()
    assert w.bundle is first  # changed: wait one tick for it to settle
    w.tick()
    assert w.bundle is not first and not w.bundle.decide("main.allow", {"level": 2}).allowed
    s = w.status()
    assert (s.reloads, s.failures, s.last_error) == (1, 0, None)
    assert s.loaded_at >= w.status().loaded_at


def test_a_bad_version_keeps_the_old_one_and_is_reported(tmp_path: Path) -> None:
    root = _bundle(tmp_path / "b", V1)
    w = BundleWatcher.open(root, interval=0, allow_same_version=True)
    good = w.bundle
    _replace(root / "main.tenet", BAD.encode())
    w.tick()
    w.tick()
    s = w.status()
    assert w.bundle is good and s.bundle is good
    assert s.failures == 1 and s.last_error is not None and "main.tenet" in s.last_error
    assert s.last_error_at is not None
    w.tick()
    assert w.status().failures == 1  # not retried until the files change again
    _replace(root / "main.tenet", V2.encode())
    w.tick()
    w.tick()
    s = w.status()
    assert s.last_error is None and s.reloads == 1 and w.bundle is not good


def test_trigger_reloads_without_a_change_and_files_can_be_watched(tmp_path: Path) -> None:
    root = _bundle(tmp_path / "b", V1)
    w = BundleWatcher.open(root, interval=0)
    first = w.bundle
    w.trigger()
    w.tick()
    assert w.bundle is not first and w.bundle.digest == first.digest
    seen: list[int] = []
    other = tmp_path / "tokens"
    other.write_text("a")
    w.watch_file(other, lambda: seen.append(1))
    _replace(other, b"b")
    w.tick()
    w.tick()
    w.tick()
    assert seen == [1]


def test_fingerprints_see_renames_new_files_and_archives(tmp_path: Path) -> None:
    root = _bundle(tmp_path / "b", V1)
    before = fingerprint(root)
    (root / ".editor.swp").write_text("x")  # hidden: ignored, as the loader ignores it
    assert fingerprint(root) == before
    (root / ".signature").write_text("{}")  # but the signature counts
    assert fingerprint(root) != before
    before = fingerprint(root)
    (root / "sub").mkdir()
    (root / "sub" / "data.yaml").write_text("a: 1\n")
    assert fingerprint(root) != before
    archive = tmp_path / "b.tar.gz"
    _replace(archive, b"one")
    before = fingerprint(archive)
    _replace(archive, b"two")
    assert fingerprint(archive) != before
    assert fingerprint(tmp_path / "missing")[0] == "error"


def test_a_link_moved_during_a_reload_and_back_is_reloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel1, rel2 = release(tmp_path / "rel1", 1), release(tmp_path / "rel2", 2)
    link = tmp_path / "current"
    point(link, rel1)
    w = BundleWatcher.open(link, interval=0)
    # SIGHUP; right after the watcher looks at the link (rel1) a deploy points it at rel2, and
    # a rollback points it back at rel1 while the reload reads rel2's files
    after_calls(monkeypatch, reload_module, "fingerprint", [lambda: point(link, rel2)])
    after_calls(monkeypatch, Path, "read_bytes", [lambda: point(link, rel1)])
    w.trigger()
    w.tick(look=False)
    assert w.bundle.evaluate_document("zz").value == {"consistent": True, "pol_gen": 2}
    w.tick()  # the link is on rel1, not on what was loaded: wait for it to hold still
    w.tick()
    assert w.bundle.evaluate_document("zz").value == {"consistent": True, "pol_gen": 1}
    assert w.bundle.digest == tenet.load_bundle(rel1).digest
    assert w.status().reloads == 2


def test_a_reload_refused_as_changing_is_tried_again_once_the_folder_holds_still(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = release(tmp_path / "b", 1)
    w = BundleWatcher.open(root, interval=0)
    real = Path.read_bytes
    release(root, 2)
    # every read rewrites a file with a new size: no read is of one version
    after_calls(
        monkeypatch,
        Path,
        "read_bytes",
        [lambda n=n: (root / "pad" / "a.txt").write_text("a" * n) for n in range(2, 1000)],
    )
    w.tick()
    w.tick()
    s = w.status()
    assert s.failures == 1 and s.last_error is not None and "bundle-changing" in s.last_error
    assert w.bundle.evaluate_document("zz").value == {"consistent": True, "pol_gen": 1}
    monkeypatch.setattr(Path, "read_bytes", real)  # the copy is over
    w.tick()
    w.tick()
    assert w.status().last_error is None
    assert w.bundle.evaluate_document("zz").value == {"consistent": True, "pol_gen": 2}


# ---- the real server under load --------------------------------------------------------------


class Hammer:
    """Clients deciding in a loop on keep-alive connections, each recording every answer."""

    def __init__(self, port: int, clients: int = 4) -> None:
        self.port = port
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.digests: list[list[str]] = [[] for _ in range(clients)]
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]

    def __enter__(self) -> Hammer:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def each_made(self, more: int) -> Any:
        """A check that every client has made `more` requests since now."""
        start = [len(d) for d in self.digests]
        return lambda: all(len(d) >= s + more for d, s in zip(self.digests, start, strict=True))

    def _run(self, i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        body = json.dumps({"input": {"level": 1}}).encode()
        try:
            # bounded: stops when told, or after 20,000 requests
            for _ in range(20_000):
                if self.stop.is_set():
                    break
                try:
                    conn.request("POST", "/v1/decisions/main.allow", body=body)
                    r = conn.getresponse()
                    payload = r.read()
                except (OSError, http.client.HTTPException) as err:
                    self.failures.append(f"client {i}: {type(err).__name__}: {err}")
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                    continue
                if r.status != 200:
                    self.failures.append(f"client {i}: {r.status} {payload[:200]!r}")
                    continue
                doc = json.loads(payload)
                if doc["outcome"] != "allow":
                    self.failures.append(f"client {i}: {doc['outcome']} {doc['errors']}")
                self.digests[i].append(doc["bundle"]["digest"])
        finally:
            conn.close()


def _swap_under_load(server: Server, write: Any, d1: str, d2: str) -> None:
    with Hammer(server.port) as hammer:
        poll(hammer.each_made(10), what="requests before the swap")
        write(BAD)
        poll(lambda: server.get("/v1/bundle")[2]["last_reload_error"], what="the failed reload")
        assert server.get("/v1/bundle")[2]["digest"] == d1
        health = server.get("/health")[2]
        assert health["status"] == "degraded" and health["last_reload_error"]
        assert server.metric('tenet_bundle_reloads_total{result="failure"}') == 1
        assert server.metric("tenet_bundle_reload_failing") == 1
        poll(hammer.each_made(10), what="requests while the bad version is there")
        write(V2)
        poll(lambda: server.get("/v1/bundle")[2]["digest"] == d2, what="the good version")
        poll(hammer.each_made(10), what="requests after the swap")
    assert hammer.failures == []
    status = server.get("/v1/bundle")[2]
    assert status["last_reload_error"] is None and status["reloads"] == 1
    assert status["reload_failures"] == 1
    assert server.get("/health")[2]["status"] == "ok"
    assert server.metric("tenet_bundle_reload_failing") == 0
    for digests in hammer.digests:
        assert set(digests) <= {d1, d2}
        # each client sees the old version, then the new one, never the old one again
        assert digests == sorted(digests, key=lambda d: d == d2)
        assert digests[0] == d1 and digests[-1] == d2


@pytest.mark.parametrize("form", ["folder", "archive"])
def test_bundles_swap_under_concurrent_requests(form: str, tmp_path: Path) -> None:
    d1 = _digest(tmp_path, V1, tmp_path)
    d2 = _digest(tmp_path, V2, tmp_path)
    folder = _bundle(tmp_path / "gates", V1)
    if form == "folder":
        target = folder

        def write(policy: str) -> None:
            _replace(folder / "main.tenet", policy.encode())

    else:
        target = tmp_path / "gates.tar.gz"

        def write(policy: str) -> None:
            files = {"tenet.yaml": b"name: gates\nversion: 1.0.0\n", "main.tenet": policy.encode()}
            _replace(target, build_archive(files, None))

        write(V1)
    args = ["--bundle", str(target), "--watch-interval", "0.05", "--allow-same-version"]
    server = Server(args, tmp_path / "log")
    try:
        _swap_under_load(server, write, d1, d2)
    finally:
        assert server.stop() == 0


def test_the_server_freezes_its_heap_and_a_reload_lets_the_old_bundle_go(tmp_path: Path) -> None:
    import gc
    import weakref

    from tenet.server.runner import _freeze_heap

    root = _bundle(tmp_path / "b", V1)
    w = BundleWatcher.open(root, interval=0, allow_same_version=True)
    seen: list[bool] = []
    w.on_reload = lambda old, result: seen.append(result.ok)
    try:
        _freeze_heap(w)
        assert gc.get_freeze_count() > 0
        old = weakref.ref(w.bundle.program)
        _replace(root / "main.tenet", V2.encode())
        w.tick()
        w.tick()
        assert seen == [True]  # the hook it replaced still runs
        assert old() is None  # nothing keeps the replaced bundle alive
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
