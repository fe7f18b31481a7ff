"""Hot reload for the sidecar: a thread that watches the bundle folder or archive, loads and
verifies a changed version in the background, and swaps it in through a `BundleHolder`; a bad
version keeps the old one deciding and is reported."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenet.bundle import Bundle, ReadLimits
from tenet.bundle.reload import BundleHolder, Fingerprint, ReloadResult, fingerprint
from tenet.bundle.signing import PublicKeyLike
from tenet.runtime.evaluate import Limits

__all__ = ["BundleWatcher", "WatchStatus", "fingerprint"]

log = logging.getLogger("tenet.server")


@dataclass(frozen=True, slots=True)
class WatchStatus:
    """What `/v1/bundle`, `/health` and the metrics report about the bundle."""

    bundle: Bundle
    path: Path
    loaded_at: float  # epoch seconds
    last_error: str | None
    last_error_at: float | None
    reloads: int  # successful reloads since start
    failures: int  # failed ones


class BundleWatcher:
    """Watches the bundle of a `BundleHolder` and reloads it when its files change.

    Every `interval` seconds the watcher takes the bundle's fingerprint; a change is acted on
    once it has held still for one interval (so a folder being copied is not loaded half-way),
    then the new version is loaded and verified on this thread while the old one keeps
    deciding, and swapped in at once. `trigger()` (SIGHUP) reloads at once without waiting for
    a change. Other files (the token file) can be watched alongside."""

    def __init__(
        self,
        holder: BundleHolder,
        interval: float = 1.0,
        first: Fingerprint | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.holder = holder
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._forced = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._files: list[_Watched] = []
        # called after each reload, in order, with the bundle that was current before it
        # (the decision log records activations and failed reloads here)
        self.on_reload: Callable[[Bundle, ReloadResult], None] | None = None
        # called with the current and the new bundle once a reload accepts the new one, before
        # any request can take it: the decision log queues the activation there, so that no
        # decision of the new bundle is recorded ahead of it
        self.before_swap: Callable[[Bundle, Bundle], None] | None = None
        # called after each tick, on the watcher's thread (the decision log retries the
        # events it could not write yet)
        self.on_tick: Callable[[], None] | None = None
        self._bundle = _Watched(holder.path, self._reload, first or holder.source)
        self._status = WatchStatus(holder.current, holder.path, clock(), None, None, 0, 0)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        limits: Limits | None = None,
        public_key: PublicKeyLike | None = None,
        read_limits: ReadLimits | None = None,
        interval: float = 1.0,
        allow_downgrade: bool = False,
        allow_same_version: bool = False,
    ) -> BundleWatcher:
        """Load the bundle (raising PolicyError when it does not load) and watch it."""
        holder = BundleHolder(
            path, limits, public_key, read_limits, allow_downgrade, allow_same_version
        )
        return cls(holder, interval)

    @property
    def bundle(self) -> Bundle:
        """The bundle deciding now: take it once per request."""
        return self.holder.current

    def status(self) -> WatchStatus:
        return self._status

    def watch_file(self, path: str | os.PathLike[str], on_change: Callable[[], None]) -> None:
        """Call `on_change` (on the watcher's thread) when the file at `path` changes."""
        p = Path(path)
        self._files.append(_Watched(p, on_change, fingerprint(p)))

    # ---- the thread ----------------------------------------------------------------------

    def start(self) -> None:
        """Watch on a daemon thread (with `interval` 0 it only answers `trigger()`)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="tenet-bundle-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def trigger(self) -> None:
        """Reload the bundle and every watched file now, changed or not (SIGHUP)."""
        self._forced.set()
        self._wake.set()

    def _run(self) -> None:
        timeout = self.interval if self.interval > 0 else None
        while True:
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.tick(look=self.interval > 0)
            except Exception:  # the watcher must outlive any surprise
                log.exception("the bundle watcher failed; it keeps watching")

    def tick(self, look: bool = True) -> None:
        """Act on a trigger, then (with `look`) reload what changed and has held still."""
        watched = (self._bundle, *self._files)
        if self._forced.is_set():
            self._forced.clear()
            for w in watched:
                w.last, w.pending = fingerprint(w.path), None
                w.on_change()
        if look:
            for w in watched:
                if w.settled(fingerprint(w.path)):
                    w.on_change()
        if self.on_tick is not None:
            self.on_tick()

    def reload(self) -> ReloadResult:
        """Reload the bundle now, on the calling thread, and record the result."""
        return self._reload()

    def _reload(self) -> ReloadResult:
        with self._lock:
            started = self._clock()
            old = self.holder.current
            result = self.holder.reload(before_swap=self.before_swap)
            # compared from now on with the version the load read, not with what the watcher
            # saw before it: a link moved during the load and moved back is then a change
            self._bundle.last, self._bundle.pending = result.source, None
            s = self._status
            if result.ok:
                loaded = self._clock()
                self._status = WatchStatus(
                    result.bundle, self.holder.path, loaded, None, None, s.reloads + 1, s.failures
                )
            else:
                self._status = WatchStatus(
                    s.bundle, s.path, s.loaded_at, result.error, started, s.reloads, s.failures + 1
                )
            if self.on_reload is not None:
                try:
                    self.on_reload(old, result)
                except Exception:
                    log.exception("recording the reload failed")
        b = result.bundle
        if result.ok:
            log.info("reloaded bundle %s %s (%s)", b.name, b.version, b.digest)
        else:
            log.error("%s", result.error)
        return result


class _Watched:
    """A watched path: the fingerprint last acted on, and a change waiting to settle."""

    def __init__(self, path: Path, on_change: Callable[[], Any], first: Fingerprint) -> None:
        self.path = path
        self.on_change = on_change
        self.last = first
        self.pending: Fingerprint | None = None

    def settled(self, now: Fingerprint) -> bool:
        """Whether the path changed and has held still since the previous tick."""
        if now == self.last:
            self.pending = None
            return False
        if now != self.pending:
            self.pending = now
            return False
        self.last, self.pending = now, None
        return True
