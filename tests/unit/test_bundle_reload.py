"""Reloading: a new version replaces the old atomically, a decision in flight finishes on the
bundle it started with, and a failed load keeps the old bundle and says why."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tenet
import tenet.bundle
from tenet.bundle.reload import UNSETTLED, BundleHolder, fingerprint
from tenet.bundle.signing import generate_keypair, load_private_key, sign_digest
from tests.changing import after_calls, point, release
from tests.conftest import assert_valid_decision, write_bundle

V1 = {
    "tenet.yaml": "name: gates\nversion: 1.0.0\n",
    "main.tenet": 'package main\nrequire ok blocking { input.level < 3 } message "too high"\n',
}
V2 = {
    "tenet.yaml": "name: gates\nversion: 2.0.0\n",
    "main.tenet": 'package main\nrequire ok blocking { input.level < 2 } message "too high"\n',
}


def test_reload_swaps_in_the_new_version(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", V1)
    holder = BundleHolder(root)
    old = holder.current
    assert old.decide("main", {"level": 2}).allowed
    write_bundle(root, V2)
    result = holder.reload()
    assert result.ok and result.error is None
    assert holder.current is result.bundle is not old
    assert holder.current.version == "2.0.0"
    assert not holder.current.decide("main", {"level": 2}).allowed
    # the old bundle object is untouched
    assert old.version == "1.0.0" and old.decide("main", {"level": 2}).allowed


def test_a_failed_reload_keeps_the_old_bundle_and_says_why(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", V1)
    holder = BundleHolder(root)
    old = holder.current
    write_bundle(root, {"main.tenet": "package main\nrequire ok {\n"})
    result = holder.reload()
    assert not result.ok
    assert holder.current is old and result.bundle is old
    assert result.error == holder.last_error
    assert result.error is not None
    assert result.error.startswith(f"reloading `{root}` failed; keeping gates 1.0.0 (sha256:")
    assert "main.tenet" in result.error  # the problem, with its file
    # the next good load clears the error
    write_bundle(root, V2)
    assert holder.reload().ok
    assert holder.last_error is None


def test_reload_from_another_path(tmp_path: Path) -> None:
    holder = BundleHolder(write_bundle(tmp_path / "v1", V1))
    v2 = write_bundle(tmp_path / "v2", V2)
    assert holder.reload(v2).ok
    assert holder.path == v2
    assert not holder.reload(tmp_path / "missing").ok
    assert holder.path == v2 and holder.current.version == "2.0.0"


def test_with_a_public_key_an_unsigned_new_version_is_refused(tmp_path: Path) -> None:
    private_pem, public_pem = generate_keypair()
    root = write_bundle(tmp_path / "b", V1)
    digest = tenet.load_bundle(root).digest
    (root / ".signature").write_bytes(sign_digest(load_private_key(private_pem), digest).to_bytes())
    holder = BundleHolder(root, public_key=public_pem)
    write_bundle(root, V2)  # changed, signature now stale
    result = holder.reload()
    assert not result.ok
    assert result.error is not None and "changed after signing" in result.error
    assert holder.current.version == "1.0.0"


def _signed(root: Path, files: dict[str, str], private_pem: bytes) -> Path:
    write_bundle(root, files)
    (root / ".signature").unlink(missing_ok=True)
    digest = tenet.load_bundle(root).digest
    (root / ".signature").write_bytes(sign_digest(load_private_key(private_pem), digest).to_bytes())
    return root


def test_an_older_version_or_another_bundle_signed_by_the_same_key_is_refused(
    tmp_path: Path,
) -> None:
    private_pem, public_pem = generate_keypair()
    v1 = _signed(tmp_path / "v1", V1, private_pem)
    other = {**V1, "tenet.yaml": "name: other-team\nversion: 9.0.0\n"}
    other_root = _signed(tmp_path / "other", other, private_pem)
    holder = BundleHolder(_signed(tmp_path / "v2", V2, private_pem), public_key=public_pem)
    current = holder.current
    label = f"gates 2.0.0 ({current.digest})"

    result = holder.reload(v1)  # an old release, signed then, put back
    assert not result.ok and holder.current is current
    assert result.error == (
        f"reloading `{v1}` failed; keeping {label}:\n"
        f"error[bundle-downgrade]: `{v1}` is now gates 1.0.0, older than 2.0.0, the version "
        "deciding: a reload does not go back to an older version, which could be an old signed "
        f"release put back\n  --> {v1}\n  = help: to roll back on purpose, release the old "
        "content as a new version, or start the server with `--allow-downgrade`"
    )
    result = holder.reload(other_root)
    assert not result.ok and holder.current is current
    assert (
        result.error is not None
        and (
            f"error[bundle-substituted]: `{other_root}` is now bundle `other-team` 9.0.0, not "
            "`gates`: a reload replaces a bundle with another version of itself, never with "
            "another bundle"
        )
        in result.error
    )
    # asked for, a rollback is taken; another bundle never is
    holder.allow_downgrade = True
    assert holder.reload(v1).ok and holder.current.version == "1.0.0"
    assert not holder.reload(other_root).ok


def test_another_build_of_the_version_deciding_is_refused_unless_allowed(tmp_path: Path) -> None:
    # a build re-signed with weaker policy under an unchanged version was swapped in silently
    private_pem, public_pem = generate_keypair()
    v1 = _signed(tmp_path / "v1", V1, private_pem)
    holder = BundleHolder(_signed(tmp_path / "v2", V2, private_pem), public_key=public_pem)
    current = holder.current
    weaker = _signed(
        tmp_path / "v2b", {**V2, "main.tenet": V2["main.tenet"].replace("2", "9")}, private_pem
    )
    digest = tenet.load_bundle(weaker).digest
    result = holder.reload(weaker)
    assert not result.ok and holder.current is current
    assert result.error == (
        f"reloading `{weaker}` failed; keeping gates 2.0.0 ({current.digest}):\n"
        f"error[bundle-same-version]: `{weaker}` is now another build of gates 2.0.0 "
        f"({digest}), not the one deciding ({current.digest}): a reload takes a new version, "
        "not other content under the version number deciding, which could be a build other "
        f"than the release, signed all the same\n  --> {weaker}\n  = help: release the "
        "change as a new version (raise `version` in `tenet.yaml`), or start the server with "
        "`--allow-same-version`"
    )
    assert holder.last_error == result.error
    # the same build read again (copied, re-signed, a SIGHUP) is taken and changes nothing
    again = holder.reload(_signed(tmp_path / "v2c", V2, private_pem))
    assert again.ok and again.bundle.digest == current.digest and holder.last_error is None
    # a downgrade is not allowed by it, nor this by --allow-downgrade
    holder.allow_downgrade = True
    assert "bundle-same-version" in (holder.reload(weaker).error or "")
    holder.allow_downgrade, holder.allow_same_version = False, True
    assert "bundle-downgrade" in (holder.reload(v1).error or "")
    assert holder.reload(weaker).ok and holder.current.decide("main", {"level": 5}).allowed


def test_a_bundle_that_states_no_version_may_change_under_it(tmp_path: Path) -> None:
    # an unversioned folder, edited in place as one writes it, claims no version by keeping it
    root = write_bundle(
        tmp_path / "b", {"tenet.yaml": "name: gates\n", "main.tenet": V1["main.tenet"]}
    )
    holder = BundleHolder(root)
    write_bundle(root, {"main.tenet": V2["main.tenet"]})
    assert holder.reload().ok and not holder.current.decide("main", {"level": 2}).allowed


def test_a_folder_without_a_name_may_be_swapped_for_another_folder(tmp_path: Path) -> None:
    # named after its folder: a link moved to the next release's folder renames it
    unnamed = {"main.tenet": V1["main.tenet"]}
    holder = BundleHolder(write_bundle(tmp_path / "release-1", unnamed))
    assert holder.reload(write_bundle(tmp_path / "release-2", unnamed)).ok
    assert holder.current.name == "release-2"


def test_the_first_load_raises() -> None:
    with pytest.raises(tenet.PolicyError):
        BundleHolder("/nonexistent/bundle")


def test_a_decision_in_flight_finishes_on_the_old_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_bundle(tmp_path / "b", V1)
    holder = BundleHolder(root)
    old_digest = holder.current.digest
    in_flight = threading.Event()
    reloaded = threading.Event()
    real_evaluate = tenet.bundle.evaluate
    calls = 0

    def paused_evaluate(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # the first decision stops mid-way until the reload is done
            in_flight.set()
            assert reloaded.wait(timeout=30)
        return real_evaluate(*args)

    monkeypatch.setattr(tenet.bundle, "evaluate", paused_evaluate)
    results: dict[str, Any] = {}

    def serve() -> None:
        results["doc"] = holder.current.decide("main", {"level": 2}).to_dict()

    worker = threading.Thread(target=serve)
    worker.start()
    assert in_flight.wait(timeout=30)
    write_bundle(root, V2)
    assert holder.reload().ok
    after = holder.current.decide("main", {"level": 2}).to_dict()  # a new decision: new bundle
    reloaded.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    doc = results["doc"]
    assert_valid_decision(doc)
    assert doc["bundle"]["version"] == "1.0.0"
    assert doc["bundle"]["digest"] == old_digest
    assert doc["outcome"] == "allow"  # decided by v1's rule
    assert after["bundle"]["version"] == "2.0.0"
    assert after["outcome"] == "deny"


def test_concurrent_reloads_and_decisions_always_see_a_whole_bundle(tmp_path: Path) -> None:
    one = write_bundle(tmp_path / "one", V1)
    two = write_bundle(tmp_path / "two", V2)
    holder = BundleHolder(one, allow_downgrade=True)  # back and forth
    expected = {"1.0.0": "allow", "2.0.0": "deny"}
    errors: list[str] = []
    start = threading.Barrier(5)

    def decide() -> None:
        start.wait()
        for _ in range(50):
            d = holder.current.decide("main", {"level": 2})
            if d.outcome != expected[d.to_dict()["bundle"]["version"]]:
                errors.append(d.to_json())

    def reload() -> None:
        start.wait()
        for i in range(10):
            holder.reload(two if i % 2 == 0 else one)

    threads = [threading.Thread(target=decide) for _ in range(4)] + [
        threading.Thread(target=reload)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []


# ---- a bundle that changes while it is read ------------------------------------------------


def _answer(holder: BundleHolder) -> Any:
    return holder.current.evaluate_document("zz").value


def test_a_link_swapped_during_a_reload_loads_one_whole_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel1, rel2 = release(tmp_path / "rel1", 1), release(tmp_path / "rel2", 2)
    digests = {tenet.load_bundle(rel1).digest, tenet.load_bundle(rel2).digest}
    link = tmp_path / "current"
    point(link, rel1)
    holder = BundleHolder(link)
    point(link, rel2)  # a deploy, rolled back while the reload reads the files
    after_calls(monkeypatch, Path, "read_bytes", [lambda: None, lambda: point(link, rel1)])
    result = holder.reload()
    assert result.ok and result.bundle.digest in digests
    assert result.bundle.digest == tenet.load_bundle(rel2).digest  # read from where it pointed
    assert _answer(holder) == {"consistent": True, "pol_gen": 2}
    assert result.source == fingerprint(rel2) != fingerprint(link)


def test_a_folder_changed_while_it_is_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = release(tmp_path / "b", 1)
    holder = BundleHolder(root)

    def edit(gen: int) -> Callable[[], None]:
        return lambda: release(root, gen)

    after_calls(
        monkeypatch, Path, "read_bytes", [edit(2)]
    )  # the first read is of two versions; the second of one
    result = holder.reload()
    assert result.ok and _answer(holder) == {"consistent": True, "pol_gen": 2}
    assert result.source == fingerprint(root)


def test_a_folder_that_never_holds_still_is_refused_and_the_old_version_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = release(tmp_path / "b", 1)
    holder = BundleHolder(root)
    old = holder.current
    # every read rewrites a file with a new size: no attempt reads one version
    after_calls(
        monkeypatch,
        Path,
        "read_bytes",
        [lambda n=n: (root / "pad" / "a.txt").write_text("a" * (n + 2)) for n in range(100)],
    )
    result = holder.reload()
    assert not result.ok and holder.current is old and result.source == UNSETTLED
    assert result.error is not None
    assert result.error.endswith(
        f"error[bundle-changing]: `{root}` changed while it was being read, 3 times in a row\n"
        f"  --> {root}\n"
        "  = help: replace a bundle at once: write the new version beside the old one, then "
        "rename it over it or swap a link to it"
    )
