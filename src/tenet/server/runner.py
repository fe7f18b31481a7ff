"""Running the sidecar: the uvicorn settings (httptools on uvloop), binding, signals (TERM and
INT drain and stop, HUP reloads), the decision log, and a graceful shutdown that finishes
requests in flight and then flushes the log."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import ipaddress
import logging
import math
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from tenet.audit import AuditLog, StoreError, default_actor
from tenet.audit.stores import StdoutStore
from tenet.server.app import CACHE_SIZE, MAX_BATCH, MAX_BODY, Sidecar
from tenet.server.audit import SidecarAudit
from tenet.server.auth import TokenFileError, Tokens
from tenet.server.protocol import SidecarProtocol, readable
from tenet.server.reload import BundleWatcher

if TYPE_CHECKING:
    from tenet.bundle import Bundle
    from tenet.bundle.reload import ReloadResult

__all__ = [
    "ServeOptions",
    "announced_port",
    "bind",
    "is_loopback",
    "parse_addr",
    "serve",
    "uvicorn_config",
]

log = logging.getLogger("tenet.server")

DEFAULT_ADDR = "127.0.0.1:8181"
# the first line `tenet serve` prints on stdout once it is bound (see `serve`'s announce)
ANNOUNCED = re.compile(rb"listening on http://(?:\[[^\]]*\]|[^:/\s]+):(\d+)")


def announced_port(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """The port a `tenet serve` started with `--addr HOST:0` bound, read from the line it
    announces on stdout (a pipe) once listening: for the supervisors, tests and benchmarks
    that start it. RuntimeError if it exits, or says nothing of the kind within `timeout`
    seconds."""
    assert proc.stdout is not None
    end = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            raise RuntimeError("the server did not start")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            line += os.read(proc.stdout.fileno(), 1)
    found = ANNOUNCED.search(line)
    if not found:
        raise RuntimeError(f"the server announced no address: {line!r}")
    return int(found.group(1))


@dataclass(frozen=True)
class ServeOptions:
    bundle: str
    addr: str = DEFAULT_ADDR
    public_key: str | None = None
    token_file: str | None = None
    max_body: int = MAX_BODY
    max_batch: int = MAX_BATCH
    watch_interval: float = 1.0
    shutdown_timeout: float = 30.0
    log_level: str = "info"
    access_log: bool = False
    decision_cache: int = CACHE_SIZE  # answers kept for repeated requests (0: none)
    decision_log: str | None = None  # a store URL: record every decision
    audit_fail_closed: bool = False
    audit_queue: int = 10_000
    audit_batch: int = 256
    actor: str | None = None  # who activates bundles, for the log (default: the user)
    allow_downgrade: bool = False  # whether a reload may go back to an older version
    allow_same_version: bool = False  # whether it may take another build of the same version


def parse_addr(addr: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT` or `:PORT` (loopback); raises ValueError."""
    host, sep, port_text = addr.rpartition(":")
    if not sep:
        raise ValueError(f"`{addr}` is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"`{addr}`: the port `{port_text}` is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"`{addr}`: the port must be 0 to 65535")
    return host or "127.0.0.1", port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on the address (port 0 picks a free one): connections made before
    the server runs wait in its backlog rather than being refused."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: Any, shutdown_timeout: float = 30.0, log_level: str = "info") -> Any:
    """The server's settings, shared by `tenet serve` and the benchmark's constant-response
    floor: uvicorn with httptools on uvloop (the faster stack measured; see
    docs/performance.md) through `SidecarProtocol` (JSON refusals of malformed HTTP, requests
    waiting at shutdown answered), no proxy-header rewriting, no access log of its own."""
    has = importlib.util.find_spec
    return uvicorn.Config(
        app,
        loop="uvloop" if has("uvloop") else "asyncio",
        http=SidecarProtocol,
        ws="none",
        lifespan="off",
        interface="asgi3",
        log_config=None,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=math.ceil(shutdown_timeout),
    )


SignalHandler = Callable[[int, FrameType | None], Any]


@contextlib.contextmanager
def _handling(on_exit: SignalHandler, on_hup: SignalHandler) -> Generator[None, None, None]:
    """TERM and INT handled by `on_exit`, HUP (where there is one) by `on_hup`, and the
    previous handlers put back after."""
    handlers = {signal.SIGINT: on_exit, signal.SIGTERM: on_exit}
    if hasattr(signal, "SIGHUP"):
        handlers[signal.SIGHUP] = on_hup
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _early_signals(watcher: BundleWatcher) -> Generator[list[int], None, None]:
    """The signals from binding until uvicorn runs: the address is announced in between, and a
    supervisor may signal as soon as it reads it. HUP reloads (the watcher acts on it once it
    starts); TERM and INT are kept, in the list given, for the server to act on once it
    runs (a graceful shutdown, exit 0) rather than killing the process."""
    kept: list[int] = []
    with _handling(lambda sig, frame: kept.append(sig), lambda sig, frame: watcher.trigger()):
        yield kept


class _Server(uvicorn.Server):
    """uvicorn's server with our signals: TERM and INT mark the app as draining (`/ready`
    answers 503) and stop it gracefully; HUP reloads the bundle. The process then exits 0
    rather than re-raising the signal. `kept` are signals received before it ran, acted on
    as it starts. Its shutdown accepts the connections already waiting to be accepted, and
    ends with `503` `shutting_down` for requests that arrived and were never answered."""

    def __init__(
        self,
        config: Any,
        on_exit: Callable[[], None],
        on_hup: Callable[[], None],
        kept: list[int] | None = None,
    ):
        super().__init__(config)
        self._on_exit = on_exit
        self._on_hup = on_hup
        self._kept = kept if kept is not None else []

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with _handling(self.handle_exit, self._hup):
            for sig in self._kept:
                self.handle_exit(sig, None)
            yield

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)

    def _hup(self, sig: int, frame: FrameType | None) -> None:
        self._on_hup()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # connections a client made while a long decision held the loop wait in the listening
        # socket's backlog: closing it would reset them, requests sent and all
        await _accept_waiting(sockets or [])
        await super().shutdown(sockets)
        for connection in list(self.server_state.connections):
            if isinstance(connection, SidecarProtocol):
                connection.refuse_unanswered()


async def _accept_waiting(sockets: list[socket.socket], turns: int = 100) -> None:
    """Let the event loop accept the connections waiting on the listening sockets (a few
    turns of the loop, at most `turns`)."""
    for _ in range(turns):
        if not any(readable(sock.fileno()) for sock in sockets if sock.fileno() >= 0):
            return
        await asyncio.sleep(0)


def serve(options: ServeOptions, announce: Callable[[str], None] | None = None) -> None:
    """Load the bundle (PolicyError when it does not load), bind, and serve until TERM or INT.
    Raises TokenFileError for a bad token file, StoreError when the decision log cannot be
    opened (or, failing closed, its first record written), and OSError when the address cannot
    be bound."""
    logging.basicConfig(
        level=options.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    host, port = parse_addr(options.addr)
    tokens = Tokens.load(options.token_file) if options.token_file else None
    watcher = BundleWatcher.open(
        options.bundle,
        public_key=options.public_key,
        interval=options.watch_interval,
        allow_downgrade=options.allow_downgrade,
        allow_same_version=options.allow_same_version,
    )
    log = AuditLog.open(options.decision_log) if options.decision_log else None
    try:
        sock = bind(host, port)
    except BaseException:
        if log is not None:
            log.close()
        raise
    audit: SidecarAudit | None = None
    try:
        with _early_signals(watcher) as kept:
            # announced once the first record is written (a supervisor waits for the line,
            # and a server that cannot write it stops); with `stdout:` before it, since that
            # record goes to stdout too, and the address must stay the first line there
            early = log is None or isinstance(log.store, StdoutStore)
            if early:
                _announce(sock, watcher.bundle, announce)
            audit = _start_audit(options, log, watcher) if log is not None else None
            if not early:
                _announce(sock, watcher.bundle, announce)
            _freeze_heap(watcher)
            app = Sidecar(
                watcher,
                tokens,
                max_body=options.max_body,
                max_batch=options.max_batch,
                log_requests=options.access_log,
                audit=audit,
                cache_size=options.decision_cache,
            )
            _run(options, watcher, app, host, sock, kept)
    finally:
        sock.close()
        if audit is not None:
            audit.close()  # after requests in flight: flush what is queued


def _announce(sock: socket.socket, b: Bundle, announce: Callable[[str], None] | None) -> None:
    if announce is None:
        return
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    announce(
        f"tenet serve: listening on http://{shown}:{bound[1]} "
        f"(bundle {b.name} {b.version}, {b.digest}, pid {os.getpid()})"
    )


def _freeze_heap(watcher: BundleWatcher) -> None:
    """Take what is alive now, the loaded bundle above all, out of the garbage collector's
    sight (`gc.freeze`), and do so again after each reload.

    A bundle is tens of thousands of long-lived objects (compiled closures, data), and every
    full collection walked them all: about 28 ms each on the access benchmark, most often
    with the decision log on, since requests then hold their decisions until the commit.
    Frozen objects are still freed when nothing refers to them; only a cycle among them
    would outlive its use, which is why a reload unfreezes, collects the replaced bundle,
    and freezes the new one (a pause of the event loop for that one collection)."""
    gc.collect()
    gc.freeze()
    then = watcher.on_reload

    def refreeze(old: Bundle, result: ReloadResult) -> None:
        if then is not None:
            then(old, result)
        if result.ok:
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    watcher.on_reload = refreeze


def _start_audit(options: ServeOptions, log: AuditLog, watcher: BundleWatcher) -> SidecarAudit:
    """The decision log, with the first bundle's activation recorded in it and its writer
    process started. The activation is written by this process before the writer starts
    (nothing else writes yet); the writer binds to uvicorn's event loop on the first
    decision, and from then on writes every record, events included."""
    audit = SidecarAudit(
        log,
        options.actor or default_actor(),
        fail_closed=options.audit_fail_closed,
        max_queue=options.audit_queue,
        max_batch=options.audit_batch,
    )
    try:
        if not audit.activated(None, watcher.bundle) and options.audit_fail_closed:
            raise StoreError(f"cannot record the bundle's activation: {audit.last_error}")
        audit.start()  # a writer that cannot start stops the server, failing open or closed
    except StoreError:
        audit.close()
        raise
    watcher.on_reload = audit.reloaded
    watcher.before_swap = audit.before_swap
    watcher.on_tick = audit.retry_events
    return audit


def _run(
    options: ServeOptions,
    watcher: BundleWatcher,
    app: Sidecar,
    host: str,
    sock: socket.socket,
    kept: list[int],
) -> None:
    tokens = app.tokens
    if options.token_file:
        token_file = options.token_file

        def reload_tokens() -> None:
            try:
                app.tokens = Tokens.load(token_file)
            except TokenFileError as err:
                app.tokens_error = str(err)
                log.error("keeping the previous tokens: %s", err)
            else:
                app.tokens_error = None
                log.info("reloaded the token file `%s`", token_file)

        watcher.watch_file(token_file, reload_tokens)
    if not is_loopback(host) and tokens is None:
        log.warning(
            "listening on %s, which is not loopback, without --token-file: anyone who can "
            "reach it can ask for decisions",
            host,
        )

    def drain() -> None:
        app.draining = True

    server = _Server(
        uvicorn_config(app, options.shutdown_timeout, options.log_level),
        drain,
        watcher.trigger,
        kept,
    )
    watcher.start()
    try:
        server.run(sockets=[sock])
    finally:
        watcher.stop()
