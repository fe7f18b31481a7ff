"""Reloading a bundle under a running server: one current bundle, swapped atomically, and a
failed load that leaves the old bundle in place and says why."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenet.bundle import Bundle, ReadLimits, load_tree, open_tree
from tenet.bundle.signing import PublicKeyLike
from tenet.diagnostics import Diagnostic, PolicyError
from tenet.runtime.builtins.versions import compare, parse_version
from tenet.runtime.evaluate import Limits

__all__ = [
    "READ_ATTEMPTS",
    "UNSETTLED",
    "BundleHolder",
    "Fingerprint",
    "ReloadResult",
    "fingerprint",
]

Fingerprint = tuple[Any, ...]

# a load that found its folder changed while it read it is tried this many times in all
READ_ATTEMPTS = 3
# the fingerprint of no version: what a load that never read one whole version was of
UNSETTLED: Fingerprint = ("unsettled",)


def fingerprint(path: Path) -> Fingerprint:
    """What changes when a bundle folder's files or an archive change: each file's path, size,
    modification time and inode (files replaced by renaming count too). Hidden names and
    `__pycache__` are skipped as the loader skips them, except `.signature`. A link is
    followed, so a link and the folder it points at have the same fingerprint."""
    try:
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            return ("file", st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        entries: list[tuple[str, int, int, int]] = []
        _walk(path, "", entries)
        entries.sort()
        return ("dir", st.st_dev, st.st_ino, tuple(entries))
    except OSError as err:
        return ("error", type(err).__name__, str(err))


def _walk(folder: Path, prefix: str, out: list[tuple[str, int, int, int]]) -> None:
    with os.scandir(folder) as it:
        for entry in it:
            name = entry.name
            if (name.startswith(".") and not (name == ".signature" and not prefix)) or (
                name.startswith("__pycache__")
            ):
                continue
            rel = prefix + name
            if entry.is_dir(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                out.append((rel + "/", 0, 0, st.st_ino))
                _walk(Path(entry.path), rel + "/", out)
            else:
                st = entry.stat(follow_symlinks=False)
                out.append((rel, st.st_size, st.st_mtime_ns, st.st_ino))


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did: ``bundle`` is the bundle current afterwards, the new one or the old.
    ``source`` is the fingerprint of the version read (`UNSETTLED` when no whole version could
    be read): a watcher compares the path with it, not with what it saw before the load."""

    ok: bool
    bundle: Bundle
    error: str | None = None
    source: Fingerprint = UNSETTLED


class BundleHolder:
    """Holds the bundle a server decides with.

    Readers take ``holder.current`` once per decision and decide on that bundle: a reload
    replaces the reference and never touches a loaded bundle, so a decision in flight finishes
    on the bundle it started with. Reloads are serialized; a failed one keeps the old bundle
    and records why in ``last_error``. With ``public_key`` every version must be signed by it.

    A reload replaces the bundle with a newer version of itself: one whose manifest names
    another bundle is refused, and so is an older version unless ``allow_downgrade``, and
    another build of the version deciding (the same version, another digest) unless
    ``allow_same_version``; the same build read again is taken. A signature says who made a
    version, not that it is the latest or the release: without this, an old signed release
    written over the path, a build re-signed with other policies under the same version, or
    another bundle signed by the same key would be served.

    Each load resolves the path's links once and reads every file from the folder (or
    archive) they led to, so swapping a link during the load cannot mix two versions; a load
    whose folder changed while it was read (the fingerprint before and after differ) is read
    again, and refused after `READ_ATTEMPTS` tries, never made current. ``source`` is the
    fingerprint of the version current.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        limits: Limits | None = None,
        public_key: PublicKeyLike | None = None,
        read_limits: ReadLimits | None = None,
        allow_downgrade: bool = False,
        allow_same_version: bool = False,
    ) -> None:
        self.path = Path(path)
        self.allow_downgrade = allow_downgrade
        self.allow_same_version = allow_same_version
        self._limits = limits
        self._public_key = public_key
        self._read_limits = read_limits
        self._lock = threading.Lock()
        self._read: Fingerprint = UNSETTLED
        self._current = self._load(self.path)  # the first load raises: nothing to keep
        self.source = self._read
        self.last_error: str | None = None

    @property
    def current(self) -> Bundle:
        return self._current

    def _load(self, path: Path) -> Bundle:
        """The bundle at `path`; raises PolicyError (and OSError, ValueError, RecursionError)
        when it does not load. Sets `_read` to the fingerprint of the version it read, loaded
        or refused (`UNSETTLED` when it never read one whole version)."""
        self._read = UNSETTLED
        for _ in range(READ_ATTEMPTS):
            # links are resolved once: every file is then read from one version's folder,
            # whatever happens to the link meanwhile
            resolved = Path(os.path.realpath(path))
            # a path that does not exist is refused under the name it was given
            where = resolved if resolved.exists() else path
            before = fingerprint(where)
            try:
                tree = open_tree(where, self._read_limits)
            except (PolicyError, OSError):
                if fingerprint(where) != before:
                    continue  # a file went away under the read: read the new version
                self._read = before
                raise
            if fingerprint(where) != before:
                continue
            self._read = before
            # a folder names the bundle by its own name, an archive by the name it was given
            root = where if where.is_dir() else path
            return load_tree(tree, root, self._limits, self._public_key)
        raise PolicyError([_unsettled(path)])

    def reload(
        self,
        path: str | os.PathLike[str] | None = None,
        before_swap: Callable[[Bundle, Bundle], None] | None = None,
    ) -> ReloadResult:
        """Load the bundle again (from `path`, which becomes the holder's path, if given) and
        make it current; on failure the current bundle stays and the result says why.
        `before_swap(current, new)` runs once the new version is accepted, before any reader
        can take it (the decision log queues its activation record there)."""
        target = self.path if path is None else Path(path)
        with self._lock:
            try:
                bundle = self._load(target)
            except PolicyError as err:
                return self._failed(target, str(err))
            except (OSError, ValueError, RecursionError) as err:
                return self._failed(target, f"{type(err).__name__}: {err}")
            refused = self._refusal(bundle, target)
            if refused is not None:
                return self._failed(target, str(PolicyError([refused])))
            if before_swap is not None:
                before_swap(self._current, bundle)
            self._current = bundle
            self.path = target
            self.source = self._read
            self.last_error = None
            return ReloadResult(True, bundle, None, self.source)

    def _refusal(self, new: Bundle, path: Path) -> Diagnostic | None:
        """Why `new` may not replace the current bundle on a reload; None when it may."""
        current = self._current
        named = "name" in current.manifest.spans and "name" in new.manifest.spans
        if named and new.name != current.name:  # a folder without a name is named by its path
            return Diagnostic(
                "bundle-substituted",
                f"`{path}` is now bundle `{new.name}` {new.version}, not `{current.name}`: a "
                "reload replaces a bundle with another version of itself, never with another "
                "bundle",
                None,
                "to serve another bundle, start a server on it",
                file=str(path),
            )
        was, now = parse_version(current.version), parse_version(new.version)
        if was is None or now is None:
            return None
        order = compare(now, was)
        if order < 0 and not self.allow_downgrade:
            return Diagnostic(
                "bundle-downgrade",
                f"`{path}` is now {new.name} {new.version}, older than {current.version}, the "
                "version deciding: a reload does not go back to an older version, which could "
                "be an old signed release put back",
                None,
                "to roll back on purpose, release the old content as a new version, or start "
                "the server with `--allow-downgrade`",
                file=str(path),
            )
        versioned = "version" in current.manifest.spans and "version" in new.manifest.spans
        if (
            order == 0
            and versioned  # a bundle that states no version claims nothing by keeping it
            and new.digest != current.digest
            and not self.allow_same_version
        ):
            return Diagnostic(
                "bundle-same-version",
                f"`{path}` is now another build of {new.name} {new.version} ({new.digest}), "
                f"not the one deciding ({current.digest}): a reload takes a new version, not "
                "other content under the version number deciding, which could be a build "
                "other than the release, signed all the same",
                None,
                "release the change as a new version (raise `version` in `tenet.yaml`), or "
                "start the server with `--allow-same-version`",
                file=str(path),
            )
        return None

    def _failed(self, target: Path, why: str) -> ReloadResult:
        self.last_error = f"reloading `{target}` failed; keeping {_label(self._current)}:\n{why}"
        return ReloadResult(False, self._current, self.last_error, self._read)


def _unsettled(path: Path) -> Diagnostic:
    return Diagnostic(
        "bundle-changing",
        f"`{path}` changed while it was being read, {READ_ATTEMPTS} times in a row",
        None,
        "replace a bundle at once: write the new version beside the old one, then rename it "
        "over it or swap a link to it",
        file=str(path),
    )


def _label(bundle: Bundle) -> str:
    return f"{bundle.name} {bundle.version} ({bundle.digest})"
