"""`tenet serve`: the decision sidecar over HTTP (options and errors here; the server lives in
`tenet.server`)."""

from __future__ import annotations

import click

from tenet.bundle.signing import KeyFileError, load_public_key
from tenet.cli_common import (
    FloatRange,
    bundle_failed,
    check_log_options,
    log_failed,
    public_key_option,
)
from tenet.cli_common import fail as _fail
from tenet.diagnostics import PolicyError


@click.command()
@click.option(
    "--bundle",
    "bundle_path",
    required=True,
    type=click.Path(exists=True),
    help="Bundle folder or archive; watched, and reloaded when it changes.",
)
@click.option(
    "--addr",
    default="127.0.0.1:8181",
    show_default=True,
    help="HOST:PORT to listen on (port 0 picks a free one).",
)
@public_key_option("Refuse any version of the bundle not signed by this Ed25519 key (PEM).")
@click.option(
    "--allow-downgrade",
    is_flag=True,
    help="Let a reload go back to an older version of the bundle (refused by default).",
)
@click.option(
    "--allow-same-version",
    is_flag=True,
    help="Let a reload take changed content under the version deciding, as when editing a "
    "bundle in place (refused by default).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Require a bearer token: one token per line, optionally followed by the caller's name.",
)
@click.option(
    "--max-body",
    type=click.IntRange(min=1),
    default=8 * 1024 * 1024,
    show_default=True,
    help="Largest request body, in bytes (larger ones get 413).",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Most requests in one /v1/batch.",
)
@click.option(
    "--watch-interval",
    type=FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds between looks at the bundle for changes (0: never; SIGHUP still reloads).",
)
@click.option(
    "--shutdown-timeout",
    type=FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to let requests in flight finish after SIGTERM.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option("--access-log", is_flag=True, help="Log one line per request, with its caller.")
@click.option(
    "--decision-cache",
    "decision_cache",
    type=click.IntRange(min=0),
    default=4096,
    show_default=True,
    help="Answers kept for requests repeated byte for byte on the same bundle (0: none).",
)
@click.option(
    "--decision-log",
    "decision_log",
    default=None,
    help="Record every decision: sqlite:///path/audit.db, jsonl:///path/audit.jsonl or stdout:.",
)
@click.option(
    "--audit-fail-closed",
    is_flag=True,
    help="Answer 503 instead of a decision that cannot be recorded.",
)
@click.option(
    "--audit-queue",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Most decisions waiting to be recorded; a full queue slows requests down.",
)
@click.option(
    "--audit-batch",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Most records committed in one transaction.",
)
@click.option(
    "--actor",
    default=None,
    help="Who activates bundles, for the decision log (default: the user running the server).",
)
def serve(
    bundle_path: str,
    addr: str,
    public_key: str | None,
    allow_downgrade: bool,
    allow_same_version: bool,
    token_file: str | None,
    max_body: int,
    max_batch: int,
    watch_interval: float,
    shutdown_timeout: float,
    log_level: str,
    access_log: bool,
    decision_cache: int,
    decision_log: str | None,
    audit_fail_closed: bool,
    audit_queue: int,
    audit_batch: int,
    actor: str | None,
) -> None:
    """Serve decisions over HTTP from a bundle, reloading it when it changes (see
    docs/sidecar.md). Binds loopback by default; SIGTERM finishes requests in flight."""
    from tenet.audit import StoreError
    from tenet.server.auth import TokenFileError
    from tenet.server.runner import ServeOptions, parse_addr
    from tenet.server.runner import serve as run

    try:
        parse_addr(addr)
    except ValueError as err:
        _fail(f"--addr {err}")
    options = ServeOptions(
        bundle=bundle_path,
        addr=addr,
        public_key=public_key,
        allow_downgrade=allow_downgrade,
        allow_same_version=allow_same_version,
        token_file=token_file,
        max_body=max_body,
        max_batch=max_batch,
        watch_interval=watch_interval,
        shutdown_timeout=shutdown_timeout,
        log_level=log_level,
        access_log=access_log,
        decision_cache=decision_cache,
        decision_log=decision_log,
        audit_fail_closed=audit_fail_closed,
        audit_queue=audit_queue,
        audit_batch=audit_batch,
        actor=actor,
    )
    check_log_options(decision_log, ("audit_fail_closed", "audit_queue", "audit_batch", "actor"))
    try:
        if public_key is not None:
            load_public_key(
                public_key
            )  # a key it cannot use is the command's error, not the bundle's
        run(options, announce=lambda line: click.echo(line))
    except PolicyError as err:
        bundle_failed(bundle_path, err)
    except (KeyFileError, TokenFileError) as err:
        _fail(str(err))
    except StoreError as err:
        log_failed(err)
    except RecursionError:
        _fail(f"bundle `{bundle_path}` nests too deeply to load")
    except OSError as err:
        _fail(f"cannot listen on {addr}: {err.strerror or err}")
