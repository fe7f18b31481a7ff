"""The `tenet compliance` commands: the controls × checks matrix and the evidence pack. I/O only."""

from __future__ import annotations

import json
import sys
import time

import click

from tenet.audit import StoreError, verify
from tenet.audit.query import parse_window
from tenet.cli_common import UNTIL, load, read_log, since_option, write_output
from tenet.cli_common import fail as _fail
from tenet.compliance.matrix import build_matrix, render_csv, render_text
from tenet.compliance.pack import build_pack, others_note, render_pack_html
from tenet.diagnostics import did_you_mean
from tenet.wording import count

__all__ = ["compliance"]


def _framework(bundle_path: str, names: list[str], framework: str | None) -> None:
    if framework is not None and framework not in names:
        hint = did_you_mean(framework, names)
        shown = ", ".join(f"`{n}`" for n in names) or "none"
        _fail(
            f"bundle `{bundle_path}` has no framework catalogue `{framework}` "
            f"(it has {shown})" + (f"; {hint}" if hint else "")
        )


@click.group()
def compliance() -> None:
    """Map checks to regulatory controls, and build the evidence pack an auditor asks for."""


@compliance.command(name="matrix")
@click.option("--bundle", "bundle_path", required=True, help="Bundle folder or archive.")
@click.option("--framework", default=None, help="One catalogue (frameworks/NAME.yaml).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text")
def matrix_cmd(bundle_path: str, framework: str | None, fmt: str) -> None:
    """Controls × checks, with the controls no check evidences listed as gaps."""
    bundle = load(bundle_path)
    if not bundle.frameworks:
        _fail(f"bundle `{bundle_path}` has no framework catalogues (`frameworks/NAME.yaml`)")
    _framework(bundle_path, sorted(bundle.frameworks), framework)
    m = build_matrix(bundle, framework)
    if fmt == "json":
        click.echo(json.dumps(m.to_dict(), indent=2, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(render_csv(m), nl=False)
    else:
        click.echo(render_text(m))


@compliance.command(name="report")
@click.option("--bundle", "bundle_path", required=True, help="Bundle folder or archive.")
@click.option("--log", "log_url", required=True, help="The decision log (sqlite:// or jsonl://).")
@click.option("--framework", required=True, help="The catalogue to report on.")
@since_option("90d")
@UNTIL
@click.option("-o", "--output", required=True, help="The file to write (- for stdout).")
@click.option("--format", "fmt", type=click.Choice(["html", "json"]), default="html")
def report_cmd(
    bundle_path: str,
    log_url: str,
    framework: str,
    since: str,
    until: str | None,
    output: str,
    fmt: str,
) -> None:
    """The evidence pack: per control, its checks, what happened under them, the waivers in
    force, recent decisions with their chain hashes, and whether the chain verifies. With a
    fixed --until (and --since), the same log and bundle give the same bytes."""
    bundle = load(bundle_path)
    _framework(bundle_path, sorted(bundle.frameworks), framework)
    store = read_log(log_url)
    try:
        start, end = parse_window(since, until, time.time())
    except ValueError as err:
        _fail(str(err))
    assert start is not None  # --since has a default
    try:
        problems = [p.describe() for p in verify(store)]
        # streamed: only the window's decisions are kept
        pack = build_pack(bundle, framework, store.records(), start, end, problems)
    except StoreError as err:
        _fail(str(err))
    text = (
        render_pack_html(pack, log_url)
        if fmt == "html"
        else json.dumps(pack.to_dict(), indent=2, ensure_ascii=False)
    )
    gaps = sum(1 for c in pack.controls if not c.checks)
    verdict = "verifies" if pack.chain_ok else "DOES NOT VERIFY"
    write_output(
        output,
        text,
        f"wrote {output}: {count(len(pack.controls), 'control')} ({count(gaps, 'gap')}), "
        f"{count(pack.decisions, 'decision')}, the audit chain {verdict}"
        + (f"; {others}" if (others := others_note(pack)) else ""),
    )
    if not pack.chain_ok:
        sys.exit(1)
