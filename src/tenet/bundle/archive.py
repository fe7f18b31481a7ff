"""Bundle archives: reproducible `.tar.gz` building, and reading one into memory within bounds,
refusing entries that could escape or are not plain files."""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path

from tenet.bundle.files import (
    NAME_RULE,
    SIGNATURE,
    ReadLimits,
    Tree,
    bad_name,
    read_as_file,
    shown_name,
    too_large,
)
from tenet.diagnostics import Diagnostic

__all__ = ["archive_stem", "build_archive", "read_archive"]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
_DRIVE = re.compile(r"^[A-Za-z]:")
_HELP = "build archives with `tenet bundle build`"


def archive_stem(path: Path) -> str:
    """The archive's name without its suffix: the bundle's name when it has no manifest."""
    for suffix in ARCHIVE_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


# ---- building -------------------------------------------------------------------------------


def build_archive(files: Mapping[str, bytes], signature: bytes | None = None) -> bytes:
    """A reproducible archive: entries sorted by path bytewise, fixed times, owners and modes,
    a gzip header without name or time. The same files always give the same bytes."""
    entries = dict(files)
    if signature is not None:
        entries[SIGNATURE] = signature
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(entries, key=lambda r: r.encode("utf-8")):
            tar.addfile(_entry(rel, len(entries[rel])), io.BytesIO(entries[rel]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(tar_bytes.getvalue())
    return out.getvalue()


def _entry(rel: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(rel)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


# ---- reading --------------------------------------------------------------------------------


def read_archive(path: Path, limits: ReadLimits) -> Tree:
    """The files of a `.tar.gz` bundle, read into memory (nothing is extracted to disk).

    Refuses absolute paths, `..`, links, devices and FIFOs, duplicate entries, and archives
    over `limits` (entries, or bytes unpacked). A single top folder holding `tenet.yaml`
    (as `tar czf b.tar.gz bundle/` makes) is taken as the bundle's root."""
    tree = Tree()
    where = str(path)
    if path.stat().st_size > limits.max_bytes:
        tree.diagnostics.append(_too_big(where, limits))
        return tree
    raw = path.read_bytes()
    if not raw.startswith(b"\x1f\x8b"):
        tree.diagnostics.append(
            Diagnostic(
                "archive",
                f"`{path.name}` is not a gzip-compressed tar archive",
                None,
                _HELP,
                file=where,
            )
        )
        return tree
    try:
        data = _gunzip(raw, limits.max_bytes)
    except zlib.error as err:
        tree.diagnostics.append(_damaged(path, str(err)))
        return tree
    if data is None:
        tree.diagnostics.append(_too_big(where, limits))
        return tree
    entries = _read_entries(path, data, limits, tree.diagnostics)
    if tree.diagnostics:
        return tree
    for rel, content in _strip_top_folder(entries).items():
        tree.add(rel, content)
    return tree


def _gunzip(raw: bytes, bound: int) -> bytes | None:
    """The decompressed bytes, or None past `bound`; every gzip member is read."""
    out = bytearray()
    rest = raw
    while rest and rest.strip(b"\0"):
        d = zlib.decompressobj(wbits=31)
        out += d.decompress(rest, bound + 1 - len(out))
        if len(out) > bound or d.unconsumed_tail:
            return None
        if not d.eof:
            raise zlib.error("the compressed stream ends early")
        rest = d.unused_data
    return bytes(out)


def _read_entries(
    path: Path, data: bytes, limits: ReadLimits, diags: list[Diagnostic]
) -> dict[str, bytes]:
    entries: dict[str, bytes] = {}
    folders: set[str] = set()
    count = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar:
                count += 1
                if count > limits.max_files:
                    diags.append(
                        too_large(
                            f"the archive has more than {limits.max_files} entries",
                            "max_files",
                            str(path),
                        )
                    )
                    return entries
                _read_member(path, tar, member, entries, folders, diags)
    except (tarfile.TarError, EOFError, OSError) as err:
        diags.append(_damaged(path, str(err)))
    return entries


def _read_member(
    path: Path,
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    entries: dict[str, bytes],
    folders: set[str],
    diags: list[Diagnostic],
) -> None:
    rel, problem = _safe_name(member.name)

    def refuse(why: str, help: str = _ENTRY_HELP) -> None:
        diags.append(_refused(path, member.name, why, help))

    misnamed = bad_name(member.name)
    if misnamed is not None:
        refuse(f"has a name that {misnamed}", f"{NAME_RULE}; `tenet bundle build` writes no other")
        return
    if problem is not None:
        refuse(problem)
        return
    if member.issym() or member.islnk():
        kind = "symbolic link" if member.issym() else "hard link"
        refuse(f"is a {kind} (to `{member.linkname}`)")
        return
    if member.ischr() or member.isblk():
        refuse("is a device file")
        return
    if member.isfifo():
        refuse("is a FIFO")
        return
    if member.isdir() or rel == "":
        if rel and read_as_file(rel):
            refuse("is a folder where the bundle reads a file")
        return
    if not member.isfile():
        refuse("is not a regular file")
        return
    if rel in entries:
        refuse("appears twice")
        return
    parents = [rel[:i] for i in range(len(rel)) if rel[i] == "/"]
    clash = rel if rel in folders else next((p for p in parents if p in entries), None)
    if clash is not None:
        refuse(f"clashes with `{clash}`, both a file and a folder")
        return
    folders.update(parents)
    stream = tar.extractfile(member)
    entries[rel] = stream.read() if stream is not None else b""


def _safe_name(name: str) -> tuple[str, str | None]:
    """The entry's path relative to the bundle root, or why it is refused."""
    if name.startswith("/") or _DRIVE.match(name):
        return "", "has an absolute path"
    if "\\" in name:
        return "", "has a backslash in its path"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "", "has `..` in its path"
    return "/".join(parts), None


def _strip_top_folder(entries: dict[str, bytes]) -> dict[str, bytes]:
    tops = {rel.split("/", 1)[0] for rel in entries}
    if len(tops) != 1 or any("/" not in rel for rel in entries):
        return entries
    top = tops.pop()
    if f"{top}/tenet.yaml" not in entries:
        return entries
    return {rel[len(top) + 1 :]: content for rel, content in entries.items()}


_ENTRY_HELP = "a bundle archive holds regular files under its root only; " + _HELP


def _refused(path: Path, name: str, why: str, help: str) -> Diagnostic:
    """An entry refused: the archive is the file at fault, the entry is named in the message."""
    return Diagnostic(
        "archive", f"archive entry `{shown_name(name)}` {why}", None, help, file=str(path)
    )


def _too_big(where: str, limits: ReadLimits) -> Diagnostic:
    return too_large(
        f"the archive unpacks to more than {limits.max_bytes} bytes", "max_bytes", where
    )


def _damaged(path: Path, why: str) -> Diagnostic:
    return Diagnostic("archive", f"`{path.name}` is damaged: {why}", None, _HELP, file=str(path))
