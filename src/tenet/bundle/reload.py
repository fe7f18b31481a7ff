"""Reloading a bundle under a running server: one current bundle, swapped atomically, and a
failed load that leaves the old bundle in place and says why."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from tenet.bundle import Bundle, ReadLimits, load_bundle
from tenet.bundle.signing import PublicKeyLike
from tenet.diagnostics import PolicyError
from tenet.runtime.evaluate import Limits

__all__ = ["BundleHolder", "ReloadResult"]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did: ``bundle`` is the bundle current afterwards, the new one or the old."""

    ok: bool
    bundle: Bundle
    error: str | None = None


class BundleHolder:
    """Holds the bundle a server decides with.

    Readers take ``holder.current`` once per decision and decide on that bundle: a reload
    replaces the reference and never touches a loaded bundle, so a decision in flight finishes
    on the bundle it started with. Reloads are serialized; a failed one keeps the old bundle
    and records why in ``last_error``. With ``public_key`` every version must be signed by it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        limits: Limits | None = None,
        public_key: PublicKeyLike | None = None,
        read_limits: ReadLimits | None = None,
    ) -> None:
        self.path = Path(path)
        self._limits = limits
        self._public_key = public_key
        self._read_limits = read_limits
        self._lock = threading.Lock()
        self._current = self._load(self.path)  # the first load raises: nothing to keep
        self.last_error: str | None = None

    @property
    def current(self) -> Bundle:
        return self._current

    def _load(self, path: Path) -> Bundle:
        return load_bundle(path, self._limits, self._public_key, self._read_limits)

    def reload(self, path: str | os.PathLike[str] | None = None) -> ReloadResult:
        """Load the bundle again (from `path`, which becomes the holder's path, if given) and
        make it current; on failure the current bundle stays and the result says why."""
        target = self.path if path is None else Path(path)
        with self._lock:
            try:
                bundle = self._load(target)
            except PolicyError as err:
                return self._failed(target, str(err))
            except (OSError, ValueError, RecursionError) as err:
                return self._failed(target, f"{type(err).__name__}: {err}")
            self._current = bundle
            self.path = target
            self.last_error = None
            return ReloadResult(True, bundle)

    def _failed(self, target: Path, why: str) -> ReloadResult:
        self.last_error = f"reloading `{target}` failed; keeping {_label(self._current)}:\n{why}"
        return ReloadResult(False, self._current, self.last_error)


def _label(bundle: Bundle) -> str:
    return f"{bundle.name} {bundle.version} ({bundle.digest})"
