"""File and folder names a bundle may not hold: control characters, which would make the
digest's `path\\0hash\\n` lines ambiguous (a forged archive could drop a file and keep its
signature), and bytes that are not UTF-8. Refused alike from archives and folders, by every
command, with the name escaped and no traceback."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import tenet
from tenet.bundle import load_tree
from tenet.bundle.archive import build_archive
from tenet.bundle.files import Tree
from tenet.bundle.reload import BundleHolder
from tenet.bundle.signing import generate_keypair, load_private_key, sign_digest
from tenet.cli import main
from tests.unit.bundle_helpers import FILES, make_bundle, tar_gz

GOOD = [(k, v.encode()) for k, v in FILES.items()]
RULE = (
    "a bundle's file and folder names are UTF-8 text without control characters, so that its "
    "digest names every file once"
)


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_keypair()


def _forge(files: dict[str, bytes], drop: str, signature: bytes) -> bytes:
    """The archive of `files` without `drop`, whose digest is still that of `files`: `drop`'s
    digest line and the next file's are spelled as the name of one file holding the next
    file's bytes."""
    names = sorted(files, key=lambda r: r.encode())
    following = names[names.index(drop) + 1]
    merged = f"{drop}\0{hashlib.sha256(files[drop]).hexdigest()}\n{following}"
    kept = {n: c for n, c in files.items() if n not in (drop, following)}
    kept[merged] = files[following]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in [*kept.items(), (".signature", signature)]:
            info = tarfile.TarInfo("placeholder" if "\0" in name else name)
            info.pax_headers = {"path": name}  # a PAX header carries the NUL and newline
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue())


def _digest_text_of(files: dict[str, bytes]) -> str:
    lines = (
        f"{rel}\0{hashlib.sha256(files[rel]).hexdigest()}\n"
        for rel in sorted(files, key=lambda r: r.encode())
    )
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


def test_an_archive_forged_to_drop_a_signed_file_is_refused(
    tmp_path: Path, keys: tuple[bytes, bytes]
) -> None:
    signed = make_bundle(tmp_path / "b", **{"deploy/staging/a_export.tenet": _EXPORT})
    b = tenet.load_bundle(signed)
    signature = sign_digest(load_private_key(keys[0]), b.digest).to_bytes()
    files = dict(b.files)
    forged = tmp_path / "forged.tar.gz"
    forged.write_bytes(_forge(files, "deploy/staging/a_export.tenet", signature))
    with tarfile.open(forged) as tar:
        forged_files = {m.name: tar.extractfile(m).read() for m in tar if m.name != ".signature"}  # type: ignore[union-attr]
    assert "deploy/staging/a_export.tenet" not in forged_files
    assert _digest_text_of(forged_files) == b.digest  # the signature would still verify

    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(forged, public_key=keys[1])
    (d,) = info.value.diagnostics
    shown = (
        "deploy/staging/a_export.tenet\\u0000"
        + hashlib.sha256(files["deploy/staging/a_export.tenet"]).hexdigest()
        + "\\ndeploy/staging/gates.tenet"
    )
    assert (d.code, d.path) == ("archive", str(forged))
    assert d.message == (
        f"archive entry `{shown}` has a name that holds the control character `\\u0000`"
    )
    assert d.help == f"{RULE}; `tenet bundle build` writes no other"

    (tmp_path / "k.pub.pem").write_bytes(keys[1])
    verified = run("bundle", "verify", forged, "--public-key", tmp_path / "k.pub.pem")
    assert verified.exit_code == 2  # the bundle cannot be read, so not checked
    assert verified.stderr.startswith(f"error[archive]: archive entry `{shown}` has a name")
    assert "verified:" not in verified.output
    (tmp_path / "in.json").write_text("{}")
    evaluated = run(
        "eval", "deploy.staging", "--bundle", forged, "--input", tmp_path / "in.json",
        "--public-key", tmp_path / "k.pub.pem",
    )  # fmt: skip
    assert evaluated.exit_code == 2
    assert f"archive entry `{shown}`" in evaluated.stderr


_EXPORT = 'package deploy.staging\n\nforbid export blocking { input.country == "XX" } message "x"\n'


def test_the_reload_refuses_a_forged_archive_and_keeps_serving(
    tmp_path: Path, keys: tuple[bytes, bytes]
) -> None:
    b = tenet.load_bundle(make_bundle(tmp_path / "b", **{"deploy/staging/a_export.tenet": _EXPORT}))
    signature = sign_digest(load_private_key(keys[0]), b.digest).to_bytes()
    live = tmp_path / "live.tar.gz"
    live.write_bytes(build_archive(b.files, signature))
    holder = BundleHolder(live, public_key=keys[1])
    live.write_bytes(_forge(dict(b.files), "deploy/staging/a_export.tenet", signature))
    result = holder.reload()
    assert not result.ok and holder.current is result.bundle
    assert result.error is not None
    assert "has a name that holds the control character `\\u0000`" in result.error


@pytest.mark.parametrize(
    ("name", "shown", "char"),
    [
        ("a\nb.tenet", "a\\nb.tenet", "\\n"),
        ("a\0b.tenet", "a\\u0000b.tenet", "\\u0000"),
        ("deploy\t/x.tenet", "deploy\\t/x.tenet", "\\t"),
        ("esc\x1b[31m.tenet", "esc\\u001b[31m.tenet", "\\u001b"),
        ("del\x7f.txt", "del\\u007f.txt", "\\u007f"),
        ("csi\x9b.txt", "csi\\u009b.txt", "\\u009b"),  # C1: a terminal's escape too
    ],
)
def test_control_characters_in_archive_names_are_refused(
    tmp_path: Path, name: str, shown: str, char: str
) -> None:
    archive = tmp_path / "h.tar.gz"
    entry = tarfile.TarInfo(name.replace("\0", "_"))
    entry.pax_headers = {"path": name}  # as a NUL ends the name in the tar header
    archive.write_bytes(tar_gz([*GOOD, entry]))
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(archive)
    assert [d.message for d in info.value.diagnostics] == [
        f"archive entry `{shown}` has a name that holds the control character `{char}`"
    ]


def test_a_name_that_is_not_utf8_in_an_archive_is_shown_by_its_bytes(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as t:
        info = tarfile.TarInfo("bad\xff.tenet")
        t.addfile(info, io.BytesIO(b""))
    (tmp_path / "h.tar.gz").write_bytes(gzip.compress(raw.getvalue()))
    result = run("bundle", "inspect", tmp_path / "h.tar.gz")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error[archive]: archive entry `bad\\xff.tenet` has a name that is not UTF-8\n"
    )


# ---- folders --------------------------------------------------------------------------------


def _with(root: Path, relative: bytes, folder: bool = False) -> Path:
    """`root` holding a file (or a folder holding one) named by raw bytes."""
    target = os.path.join(os.fsencode(root), relative)
    if folder:
        os.makedirs(target)
        target = os.path.join(target, b"x.tenet")
    with open(target, "wb") as f:
        f.write(b"package x\n")
    return root


@pytest.mark.parametrize(
    ("relative", "folder", "message"),
    [
        (b"bad\xff.txt", False, "the name of file `bad\\xff.txt` is not UTF-8"),
        (b"d\xfe", True, "the name of folder `d\\xfe` is not UTF-8"),
        (
            b"deploy/a\nb.tenet",
            False,
            "the name of file `deploy/a\\nb.tenet` holds the control character `\\n`",
        ),
        (b"esc\x1b", True, "the name of folder `esc\\u001b` holds the control character `\\u001b`"),
        (b"csi\xc2\x9b.txt", False, "the name of file `csi\\u009b.txt` holds the control "
         "character `\\u009b`"),
    ],
    ids=["file not utf-8", "folder not utf-8", "newline", "escape", "c1"],
)  # fmt: skip
def test_names_a_folder_may_not_hold_are_load_errors(
    tmp_path: Path, relative: bytes, folder: bool, message: str
) -> None:
    root = _with(make_bundle(tmp_path / "b"), relative, folder)
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    (d,) = info.value.diagnostics
    assert (d.code, d.message, d.help) == ("bundle", message, f"rename it: {RULE}")
    assert d.render().splitlines()[1] == f"  --> {message.split('`')[1]}"


def test_every_command_refuses_a_name_that_is_not_utf8_without_a_traceback(
    tmp_path: Path, keys: tuple[bytes, bytes]
) -> None:
    root = _with(make_bundle(tmp_path / "b"), b"bad\xff.txt")
    (tmp_path / "k.pem").write_bytes(keys[0])
    (tmp_path / "k.pub.pem").write_bytes(keys[1])
    (tmp_path / "in.json").write_text("{}")
    said = (
        "error[bundle]: the name of file `bad\\xff.txt` is not UTF-8\n"
        "  --> bad\\xff.txt\n"
        f"  = help: rename it: {RULE}\n"
    )
    for args in (
        ["eval", "deploy", "--bundle", root, "--input", tmp_path / "in.json"],
        ["bundle", "verify", root, "--public-key", tmp_path / "k.pub.pem"],
        ["bundle", "sign", root, "--key", tmp_path / "k.pem"],
        ["bundle", "inspect", root],
        ["bundle", "build", root, "-o", tmp_path / "b.tar.gz"],
        ["bundle", "diff", root, root],
    ):
        result = run(*args)
        assert (result.exit_code, result.stderr[: len(said)]) == (2, said), args
    assert not (root / ".signature").exists() and not (tmp_path / "b.tar.gz").exists()


def test_the_reload_names_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b")
    holder = BundleHolder(root)
    _with(root, b"bad\xff.txt")
    result = holder.reload()
    assert not result.ok
    assert result.error is not None
    assert "error[bundle]: the name of file `bad\\xff.txt` is not UTF-8" in result.error


def test_a_lone_policy_file_with_such_a_name_is_checked_without_a_traceback(
    tmp_path: Path,
) -> None:
    path = os.path.join(os.fsencode(tmp_path), b"p\xff.tenet")
    with open(path, "wb") as f:
        f.write(b"package p\n")
    result = run("check", os.fsdecode(path))
    assert result.exit_code == 1, result.output
    assert "the name of file `p\\xff.tenet` is not UTF-8" in result.output


def test_a_tree_made_by_hand_with_such_a_name_does_not_load(tmp_path: Path) -> None:
    tree = Tree(files={"a\0b.tenet": b"package a\n"})
    with pytest.raises(tenet.PolicyError) as info:
        load_tree(tree, tmp_path)
    assert info.value.diagnostics[0].message == (
        "the name of file `a\\u0000b.tenet` holds the control character `\\u0000`"
    )
