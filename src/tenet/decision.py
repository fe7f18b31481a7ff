"""The decision: verdict fields read at once, and the decision document of
`spec/decision.md`, built when `to_dict()` is first called."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

import orjson

from tenet.compiler.checks import CheckResult, CompiledCheck
from tenet.compiler.rules import RuleTrace
from tenet.runtime.clock import format_rfc3339
from tenet.runtime.evaluate import ErrorEntry, Limits, Outcome
from tenet.runtime.trace import Record
from tenet.runtime.values import UNDEF, to_json
from tenet.yamlutil import plain_json, pointer

__all__ = [
    "BundleInfo",
    "Decision",
    "canonical",
    "canonical_exact",
    "canonical_fast",
    "canonical_json",
    "decision_schema",
    "input_digest",
    "uuid7",
]

SEVERITIES = ("blocking", "warning", "info")


@dataclass(frozen=True, slots=True)
class BundleInfo:
    name: str
    version: str
    revision: str | None
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "revision": self.revision,
            "digest": self.digest,
        }


_millisecond: tuple[int, str] = (-1, "")  # the last millisecond's id prefix: 48 bits, version
# random bits, 80 at a time as hex, read from the OS 256 ids at a time: one system call for
# many ids. `list.pop` is atomic, so threads never share a draw; a forked child starts anew.
_random: list[str] = []
os.register_at_fork(after_in_child=_random.clear)


def uuid7() -> str:
    """A time-ordered UUID (version 7, RFC 9562): decision ids sort by the millisecond they
    were made in; 74 random bits tell apart those of one millisecond."""
    global _millisecond
    ms = time.time_ns() // 1_000_000
    last = _millisecond
    if last[0] != ms:  # a busy sidecar makes tens of ids a millisecond: format its time once
        h = f"{ms & 0xFFFFFFFFFFFF:012x}"
        last = _millisecond = (ms, f"{h[:8]}-{h[8:]}-7")
    try:
        r = _random.pop()
    except IndexError:
        raw = os.urandom(10 * 256).hex()
        _random.extend(raw[i : i + 20] for i in range(0, len(raw), 20))
        r = _random.pop()
    # r[0] is unused; the variant's two bits (10) take the place of two of r[4]'s four
    return f"{last[1]}{r[1:4]}-{_VARIANT[r[4]]}{r[5:8]}-{r[8:]}"


_VARIANT = {f"{i:x}": "89ab"[i & 3] for i in range(16)}


def input_digest(value: Any) -> str:
    """`sha256:` and the hex SHA-256 of an input's canonical JSON."""
    return "sha256:" + hashlib.sha256(_digested(value)).hexdigest()


def keyed_input_digest(value: Any, key: bytes) -> str:
    """`hmac-sha256:` and the hex HMAC-SHA256 under `key` of what `input_digest` hashes: the
    audit log's digest of an input that holds personal values, which a plain digest would
    give away to whoever tries the few values a field can take (a name from a staff list)."""
    return "hmac-sha256:" + hmac.new(key, _digested(value), hashlib.sha256).hexdigest()


def _digested(value: Any) -> bytes:
    try:
        return canonical_json(value)
    except (TypeError, ValueError, RecursionError):
        pass
    try:  # subclasses of JSON types (an OrderedDict, a `str` enum) are read as those types
        return canonical_json(plain_json(value))
    except (TypeError, ValueError, RecursionError):
        # an input that is not JSON, or nests too deeply, was refused; its digest still
        # names what was sent
        return _flat_repr(value).encode("utf-8", "backslashreplace")


def _flat_repr(value: Any) -> str:
    """A text of any value, nested however deeply: walked with a stack of its own rather
    than Python's, which a refused input thousands of levels deep would exhaust.

    A list or object that holds itself (a back-reference) is written as a mark where it
    recurs, and the walk stops after as many values as an input may hold: a refused input
    may be cyclic, or share one list so often that written out it would fill the memory."""
    out: list[str] = []
    stack: list[Any] = [value]
    open_ids: set[int] = set()  # the lists and objects being written: their ids
    count = 0
    while stack:
        v = stack.pop()
        if isinstance(v, _Close):
            out.append(v.text)
            if v.opened is not None:
                open_ids.discard(v.opened)
            continue
        count += 1
        if count > _MAX_VALUES:
            out.append(f"<more than {_MAX_VALUES} values>")
            break
        if isinstance(v, dict | list | tuple):
            if id(v) in open_ids:
                out.append("<cycle>,")
                continue
            open_ids.add(id(v))
        if isinstance(v, dict):
            out.append("{")
            stack.append(_Close("}", id(v)))
            # in key order, as canonical JSON is: a refused input's digest must not depend
            # on the order its keys came in either (keys of any type: ordered by their text)
            for k in sorted(v, key=repr, reverse=True):
                stack += [v[k], _Close(f"{k!r}:")]
        elif isinstance(v, list | tuple):
            out.append("[")
            stack.append(_Close("]", id(v)))
            stack.extend(reversed(v))
        else:
            out.append(repr(v) + ",")
    return "".join(out)


# the input checks' bound on values, which a refused input's text keeps to as well
_MAX_VALUES = Limits().max_input_values


class _Close:
    """Text `_flat_repr` writes as it is (a key, a closing bracket), and the id of the list
    or object it closes."""

    __slots__ = ("opened", "text")

    def __init__(self, text: str, opened: int | None = None) -> None:
        self.text = text
        self.opened = opened


def _result(outcome: Outcome) -> Any:
    """A rule query's value as JSON; one that nests deeper than it can be written adds a
    `limit` error to the outcome (and is None), as evaluating too deeply does."""
    if outcome.query.rule is None or outcome.value is UNDEF or outcome.errors:
        return None
    try:
        return to_json(outcome.value)
    except RecursionError:
        outcome.errors.append(
            ErrorEntry("limit", "the result nests too deeply to be written as JSON", "<policy>")
        )
        return None


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the form the input digest is taken over."""
    return canonical(to_json(value))


def canonical(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, of a JSON value: the bytes an input digest and an
    audit record's hash are taken over.

    orjson writes them about ten times faster than `json`, which matters for a sidecar that
    logs every decision. A value orjson refuses (an integer beyond 64 bits) goes through
    `json`, which writes it exactly; either way the same value always encodes to the same
    bytes, which is all that a digest or a chain needs."""
    try:
        return canonical_fast(value)
    except TypeError:
        return canonical_exact(value)


def canonical_fast(value: Any) -> bytes:
    """`canonical` by orjson, which refuses an integer beyond 64 bits (TypeError)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def canonical_exact(value: Any) -> bytes:
    """`canonical` by `json`, for a value orjson refuses."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


TOO_DEEP = "<nested too deeply to show>"


def _shown(value: Any) -> Any:
    """A value read or bound, as JSON, or a note where it nests deeper than Python's stack
    lets it be written (evaluation goes deeper than writing does)."""
    try:
        return to_json(value)
    except RecursionError:
        return TOO_DEEP


def evidence_dict(rec: Record) -> dict[str, Any]:
    d: dict[str, Any] = {
        "condition": rec.meta.text,
        "location": rec.meta.location,
        "holds": rec.holds,
    }
    if rec.values:
        d["values"] = {k: _shown(v) for k, v in rec.values.items()}
    if rec.undefined:
        d["undefined"] = list(rec.undefined)
    if rec.pointers:
        d["input_paths"] = [pointer(p) for p in rec.pointers]
    failed = rec.failed_element
    if failed is not None:
        d["failed_element"] = {
            failed.kind: _shown(failed.key),
            "bindings": {k: _shown(v) for k, v in failed.bindings.items()},
            "evidence": [evidence_dict(r) for r in failed.evidence],
        }
    if rec.error is not None:
        d["error"] = rec.error
    return d


class Decision:
    """One answer. ``allowed``, ``outcome``, ``result`` and ``defined`` are ready at once."""

    def __init__(
        self,
        outcome: Outcome,
        bundle: BundleInfo,
        input: Any,
        explain: str,
        duration_ns: int,
    ) -> None:
        result = _result(outcome)  # before the verdict: a result too deep to write is an error
        if outcome.errors:
            verdict = "error"
        elif outcome.query.rule is not None:
            verdict = "allow" if outcome.value is True else "deny"
        elif any(r.status == "violated" and c.severity == "blocking" for c, r in outcome.checks):
            verdict = "deny"
        else:
            verdict = "allow"
        if outcome.query.rule is None:
            defined = True  # a package query has no value of its own
        else:
            defined = outcome.value is not UNDEF and not outcome.errors
        # set at once, past the guard `__setattr__` keeps for later assignments
        self.__dict__.update(
            _outcome=outcome,
            _bundle=bundle,
            _input=input,
            _explain=explain,
            _duration_ns=duration_ns,
            query=outcome.query.text,
            errors=[e.to_dict() for e in outcome.errors],
            outcome=verdict,
            allowed=verdict == "allow",
            defined=defined,
            result=result if defined and outcome.query.rule is not None else None,
        )

    _outcome: Outcome
    _bundle: BundleInfo
    _input: Any
    _explain: str
    _duration_ns: int
    query: str
    errors: list[dict[str, Any]]
    outcome: str
    allowed: bool
    defined: bool
    result: Any

    def __setattr__(self, name: str, value: Any) -> None:
        # a decision is what was decided: its document, and its audit record, follow from
        # its attributes, so `decision.outcome = "allow"` must not make a record say so
        raise AttributeError(f"a Decision is read-only: `{name}` cannot be set")

    def __repr__(self) -> str:
        return f"Decision({self.query!r}, outcome={self.outcome!r}, result={self.result!r})"

    @property
    def bundle(self) -> BundleInfo:
        """The name, version and digest of the bundle that made it."""
        return self._bundle

    @property
    def checks(self) -> list[tuple[CompiledCheck, CheckResult]]:
        return list(self._outcome.checks)

    @cached_property
    def decision_id(self) -> str:
        return uuid7()

    @cached_property
    def input_digest(self) -> str:
        return input_digest(self._input)

    def made_on(self, input: Any) -> bool:
        """Whether `input` is the one this decision was made on: the same object, or one of
        the same content (the same digest)."""
        doc = {} if input is None else input
        return doc is self._input or input_digest(doc) == self.input_digest

    def to_dict(self) -> dict[str, Any]:
        """The decision document, built anew on each call: the caller's to change."""
        return self._document()

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self._document(), indent=indent, ensure_ascii=False)

    @cached_property
    def _trace(self) -> RuleTrace | None:
        """A rule query's explanation: its definitions re-run with tracing, once."""
        explain = self._outcome.explain
        if self._outcome.query.rule is None or explain is None:
            return None
        return explain(self._explain == "full")

    def _document(self) -> dict[str, Any]:
        out = self._outcome
        full = self._explain == "full"
        doc: dict[str, Any] = {
            "decision_id": self.decision_id,
            "query": self.query,
            "outcome": self.outcome,
            "allowed": self.allowed,
            "defined": self.defined,
            # copies: the document is the caller's to change, and the decision stays as made
            "result": to_json(self.result),
            "checks": [_check_dict(c, r, full) for c, r in out.checks],
            "summary": _summary(out.checks, len(out.errors)),
            "errors": [dict(e) for e in self.errors],
            "bundle": self._bundle.to_dict(),
            "input_digest": self.input_digest,
            "evaluated_at": format_rfc3339(out.now),
            "duration_us": self._duration_ns // 1000,
        }
        trace = self._trace
        if trace is not None:
            doc["explanation"] = {
                "rule": trace.rule,
                "definitions": [
                    {
                        "location": d.location,
                        "held": d.held,
                        "evidence": [evidence_dict(r) for r in d.evidence],
                    }
                    for d in trace.definitions
                ],
                "not_evaluated": trace.not_evaluated,
                "default_used": trace.default_used,
            }
        return doc


def _check_dict(check: CompiledCheck, r: CheckResult, full: bool) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": check.full_id,
        "severity": check.severity,
        "status": r.status,
        "message": r.message,
        "location": check.location,
        "controls": list(check.annotations.get("controls") or []),
    }
    for key in ("title", "remediation"):
        if key in check.annotations:
            d[key] = check.annotations[key]
    if r.status != "passed" or full:
        d["evidence"] = [evidence_dict(e) for e in r.evidence]
    if r.bindings is not None:
        d["bindings"] = {k: _shown(v) for k, v in r.bindings.items()}
    if r.waiver is not None:
        d["waiver"] = r.waiver
    if r.error is not None:
        d["error"] = r.error.message
    return d


def _summary(checks: list[tuple[CompiledCheck, CheckResult]], errors: int) -> dict[str, Any]:
    violated = dict.fromkeys(SEVERITIES, 0)
    counts = {"passed": 0, "not_applicable": 0, "waived": 0}
    for c, r in checks:
        if r.status == "violated":
            violated[c.severity] += 1
        elif r.status in counts:
            counts[r.status] += 1
    return {"violated": violated, **counts, "errors": errors}


_schema: dict[str, Any] | None = None


def decision_schema() -> dict[str, Any]:
    """The JSON Schema every decision document validates against (shipped in the package)."""
    global _schema
    if _schema is None:
        text = resources.files("tenet").joinpath("schemas/decision.schema.json").read_text("utf-8")
        _schema = json.loads(text)
    return _schema
