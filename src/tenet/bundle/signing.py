"""Ed25519 signatures over a bundle's digest: keys, the `.signature` file, and verification."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tenet.bundle.files import SIGNATURE
from tenet.diagnostics import Diagnostic

__all__ = [
    "KeyFileError",
    "PublicKeyLike",
    "Signature",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "parse_signature",
    "sign_digest",
    "verify_signature",
]

ALGORITHM = "ed25519"
_SIGN_HELP = "sign it with `tenet bundle sign PATH --key KEY`"

PublicKeyLike = Ed25519PublicKey | bytes | str | os.PathLike[str]


class KeyFileError(ValueError):
    """A key file that cannot be used: not PEM, not Ed25519, encrypted, or the wrong half."""


@dataclass(frozen=True, slots=True)
class Signature:
    """The parsed `.signature` document."""

    digest: str
    key_id: str
    signature: bytes
    algorithm: str = ALGORITHM

    def to_bytes(self) -> bytes:
        """The file's bytes: the same signature always gives the same bytes."""
        doc = {
            "algorithm": self.algorithm,
            "digest": self.digest,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }
        return (json.dumps(doc, indent=2) + "\n").encode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the public key's DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def generate_keypair() -> tuple[bytes, bytes]:
    """A new key pair as PEM: PKCS#8 private key, SubjectPublicKeyInfo public key (the forms
    `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` write)."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def _pem(source: bytes | str | os.PathLike[str]) -> tuple[bytes, str]:
    """PEM bytes, and how to name them in a message, from PEM text or a file path."""
    if isinstance(source, bytes):
        return source, "the key"
    if isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        return source.encode("ascii", "replace"), "the key"
    path = Path(source)
    try:
        return path.read_bytes(), f"key `{path}`"
    except OSError as err:
        raise KeyFileError(f"cannot read key `{path}`: {err.strerror or err}") from None


def load_private_key(source: bytes | str | os.PathLike[str]) -> Ed25519PrivateKey:
    """An unencrypted PKCS#8 PEM Ed25519 private key; raises KeyFileError saying what is wrong."""
    data, shown = _pem(source)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(f"{shown} is encrypted; Tenet reads unencrypted PKCS#8 keys") from None
    except ValueError:
        if b"PUBLIC KEY" in data:
            raise KeyFileError(f"{shown} is a public key; signing needs the private key") from None
        raise KeyFileError(f"{shown} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{shown} is not an Ed25519 key; Tenet signs with Ed25519")
    return key


def load_public_key(source: PublicKeyLike) -> Ed25519PublicKey:
    """A SubjectPublicKeyInfo PEM Ed25519 public key; raises KeyFileError saying what is wrong."""
    if isinstance(source, Ed25519PublicKey):
        return source
    if isinstance(source, Ed25519PrivateKey):
        raise KeyFileError("the key is a private key; verify with its public key (`.public_key()`)")
    if not isinstance(source, bytes | str | os.PathLike):
        raise KeyFileError(
            f"the key is `{type(source).__name__}`, not an Ed25519 public key, PEM text or bytes, "
            "or a PEM file's path; Tenet signs with Ed25519"
        )
    data, shown = _pem(source)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        if b"PRIVATE KEY" in data:
            raise KeyFileError(
                f"{shown} is a private key; verify with the public key "
                "(`openssl pkey -in KEY -pubout`)"
            ) from None
        raise KeyFileError(f"{shown} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{shown} is not an Ed25519 key; Tenet signs with Ed25519")
    return key


def sign_digest(private_key: Ed25519PrivateKey, digest: str) -> Signature:
    """Sign the ASCII digest string (`sha256:…`)."""
    return Signature(
        digest=digest,
        key_id=key_id(private_key.public_key()),
        signature=private_key.sign(digest.encode("ascii")),
    )


def parse_signature(raw: bytes) -> Signature | str:
    """The `.signature` document, or why it is not one."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "it is not JSON"
    if not isinstance(doc, dict):
        return "it is not a JSON object"
    fields: dict[str, Any] = {}
    for key in ("algorithm", "digest", "key_id", "signature"):
        if not isinstance(doc.get(key), str):
            return f"its field `{key}` is missing or not a string"
        fields[key] = doc[key]
    if fields["algorithm"] != ALGORITHM:
        return f"its algorithm is `{fields['algorithm']}`, not `{ALGORITHM}`"
    try:
        sig = base64.b64decode(fields["signature"], validate=True)
    except binascii.Error:
        return "its field `signature` is not base64"
    return Signature(fields["digest"], fields["key_id"], sig, ALGORITHM)


def verify_signature(
    raw: bytes | None, digest: str, public_key: Ed25519PublicKey
) -> Diagnostic | None:
    """Why the bundle's signature does not vouch for `digest` under `public_key`, if it does not:
    missing, malformed, made by another key, over another digest, or not a valid signature."""
    if raw is None:
        return _refused("the bundle is not signed: it has no `.signature`", _SIGN_HELP)
    parsed = parse_signature(raw)
    if isinstance(parsed, str):
        return _refused(f"`.signature` cannot be read: {parsed}", _SIGN_HELP)
    expected = key_id(public_key)
    if parsed.key_id != expected:
        return _refused(
            f"the bundle is signed by another key (`{parsed.key_id[:16]}…`, "
            f"not `{expected[:16]}…`)",
            "verify with the public key of the key that signed it, or sign it again",
        )
    try:
        public_key.verify(parsed.signature, parsed.digest.encode("ascii"))
    except (InvalidSignature, UnicodeEncodeError):
        return _refused(
            "the signature in `.signature` is not valid for its digest under this key",
            "the signature file was altered; sign the bundle again",
        )
    if parsed.digest != digest:
        return _refused(
            f"the bundle's files changed after signing: the signature is over "
            f"`{parsed.digest}`, the files have digest `{digest}`",
            "find out what changed; sign the bundle again only if the change is intended",
        )
    return None


def _refused(message: str, help: str) -> Diagnostic:
    return Diagnostic("signature", message, None, help, file=SIGNATURE)
