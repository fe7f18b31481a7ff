"""Archives: reproducible builds, and hostile archives and folders refused with a clear error."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import tenet
from tenet.bundle import ReadLimits
from tenet.bundle.archive import build_archive
from tenet.cli import main
from tests.unit.bundle_helpers import FILES, make_bundle, special, tar_gz

GOOD = [(k, v.encode()) for k, v in FILES.items()]


def _refused(tmp_path: Path, data: bytes, limits: ReadLimits | None = None) -> list[str]:
    archive = tmp_path / "hostile.tar.gz"
    archive.write_bytes(data)
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(archive, read_limits=limits)
    return [d.message for d in info.value.diagnostics]


# ---- reproducibility ------------------------------------------------------------------------


def test_building_twice_gives_identical_bytes(tmp_path: Path) -> None:
    b = tenet.load_bundle(make_bundle(tmp_path / "b"))
    again = tenet.load_bundle(make_bundle(tmp_path / "elsewhere" / "copy"))
    assert build_archive(b.files) == build_archive(b.files) == build_archive(again.files)


def test_the_archive_has_sorted_entries_with_fixed_metadata(tmp_path: Path) -> None:
    b = tenet.load_bundle(make_bundle(tmp_path / "b"))
    data = build_archive(b.files)
    assert data[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert data[3] & 0x08 == 0  # no file name in the gzip header
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(FILES, key=lambda r: r.encode())
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (0, 0, 0, "", "", 0o644)
        assert m.isreg()


def test_file_times_do_not_change_the_archive(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b")
    first = build_archive(tenet.load_bundle(root).files)
    os.utime(root / "data.yaml", (12345, 12345))
    assert build_archive(tenet.load_bundle(root).files) == first


# ---- hostile archives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("/etc/passwd", "has an absolute path"),
        ("../outside.tenet", "has `..` in its path"),
        ("deploy/../../outside.tenet", "has `..` in its path"),
        ("C:/windows/x.tenet", "has an absolute path"),
        ("deploy\\x.tenet", "has a backslash in its path"),
    ],
)
def test_paths_that_leave_the_bundle_are_refused(tmp_path: Path, name: str, why: str) -> None:
    messages = _refused(tmp_path, tar_gz([*GOOD, (name, b"package x\n")]))
    assert messages == [f"archive entry `{name}` {why}"]


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (
            special("link.tenet", tarfile.SYMTYPE, "/etc/passwd"),
            "is a symbolic link (to `/etc/passwd`)",
        ),
        (special("hard.tenet", tarfile.LNKTYPE, "tenet.yaml"), "is a hard link (to `tenet.yaml`)"),
        (special("dev/tty", tarfile.CHRTYPE), "is a device file"),
        (special("dev/sda", tarfile.BLKTYPE), "is a device file"),
        (special("pipe", tarfile.FIFOTYPE), "is a FIFO"),
    ],
)
def test_links_devices_and_fifos_are_refused(
    tmp_path: Path, entry: tarfile.TarInfo, why: str
) -> None:
    messages = _refused(tmp_path, tar_gz([*GOOD, entry]))
    assert messages == [f"archive entry `{entry.name}` {why}"]


@pytest.mark.parametrize(
    "entry",
    [
        ("/etc/evil.tenet", b"package x\n"),
        ("a/../../evil.tenet", b"package x\n"),
        special("link.tenet", tarfile.SYMTYPE, "/etc/passwd"),
        special("dev/null", tarfile.CHRTYPE),
    ],
    ids=["absolute", "dotdot", "symlink", "device"],
)
def test_a_refused_entry_is_an_error_of_the_archive_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: tarfile.TarInfo | tuple[str, bytes]
) -> None:
    name = entry[0] if isinstance(entry, tuple) else entry.name
    (tmp_path / "h.tar.gz").write_bytes(tar_gz([*GOOD, entry]))
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(tmp_path / "h.tar.gz")
    (d,) = info.value.diagnostics
    assert (d.severity, d.code, d.path) == ("error", "archive", str(tmp_path / "h.tar.gz"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.json").write_text("{}")
    evaluate = ["eval", "x", "--bundle", "h.tar.gz", "--input", "in.json"]
    for args in (["bundle", "inspect", "h.tar.gz"], evaluate):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        lines = result.stderr.splitlines()
        assert lines[0].startswith(f"error[archive]: archive entry `{name}` "), lines
        assert lines[1] == "  --> h.tar.gz"
        assert lines[2].startswith("  = help: a bundle archive holds regular files")


def test_every_hostile_entry_is_reported(tmp_path: Path) -> None:
    entries = [*GOOD, ("/abs", b""), ("../up", b""), special("l", tarfile.SYMTYPE, "x")]
    assert len(_refused(tmp_path, tar_gz(entries))) == 3


def test_a_duplicate_entry_is_refused(tmp_path: Path) -> None:
    messages = _refused(tmp_path, tar_gz([*GOOD, ("data.yaml", b"owners: [evil]\n")]))
    assert messages == ["archive entry `data.yaml` appears twice"]


def test_a_path_that_is_both_file_and_folder_is_refused(tmp_path: Path) -> None:
    messages = _refused(tmp_path, tar_gz([*GOOD, ("deploy/staging/gates.tenet/x", b"")]))
    assert messages == [
        "archive entry `deploy/staging/gates.tenet/x` clashes with "
        "`deploy/staging/gates.tenet`, both a file and a folder"
    ]


def test_too_many_files_are_refused(tmp_path: Path) -> None:
    entries = [*GOOD, *((f"extra/{i}.txt", b"x") for i in range(20))]
    messages = _refused(tmp_path, tar_gz(entries), ReadLimits(max_files=10))
    assert messages == ["the archive has more than 10 entries"]


def test_an_archive_unpacking_past_the_size_bound_is_refused(tmp_path: Path) -> None:
    bomb = tar_gz([*GOOD, ("padding.bin", b"\0" * 5_000_000)])
    assert len(bomb) < 100_000  # small on disk, large unpacked
    messages = _refused(tmp_path, bomb, ReadLimits(max_bytes=1_000_000))
    assert messages == ["the archive unpacks to more than 1000000 bytes"]


def test_the_default_bounds_are_generous_but_finite() -> None:
    limits = ReadLimits()
    assert 1_000 <= limits.max_files <= 100_000
    assert 10_000_000 <= limits.max_bytes <= 1_000_000_000


def test_a_file_that_is_not_a_gzip_tar_is_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path, b"PK\x03\x04 a zip file") == [
        "`hostile.tar.gz` is not a gzip-compressed tar archive"
    ]


def test_a_truncated_archive_is_refused(tmp_path: Path) -> None:
    data = tar_gz(GOOD)
    (message,) = _refused(tmp_path, data[: len(data) // 2])
    assert message.startswith("`hostile.tar.gz` is damaged")


def test_a_gzip_of_garbage_is_refused(tmp_path: Path) -> None:
    (message,) = _refused(tmp_path, gzip.compress(b"not a tar archive at all" * 100))
    assert message.startswith("`hostile.tar.gz` is damaged")


# ---- hostile folders ------------------------------------------------------------------------


def _folder_refused(root: Path, limits: ReadLimits | None = None) -> list[str]:
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root, read_limits=limits)
    return [d.message for d in info.value.diagnostics]


def test_links_in_a_folder_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.tenet"
    outside.write_text("package outside\n")
    root = make_bundle(tmp_path / "b")
    (root / "linked.tenet").symlink_to(outside)
    (root / "linked-dir").symlink_to(tmp_path)
    assert sorted(_folder_refused(root)) == ["`linked-dir` is a link", "`linked.tenet` is a link"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_in_a_folder_is_refused(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b")
    os.mkfifo(root / "pipe")
    assert _folder_refused(root) == ["`pipe` is not a regular file"]


def test_a_folder_past_the_bounds_is_refused(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b")
    assert _folder_refused(root, ReadLimits(max_files=3)) == ["the bundle has more than 3 files"]
    assert _folder_refused(root, ReadLimits(max_bytes=100)) == [
        "the bundle holds more than 100 bytes"
    ]


@pytest.mark.parametrize("data", [b"PK\x03\x04 a zip file", b"\x1f\x8b\x08\x00 damaged"])
def test_an_unreadable_archive_is_an_error_of_the_archive_file(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "h.tar.gz").write_bytes(data)
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(tmp_path / "h.tar.gz")
    (d,) = info.value.diagnostics
    assert (d.severity, d.path) == ("error", str(tmp_path / "h.tar.gz"))
    assert d.render().splitlines()[1] == f"  --> {tmp_path / 'h.tar.gz'}"
