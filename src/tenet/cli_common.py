"""What every `tenet` command shares: the usage exit code, the error line, loading a bundle."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import click
from click.core import ParameterSource

import tenet
from tenet.audit.log import names_someone
from tenet.audit.stores import AuditStore, StoreError, open_store
from tenet.bundle.signing import KeyFileError
from tenet.diagnostics import PolicyError
from tenet.wording import count

__all__ = [
    "EXIT_USAGE",
    "bundle_failed",
    "fail",
    "load",
    "read_log",
    "write_file",
    "write_report",
]

EXIT_USAGE = 2  # Tenet could not do what was asked


def fail(message: str) -> NoReturn:
    """Print `error: message` on stderr and exit 2, with no traceback."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def read_log(url: str) -> AuditStore:
    """A decision log to read (`tenet audit`, `tenet compliance`): it must exist, and
    `stdout:` cannot be read back."""
    if url.startswith("stdout:"):
        fail("`stdout:` cannot be read back: give the sqlite:// or jsonl:// log")
    try:
        return open_store(url, create=False)
    except StoreError as err:
        fail(str(err))


def check_actor(actor: str | None) -> None:
    """Refuse an `--actor` that names nobody, or that a table or log line could not show."""
    if actor is not None and not names_someone(actor):
        fail(f"--actor {actor!r} is not a name: give who acts, such as `ci` or `alice`")


def check_log_options(log_url: str | None, needing: tuple[str, ...]) -> None:
    """Refuse an empty `--decision-log` (an unset variable, say), which would turn recording
    off without a word, and the options of `needing` given without a decision log."""
    if log_url is not None and not log_url.strip():
        fail(
            "--decision-log is empty\n  = help: give `sqlite:///path/audit.db`, "
            "`jsonl:///path/audit.jsonl` or `stdout:`"
        )
    ctx = click.get_current_context()
    check_actor(ctx.params.get("actor"))
    if log_url is not None:
        return
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name or "")
        if param.name in needing and source not in (None, ParameterSource.DEFAULT):
            fail(f"{param.opts[-1]} needs --decision-log")


def log_failed(err: StoreError) -> NoReturn:
    """The decision log given to `--decision-log` cannot be opened: exit 2 saying why."""
    text = str(err)
    if text.startswith("cannot open "):  # "cannot open `URL`: why"
        fail("cannot open the decision log " + text.removeprefix("cannot open "))
    fail(f"cannot open the decision log: {text}")


def bundle_failed(path: str, err: PolicyError) -> NoReturn:
    click.echo(str(err), err=True)
    n = len(err.diagnostics)
    click.echo(f"\nerror: bundle `{path}` did not load ({count(n, 'problem')})", err=True)
    sys.exit(EXIT_USAGE)


def load(path: str, public_key: str | None = None) -> tenet.Bundle:
    """Load a bundle folder or archive (verifying its signature with `public_key`, a PEM file);
    exits 2 with every problem when it does not load."""
    try:
        return tenet.load_bundle(path, public_key=public_key)
    except PolicyError as err:
        bundle_failed(path, err)
    except KeyFileError as err:
        fail(str(err))
    except RecursionError:
        fail(f"bundle `{path}` nests too deeply to load")


def write_report(output: str, text: str, said: str) -> None:
    """Write a report file whole (`write_atomically`), or to stdout when `output` is `-`, then
    print `said` (on stderr when the report went to stdout); or fail naming the file."""
    if output == "-":
        click.echo(text)
        click.echo(said, err=True)
        return
    path = Path(output)
    if not path.parent.is_dir():
        fail(f"cannot write `{output}`: the folder `{path.parent}` does not exist")
    write_file(path, text.encode("utf-8"))
    click.echo(said)


def write_file(path: Path, data: bytes, mode: int | None = None) -> None:
    """`write_atomically`, or exit 2 naming the file and why it cannot be written (a folder in
    its place, a file where a folder should be, no permission): never a traceback."""
    if path.is_dir():
        fail(
            f"cannot write `{path}`: it is a folder\n  = help: remove or rename the folder, "
            "or write the file elsewhere"
        )
    try:
        write_atomically(path, data, mode)
    except OSError as err:
        fail(f"cannot write `{path}`: {_unwritable(path, err)}")


def _unwritable(path: Path, err: OSError) -> str:
    # mkdir says only "File exists" when a file stands where a parent folder should be
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return f"`{parent}` is a file, not a folder"
    if isinstance(err, IsADirectoryError):
        return "it is a folder"
    why = err.strerror or str(err)
    return why[:1].lower() + why[1:]


def write_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write a file whole or not at all: a reader never sees half an archive, key or policy.
    Without `mode`, a file that exists keeps its permissions and a new one gets 0644."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
