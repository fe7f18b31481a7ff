"""A bundle's files in memory, read from a folder within bounds: relative POSIX path -> bytes."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tenet.diagnostics import Diagnostic
from tenet.escape import CONTROL, printable

__all__ = [
    "NAME_RULE",
    "SIGNATURE",
    "ReadLimits",
    "Tree",
    "bad_name",
    "badly_named",
    "counted",
    "log_keys",
    "read_as_file",
    "read_folder_files",
    "shown_name",
    "too_large",
]

SIGNATURE = ".signature"


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """Bounds on what loading a bundle reads; an archive's unpacked size counts its headers."""

    max_files: int = 10_000
    max_bytes: int = 256 * 1024 * 1024


@dataclass(eq=False)
class Tree:
    """The files that count (see `counted`), the raw `.signature` if any, and what went wrong."""

    files: dict[str, bytes] = field(default_factory=dict)
    signature: bytes | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, rel: str, content: bytes) -> None:
        if rel == SIGNATURE:
            self.signature = content
        elif counted(rel):
            self.files[rel] = content


def counted(rel: str) -> bool:
    """Whether a file takes part in the bundle (and its digest): no part of its path starts
    with `.` or `__pycache__`."""
    return not any(part.startswith((".", "__pycache__")) for part in rel.split("/"))


def bad_name(rel: str) -> str | None:
    """Why a bundle may not hold a file or folder named `rel`, or None when it may.

    The digest lists one `path\\0hash\\n` line a file: a name holding `\\0` and a newline
    could stand for two lines, so that an archive with one file fewer kept the signed digest.
    A name that is not UTF-8 has no bytes to go in the digest at all."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "is not UTF-8"
    found = CONTROL.search(rel)
    if found is not None:
        return f"holds the control character `{printable(found.group())}`"
    return None


NAME_RULE = (
    "a bundle's file and folder names are UTF-8 text without control characters, so that its "
    "digest names every file once"
)


def shown_name(rel: str) -> str:
    """A name as a person can read it on one line: bytes that are not UTF-8 (kept by Python
    as lone surrogates) written `\\xff`, control characters escaped."""
    try:
        raw = rel.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte
        return printable(rel.encode("utf-8", "backslashreplace").decode("ascii"))
    return printable(raw.decode("utf-8", "backslashreplace"))


def _problem(code: str, message: str, rel: str, help: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, None, help, file=rel)


def read_folder_files(root: Path, limits: ReadLimits) -> Tree:
    """Every file of a bundle folder. Links, devices and other special files are refused (an
    archive could not hold them the same way); hidden folders are not entered."""
    tree = Tree()
    count = total = 0
    for folder, dirs, names in os.walk(root):
        base = Path(folder)
        rel_base = base.relative_to(root).as_posix()
        prefix = "" if rel_base == "." else rel_base + "/"
        if not prefix and SIGNATURE in dirs:
            # else skipped as hidden: `verify` would call the bundle unsigned, `sign` crash
            tree.diagnostics.append(
                _problem(
                    "bundle",
                    f"`{SIGNATURE}` is a folder, not a file",
                    SIGNATURE,
                    f"remove the folder: `{SIGNATURE}` is the file `tenet bundle sign` writes",
                )
            )
        dirs[:] = sorted(d for d in dirs if counted(d))
        for d in list(dirs):
            why = bad_name(d)
            if why is not None:  # its files would all be refused: name it once
                tree.diagnostics.append(_badly_named("folder", prefix + d, why))
                dirs.remove(d)
        for d in [d for d in dirs if (base / d).is_symlink()]:
            tree.diagnostics.append(_link(prefix + d))
            dirs.remove(d)
        for d in [d for d in dirs if read_as_file(prefix + d)]:
            tree.diagnostics.append(_folder(prefix + d))
            dirs.remove(d)
        for name in sorted(names):
            rel = prefix + name
            if not counted(rel) and rel != SIGNATURE:
                continue
            why = bad_name(name)
            if why is not None:
                tree.diagnostics.append(_badly_named("file", rel, why))
                continue
            info = os.lstat(base / name)
            if stat.S_ISLNK(info.st_mode):
                tree.diagnostics.append(_link(rel))
                continue
            if not stat.S_ISREG(info.st_mode):
                tree.diagnostics.append(
                    _problem("bundle", f"`{rel}` is not a regular file", rel, _REGULAR_ONLY)
                )
                continue
            count += 1
            total += info.st_size
            bound = _over_bounds(count, total, limits, str(root))
            if bound is not None:
                tree.diagnostics.append(bound)
                return tree
            tree.add(rel, (base / name).read_bytes())
    return tree


_REGULAR_ONLY = "a bundle holds regular files and folders only"


# what a decision log writes as its key file beside it: 64 hex digits
_LOG_KEY = re.compile(rb"[0-9a-f]{64}\s*")


def log_keys(files: Mapping[str, bytes]) -> list[Diagnostic]:
    """A decision log's key file among a bundle's files (`audit.db.key`, beside its log or
    left behind by it): shipped with the bundle, it would let anyone given the bundle tell
    whose values the log's tokens stand for."""
    out = []
    for rel, data in files.items():
        if not rel.endswith(".key"):
            continue
        log = rel.removesuffix(".key")
        if log in files or _LOG_KEY.fullmatch(data):
            beside = f"of the decision log `{log}`" if log in files else "of a decision log"
            out.append(
                _problem(
                    "bundle",
                    f"`{rel}` is the key {beside}: a bundle must not hold it, since anyone "
                    "given the bundle could then tell whose values the log's tokens stand for",
                    rel,
                    "keep decision logs and their keys out of the bundle (a log in its folder "
                    "also changes it with every decision)",
                )
            )
    return out


def read_as_file(rel: str) -> bool:
    """Whether the loader reads the path `rel` as one file, by its name: the manifest, a data
    file, a named schema, a framework catalogue."""
    from tenet.bundle.loader import DATA_FILES  # which imports this module
    from tenet.bundle.manifest import MANIFEST

    parts = rel.split("/")
    if len(parts) == 2 and parts[0] == "schemas":
        return parts[1].endswith(".schema.json")
    if len(parts) == 2 and parts[0] == "frameworks":
        return parts[1].endswith((".yaml", ".yml"))
    return rel == MANIFEST or parts[-1] in DATA_FILES


def _folder(rel: str) -> Diagnostic:
    # skipped, the folder would leave the bundle without its manifest or data, unsaid
    return _problem(
        "bundle",
        f"`{rel}` is a folder, not a file",
        rel,
        f"rename or remove the folder: the bundle reads `{rel}` as a file",
    )


def badly_named(tree: Tree) -> list[Diagnostic]:
    """The files of `tree` whose name a bundle may not hold: the readers refuse them, but a
    Tree can be made by hand."""
    return [
        _badly_named("file", rel, why) for rel in tree.files if (why := bad_name(rel)) is not None
    ]


def _badly_named(kind: str, rel: str, why: str) -> Diagnostic:
    shown = shown_name(rel)
    return _problem(
        "bundle", f"the name of {kind} `{shown}` {why}", shown, "rename it: " + NAME_RULE
    )


def _link(rel: str) -> Diagnostic:
    return _problem("bundle", f"`{rel}` is a link", rel, _REGULAR_ONLY + "; copy the file in")


def too_large(message: str, bound: str, where: str) -> Diagnostic:
    """A bundle past one of the ReadLimits (`bound` names it)."""
    return _problem("bundle-size", message, where, f"raise `{bound}` in ReadLimits if intended")


def _over_bounds(count: int, total: int, limits: ReadLimits, where: str) -> Diagnostic | None:
    if count > limits.max_files:
        return too_large(f"the bundle has more than {limits.max_files} files", "max_files", where)
    if total > limits.max_bytes:
        return too_large(f"the bundle holds more than {limits.max_bytes} bytes", "max_bytes", where)
    return None
