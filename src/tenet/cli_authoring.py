"""The authoring commands `tenet test`, `tenet fmt` and `tenet check`: reading and writing files
around `tenet.testing`, `tenet.syntax.format` and `tenet.analysis.lints`. I/O only.

Exit codes: 0 clean, 1 findings (failed tests, files to reformat, errors), 2 could not run
(usage, a bundle that does not load, an unreadable file).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

import tenet
from tenet.cli_common import EXIT_USAGE, FloatRange, binary_stdin, bundle_failed, write_file
from tenet.cli_common import fail as _fail
from tenet.diagnostics import Diagnostic, PolicyError, render_all
from tenet.source import Source, Span, line_break
from tenet.testing.report import Threshold, render_junit, render_run, run_to_dict
from tenet.testing.runner import run_tests
from tenet.utf8 import NotUtf8, decode_utf8
from tenet.wording import count

__all__ = ["check_command", "fmt_command", "test_command"]

EXIT_OK, EXIT_FINDINGS = 0, 1
_TEST_SUFFIXES = (".yaml", ".yml")


def _load(path: Path) -> tenet.Bundle:
    try:
        return tenet.load_bundle(path)
    except PolicyError as err:
        bundle_failed(str(path), err)
    except RecursionError:
        _fail(f"bundle `{path}` nests too deeply to load")


# ---- tenet test ------------------------------------------------------------------------------


def _bundle_of_test_file(path: Path) -> Path | None:
    """The bundle holding a test file: the folder above its nearest `tests` folder."""
    for parent in path.resolve().parents:
        if parent.name == "tests":
            return parent.parent
    return None


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


@click.command(name="test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option(
    "--bundle",
    "bundle_path",
    type=click.Path(exists=True),
    default=None,
    help="The bundle the test files run against (default: found from PATHS).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--coverage", is_flag=True, help="Report what the cases evaluated.")
@click.option(
    "--threshold",
    type=FloatRange(0, 100),
    default=None,
    help="Fail when coverage is below this percentage (implies --coverage).",
)
@click.option(
    "--threshold-checks",
    type=FloatRange(-1, 100),
    is_flag=False,
    flag_value=-1.0,
    default=None,
    help="Fail when the check items' coverage is below this percentage (with --threshold N, "
    "both apply); without a value, apply --threshold to the check items alone.",
)
@click.option("-v", "--verbose", is_flag=True, help="Also list the cases that pass.")
def test_command(
    paths: tuple[str, ...],
    bundle_path: str | None,
    fmt: str,
    coverage: bool,
    threshold: float | None,
    threshold_checks: float | None,
    verbose: bool,
) -> None:
    """Run the policy tests of a bundle (its tests/*.yaml), or of the test files given.

    PATHS are a bundle folder or archive (default: the current folder) or test files inside
    a bundle's tests/ folder. Exit 0 when every case passes, 1 otherwise."""
    limits: list[Threshold] = []
    if threshold_checks is not None and threshold_checks < 0:  # a bare `--threshold-checks`
        if threshold is None:
            _fail(
                "a bare `--threshold-checks` applies `--threshold N`: give one, or write "
                "`--threshold-checks N`"
            )
        limits.append(Threshold(threshold, checks_only=True))
    else:
        if threshold is not None:
            limits.append(Threshold(threshold))
        if threshold_checks is not None:
            limits.append(Threshold(threshold_checks, checks_only=True))
    files = [Path(p) for p in paths if Path(p).is_file() and p.endswith(_TEST_SUFFIXES)]
    bundles = {Path(p) for p in paths if not (Path(p).is_file() and p.endswith(_TEST_SUFFIXES))}
    if bundle_path is not None:
        bundles.add(Path(bundle_path))
    if not bundles:
        found = {_bundle_of_test_file(f) for f in files} if files else {Path(".")}
        if None in found:
            _fail("a test file outside a bundle's `tests/` folder needs `--bundle`")
        bundles = {p for p in found if p is not None}
    if len({b.resolve() for b in bundles}) > 1:
        _fail("give one bundle at a time: " + ", ".join(f"`{b}`" for b in sorted(bundles)))
    root = next(iter(bundles))
    bundle = _load(root)
    selected: dict[str, bytes] | None = None
    if files:
        selected = {}
        for f in files:
            try:
                selected[_display(f, root)] = f.read_bytes()
            except OSError as err:
                _fail(f"cannot read `{f}`: {err.strerror or err}")
    run = run_tests(bundle, selected, coverage=coverage or bool(limits))
    if fmt == "json":
        click.echo(json.dumps(run_to_dict(run, limits), indent=2, ensure_ascii=False))
    elif fmt == "junit":
        click.echo(render_junit(run, limits))
    else:
        click.echo(render_run(run, verbose, limits))
    cov = run.coverage
    below = cov is not None and any(t.problem(cov) is not None for t in limits)
    ok = run.failed == 0 and (run.results or run.problems) and not below
    sys.exit(EXIT_OK if ok else EXIT_FINDINGS)


# ---- tenet fmt -------------------------------------------------------------------------------


def _policy_files(paths: tuple[str, ...]) -> list[Path]:
    """The `.tenet` files named or found (at any depth, outside hidden folders) under PATHS."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for found in sorted(path.rglob("*.tenet")):
                rel = found.relative_to(path).parts
                hidden = any(part.startswith((".", "__pycache__")) for part in rel)
                if not hidden and not found.is_dir():  # a folder `x.tenet`: its files are found
                    out.append(found)
        else:
            out.append(path)
    seen: set[str] = set()
    unique = []
    for f in out:
        key = os.path.realpath(f)  # a link that loops is kept, to be refused when read
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _read_text(path: Path | None) -> str | None:
    """The text of a policy file, or of standard input for None; None, once said why, when it
    cannot be read or is not UTF-8."""
    name = "<stdin>" if path is None else str(path)
    try:
        return decode_utf8(binary_stdin().read() if path is None else _read_regular(path))
    except OSError as err:
        click.echo(f"error: cannot read `{name}`: {err.strerror or err}", err=True)
    except NotUtf8 as bad:
        click.echo(f"error: `{name}` is not UTF-8 text: {bad.where()}", err=True)
    return None


def _read_regular(path: Path) -> bytes:
    """A regular file's bytes; a FIFO or a device is refused (OSError) rather than read, which
    could block forever. It is opened without waiting for a FIFO's writer, then looked at."""
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file")
        return f.read()


@click.command(name="fmt")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, allow_dash=True))
@click.option(
    "--check", "check_only", is_flag=True, help="Change nothing; exit 1 if any file would change."
)
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; show what would change.")
def fmt_command(paths: tuple[str, ...], check_only: bool, show_diff: bool) -> None:
    """Rewrite policy files in the canonical style, keeping every comment.

    PATHS are `.tenet` files or folders (searched at any depth; default: the current
    folder); `-` formats standard input to standard output. Exit 0 when done (with --check:
    when nothing would change), 1 with --check when some file would change, 2 when a file
    cannot be read or does not parse."""
    from tenet.syntax.format import format_source

    if paths == ("-",):
        text = _read_text(None)
        if text is None:
            sys.exit(EXIT_USAGE)
        out, diags = format_source(Source("<stdin>", text))
        if out is None:
            click.echo(render_all(diags), err=True)
            sys.exit(EXIT_USAGE)
        if show_diff:
            endings = _endings_change(text, out)
            if endings:
                click.echo(f"<stdin>: {endings}")
            click.echo(_diff("<stdin>", text, out), nl=False)
        elif not check_only:
            click.echo(out, nl=False)
        sys.exit(EXIT_FINDINGS if check_only and out != text else EXIT_OK)
    if "-" in paths:
        _fail("`-` (standard input) cannot be mixed with files")
    files = _policy_files(paths or (".",))
    broken = changed = 0
    for path in files:
        text = _read_text(path)
        if text is None:
            broken += 1
            continue
        out, diags = format_source(Source(path.as_posix(), text))
        if out is None:
            click.echo(render_all(diags), err=True)
            broken += 1
            continue
        if out == text:
            continue
        changed += 1
        endings = _endings_change(text, out)
        if show_diff:
            if endings:
                click.echo(f"{path.as_posix()}: {endings}")
            click.echo(_diff(path.as_posix(), text, out), nl=False)
        if check_only:
            click.echo(f"would reformat {path.as_posix()}" + (f" ({endings})" if endings else ""))
        elif not show_diff:
            write_file(path, out.encode("utf-8"))
            click.echo(f"reformatted {path.as_posix()}")
    n = len(files)
    verb = "would be reformatted" if check_only or show_diff else "reformatted"
    summary = f"{changed} of {count(n, 'file')} {verb}"
    if broken:
        summary += f", {broken} could not be formatted"
    click.echo(summary, err=True)
    if broken:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_FINDINGS if check_only and changed else EXIT_OK)


def _endings_change(before: str, after: str) -> str | None:
    """Says so when formatting changes line endings: a diff of CRLF lines against LF ones
    shows lines that look the same, and `would reformat` alone does not say why."""
    if "\r" not in before or "\r" in after:
        return None
    was = "CRLF" if "\r\n" in before else "CR"
    return f"line endings change from {was} to LF"


def _diff(name: str, before: str, after: str) -> str:
    import difflib

    if line_break(before) == "\r":
        # a diff line ends in `\n`: a CR-only line's `\r` alone would return the terminal's
        # cursor over it; shown as CRLF, its lines show as a CRLF file's do
        before = before.replace("\r", "\r\n")
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"{name} (before)",
            f"{name} (formatted)",
        )
    )


# ---- tenet check -----------------------------------------------------------------------------


@click.command(name="check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def check_command(paths: tuple[str, ...], strict: bool, fmt: str) -> None:
    """Report every compile error and warning in bundles or policy files.

    PATHS are bundle folders or archives, or `.tenet` files (checked within the bundle that
    holds them: the nearest folder above with a `tenet.yaml`); default: the current folder.
    Warnings: unused imports and locals, names shadowing rules or built-ins, constant
    conditions, checks without a message, input fields the input schema does not declare.
    Exit 0 when clean, 1 when there is any finding (--strict reports warnings as errors)."""
    targets = [Path(p) for p in (paths or (".",))]
    report = _check_paths(targets)
    if report.unreadable:
        for message in report.unreadable:
            click.echo(f"error: {message}", err=True)
        sys.exit(EXIT_USAGE)
    findings = report.findings
    if strict:
        findings = [dataclasses.replace(d, severity="error") for d in findings]
    errors = sum(1 for d in findings if d.severity == "error")
    warnings = len(findings) - errors
    if fmt == "json":
        doc = {
            "findings": [d.to_dict() for d in findings],
            "errors": errors,
            "warnings": warnings,
            "files": report.files,
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        if findings:
            click.echo(render_all(findings) + "\n")
        n = report.files
        counts = f"{count(errors, 'error')}, {count(warnings, 'warning')}"
        click.echo(f"checked {count(n, 'file')}: {counts}")
    sys.exit(EXIT_FINDINGS if findings else EXIT_OK)


@dataclass
class _CheckReport:
    findings: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    unreadable: list[str] = field(default_factory=list)


def _has_manifest(folder: Path) -> bool:
    return (folder / "tenet.yaml").is_file()


def _enclosing_bundle(path: Path) -> Path | None:
    """The nearest folder above `path` (as written, then resolved) holding a `tenet.yaml`."""
    for parent in [*path.parents, *path.resolve().parents]:
        if _has_manifest(parent):
            return parent
    return None


def _targets(path: Path) -> list[tuple[Path, set[Path] | None]]:
    """What to check for one argument: (bundle root, the files to report on, or None for all)."""
    if path.is_file() and not path.name.endswith(".tenet"):
        return [(path, None)]  # an archive
    if path.is_file():
        root = _enclosing_bundle(path)
        return [(root, {path.resolve()})] if root is not None else [(path, {path.resolve()})]
    if _has_manifest(path):
        return [(path, None)]
    below = sorted(
        m.parent
        for m in path.rglob("tenet.yaml")
        if not any(part.startswith((".", "__pycache__")) for part in m.relative_to(path).parts[:-1])
    )
    roots = [r for r in below if not any(o != r and o in r.parents for o in below)]
    if roots:
        return [(r, None) for r in roots]
    root = _enclosing_bundle(path)
    if root is not None:
        return [(root, {f.resolve() for f in path.rglob("*.tenet")})]
    return [(path, None)]


def _check_paths(paths: list[Path]) -> _CheckReport:
    """Every compile error and warning of the bundles and files named, with paths as the
    user would open them."""
    report = _CheckReport()
    grouped: dict[Path, tuple[Path, set[Path] | None]] = {}
    for path in paths:
        for root, only in _targets(path):
            key = root.resolve()
            if key in grouped:
                known = grouped[key][1]
                merged = None if known is None or only is None else known | only
                grouped[key] = (grouped[key][0], merged)
            else:
                grouped[key] = (root, only)
    # a folder outside any bundle is checked whole, files below it included: a file or
    # folder below it named too is checked once, in the widest run, as `fmt` does
    covered: set[Path] = set()
    results: dict[Path, tuple[list[Diagnostic], int]] = {}
    for key in sorted(grouped, key=lambda k: (grouped[k][1] is not None, len(k.parts))):
        results[key] = _check_bundle(*grouped[key], covered)
    for findings, files in (results[key] for key in grouped):
        report.findings.extend(findings)
        report.files += files
    return report


def _check_bundle(
    root: Path, only: set[Path] | None, covered: set[Path]
) -> tuple[list[Diagnostic], int]:
    from tenet import __version__
    from tenet.analysis import check
    from tenet.analysis.lints import lint
    from tenet.bundle import compile_files
    from tenet.bundle.files import ReadLimits, Tree, badly_named
    from tenet.bundle.loader import bundle_digest, default_name, read_parts, read_tree
    from tenet.bundle.manifest import MANIFEST, check_requires, parse_manifest
    from tenet.syntax.parser import parse

    if root.is_file() and root.name.endswith(".tenet"):  # a file outside any bundle
        tree = Tree(files={root.name: root.read_bytes()})
        tree.diagnostics.extend(badly_named(tree))  # a one-file bundle, named as any other
        base = root.parent
    else:
        tree = read_tree(root, ReadLimits())
        base = root
    prefix = "" if base.is_file() or base == Path(".") else base.as_posix().rstrip("/") + "/"
    if tree.diagnostics:
        return [_rebase(d, prefix, root) for d in tree.diagnostics], 0
    manifest, problems = parse_manifest(tree.files.get(MANIFEST), default_name(base))
    too_new = check_requires(manifest, __version__)
    if too_new is not None:
        return [_rebase(too_new, prefix, root)], 0
    files = read_parts(tree, base, manifest, bundle_digest(tree.files))
    files.diagnostics[:0] = problems
    try:
        found = list(compile_files(files).warnings)
    except PolicyError as err:
        found = list(err.diagnostics)
    modules = [m for m in (parse(s)[0] for s in files.sources) if m is not None]
    try:
        analysis, _ = check(modules, files.data, files.places.diagnostic)
        found.extend(
            lint(
                analysis,
                files.input_schemas,
                files.frameworks,
                files.schema_files,
                files.broken_frameworks,
            )
        )
    except RecursionError:
        pass  # reported as an error by compiling
    wanted = None
    if only is not None:
        wanted = {
            p.relative_to(base.resolve()).as_posix()
            for p in only
            if base.is_dir() and p.is_relative_to(base.resolve())
        } or {root.name}
    # where each file is on disk, to know one an earlier run reported on; none in an archive
    on_disk = base.resolve() if base.is_dir() else None

    def seen(rel: str | None) -> bool:
        return on_disk is not None and rel is not None and on_disk / rel in covered

    findings = [d for d in found if (wanted is None or d.path in wanted) and not seen(d.path)]
    findings = _dedupe(findings)
    findings.sort(key=lambda d: (d.path or "", d.line or 0, d.column or 0, d.severity != "error"))
    reported = [s.path for s in files.sources] if wanted is None else sorted(wanted)
    checked = sum(1 for rel in reported if not seen(rel))
    if on_disk is not None:
        covered.update(on_disk / rel for rel in (tree.files if wanted is None else wanted))
    return [_rebase(d, prefix, root) for d in findings], checked


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[object, ...]] = set()
    out = []
    for d in diags:
        key = (d.code, d.message, d.location(), d.severity)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _rebase(d: Diagnostic, prefix: str, root: Path) -> Diagnostic:
    """The diagnostic with its file named from where the command ran; one about the bundle
    as a whole names it as given already."""
    if not prefix or d.file == str(root):
        return d
    if d.span is not None:
        source = d.span.source
        moved = Source(prefix + source.path, source.text)
        span = Span(moved, d.span.start, d.span.end, d.span.line, d.span.column)
        return dataclasses.replace(d, span=span)
    if d.file is not None:
        return dataclasses.replace(d, file=prefix + d.file)
    return d
