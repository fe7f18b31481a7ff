"""What every `tenet` command shares: the usage exit code, the error line, loading a bundle."""

from __future__ import annotations

import errno
import math
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, NoReturn

import click
from click.core import ParameterSource

import tenet
from tenet.audit.log import names_someone, store_path
from tenet.audit.stores import AuditStore, StoreError, names_stdout, open_store
from tenet.bundle.files import counted
from tenet.bundle.signing import KeyFileError, load_public_key
from tenet.diagnostics import PolicyError
from tenet.escape import printable
from tenet.wording import count

__all__ = [
    "EXIT_USAGE",
    "UNTIL",
    "FloatRange",
    "Once",
    "binary_stdin",
    "bundle_failed",
    "fail",
    "load",
    "public_key_option",
    "read_log",
    "since_option",
    "write_atomically",
    "write_file",
    "write_output",
]

EXIT_USAGE = 2  # Tenet could not do what was asked

# the end of a report's window, for the commands that take --since: fixed, it makes the report
# repeatable (the log is append-only)
UNTIL = click.option(
    "--until",
    default=None,
    help="The window's end: RFC 3339, or a window back from now such as 1d (default: now).",
)


def since_option(default: str) -> Any:
    """The `--since` of a report: the window's start, by default `default` back from its end."""
    return click.option(
        "--since",
        default=default,
        show_default=True,
        help=f"The window's start: a window back from its end ({default}) or RFC 3339.",
    )


class FloatRange(click.FloatRange):
    """click's FloatRange, refusing `nan`: it compares false with every bound, so click lets
    it through, and it then passes or fails every comparison made with it."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number.", param, ctx)
        return number


class Once(click.Option):
    """An option that may be given once, saying `because` when it is given again: click
    keeps the last of two without a word, and for `--public-key` an operator passing the old
    and the new key would have one of them silently dropped."""

    def __init__(self, *args: Any, because: str, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "multiple": True})
        self.because = because

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        given = super().process_value(ctx, value)
        if len(given) > 1:
            raise click.UsageError(
                f"`{self.opts[0]}` is given {len(given)} times: {self.because}", ctx
            )
        return given[0] if given else None


def public_key_option(help: str, required: bool = False) -> Any:
    """`--public-key PEM`, which may be given once: a bundle is verified against one key."""
    return click.option(
        "--public-key",
        cls=Once,
        because="a bundle is checked against one key, so give only the key it must be signed by",
        required=required,
        type=click.Path(dir_okay=False),
        help=help,
    )


def fail(message: str) -> NoReturn:
    """Print `error: message` on stderr and exit 2, with no traceback; an escape in a name
    the message quotes (a query or a path given on the command line) is shown, not obeyed."""
    lines = f"error: {message}".split("\n")
    click.echo("\n".join(printable(line) for line in lines), err=True)
    sys.exit(EXIT_USAGE)


def read_log(url: str) -> AuditStore:
    """A decision log to read (`tenet audit`, `tenet compliance`): it must exist, and
    standard output cannot be read back, however it is spelt (open_store's hint for a bare
    `stdout`, to write `stdout:`, is for the commands that write a log)."""
    if names_stdout(url):
        fail(
            f"`{url}` is standard output: a decision log written there cannot be read back\n"
            "  = help: pass the `sqlite:///path/audit.db` or `jsonl:///path/audit.jsonl` URL "
            "the records were written to"
        )
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
    bundle = ctx.params.get("bundle_path")
    log = store_path(log_url) if log_url else None
    if bundle and log is not None and _is_dir(Path(bundle)) and _in_bundle(log, Path(bundle)):
        fail(
            f"the decision log `{log_url}` is inside the bundle's folder `{bundle}`\n"
            "  = help: put it outside: the log and its key file would become files of the "
            "bundle, changing it with every decision and shipping the key that undoes "
            "its tokens"
        )
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
        if public_key is not None:
            # a key it cannot use is the command's error, not the bundle's
            load_public_key(public_key)
        return tenet.load_bundle(path, public_key=public_key)
    except KeyFileError as err:
        fail(str(err))
    except PolicyError as err:
        bundle_failed(path, err)
    except RecursionError:
        fail(f"bundle `{path}` nests too deeply to load")


def binary_stdin() -> IO[bytes]:
    """Standard input, for bytes; fails (exit 2) when the process was started without one
    (`<&-`), where Python leaves `sys.stdin` None."""
    if sys.stdin is None:
        fail("cannot read standard input: it is closed")
    return sys.stdin.buffer


def write_output(output: str, data: str | bytes, said: str, mode: int | None = None) -> None:
    """Write a report or an archive whole to the file `output` (`write_file`), or to standard
    output when `output` is `-` or names it (`/dev/stdout`), then print `said`: on stderr when
    the data went to standard output, where it would be mixed with it."""
    if output == "-" or _is_stdout(output):
        if isinstance(data, bytes) and sys.stdout is not None and sys.stdout.isatty():
            fail(
                "standard output is a terminal, which cannot show binary data\n  = help: "
                "redirect it (`> FILE` or `| COMMAND`), or give a file name"
            )
        click.echo(data, nl=isinstance(data, str))
        click.echo(said, err=True)
        return
    path = Path(output)
    if not _is_dir(path.parent):  # no folder is made for a report or an archive
        in_the_way = _file_in_the_way(path)
        why = (
            f"`{in_the_way}` is a file, not a folder"
            if in_the_way is not None
            else f"the folder `{path.parent}` does not exist"
        )
        fail(f"cannot write `{printable(output)}`: {why}")
    write_file(path, data.encode("utf-8") if isinstance(data, str) else data, mode)
    click.echo(said)


def _is_stdout(output: str) -> bool:
    """Whether `output` is the file standard output already writes to (`/dev/stdout`, or
    `/dev/fd/1`): written apart, the data and what is said after it would be interleaved."""
    try:
        return os.path.samestat(os.stat(output), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):  # no such file; stdout closed or not a file
        return False


def write_file(path: Path, data: bytes, mode: int | None = None) -> None:
    """`write_atomically`, or exit 2 naming the file and why it cannot be written (a folder in
    its place, a file where a folder should be, no permission): never a traceback."""
    if _is_dir(path):
        fail(
            f"cannot write `{path}`: it is a folder\n  = help: remove or rename the folder, "
            "or write the file elsewhere"
        )
    try:
        write_atomically(path, data, mode)
    except OSError as err:
        fail(f"cannot write `{path}`: {_unwritable(path, err)}")


def _in_bundle(log: Path, bundle: Path) -> bool:
    """Whether `log` would be one of the files of the bundle folder `bundle`."""
    try:
        where = log.resolve()  # `sqlite:////tmp/x` names `//tmp/x`, which is `/tmp/x`
        root = bundle.resolve()
    except (OSError, RuntimeError):  # a name too long, a symlink loop: opening says so
        return False
    # a hidden folder (`.audit/`) is none of the bundle's
    return where.is_relative_to(root) and counted(where.relative_to(root).as_posix())


def _is_dir(path: Path) -> bool:
    """`path.is_dir()`, False where the name cannot be looked up (a name longer than the file
    system takes): what is then done with it fails, saying why."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _file_in_the_way(path: Path) -> Path | None:
    """The file standing where a parent folder of `path` should be, if one does."""
    for parent in reversed(path.parents):
        try:
            if parent.exists() and not parent.is_dir():
                return parent
        except OSError:  # a name too long: no file stands there
            return None
    return None


def _unwritable(path: Path, err: OSError) -> str:
    # mkdir says only "File exists" when a file stands where a parent folder should be
    in_the_way = _file_in_the_way(path)
    if in_the_way is not None:
        return f"`{in_the_way}` is a file, not a folder"
    if isinstance(err, IsADirectoryError):
        return "it is a folder"
    why = err.strerror or str(err)
    return why[:1].lower() + why[1:]


def write_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write a file whole or not at all: a reader never sees half an archive, key or policy.
    Without `mode`, a file that exists keeps its permissions and a new one gets 0644.

    A link is followed: the file it points to is replaced and the link kept. A character
    device or a FIFO (`/dev/null`, a pipe) is written into, as `cp` and `tar` do, since
    replacing it would destroy it; anything else that is not a regular file is refused
    (OSError), never replaced."""
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None  # a new file, or a link to one
    if st is not None and not stat.S_ISREG(st.st_mode):
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise OSError(errno.EINVAL, f"it is {what}")
        with open(path, "wb") as f:
            f.write(data)
        return
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if mode is None:
        mode = st.st_mode & 0o7777 if st is not None else 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
