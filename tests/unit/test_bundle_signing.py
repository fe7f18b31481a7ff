"""Signing: the `.signature` format, keys, and loading with a public key refusing what it must."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import tenet
from tenet.bundle.archive import build_archive
from tenet.bundle.signing import (
    KeyFileError,
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    sign_digest,
)
from tests.unit.bundle_helpers import make_bundle


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_keypair()


def _sign(root: Path, private_pem: bytes) -> None:
    digest = tenet.load_bundle(root).digest
    (root / ".signature").write_bytes(sign_digest(load_private_key(private_pem), digest).to_bytes())


def _refusal(root: Path, public_pem: bytes) -> tenet.Diagnostic:
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root, public_key=public_pem)
    (d,) = info.value.diagnostics
    assert d.code == "signature"
    return d


def test_the_signature_file_is_exactly_as_specified(
    tmp_path: Path, keys: tuple[bytes, bytes]
) -> None:
    root = make_bundle(tmp_path / "b")
    _sign(root, keys[0])
    doc = json.loads((root / ".signature").read_text())
    assert list(doc) == ["algorithm", "digest", "key_id", "signature"]
    public = serialization.load_pem_public_key(keys[1])
    assert isinstance(public, Ed25519PublicKey)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert doc["algorithm"] == "ed25519"
    assert doc["digest"] == tenet.load_bundle(root).digest
    assert doc["key_id"] == hashlib.sha256(der).hexdigest()
    # the signature is over the ASCII digest string, and verifies with the bare library
    public.verify(base64.b64decode(doc["signature"]), doc["digest"].encode("ascii"))


def test_signing_does_not_change_the_digest_and_is_deterministic(
    tmp_path: Path, keys: tuple[bytes, bytes]
) -> None:
    root = make_bundle(tmp_path / "b")
    before = tenet.load_bundle(root).digest
    _sign(root, keys[0])
    first = (root / ".signature").read_bytes()
    _sign(root, keys[0])
    assert (root / ".signature").read_bytes() == first
    assert tenet.load_bundle(root).digest == before


def test_a_signed_bundle_loads_with_its_key(tmp_path: Path, keys: tuple[bytes, bytes]) -> None:
    root = make_bundle(tmp_path / "b")
    _sign(root, keys[0])
    key_file = tmp_path / "pub.pem"
    key_file.write_bytes(keys[1])
    for key in (keys[1], keys[1].decode(), key_file, str(key_file), load_public_key(keys[1])):
        assert tenet.load_bundle(root, public_key=key).digest


def test_a_tampered_file_in_a_signed_bundle_is_refused(
    tmp_path: Path, keys: tuple[bytes, bytes]
) -> None:
    root = make_bundle(tmp_path / "b")
    _sign(root, keys[0])
    (root / "thresholds" / "data.yaml").write_text("staging:\n  min_accuracy: 0.1\n")
    d = _refusal(root, keys[1])
    assert d.message.startswith("the bundle's files changed after signing")


@pytest.mark.parametrize("change", ["add", "remove", "rename"])
def test_added_removed_or_renamed_files_are_tampering(
    tmp_path: Path, keys: tuple[bytes, bytes], change: str
) -> None:
    root = make_bundle(tmp_path / "b")
    _sign(root, keys[0])
    if change == "add":
        (root / "deploy" / "extra.tenet").write_text("package deploy.extra\n")
    elif change == "remove":
        (root / "tests" / "deploy_test.yaml").unlink()
    else:
        (root / "tests" / "deploy_test.yaml").rename(root / "tests" / "renamed.yaml")
    assert "changed after signing" in _refusal(root, keys[1]).message


def test_an_unsigned_bundle_is_refused(tmp_path: Path, keys: tuple[bytes, bytes]) -> None:
    d = _refusal(make_bundle(tmp_path / "b"), keys[1])
    assert d.message == "the bundle is not signed: it has no `.signature`"
    assert d.help is not None and "tenet bundle sign" in d.help


def test_a_bundle_signed_by_another_key_is_refused(
    tmp_path: Path, keys: tuple[bytes, bytes]
) -> None:
    root = make_bundle(tmp_path / "b")
    _sign(root, generate_keypair()[0])
    assert _refusal(root, keys[1]).message.startswith("the bundle is signed by another key")


def test_a_signature_moved_to_another_digest_is_refused(
    tmp_path: Path, keys: tuple[bytes, bytes]
) -> None:
    # the attacker changes a file and rewrites the digest in `.signature` to match
    root = make_bundle(tmp_path / "b")
    _sign(root, keys[0])
    (root / "data.yaml").write_text("owners: [attacker]\n")
    doc = json.loads((root / ".signature").read_text())
    doc["digest"] = tenet.load_bundle(root).digest
    (root / ".signature").write_text(json.dumps(doc))
    d = _refusal(root, keys[1])
    assert d.message == "the signature in `.signature` is not valid for its digest under this key"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "it is not JSON"),
        ("[]", "it is not a JSON object"),
        ('{"algorithm": "ed25519"}', "its field `digest` is missing or not a string"),
        (
            '{"algorithm": "rsa", "digest": "d", "key_id": "k", "signature": "s"}',
            "its algorithm is `rsa`, not `ed25519`",
        ),
        (
            '{"algorithm": "ed25519", "digest": "d", "key_id": "k", "signature": "%%"}',
            "its field `signature` is not base64",
        ),
    ],
)
def test_an_unreadable_signature_is_refused(
    tmp_path: Path, keys: tuple[bytes, bytes], text: str, why: str
) -> None:
    root = make_bundle(tmp_path / "b")
    (root / ".signature").write_text(text)
    assert _refusal(root, keys[1]).message == f"`.signature` cannot be read: {why}"


def test_a_signed_archive_is_verified_and_its_tampering_refused(
    tmp_path: Path, keys: tuple[bytes, bytes]
) -> None:
    b = tenet.load_bundle(make_bundle(tmp_path / "b"))
    signature = sign_digest(load_private_key(keys[0]), b.digest).to_bytes()
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(build_archive(b.files, signature))
    assert tenet.load_bundle(archive, public_key=keys[1]).digest == b.digest
    tampered = dict(b.files)
    tampered["data.yaml"] = b"owners: [attacker]\n"
    archive.write_bytes(build_archive(tampered, signature))
    assert "changed after signing" in _refusal(archive, keys[1]).message


def test_without_a_public_key_a_signature_is_not_required(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b")
    (root / ".signature").write_text("garbage")
    assert tenet.load_bundle(root).signature == b"garbage"


# ---- keys -----------------------------------------------------------------------------------


def test_keygen_writes_pkcs8_and_spki_pem(keys: tuple[bytes, bytes]) -> None:
    private_pem, public_pem = keys
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    private = load_private_key(private_pem)
    assert key_id(private.public_key()) == key_id(load_public_key(public_pem))


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (b"hello", "the key is not a PEM private key"),
        (b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n", "the key is a public key"),
    ],
)
def test_bad_private_keys_are_explained(pem: bytes, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        load_private_key(pem)


def test_bad_public_keys_are_explained(keys: tuple[bytes, bytes], tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="is a private key; verify with the public key"):
        load_public_key(keys[0])
    with pytest.raises(KeyFileError, match="is not a PEM public key"):
        load_public_key(b"nope")
    with pytest.raises(KeyFileError, match="cannot read key"):
        load_public_key(tmp_path / "missing.pem")


def test_non_ed25519_keys_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyFileError, match="is not an Ed25519 key"):
        load_private_key(pem)
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyFileError, match="is not an Ed25519 key"):
        load_public_key(pub)


def test_encrypted_private_keys_are_explained() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(KeyFileError, match="is encrypted"):
        load_private_key(pem)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl binary is not installed")
def test_keys_made_by_openssl_sign_and_verify(tmp_path: Path) -> None:
    private = tmp_path / "key.pem"
    public = tmp_path / "key.pub.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(private)], check=True
    )
    subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True
    )
    root = make_bundle(tmp_path / "b")
    _sign(root, private.read_bytes())
    assert tenet.load_bundle(root, public_key=public).digest
    # the key id is the SHA-256 of the DER public key openssl writes
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(public), "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    assert (
        json.loads((root / ".signature").read_text())["key_id"] == hashlib.sha256(der).hexdigest()
    )
    # and openssl itself accepts the signature over the digest string
    doc = json.loads((root / ".signature").read_text())
    (tmp_path / "digest.txt").write_text(doc["digest"])
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(doc["signature"]))
    subprocess.run(
        [
            "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(public), "-rawin",
            "-in", str(tmp_path / "digest.txt"), "-sigfile", str(tmp_path / "sig.bin"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


def test_a_key_load_bundle_cannot_use_is_a_policy_error(
    keys: tuple[bytes, bytes], tmp_path: Path
) -> None:
    from typing import Any

    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    root = make_bundle(tmp_path / "b")
    _sign(root, keys[0])
    given: list[tuple[Any, str]] = [
        (keys[0], "the key is a private key; verify with the public key"),
        (tmp_path / "missing.pem", f"cannot read key `{tmp_path / 'missing.pem'}`"),
        (Ed25519PrivateKey.generate(), "the key is a private key; verify with its public key"),
        (
            ec.generate_private_key(ec.SECP256R1()).public_key(),
            "the key is `ECPublicKey`, not an Ed25519 public key",
        ),
    ]
    for key, said in given:
        with pytest.raises(tenet.PolicyError) as info:
            tenet.load_bundle(root, public_key=key)
        (d,) = info.value.diagnostics
        assert d.code == "signature" and d.message.startswith(said)
        assert d.help is not None and d.help.startswith("give the Ed25519 public key")
