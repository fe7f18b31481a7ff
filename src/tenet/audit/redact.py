"""What of an input an audit record may hold: the manifest's `audit.keep` paths as they are,
and every value at an `audit.personal` path replaced by a keyed hash wherever it appears."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import re2

from tenet.runtime.builtins.strings import nfkc_casefold
from tenet.runtime.values import EvalError
from tenet.wording import CUT

__all__ = [
    "KeyConflict",
    "KeyNotWritten",
    "KeyTooShort",
    "Redactor",
    "Secrets",
    "key_id",
    "load_key",
    "read_key",
]

KEY_ENV = "TENET_AUDIT_KEY"


def read_key(store_path: Path | None, key_file: Path | None = None) -> bytes | None:
    """The key a log's personal values were hashed with, if it can be found (a key file,
    `TENET_AUDIT_KEY`, the key kept beside the store), without making one."""
    if key_file is not None:
        return _strong(key_file.read_bytes().strip(), f"the key file `{key_file}`")
    env = os.environ.get(KEY_ENV)
    beside = _key_path(store_path) if store_path is not None else None
    try:
        kept = beside.read_bytes().strip() if beside is not None else None
    except FileNotFoundError:
        kept = None
    if env:
        key = _strong(env.encode(), f"`{KEY_ENV}`")  # too short is wrong whatever the file holds
        if kept is not None and kept != key.strip():
            # records hashed with one and the other would not correlate: one person, two tokens
            raise KeyConflict(
                f"`{KEY_ENV}` holds another key than the log's key file `{beside}`: the log's "
                "personal values were hashed with that file's key, and the same value would "
                f"get another token; unset `{KEY_ENV}`, or remove the file if no record was "
                "written with it"
            )
        return key
    if kept is None:
        return None
    return _strong(kept, f"the key file `{beside}`")


TOKEN = "hmac:"  # what a personal value's replacement starts with
MIN_KEY = 16  # bytes: a shorter key lets tokens be tried against guessed keys


def _strong(key: bytes, where: str) -> bytes:
    if len(key) < MIN_KEY:
        raise KeyTooShort(
            f"{where} holds a key of {len(key)} bytes; personal values need one of at least "
            f"{MIN_KEY} (make one with `openssl rand -hex 32`)"
        )
    return key


class KeyTooShort(OSError):
    """The audit key is too short to keep personal values' tokens from being guessed."""


class KeyConflict(OSError):
    """`TENET_AUDIT_KEY` and the key file beside the log hold different keys."""


def key_id(key: bytes) -> str:
    """Which key a log's tokens were made with, without telling the key: records carry it,
    so that a query made with another key says so rather than find nothing."""
    return "hmac-sha256:" + hmac.new(key, b"tenet audit key id", hashlib.sha256).hexdigest()[:16]


def _key_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".key")


def load_key(store_path: Path | None, key_file: Path | None = None) -> bytes:
    """The key personal values are hashed with: a key file, `TENET_AUDIT_KEY`, or a key kept
    beside the store (made on first use, readable by its owner only)."""
    found = read_key(store_path, key_file)
    if found is not None:
        return found
    if store_path is None:
        return secrets.token_bytes(32)  # stdout: tokens correlate within this process only
    # made whole beside it, then linked into place: a writer opening the same new log at the
    # same moment finds either no key file or a whole one, never an empty one, and the first
    # link wins for every writer
    path = _key_path(store_path)
    key = secrets.token_hex(32).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(key)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return _strong(path.read_bytes().strip(), f"the key file `{path}`")
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as err:
        raise KeyNotWritten(
            f"cannot write the new audit key file `{path}`: {err.strerror or err}"
        ) from err
    return key


class KeyNotWritten(OSError):
    """A new log's key file could not be made (a full disk, a file size limit, no right to
    write in the folder): the log is not opened."""


def _lookup(doc: Any, path: str) -> tuple[Any, bool]:
    """The value at `path` and whether it is there. A `*` segment matches every item of a
    list (or value of a mapping): the value is then the list of what the path finds."""
    parts = path.split(".")[1:]  # the paths start with `input.`
    if "*" not in parts:
        v = doc
        for part in parts:
            if not isinstance(v, dict) or part not in v:
                return None, False
            v = v[part]
        return v, True
    found = list(_every(doc, parts))
    return found, bool(found)


def _every(v: Any, parts: list[str]) -> Iterator[Any]:
    if not parts:
        yield v
        return
    part, rest = parts[0], parts[1:]
    if part == "*":
        items = v if isinstance(v, list) else list(v.values()) if isinstance(v, dict) else []
        for item in items:
            yield from _every(item, rest)
    elif isinstance(v, dict) and part in v:
        yield from _every(v[part], rest)


class Redactor:
    def __init__(self, keep: Sequence[str], personal: Sequence[str], key: bytes) -> None:
        self.keep = tuple(keep)
        self.personal = tuple(personal)
        self.key = key

    def token(self, value: Any) -> str:
        """`hmac:` and the keyed hash of the value's canonical JSON (text in Unicode's NFC
        form, so that a name typed with combining accents gets the same token; a whole number
        as an integer, since `123456789.0` is the number `123456789`)."""
        value = _nfc(value)
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()[:32]
        return TOKEN + digest

    def secrets_of(self, input: Any) -> Secrets:
        """The personal values of this input, each with its token: the value at each personal
        path, and when it is an object or a list, every key and scalar within it too (a policy
        may read or quote `input.person.name.first` as well as `input.person.name`)."""
        found: dict[Any, tuple[Any, str, bool]] = {}
        for path in self.personal:
            value, present = _lookup(input, path)
            for v in value if present and "*" in path.split(".") else [value] if present else []:
                _collect(v, found, self.token)
        return Secrets(list(found.values()), [path.split(".")[1:] for path in self.personal])

    def apply(self, input: Any, document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The kept input paths and the decision document, personal values replaced."""
        found = self.secrets_of(input)
        kept: dict[str, Any] = {}
        for path in self.keep:
            value, present = _lookup(input, path)
            if present:
                kept[path] = found.value(value) if found else value
        return kept, found.document(document) if found else document


def _collect(
    value: Any,
    into: dict[Any, tuple[Any, str, bool]],
    token: Callable[[Any], str],
    is_key: bool = False,
) -> None:
    """`value`, and for a container each key and value within it, into `into` once each with
    its token, and whether it is only an object's key; nulls, booleans and empty strings are
    no one's personal data. A key (`{"alice@example.com": 3}`, but also `{"first": "Ann"}`)
    is hidden where it is copied; in text, only where it cannot be a field's name, which is
    a word of the policy's messages too (see `Secrets`)."""
    if value is None or value == "" or isinstance(value, bool):
        return
    key = _key_of(value)
    if key not in into or (into[key][2] and not is_key):
        into[key] = (value, token(value), is_key)
    if isinstance(value, dict):
        for k, v in value.items():
            _collect(k, into, token, is_key=True)
            _collect(v, into, token)
    elif isinstance(value, list):
        for v in value:
            _collect(v, into, token)


def _nfc(value: Any) -> Any:
    """The value with its text (keys too) in Unicode's NFC form, and its whole numbers as
    integers."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


def _key_of(value: Any) -> Any:
    """A key equal for equal values of one type (containers by their canonical JSON), numbers
    by value: `123456789.0` in the input is the `123456789` a decision writes."""
    if isinstance(value, dict | list):
        return (type(value), json.dumps(value, sort_keys=True, default=str))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (float, value)  # 1 == 1.0, and they hash alike
    return (type(value), value)


class Secrets:
    """The personal values of one input and their tokens, and how each part of a decision
    document is cleaned of them.

    Values the engine copied from the input (evidence values, bindings, results, kept input,
    object keys among them) are replaced where they are equal to a personal value. Text the
    engine wrote around them (rendered messages, error messages, JSON pointers) has each
    personal value replaced where it stands as a word of its own, so that a short value (a
    `9`, an `o`) does not eat into other words and numbers. Everything else is the engine's
    or the policy's own (ids, statuses, the policy's source text, digests, times) and is kept
    as it is: a personal value that also occurs there is not the input's to hide."""

    def __init__(
        self, found: list[tuple[Any, str, bool]], roots: Sequence[Sequence[str]] = ()
    ) -> None:
        """`found`: each personal value, its token, and whether it is only an object's key
        (replaced where copied, not searched for in text); `roots`: the personal paths'
        segments after `input` (`*` for any), under which a pointer's segments are keys of
        personal data."""
        self._roots = [list(r) for r in roots]
        self._scalars = {_key_of(v): t for v, t, _ in found if not isinstance(v, dict | list)}
        self._containers = [(v, t) for v, t, _ in found if isinstance(v, dict | list)]
        texts: dict[str, str] = {}
        searched = [(v, t) for v, t, is_key in found if not is_key or not _FIELD_NAME.fullmatch(v)]
        for v, t in searched:
            for spelling in _spellings(v):
                texts.setdefault(spelling, t)
        # then the forms a policy compares names in, and may quote or bind in them
        folds = {v: _folds(v) for v, _, _ in found if isinstance(v, str)}
        for v, forms in folds.items():
            for fold in forms:
                self._scalars.setdefault(_key_of(fold), self._scalars[_key_of(v)])
        for v, t in searched:
            for fold in folds.get(v, ()) if isinstance(v, str) else ():
                # in text, only a form that cannot be a word of a message: `will`, the folded
                # `Will`, would eat every "will" (where copied, it is replaced all the same)
                if fold.isalpha():
                    continue
                for spelling in _spellings(fold):
                    texts.setdefault(spelling, t)
        # keys that read like a field's name (`first`, `u123`), searched for only in the
        # message of a check that bound one (`some who, n in input.reviews`)
        self._field_keys = {
            v: t for v, t, is_key in found if is_key and _FIELD_NAME.fullmatch(v) and v not in texts
        }
        self._texts = sorted(texts.items(), key=lambda item: -len(item[0]))
        self._longest = len(self._texts[0][0]) if self._texts else 0
        self._token_of = texts
        self._finder: Any = None  # made on first use, when there are many values to find

    def __bool__(self) -> bool:
        return bool(self._scalars or self._containers)

    def _exact(self, value: Any) -> str | None:
        if isinstance(value, dict | list):
            for secret, token in self._containers:
                if type(value) is type(secret) and value == secret:
                    return token
            return None
        try:
            return self._scalars.get(_key_of(value))
        except TypeError:  # not hashable: no scalar secret is equal to it
            return None

    def value(self, value: Any) -> Any:
        """A value copied from the input, cleaned."""
        token = self._exact(value)
        if token is not None:
            return token
        if isinstance(value, dict):
            return {self._key(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _key(self, key: str) -> str:
        token = self._exact(key)
        return token if token is not None else self.text(key)

    def text(self, text: str) -> str:
        """Text the engine wrote, each personal value in it that stands as a word replaced,
        whole or cut short by a message (`shortened`: its start, then `...`)."""
        if not self._texts:
            return text
        whole = self._whole(text)
        return self._cut(whole) if CUT in whole else whole

    def _cut(self, text: str) -> str:
        """`text` with the start of a personal value that a message cut short (`Patient
        reports persistent...`) replaced, with its `...`, by the value's token: a start of
        at least MIN_CUT characters, beginning where a word may."""
        out, done = [], 0
        at = text.find(CUT)
        while at >= 0:
            start, token = self._cut_before(text, done, at)
            if token is not None:
                out += [text[done:start], token]
                done = at + len(CUT)
            at = text.find(CUT, at + len(CUT))
        return "".join(out) + text[done:] if out else text

    def _cut_before(self, text: str, lo: int, at: int) -> tuple[int, str | None]:
        """Where, after `lo`, the longest start of a personal value ends at `at`, and its
        token; (at, None) when none does."""
        for start in range(max(lo, at - max(self._longest, 0)), at - MIN_CUT + 1):
            piece = text[start:at]
            for secret, token in self._texts:
                if len(secret) > len(piece) and secret.startswith(piece):
                    before = text[start - 1] if start > 0 else ""
                    if _alone(before, piece[0], "", ""):
                        return start, token
        return at, None

    def _whole(self, text: str) -> str:
        if len(self._texts) > FEW:
            finder = self._finder_made()
            if finder is not False:
                return self._text_many(text, finder)
        return _replace_alone(text, self._texts)

    def _finder_made(self) -> Any:
        if self._finder is None:
            self._finder = _finder([t for t, _ in self._texts])
        return self._finder

    def _text_many(self, text: str, finder: Any) -> str:
        """`text` in time linear in its length however many values there are: one RE2
        automaton finds them all (the longest first where several start at one place), on
        the UTF-8 bytes, since the wrapper's offsets in a `str` cost a pass over it each."""
        data = text.encode("utf-8")
        parts: list[bytes] = []
        pos = done = 0
        while (m := finder.search(data, pos)) is not None:
            start, end = m.start(), m.end()
            if not _alone_in(data, start, end):
                # a shorter value may start here and stand alone (rare: look at each)
                end = next(
                    (
                        start + len(t)
                        for t in (t.encode() for t, _ in self._texts)
                        if len(t) < end - start
                        and data.startswith(t, start)
                        and _alone_in(data, start, start + len(t))
                    ),
                    -1,
                )
                if end < 0:
                    pos = start + 1
                    continue
            parts += [data[done:start], self._token_of[data[start:end].decode()].encode()]
            pos = done = end
        if not parts:
            return text
        parts.append(data[done:])
        return b"".join(parts).decode("utf-8")

    def document(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A decision document (or a data API answer), cleaned."""
        out = dict(doc)
        if "result" in out:
            out["result"] = self.value(out["result"])
        if isinstance(out.get("checks"), list):
            out["checks"] = [self._check(c) for c in out["checks"]]
        if isinstance(out.get("errors"), list):
            out["errors"] = [self._error(e) for e in out["errors"]]
        explanation = out.get("explanation")
        if isinstance(explanation, dict) and isinstance(explanation.get("definitions"), list):
            out["explanation"] = {
                **explanation,
                "definitions": [self._with_evidence(d) for d in explanation["definitions"]],
            }
        return out

    def _check(self, check: dict[str, Any]) -> dict[str, Any]:
        out = self._with_evidence(check)
        bindings = check.get("bindings")
        bound = sorted(
            (
                (v, self._field_keys[v])
                for v in (bindings.values() if isinstance(bindings, dict) else ())
                if isinstance(v, str) and v in self._field_keys
            ),
            key=lambda item: -len(item[0]),
        )
        for key in ("message", "error"):  # text rendered, or an evaluation error's message
            if isinstance(out.get(key), str):
                out[key] = _replace_alone(self.text(out[key]), bound)
        if "bindings" in out:
            out["bindings"] = self.value(out["bindings"])
        return out

    def _with_evidence(self, part: dict[str, Any]) -> dict[str, Any]:
        out = dict(part)
        if isinstance(out.get("evidence"), list):
            out["evidence"] = [self._evidence(e) for e in out["evidence"]]
        return out

    def _evidence(self, evidence: dict[str, Any]) -> dict[str, Any]:
        out = dict(evidence)
        for key in ("values", "bindings"):  # reference text -> a value read
            if isinstance(out.get(key), dict):
                out[key] = {k: self.value(v) for k, v in out[key].items()}
        if isinstance(out.get("input_paths"), list):
            out["input_paths"] = [self.pointer(p) for p in out["input_paths"]]
        if isinstance(out.get("error"), str):
            out["error"] = self.text(out["error"])
        if isinstance(out.get("failed_element"), dict):
            out["failed_element"] = self._failed_element(out["failed_element"])
        return out

    def _failed_element(self, failed: dict[str, Any]) -> dict[str, Any]:
        """Where a failed `every` first failed: the object key or set member is copied from
        the input (an array index is the engine's), and the inner evidence is evidence."""
        out = self._with_evidence(failed)
        for key in ("key", "member"):
            if key in out:
                out[key] = self.value(out[key])
        if isinstance(out.get("bindings"), dict):
            out["bindings"] = self.value(out["bindings"])
        return out

    def _error(self, error: Any) -> Any:
        if not isinstance(error, dict):
            return error
        out = dict(error)
        path = out.get("path")
        if isinstance(path, str):
            out["path"] = self.pointer(path)
        if isinstance(out.get("message"), str):
            message = out["message"]
            if isinstance(path, str) and path and out["path"] != path:
                # the message names the pointer too (`input /consents/ann@x.org/given: ...`)
                message = message.replace(path, out["path"])
            if isinstance(path, str) and self._personal_place(path):
                message = self._personal_quoted(message)
            out["message"] = self.text(message)
        return out

    def _personal_place(self, pointer: str) -> bool:
        """Whether a JSON pointer into the input is at or below a personal path."""
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]
        return pointer.startswith("/") and any(
            len(r) <= len(parts) and _under(parts, r) for r in self._roots
        )

    def _personal_quoted(self, message: str) -> str:
        """An input schema's message about a personal value, which quotes it as JSON (`{"jdoe":
        false} has too many properties`, `"jdoe" was unexpected`): the personal object or list
        quoted whole is its token, and so is each key of one, field-like names too, since
        the rest of the message is the schema validator's words, not the policy's."""
        for value, token in self._containers:
            quoted = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
            message = message.replace(quoted, token)
        keys = sorted(self._field_keys.items(), key=lambda item: -len(item[0]))
        return _replace_alone(message, keys)

    def pointer(self, pointer: str) -> str:
        """A JSON pointer into the input, cleaned: each segment below a personal path that is
        a personal key or value (`/consents/ann@example.com`, where `input.consents` is
        personal) replaced by its token, and personal values elsewhere as in text. A key
        is not searched for in text, so without this the keys of a personal object read in
        clear in every pointer through them."""
        if not pointer.startswith("/") or not self._roots:
            return self.text(pointer)
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]
        depth = min(
            (len(r) for r in self._roots if len(r) < len(parts) and _under(parts, r)),
            default=None,
        )
        if depth is None:
            return self.text(pointer)
        head = "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts[:depth])
        tail = ""
        for part in parts[depth:]:
            token = self._exact(part)
            escaped = part.replace("~", "~0").replace("/", "~1")
            tail += "/" + (token if token is not None else escaped)
        return self.text(head + tail)


def _replace_alone(text: str, texts: Sequence[tuple[str, str]]) -> str:
    """`text` with each of `texts` (a value, its token; the longest first) replaced where it
    stands alone, not inside a longer word or number."""
    spans: list[tuple[int, int, str]] = []
    for secret, token in texts:
        start = text.find(secret)
        while start >= 0:
            end = start + len(secret)
            if _stands_alone(text, start, end) and not any(
                s < end and start < e for s, e, _ in spans
            ):
                spans.append((start, end, token))
            start = text.find(secret, start + 1)
    if not spans:
        return text
    spans.sort()
    parts, pos = [], 0
    for start, end, token in spans:
        parts += [text[pos:start], token]
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _under(parts: list[str], root: list[str]) -> bool:
    """Whether a pointer's segments start with a personal path's (`*` matching any)."""
    return all(r == "*" or r == p for r, p in zip(root, parts, strict=False))


def _spellings(value: Any) -> list[str]:
    """How a scalar personal value may read in text the engine wrote: as itself; inside a
    JSON string, escaped (a message quoting an object, a schema error: `Sean \\"Red\\"`); as
    a JSON pointer escapes it (`input_paths`, an error's path: `Kovacs~1Zoltan`); and a whole
    number with its thousands grouped (`{ssn:,}` gives `123,456,789`)."""
    text = _text_of(value)
    if not text:
        return []
    out = [text]
    if isinstance(value, str) and _PLAIN.fullmatch(value):
        return out  # printable ASCII that neither JSON nor a pointer escapes
    if isinstance(value, str):
        out += [
            json.dumps(value, ensure_ascii=False)[1:-1],
            json.dumps(value)[1:-1],
            text.replace("~", "~0").replace("/", "~1"),
        ]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            value = int(value)  # written whole in messages and results (`6 / 3` is `2`)
            out.append(str(value))
        if isinstance(value, int) and abs(value) >= 1000:
            out += [f"{value:,}", f"{value:_}"]
    return [t for i, t in enumerate(out) if t not in out[:i]]


def _folds(value: str) -> list[str]:
    """The other forms of a personal text that a policy may compare it in, and so write in a
    message or bind: trimmed, in lower or upper case, and `trim(nfkc_casefold(...))`, the
    form docs/language.md gives for comparing user names (`Ann.Ortiz@Example.COM` is then
    `ann.ortiz@example.com`), with or without a dot above an i or j."""
    out = [value.strip(), value.lower(), value.upper()]
    if not value.isascii():  # in ASCII, NFKC_Casefold is `lower`
        try:
            folded = nfkc_casefold(value).strip()
        except EvalError:  # more combining marks in a row than it takes: no such form
            folded = ""
        # and with the dot above an i or j dropped, which NFKC_Casefold leaves of an `İ`
        out += [folded, folded.replace("i\u0307", "i").replace("j\u0307", "j")]
    out.append(out[1].strip())
    return [f for i, f in enumerate(out) if f and f != value and f not in out[:i]]


def _text_of(value: Any) -> str:
    """How a scalar personal value reads inside text ("" for containers)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    return ""


# printable ASCII but `"`, `/`, `\` and `~`, the characters JSON or a JSON pointer escapes
_PLAIN = re.compile(r"[\x20\x21\x23-\x2e\x30-\x5b\x5d-\x7d]*")
# an object's key that reads like a field's name rather than data (`first`, not `ann@x.org`)
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FEW = 8  # personal values in one input beyond which text is searched with one automaton
MIN_CUT = 8  # the shortest start of a personal value, cut short by a message, that is hidden


def _finder(texts: list[str]) -> Any:
    """One RE2 pattern finding any of `texts` (longest first) in UTF-8 bytes, the longest
    first at a place; False when it would need more memory than RE2 is given."""
    options = re2.Options()
    options.max_mem = 256 << 20
    try:
        return re2.compile(b"|".join(re.escape(t.encode("utf-8")) for t in texts), options)
    except re2.error:
        return False


def _alone_in(data: bytes, start: int, end: int) -> bool:
    """`_stands_alone` for a span of UTF-8 bytes (the characters at its edges decoded)."""
    before = _char_before(data, start) if start > 0 else ""
    after = _char_at(data, end) if end < len(data) else ""
    return _alone(before, _char_at(data, start), _char_before(data, end), after)


def _char_at(data: bytes, i: int) -> str:
    n = 1
    while i + n < len(data) and data[i + n] & 0xC0 == 0x80:  # continuation bytes
        n += 1
    return data[i : i + n].decode("utf-8", "replace")[:1]


def _char_before(data: bytes, i: int) -> str:
    j = i - 1
    while j > 0 and data[j] & 0xC0 == 0x80:
        j -= 1
    return data[j:i].decode("utf-8", "replace")[:1]


def _stands_alone(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is not the inside of a longer word or number."""
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    return _alone(before, text[start], text[end - 1], after)


def _alone(before: str, first: str, last: str, after: str) -> bool:
    """A value that begins (ends) with a letter or digit must not follow (precede) one."""
    if _word(first) and before and _word(before):
        return False
    return not (_word(last) and after and _word(after))


# Scripts written without spaces between words (Chinese, Japanese kana, Thai, Lao, Khmer,
# Myanmar): inside them a name is not set apart, so their characters do not count as the
# letters of a word here, and a personal value among them is replaced where it stands.
_UNSPACED = (
    (0x0E00, 0x0EFF),
    (0x1000, 0x109F),
    (0x1780, 0x17FF),
    (0x3040, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
    (0x20000, 0x3134F),
)


def _word(char: str) -> bool:
    if char == "_":
        return True
    if not char.isalnum():
        return False
    if char.isascii():
        return True
    code = ord(char)
    return not any(lo <= code <= hi for lo, hi in _UNSPACED)
