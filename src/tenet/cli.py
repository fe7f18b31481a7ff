"""The `tenet` command: reads files, calls `Bundle.decide`, writes decisions. I/O only.

Exit codes: 0 allowed, 1 denied or evaluation error, 2 could not evaluate (usage, a bundle
that does not load, an unreadable input).
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NoReturn

import click
import yaml

import tenet
from tenet import cli_audit, cli_compliance
from tenet.audit import AuditLog, StoreError, default_actor
from tenet.bundle import bundle_digest, open_tree
from tenet.bundle.archive import build_archive
from tenet.bundle.diff import InputsError, diff_bundles, render_diff
from tenet.bundle.signing import (
    KeyFileError,
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    parse_signature,
    sign_digest,
    verify_signature,
)
from tenet.bundle.summary import render_summary, summarize
from tenet.ci import (
    FAIL_ON,
    Evaluated,
    fails,
    render_github,
    render_junit,
    render_sarif,
    render_text_all,
)
from tenet.cli_authoring import check_command, fmt_command, test_command
from tenet.cli_common import (
    binary_stdin,
    check_log_options,
    load,
    log_failed,
    public_key_option,
    write_file,
    write_output,
)
from tenet.cli_common import bundle_failed as _bundle_failed
from tenet.cli_common import fail as _fail
from tenet.cli_fairness import fairness
from tenet.cli_serve import serve
from tenet.diagnostics import PolicyError, QueryError, render_all
from tenet.escape import printable
from tenet.locate import unreadable
from tenet.report import render_text
from tenet.utf8 import NotUtf8, Utf8Checker, decode_utf8
from tenet.wording import count
from tenet.yamlutil import load_json, load_yaml

EXIT_ALLOW, EXIT_DENY = 0, 1


class _InputError(Exception):
    """An input that cannot be read or parsed; the message says why."""


def _read_input(path: str) -> tuple[str, Any]:
    """The text and document of a YAML or JSON file or `-` (stdin); raises _InputError."""
    name = printable(path)  # a file name cannot start a line of the log either
    try:
        data = binary_stdin().read() if path == "-" else Path(path).read_bytes()
    except OSError as err:
        raise _InputError(f"cannot read input `{name}`: {err.strerror or err}") from None
    try:
        # a byte order mark is no part of the document, in JSON as in YAML
        text = decode_utf8(data).removeprefix("\ufeff")
    except NotUtf8 as bad:
        raise _InputError(
            f"input `{name}` is not UTF-8 text: {bad.where()}\n  = help: save it as UTF-8, "
            f"e.g. {bad.iconv()}"
        ) from None
    is_json = path.endswith(".json")
    try:
        if not is_json:
            doc = load_yaml(text, text_only=False)  # a lone surrogate: an error decision
        elif text.strip(" \t\r\n"):
            doc = load_json(text)
        else:
            doc = None  # said to be empty below, rather than "expecting value"
    except RecursionError:
        raise _InputError(f"input `{name}` nests too deeply to read") from None
    except (ValueError, yaml.YAMLError) as err:
        found = unreadable(text, is_json, err)
        raise _InputError(f"input `{name}` is not valid {found.kind}{found.said(text)}") from None
    if doc is None:
        # YAML reads an empty file as null: deciding it as if it were `{}` would hide that
        # the file is not what was meant (a failed redirect, a truncated checkout)
        if _has_content(text):
            holds = "only `null`"
        else:
            holds = "nothing but blanks" + ("" if is_json else " and comments")
        raise _InputError(
            f"input `{name}` is empty: it holds {holds}\n  = help: give the document to "
            "decide, an object of its fields (`{}` for one with none)"
        )
    return text, doc


def _has_content(text: str) -> bool:
    """Whether a YAML text holds more than blank lines, comments and document markers."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and stripped not in ("---", "..."):
            return True
    return False


def read_document(path: str) -> Any:
    """A YAML or JSON document from a file or `-` (stdin); exits 2 with a clear message."""
    try:
        return _read_input(path)[1]
    except _InputError as err:
        _fail(str(err))


# how a shell reports a process that SIGPIPE ended (128 + 13): a reader that closed the pipe
# early (`tenet audit verify | head -1`) is no finding, and 1 would read as one
CLOSED_PIPE = 141


class _Main(click.Group):
    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # `tenet --help` writes while its arguments are read, before `invoke`
        try:
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError:
            _closed_pipe()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _closed_pipe()


def _closed_pipe() -> NoReturn:
    # what is left to flush would fail again at exit: send it nowhere
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(CLOSED_PIPE)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tenet: policy-as-code for AI governance, with explained decisions."""


@main.command()
def version() -> None:
    """Print the engine version."""
    click.echo(f"tenet {tenet.__version__}")


@main.command(name="eval")
@click.argument("query")
@click.argument("more_inputs", nargs=-1, metavar="[MORE_INPUTS]...")
@click.option(
    "--bundle", "bundle_path", required=True, type=click.Path(), help="Bundle folder or archive."
)
@click.option(
    "--input",
    "input_paths",
    required=True,
    multiple=True,
    help="Input document (YAML or JSON); - for stdin. Repeatable; a glob such as "
    "'registrations/*.yaml' matches several (quote it, or let the shell expand it).",
)
@click.option("--now", default=None, help="The decision's clock, RFC 3339 (default: now).")
@click.option(
    "--explain",
    type=click.Choice(["summary", "full"]),
    default="summary",
    show_default=True,
    help="How much evidence to include.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit", "sarif", "github"]),
    default="text",
    show_default=True,
    help="Output format: a report, the decision document, or a CI report.",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default="blocking",
    show_default=True,
    help="Exit 1 on a deny or error (blocking), also on a violated warning (warning), or never.",
)
@public_key_option("Refuse the bundle unless it is signed by this Ed25519 key (PEM).")
@click.option(
    "--decision-log",
    "log_url",
    default=None,
    help="Record every decision: sqlite:///path/audit.db, jsonl:///path/audit.jsonl or stdout:.",
)
@click.option("--actor", default=None, help="Who is deciding, for the log (default: the user).")
@click.option(
    "--audit-fail-closed",
    is_flag=True,
    help="A decision that cannot be recorded counts as denied (exit 1).",
)
def eval_(
    query: str,
    more_inputs: tuple[str, ...],
    bundle_path: str,
    input_paths: tuple[str, ...],
    now: str | None,
    explain: str,
    fmt: str,
    fail_on: str,
    public_key: str | None,
    log_url: str | None,
    actor: str | None,
    audit_fail_closed: bool,
) -> None:
    """Decide QUERY (a package or rule) for each input, and explain each decision.

    Files after the options are more inputs, which is what an unquoted shell glob after
    --input turns into. The exit code is the worst of the inputs'."""
    check_log_options(log_url, ("audit_fail_closed", "actor"))
    if log_url is not None and log_url.startswith("stdout:") and fmt != "text":
        # machines read the report from standard output: record lines there would break it
        _fail(
            f"`--decision-log stdout:` would mix its records with the {fmt} report on standard "
            "output\n  = help: record to a file (`--decision-log jsonl:///path/audit.jsonl`), "
            "or show the report with `--format text`"
        )
    bundle = load(bundle_path, public_key)
    paths = _expand_inputs([*input_paths, *more_inputs])
    inputs: list[tuple[str, str, Any]] = []
    problems: list[str] = []
    for path in paths:
        try:
            inputs.append((path, *_read_input(path)))
        except _InputError as err:
            problems.append(str(err))
    if problems:
        for problem in problems[:-1]:
            click.echo(f"error: {problem}", err=True)
        _fail(problems[-1])
    log = _open_log(log_url)
    unrecorded: set[int] = set()
    items: list[Evaluated] = []
    for path, text, doc in inputs:
        try:
            decision = bundle.decide(query, doc, now=now, explain=explain)
        except QueryError as err:
            _fail(
                err.diagnostics[0].message
                + (f"\n  = help: {err.diagnostics[0].help}" if err.diagnostics[0].help else "")
            )
        except ValueError as err:
            _fail(str(err))
        if log is not None and not _record(log, bundle, decision, doc, actor, path):
            unrecorded.add(len(items))
        is_json = path.endswith(".json")
        items.append(Evaluated(path, text, decision.to_dict(), is_json=is_json, input=doc))
    code = max(
        EXIT_DENY
        if fails(item.decision, fail_on) or (audit_fail_closed and i in unrecorded)
        else EXIT_ALLOW
        for i, item in enumerate(items)
    )
    several = len(items) > 1
    if fmt == "json":
        shown: Any = [item.decision for item in items] if several else items[0].decision
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
    elif fmt == "junit":
        click.echo(render_junit(items, query))
    elif fmt == "sarif":
        click.echo(render_sarif(items, query, bundle_path, code, fail_on))
    elif fmt == "github":
        click.echo(render_github(items))
    else:
        click.echo(render_text_all(items) if several else render_text(items[0].decision))
        if audit_fail_closed and unrecorded:
            # the report shows what the policy decided; this is why the exit code denies
            n = count(len(unrecorded), "decision")
            click.echo(f"\nNOT RECORDED: {n} not recorded, counted as denied (--audit-fail-closed)")
    sys.exit(code)


def _open_log(url: str | None) -> AuditLog | None:
    if url is None:
        return None
    try:
        return AuditLog.open(url)
    except StoreError as err:
        log_failed(err)


def _record(
    log: AuditLog, bundle: tenet.Bundle, decision: Any, doc: Any, actor: str | None, path: str
) -> bool:
    """Record one decision; say so on stderr when the store refuses it."""
    try:
        log.record(bundle, decision, doc, actor or default_actor())
    except StoreError as err:
        click.echo(f"error: the decision for `{path}` was not recorded: {err}", err=True)
        return False
    return True


_GLOB_MAGIC = re.compile(r"[*?\[]")


def _expand_inputs(patterns: list[str]) -> list[str]:
    """The input files: each path as given, each glob's matching files sorted (a glob that
    matches no file is a usage error), each file once (however it is spelt: `d/a.yaml`,
    `./d/a.yaml`, a glob matching it), in order, under the spelling that came first."""
    if "" in patterns:
        # an unset variable (`--input "$FILE"`): it is no file, and no folder to read
        _fail("an input path is empty: give a YAML or JSON file, or `-` for standard input")
    if patterns.count("-") > 1:
        _fail("standard input (`-`) can be given only once")
    out: list[str] = []
    seen: set[str] = set()
    for pattern in patterns:
        if pattern == "-" or os.path.exists(pattern) or not _GLOB_MAGIC.search(pattern):
            matches = [pattern]
        else:
            found = glob.glob(pattern, recursive=True)
            matches = sorted(m for m in found if not os.path.isdir(m))
            if not matches:
                _fail(f"no input file matches `{printable(pattern)}`")
        for m in matches:
            key = m if m == "-" else os.path.realpath(m)
            if key not in seen:
                seen.add(key)
                out.append(m)
    return out


# ---- tenet bundle ---------------------------------------------------------------------------

_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)


@main.group()
def bundle() -> None:
    """Build, inspect, sign, verify and compare bundles."""


@bundle.command()
@click.argument("path", type=click.Path(exists=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Archive to write (NAME-VERSION.tar.gz).",
)
def build(path: str, output: str | None) -> None:
    """Build a reproducible .tar.gz of the bundle at PATH (same files, same bytes)."""
    b = load(path)
    out = output or f"{b.name}-{b.version}.tar.gz"
    inside = Path(os.path.realpath(out)).is_relative_to(Path(path).resolve())  # loops: no error
    if out != "-" and Path(path).is_dir() and inside:
        _fail(f"`{out}` is inside the bundle; write the archive outside `{path}`")
    said = f"built {out}: {b.name} {b.version}, {len(b.files)} files, {b.digest}"
    write_output(out, build_archive(b.files, b.signature), said, 0o644)
    sig = parse_signature(b.signature) if b.signature is not None else None
    if sig is not None and (isinstance(sig, str) or sig.digest != b.digest):
        click.echo(
            "warning: the bundle's `.signature` does not match its files; "
            "sign the archive again with `tenet bundle sign`",
            err=True,
        )


@bundle.command(name="inspect")
@click.argument("path", type=click.Path(exists=True))
@_FORMAT
def inspect_(path: str, fmt: str) -> None:
    """Show a bundle's name, version, digest, signature, packages, checks, data and schemas."""
    summary = summarize(load(path))
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        click.echo(render_summary(summary))


@bundle.command()
@click.argument("path", type=click.Path(exists=True))
@click.option(
    "--key", "key_path", required=True, type=click.Path(dir_okay=False), help="Private key (PEM)."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="For an archive: write here instead."
)
def sign(path: str, key_path: str, output: str | None) -> None:
    """Sign the bundle at PATH: writes `.signature` into the folder, or into the archive
    (rebuilt reproducibly)."""
    try:
        key = load_private_key(key_path)
    except KeyFileError as err:
        _fail(str(err))
    b = load(path)
    signature = sign_digest(key, b.digest).to_bytes()
    said = f"signed {b.name} {b.version} ({b.digest}) with key {key_id(key.public_key())}"
    if Path(path).is_dir():
        if output is not None:
            _fail("`--output` is for archives; a folder is signed in place")
        write_file(Path(path) / ".signature", signature, 0o644)
        click.echo(f"{said}\nwrote {Path(path) / '.signature'}")
    else:
        where = output or path
        write_output(where, build_archive(b.files, signature), f"{said}\nwrote {where}", 0o644)


@bundle.command()
@click.argument("path", type=click.Path(exists=True))
@public_key_option("Public key (PEM) the bundle must be signed by.", required=True)
def verify(path: str, public_key: str) -> None:
    """Check that the bundle at PATH is signed by PUBLIC_KEY and unchanged since.
    Exit 0 when it is, 1 when it is not, 2 when it cannot be checked."""
    try:
        key = load_public_key(public_key)
    except KeyFileError as err:
        _fail(str(err))
    try:
        tree = open_tree(path)
    except PolicyError as err:
        _bundle_failed(path, err)
    digest = bundle_digest(tree.files)
    problem = verify_signature(tree.signature, digest, key)
    if problem is not None:
        click.echo(render_all([problem]), err=True)
        click.echo(f"\nerror: bundle `{path}` is not verified", err=True)
        sys.exit(EXIT_DENY)
    click.echo(f"verified: {path} ({digest}) is signed by key {key_id(key)}")


@bundle.command()
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write to."
)
@click.option("--name", default="tenet", show_default=True, help="File name stem of the pair.")
@click.option("--force", is_flag=True, help="Replace keys that are already there.")
def keygen(out_dir: str, name: str, force: bool) -> None:
    """Write a new Ed25519 key pair: NAME.pem (private, PKCS#8) and NAME.pub.pem (public)."""
    if not name or name.startswith(".") or "/" in name:
        # a path would write the pair outside --out, and `.x` would hide it
        what = f"`{printable(name)}` is not a plain file name" if name else "is empty"
        _fail(
            f"--name {what}\n  = help: give a stem such as `release`, without `/` and not "
            "starting with `.`"
        )
    private_path = Path(out_dir) / f"{name}.pem"
    public_path = Path(out_dir) / f"{name}.pub.pem"
    for p in (private_path, public_path):
        if p.exists() and not force:
            _fail(f"`{p}` exists; pass --force to replace it")
    private_pem, public_pem = generate_keypair()
    write_file(private_path, private_pem, 0o600)
    write_file(public_path, public_pem, 0o644)
    click.echo(f"wrote {private_path} (private: keep it secret) and {public_path}")
    click.echo(f"key id {key_id(load_public_key(public_pem))}")


@bundle.command(name="diff")
@click.argument("old", type=click.Path(exists=True))
@click.argument("new", type=click.Path(exists=True))
@click.option(
    "--inputs",
    "inputs_path",
    type=click.Path(exists=True, dir_okay=False),
    help='JSON Lines: {"query": ..., "input": ..., "now": ...} per line.',
)
@_FORMAT
@click.option("--fail-on-change", is_flag=True, help="Exit 1 when a decision or a schema changes.")
def diff(old: str, new: str, inputs_path: str | None, fmt: str, fail_on_change: bool) -> None:
    """Show what changes from bundle OLD to NEW: checks, rules, data and schemas, and with
    --inputs every decision that changes."""
    a, b = load(old), load(new)
    try:
        if inputs_path is None:
            result = diff_bundles(a, b)
        else:
            with open(inputs_path, "rb") as raw:
                result = diff_bundles(a, b, _utf8_lines(raw))
    except InputsError as err:
        _fail(f"inputs `{inputs_path}`: {err}")
    except NotUtf8 as bad:
        _fail(
            f"inputs file `{inputs_path}` is not UTF-8 text: {bad.where()}\n  = help: save it "
            f"as UTF-8, e.g. {bad.iconv()}"
        )
    except OSError as err:
        _fail(f"cannot read inputs `{inputs_path}`: {err.strerror or err}")
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(render_diff(result, f"`{inputs_path}`"))
    # a schema decides which inputs pass before any check reads them, and the inputs file
    # rarely holds the one a loosened pattern now lets through: a change to approve as well
    changed = result.decisions or result.schemas or result.named_schemas
    sys.exit(EXIT_DENY if fail_on_change and changed else EXIT_ALLOW)


def _utf8_lines(raw: IO[bytes]) -> Iterator[str]:
    """The lines of a file read as it goes, each checked to be UTF-8 (raises `NotUtf8` at the
    first bad byte, placed in the whole file)."""
    checker = Utf8Checker()
    for line in raw:
        yield checker.feed(line)
    checker.feed(b"", final=True)


main.add_command(cli_audit.audit)
main.add_command(cli_compliance.compliance)

main.add_command(test_command)
main.add_command(fmt_command)
main.add_command(check_command)


main.add_command(fairness)
main.add_command(serve)

if __name__ == "__main__":  # pragma: no cover
    main()
