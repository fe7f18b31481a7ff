"""The `tenet` command: reads files, calls `Bundle.decide`, writes decisions. I/O only.

Exit codes: 0 allowed, 1 denied or evaluation error, 2 could not evaluate (usage, a bundle
that does not load, an unreadable input).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import yaml

import tenet
from tenet.diagnostics import PolicyError, QueryError
from tenet.report import render_text
from tenet.yamlutil import load_json, load_yaml

EXIT_ALLOW, EXIT_DENY, EXIT_USAGE = 0, 1, 2


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def read_document(path: str) -> Any:
    """A YAML or JSON document from a file or `-` (stdin); exits 2 with a clear message."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except OSError as err:
        _fail(f"cannot read input `{path}`: {err.strerror or err}")
    except UnicodeDecodeError:
        _fail(f"input `{path}` is not UTF-8 text")
    try:
        if path.endswith(".json"):
            return load_json(text)
        return load_yaml(text)
    except ValueError as err:
        _fail(f"input `{path}` is not valid JSON: {err}")
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        _fail(f"input `{path}` is not valid YAML{where}: {problem}")


def load(path: str) -> tenet.Bundle:
    try:
        return tenet.load_bundle(path)
    except PolicyError as err:
        click.echo(str(err), err=True)
        n = len(err.diagnostics)
        click.echo(f"\nerror: bundle `{path}` did not load ({n} problem{'s' * (n != 1)})", err=True)
        sys.exit(EXIT_USAGE)
    except RecursionError:
        _fail(f"bundle `{path}` nests too deeply to load")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tenet: policy-as-code for AI governance, with explained decisions."""


@main.command()
def version() -> None:
    """Print the engine version."""
    click.echo(f"tenet {tenet.__version__}")


@main.command(name="eval")
@click.argument("query")
@click.option("--bundle", "bundle_path", required=True, type=click.Path(), help="Bundle folder.")
@click.option(
    "--input", "input_path", required=True, help="Input document (YAML or JSON); - for stdin."
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
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def eval_(
    query: str, bundle_path: str, input_path: str, now: str | None, explain: str, fmt: str
) -> None:
    """Decide QUERY (a package or rule) for an input, and explain the decision."""
    bundle = load(bundle_path)
    doc = read_document(input_path)
    try:
        decision = bundle.decide(query, doc, now=now, explain=explain)
    except QueryError as err:
        _fail(
            err.diagnostics[0].message
            + (f"\n  = help: {err.diagnostics[0].help}" if err.diagnostics[0].help else "")
        )
    except ValueError as err:
        _fail(str(err))
    result = decision.to_dict()
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(result))
    sys.exit(EXIT_ALLOW if decision.allowed else EXIT_DENY)


if __name__ == "__main__":  # pragma: no cover
    main()
