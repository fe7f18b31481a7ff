"""The `tenet audit` commands: verify, prune and query a decision log. I/O only."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn

import click

from tenet.audit import (
    StoreError,
    check_chains,
    default_actor,
    prune,
    verify,
)
from tenet.audit.log import expired_behind, store_path
from tenet.audit.query import Filter, parse_since, parse_where, parse_window, select
from tenet.audit.records import Anchor, version_of
from tenet.audit.redact import KEY_ENV, TOKEN, Redactor, key_id, read_key
from tenet.audit.stores import UNREADABLE, AuditStore
from tenet.cli_common import UNTIL, check_actor, load, read_log, since_option, write_output
from tenet.cli_common import fail as _fail
from tenet.runtime.builtins.time import duration_seconds
from tenet.runtime.clock import format_rfc3339
from tenet.wording import count

__all__ = ["audit"]

LOG = click.option(
    "--log",
    "log_url",
    required=True,
    help="The log: sqlite:///path or jsonl:///path, as given to --decision-log.",
)


@click.group()
def audit() -> None:
    """Verify, prune, query and report on a decision log."""


@audit.command(name="verify")
@LOG
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    metavar="CLASS:SEQ:HASH",
    help="A chain's last record as an earlier verify printed it: the chain must still reach "
    "it (repeatable). Catches records cut from the end of a chain, or a chain rewritten.",
)
def verify_cmd(log_url: str, anchors: tuple[str, ...]) -> None:
    """Walk every retention class's hash chain; exit 1 at the first tampered record."""
    store = read_log(log_url)
    try:
        wanted = [Anchor.parse(a) for a in anchors]
    except ValueError as err:
        _fail(str(err))
    try:
        found = check_chains(store, wanted)
    except StoreError as err:
        _fail(str(err))
    if found.problems:
        for p in found.problems:
            click.echo(f"TAMPERED {p.describe()}")
        sys.exit(1)
    classes = list(found.counts)
    if not classes:
        click.echo("verified: the log holds no records yet")
        return
    chains = count(len(classes), "chain")
    reached = f", reaching {count(len(wanted), 'anchor')}" if wanted else ""
    click.echo(
        f"verified: {count(found.records, 'record')} in {chains} ({', '.join(classes)}){reached}"
    )
    click.echo("anchors (note them elsewhere; give them back with --anchor):")
    for anchor in found.anchors():
        click.echo(f"  {anchor}")


@audit.command(name="prune")
@LOG
@click.option("--actor", default=None, help="Who prunes (default: the user).")
@click.option(
    "--now",
    "now_text",
    default=None,
    help="Prune as of this RFC 3339 time, or a window back from now such as 30d; not later "
    "than the clock (default: the clock).",
)
def prune_cmd(log_url: str, actor: str | None, now_text: str | None) -> None:
    """Remove each class's expired records, leaving a checkpoint so the rest still verifies."""
    check_actor(actor)
    store = read_log(log_url)
    try:
        clock = time.time()
        # `30d` is back from the clock; a later time is refused below, with its own reason
        now = parse_since(now_text, clock, future=True) if now_text else clock
    except ValueError as err:
        _fail(str(err))
    if now > clock:  # no slack, unlike a query's window: a second early is a record early
        _fail(
            f"`--now {now_text}` is in the future: pruning as of it would remove records "
            "before they expire"
        )
    try:
        removed = prune(store, now, actor or default_actor())
    except StoreError as err:
        _fail(str(err))
    if not removed:
        click.echo("nothing to prune: no chain begins with an expired record")
    for cls, n in sorted(removed.items()):
        click.echo(f"{cls}: removed {count(n, 'expired record')}, left a checkpoint")
    try:
        waiting = expired_behind(store, now)
    except StoreError as err:
        _fail(str(err))
    for cls, n in sorted(waiting.items()):
        click.echo(
            f"note: {cls}: {count(n, 'record')} expired behind older ones that have not (kept "
            "longer when they were written): a chain is pruned from its start, so they go "
            "once those before them expire"
        )


@audit.command(name="query")
@LOG
@click.option("--query", "query", default=None, help="A query or a package prefix.")
@click.option("--outcome", type=click.Choice(["allow", "deny", "error"]), default=None)
@click.option(
    "--since", default=None, help="A window back from --until or now (7d, 12h), or RFC 3339."
)
@UNTIL
@click.option("--check", default=None, help="Decisions where this check was not passed.")
@click.option(
    "--where",
    multiple=True,
    help="input.path=value, on kept input (repeatable). A personal path's value is matched by "
    "its token, when the log's key is at hand (TENET_AUDIT_KEY, or the key beside the log).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="At most this many, newest first."
)
def query_cmd(
    log_url: str,
    query: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
    check: str | None,
    where: tuple[str, ...],
    fmt: str,
    limit: int | None,
) -> None:
    """Find recorded decisions."""
    store = read_log(log_url)
    try:
        key = read_key(store_path(log_url))
    except OSError as err:
        _fail(f"cannot read the audit key: {err}")
    try:
        start, end = parse_window(since, until, time.time())
        f = Filter(
            query=query,
            outcome=outcome,
            since=start,
            until=end if until is not None else None,
            check=check,
            where=[parse_where(w) for w in where],
            token=Redactor([], [], key).token if key else None,
        )
    except ValueError as err:
        _fail(str(err))
    problems = _chain_problems(store)
    damaged = _Damaged()
    kept: set[str] = set()
    hashed: set[str] = set()  # paths found holding personal values' tokens
    ours = key_id(key) if key is not None else None
    others = 0  # records whose tokens another key made
    checked = False  # whether any record has the check --check names, whatever its status
    try:
        found = []
        for r in damaged.passed_by(store.records()):
            values = r.get("input") or {}
            kept.update(values)
            if check is not None and not checked:
                checks = (r.get("decision") or {}).get("checks") or []
                checked = any(c.get("id") == check for c in checks if isinstance(c, dict))
            if key is None:
                hashed.update(p for p, _ in f.where if _is_token(values.get(p)))
            elif r.get("key_id", ours) != ours:
                others += 1
            if f.matches(r):
                found.append(r)
    except StoreError as err:
        _fail(str(err))
    if others and f.where:
        click.echo(
            f"note: {count(others, 'record')} of the log "
            + ("was" if others == 1 else "were")
            + " written with another key than the one at hand: a personal value given to "
            "--where cannot match their tokens",
            err=True,
        )
    if check is not None and not checked:
        # a mistyped id would read as "never violated"
        click.echo(
            f"note: no record has a check `{check}`, passed or not: check ids are "
            "`package.check`, as in the decisions' `checks`",
            err=True,
        )
    for path, value in f.where:
        if path not in kept:
            click.echo(
                f"note: no record keeps `{path}`: the log stores only the input paths of its "
                "bundles' `audit.keep`",
                err=True,
            )
        elif path in hashed and not _is_token(value):
            click.echo(
                f"note: `{path}` holds personal values, each replaced by its keyed hash, and "
                "the log's key is not at hand, so no value can be matched but a token itself: "
                f"set {KEY_ENV}, or put the key file back beside the log",
                err=True,
            )
    found.sort(key=lambda r: str(r.get("time")), reverse=True)
    if limit is not None:
        found = found[:limit]
    if fmt == "json":
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
    else:
        click.echo(_table(found))
    if problems:
        _does_not_verify(
            problems,
            damaged.count,
            "records may have been edited, removed or inserted since they were written",
        )


def _chain_problems(store: AuditStore) -> list[str]:
    """What `verify` finds wrong with the log (empty when every chain verifies): a command
    that reports on records says so, as `report` does, rather than answer from a log that has
    been edited as if it were intact."""
    try:
        return [p.describe() for p in verify(store)]
    except StoreError as err:
        _fail(str(err))


class _Damaged:
    """Counts the rows or lines that are no record (damaged, or edited into no JSON), which
    a report on records passes by."""

    def __init__(self) -> None:
        self.count = 0

    def passed_by(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for r in records:
            if r.get("hash") == UNREADABLE:
                self.count += 1
            else:
                yield r


def _does_not_verify(problems: list[str], damaged: int, risk: str) -> NoReturn:
    """Say on stderr that the answer came from a log that does not verify, and exit 1 (as
    `report` does, so that a script learns it from the exit status)."""
    click.echo(f"warning: the audit chain DOES NOT VERIFY, so {risk}:", err=True)
    for p in problems:
        click.echo(f"  TAMPERED {p}", err=True)
    if damaged:
        rows = count(damaged, "damaged record")
        click.echo(f"  {rows} (a row or line that reads as no record) left out", err=True)
    click.echo("  = help: run `tenet audit verify` on the log to see what was changed", err=True)
    sys.exit(1)


def _is_token(value: Any) -> bool:
    """A personal value's replacement, or a `*` path's list holding one."""
    if isinstance(value, list):
        return any(_is_token(item) for item in value)
    return isinstance(value, str) and value.startswith(TOKEN)


def _violations(r: dict[str, Any]) -> str:
    checks = (r.get("decision") or {}).get("checks") or []
    ids = Counter(
        str(c.get("id")) + (" (waived)" if c.get("status") == "waived" else "")
        for c in checks
        if c.get("status") in ("violated", "error", "waived")
    )
    # a check violated several times (once per feature, per group) is listed once, counted
    return ", ".join(k if n == 1 else f"{k} ×{n}" for k, n in ids.items()) or "-"


def _cell(text: str) -> str:
    """A table cell on one line: a newline or other control character in a recorded value
    (an actor given as `--actor $'a\\nb'`) is shown escaped, not obeyed."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _table(records: list[dict[str, Any]]) -> str:
    head = ("time", "id", "query", "outcome", "actor", "bundle", "not passed")
    rows = [
        (
            str(r.get("time", ""))[:19] + "Z",
            str(r.get("id", "")),
            str(r.get("query", "")),
            str(r.get("outcome", "")),
            str(r.get("actor", "")),
            "{name} {version}".format(**{"name": "", "version": "", **(r.get("bundle") or {})}),
            _violations(r),
        )
        for r in records
    ]
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    lines.append(count(len(cells), "record"))
    return "\n".join(lines)


@audit.command(name="access-review")
@LOG
@click.option("--bundle", "bundle_path", required=True, help="The bundle with the role table.")
@since_option("90d")
@UNTIL
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def access_review_cmd(
    log_url: str, bundle_path: str, since: str, until: str | None, fmt: str
) -> None:
    """List the role table's grants that no allowed decision used in the window."""
    from tenet.audit.review import grants_of, review

    bundle = load(bundle_path)
    grants = grants_of(bundle.program.data)
    if not grants:
        has_table = "roles" in bundle.program.data
        what = "has no grant in its role table" if has_table else "has no role table"
        _fail(
            f"bundle `{bundle_path}` {what}: `data.roles` maps each role to its grants "
            "`{pattern, actions}`, by resource type or for every type"
        )
    store = read_log(log_url)
    try:
        key = read_key(store_path(log_url))
    except OSError as err:
        _fail(f"cannot read the audit key: {err}")
    problems = _chain_problems(store)
    damaged = _Damaged()
    try:
        start, end = parse_window(since, until, time.time())
        window = Filter(since=start, until=end, outcome="allow")
        token = Redactor([], [], key).token if key else None
        result = review(grants, select(damaged.passed_by(store.records()), window), token)
    except (StoreError, ValueError) as err:
        _fail(str(err))
    unused = result.unused
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "since": since,
                    "until": format_rfc3339(end),
                    "allowed_decisions": result.decisions,
                    "without_grant_evidence": result.unattributed,
                    "data_api_reads": result.answers_only,
                    "grant_hidden_without_key": result.hidden,
                    "grant_not_in_table": result.not_in_table,
                    "grants": len(grants),
                    "unused": [_grant(g) for g in unused],
                    "unused_share": round(result.unused_share, 4),
                    "chain_problems": problems,
                    "damaged_records": damaged.count,
                },
                indent=2,
            )
        )
        if problems:
            _does_not_verify(problems, damaged.count, _UNUSED_RISK)
        return
    head = ("role", "resource type", "pattern", "action")
    read = count(result.decisions, "allowed access decision")
    upto = "" if until is None else f" up to {until}"
    lines = [f"grants no allowed decision used in {since}{upto} ({read}):"]
    rows = [head, *((g.role, g.resource_type, g.pattern, g.action) for g in unused)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.append(f"{len(unused)} of {len(grants)} grants unused ({result.unused_share:.0%})")
    if result.answers_only:
        lines.append(
            f"note: {count(result.answers_only, 'allowed decision')} read through the data API "
            "(`/v1/data/...`), whose records hold the result alone, not which grant matched: ask "
            "the sidecar's `/v1/decisions/...` for access decisions a review must attribute"
        )
    if result.unattributed > result.answers_only:
        lines.append(
            "note: no grant could be read from the evidence of "
            f"{count(result.unattributed - result.answers_only, 'allowed decision')}: record "
            "the rule query (`access.allow`), or the package with `--explain full` when its "
            "checks bind the grant"
        )
    if result.hidden:
        lines.append(
            f"note: {count(result.hidden, 'allowed decision')} used a grant whose pattern holds "
            "a personal value, hidden in the log: give the log's key (the key file beside it, "
            f"or {KEY_ENV}) so that the review can tell which grant it was"
        )
    if result.not_in_table:
        lines.append(
            f"note: {count(result.not_in_table, 'allowed decision')} used a grant that is not in "
            f"this bundle's role table (recorded under another version of it?): bundle "
            f"`{bundle_path}` is {version_of(bundle.info.to_dict())}"
        )
    if problems:  # beside the list too: it may be read without the stderr beside it
        lines.append(f"note: the audit chain DOES NOT VERIFY, so {_UNUSED_RISK}")
    click.echo("\n".join(lines))
    if problems:
        _does_not_verify(problems, damaged.count, _UNUSED_RISK)


# what an access review from a log that does not verify may get wrong
_UNUSED_RISK = (
    "a grant listed as unused may have been used by a record edited, removed or damaged since"
)


def _grant(g: Any) -> dict[str, str]:
    return {"role": g.role, "type": g.resource_type, "pattern": g.pattern, "action": g.action}


@audit.command(name="report")
@LOG
@since_option("30d")
@UNTIL
@click.option(
    "--incident",
    default=None,
    help="When an incident happened (RFC 3339, or a time back from now such as 2d): the "
    "report lists the changes made before it.",
)
@click.option("-o", "--output", "output", required=True, help="The file to write (- for stdout).")
@click.option("--format", "fmt", type=click.Choice(["html", "json"]), default="html")
def report_cmd(
    log_url: str, since: str, until: str | None, incident: str | None, output: str, fmt: str
) -> None:
    """Write one self-contained HTML page (inline SVG, no network) about the window. With a
    fixed --until (and --since), the same log gives the same bytes."""

    from tenet.audit.report import render_html, summarize

    store = read_log(log_url)
    now = time.time()
    try:
        start, end = parse_window(since, until, now)
        at = parse_since(incident, now) if incident else None
    except ValueError as err:
        _fail(str(err))
    assert start is not None  # --since has a default
    try:
        problems = [p.describe() for p in verify(store)]
        summary = summarize(store.records(), start, end, at, problems)  # streamed
    except StoreError as err:
        _fail(str(err))
    text = (
        render_html(summary, log_url)
        if fmt == "html"
        else json.dumps(summary.to_dict(), indent=2, default=str)
    )
    back = duration_seconds(since) is not None
    if until is None:
        window = f"in the last {since}" if back else f"since {since}"
    else:
        window = f"in the {since} up to {until}" if back else f"from {since} to {until}"
    verdict = "DOES NOT VERIFY" if problems else "verifies"
    write_output(
        output,
        text,
        f"wrote {output}: {count(summary.decisions, 'decision')} {window}, the audit chain "
        f"{verdict}",
    )
    if problems:  # the report says so too; a scheduled job learns it from the exit status
        sys.exit(1)
