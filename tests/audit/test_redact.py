"""Personal values in audit records: replaced where the input's values were copied or quoted,
and nowhere else, however short they are or whatever shape they have."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tenet
from tenet.audit import AuditLog
from tenet.audit.redact import FEW, Redactor
from tests.conftest import write_bundle

MANIFEST = """name: hr
version: 1.0.0
audit:
  keep: [input.emp.fullname, input.note, input.amount]
  personal: [input.emp.ssn, input.emp.email, input.emp.fullname]
"""

POLICY = """package hr

require limit blocking {
    input.amount <= 50000
} message "app {input.emp.ssn} ({input.emp.email}) named {input.emp.fullname} asks {input.amount}"

require not_bob warning {
    input.emp.fullname.first != "bob"
} message "hello {input.emp.fullname.first}"

forbid low_review warning {
    some who, n in input.reviews
    n < 5
} message "{who} scored {n}"
"""

INPUT: dict[str, Any] = {
    "amount": 990000,
    "emp": {"ssn": 9, "email": "o", "fullname": {"first": "bob", "last": "Zyxwer"}},
    "reviews": {"o": 3, "other@example.com": 9},
    "note": "call bob (o) today",
}


def recorded(
    tmp_path: Path,
    personal: str,
    files: dict[str, str],
    input: Any,
    query: str = "p",
    manifest: str = "",
) -> tuple[dict[str, Any], Callable[[Any], str], str]:
    """The decision of `query` on `input` recorded in a JSONL log, by a bundle of `files` whose
    manifest (with `manifest`'s lines) names `personal` as personal: the record, how the log's
    key makes a token, and the log's text."""
    head = f"name: p\nversion: 1.0.0\n{manifest}audit:\n  personal: [{personal}]\n"
    bundle = tenet.load_bundle(write_bundle(tmp_path / "b", {"tenet.yaml": head, **files}))
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    record = log.record(bundle, bundle.decide(query, input), input, "ci")
    text = (tmp_path / "audit.jsonl").read_text("utf-8")
    return record, Redactor([], [], log.key).token, text


@pytest.fixture
def record(tmp_path: Path) -> tuple[dict[str, Any], tenet.Decision]:
    root = write_bundle(tmp_path / "b", {"tenet.yaml": MANIFEST, "hr.tenet": POLICY}, {})
    bundle = tenet.load_bundle(root)
    decision = bundle.decide("hr", INPUT)
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    return log.record(bundle, decision, INPUT, actor="ci"), decision


def test_short_values_do_not_eat_into_other_text(record: tuple[dict[str, Any], Any]) -> None:
    rec, decision = record
    doc = rec["decision"]
    # the engine's own fields are as the engine wrote them, though they hold 9s and os
    assert doc["decision_id"] == decision.decision_id == rec["id"]
    assert doc["bundle"] == decision.to_dict()["bundle"]
    # keyed, since the input holds personal values, and whole though its hex holds 9s
    assert doc["input_digest"] == rec["input_digest"]
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{64}", doc["input_digest"])
    assert doc["evaluated_at"] == decision.to_dict()["evaluated_at"]
    checks = {c["id"]: c for c in doc["checks"]}
    assert set(checks) == {"hr.limit", "hr.not_bob", "hr.low_review"}
    limit = checks["hr.limit"]
    assert (limit["status"], limit["severity"]) == ("violated", "blocking")
    # 990000 is not the personal 9, nor is its text
    assert limit["evidence"][0]["values"] == {"input.amount": 990000}
    assert rec["input"]["input.amount"] == 990000
    assert limit["message"].endswith(" asks 990000")


def test_every_copy_and_quote_of_a_personal_value_is_a_token(
    record: tuple[dict[str, Any], Any],
) -> None:
    rec, _ = record
    text = json.dumps(rec)
    assert "Zyxwer" not in text
    checks = {c["id"]: c for c in rec["decision"]["checks"]}
    message = checks["hr.limit"]["message"]
    assert message.startswith("app hmac:") and "(hmac:" in message
    # an object at a personal path is one token where copied whole, and its parts are
    # tokens where quoted
    assert rec["input"]["input.emp.fullname"].startswith("hmac:")
    assert checks["hr.not_bob"]["message"].startswith("hello hmac:")
    assert "bob" not in checks["hr.not_bob"]["message"]
    # the policy's own text is the policy's: a value that also occurs there stays
    condition = checks["hr.not_bob"]["evidence"][0]["condition"]
    assert condition == 'input.emp.fullname.first != "bob"'
    # a personal value as a binding, and as a key of an object the policy read
    low = checks["hr.low_review"]
    assert low["bindings"]["who"].startswith("hmac:") and low["bindings"]["n"] == 3
    assert low["message"] == f"{low['bindings']['who']} scored 3"
    (read,) = [
        v for e in low["evidence"] for k, v in e.get("values", {}).items() if k == "input.reviews"
    ]
    assert set(read) == {low["bindings"]["who"], "other@example.com"}
    # kept input holding a personal value inside other text
    note = rec["input"]["input.note"]
    assert note.startswith("call hmac:") and note.endswith(" today") and "bob" not in note


def test_a_value_inside_a_word_is_not_replaced() -> None:
    secrets = Redactor([], ["input.id"], b"k").secrets_of({"id": "ann"})
    assert secrets.text("anna and ann; ann.") == "anna and {t}; {t}.".format(
        t=Redactor([], [], b"k").token("ann")
    )
    assert secrets.text("planning") == "planning"


@pytest.mark.parametrize("name", ["Kovacs/Zoltan", "z~k", "a/~b"])
def test_a_value_escaped_in_a_json_pointer_is_replaced(tmp_path: Path, name: str) -> None:
    # `input.scores[input.applicant.name]` reads `/scores/<name>`, with `/` and `~` escaped
    manifest = "name: p\nversion: 1.0.0\naudit:\n  personal: [input.applicant.name]\n"
    policy = (
        "package p\nrequire lookup blocking {\n    input.scores[input.applicant.name] < 100\n}\n"
    )
    root = write_bundle(tmp_path / "b", {"tenet.yaml": manifest, "p.tenet": policy})
    bundle = tenet.load_bundle(root)
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    input = {"applicant": {"name": name}, "scores": {name: 500}}
    log.record(bundle, bundle.decide("p", input), input, "ci")
    text = (tmp_path / "audit.jsonl").read_text("utf-8")
    escaped = name.replace("~", "~0").replace("/", "~1")
    assert name not in text and escaped not in text
    (record,) = (json.loads(line) for line in text.splitlines())
    (evidence,) = record["decision"]["checks"][0]["evidence"]
    token = Redactor([], [], log.key).token(name)
    assert evidence["input_paths"] == ["/applicant/name", f"/scores/{token}"]


def test_the_keys_of_a_personal_object_are_tokens_in_pointers(tmp_path: Path) -> None:
    # `input.consents` is personal: its keys (who consented) are personal data, and the
    # evidence's pointers run through them
    policy = (
        "package p\nrequire consented blocking {\n"
        "    every who, c in input.consents { c.given == true }\n}\n"
    )
    input = {
        "consents": {"ann/x@example.com": {"given": False}},
        "given": {"ann/x@example.com": 1},
    }
    _, token, text = recorded(tmp_path, "input.consents", {"p.tenet": policy}, input)
    assert "ann" not in text
    pointers = [p for e in _evidence_of(json.loads(text)) for p in e.get("input_paths", [])]
    assert f"/consents/{token('ann/x@example.com')}/{token('given')}" in pointers


def test_a_pointer_outside_the_personal_paths_keeps_its_keys() -> None:
    secrets = Redactor([], ["input.person"], b"k" * 16).secrets_of(
        {"person": {"name": "ann"}, "other": {"name": 1}}
    )
    assert secrets.pointer("/other/name") == "/other/name"
    assert secrets.pointer("/person") == "/person"
    tok = Redactor([], [], b"k" * 16).token
    assert secrets.pointer("/person/name") == f"/person/{tok('name')}"
    # a personal value elsewhere is still replaced as in any text
    assert secrets.pointer("/index/ann") == f"/index/{tok('ann')}"


def _evidence_of(value: Any) -> list[dict[str, Any]]:
    """Every evidence entry in a record, inner ones (a failed `every`'s) included."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if "condition" in value:
            found.append(value)
        for v in value.values():
            found += _evidence_of(v)
    elif isinstance(value, list):
        for v in value:
            found += _evidence_of(v)
    return found


def test_a_short_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tenet.audit.stores import StoreError

    monkeypatch.setenv("TENET_AUDIT_KEY", "abc")
    with pytest.raises(StoreError, match="`TENET_AUDIT_KEY` holds a key of 3 bytes"):
        AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    monkeypatch.setenv("TENET_AUDIT_KEY", "x" * 16)
    AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")


def test_a_short_key_is_named_as_such_also_beside_a_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenet.audit.stores import StoreError

    monkeypatch.delenv("TENET_AUDIT_KEY", raising=False)
    AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")  # makes the key file beside the log
    assert (tmp_path / "audit.jsonl.key").exists()
    monkeypatch.setenv("TENET_AUDIT_KEY", "short")
    with pytest.raises(StoreError, match="`TENET_AUDIT_KEY` holds a key of 5 bytes"):
        AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")


def _secrets(*values: str) -> Any:
    r = Redactor([], ["input.v.*"], b"k" * 16)
    return r, r.secrets_of({"v": list(values)})


def test_values_in_scripts_written_without_spaces_are_replaced() -> None:
    r, secrets = _secrets("田中", "bob")
    t, b = r.token("田中"), r.token("bob")
    text = "所有者田中です; 所有者bobです; under_田中_x; num田中9; bobby; 田中さん"
    assert secrets.text(text) == (
        f"所有者{t}です; 所有者{b}です; under_{t}_x; num{t}9; bobby; {t}さん"
    )


def test_a_name_typed_with_combining_accents_gets_the_same_token() -> None:
    r = Redactor([], [], b"k" * 16)
    assert r.token("u\u0308rsula") == r.token("\u00fcrsula")


words = st.sampled_from(
    ["ann", "anna", "bob", "田中", "id-7", "x", "ü", "_", " ", "-", "9", "ann b"]
)


@given(st.lists(words, max_size=30), st.lists(words.filter(str.strip), min_size=1, max_size=12))
def test_many_values_are_found_as_few_are(pieces: list[str], values: list[str]) -> None:
    """Past `FEW` values, text is searched with one automaton: the same replacements."""
    text = "".join(pieces)
    padding = [f"pad{i}" for i in range(FEW + 1)]  # enough values to take the automaton
    _, many = _secrets(*values, *padding)
    _, few = _secrets(*values, *padding)
    few._finder = False  # the plain search, as for few values
    assert many.text(text) == few.text(text)


ERRORS = """package e

require dated blocking {
    time(input.subject.email) > 0
}

require named blocking {
    input.person.name.first == "zz"
} message "the first check, name {input.person.name}"
"""


def test_evaluation_errors_are_cleaned_and_keys_of_personal_objects_stay_words(
    tmp_path: Path,
) -> None:
    manifest = (
        "name: e\nversion: 1.0.0\naudit:\n  personal: [input.subject.email, input.person.name]\n"
    )
    root = write_bundle(tmp_path / "e", {"tenet.yaml": manifest, "e.tenet": ERRORS}, {})
    bundle = tenet.load_bundle(root)
    inp = {"subject": {"email": "alice@example.com"}, "person": {"name": {"first": "Ann"}}}
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    record = log.record(bundle, bundle.decide("e", inp), inp, actor="ci")
    text = json.dumps(record)
    assert "alice@example.com" not in text and "Ann" not in text
    checks = {c["id"]: c for c in record["decision"]["checks"]}
    assert "hmac:" in checks["e.dated"]["error"]
    # `first` names a field of the personal object: a word of the message, not a secret
    assert checks["e.named"]["message"].startswith('the first check, name {"first": "hmac:')


EVERY = """package hr

require consent blocking {
    every p in input.people {
        p.name != ""
        p.consent == true
    }
} message "someone did not consent"

require reviewed blocking {
    every email, n in input.reviews { n >= 5 }
} message "a review is missing"
"""


def test_the_element_a_failed_every_names_is_cleaned_as_other_evidence(tmp_path: Path) -> None:
    manifest = "name: hr\nversion: 1.0.0\naudit:\n  personal: [input.people, input.reviews]\n"
    root = write_bundle(tmp_path / "e", {"tenet.yaml": manifest, "hr.tenet": EVERY}, {})
    bundle = tenet.load_bundle(root)
    ann = {"name": "Ann Zyxwer", "consent": False}
    inp = {"people": [{"name": "Bo", "consent": True}, ann], "reviews": {"ann@example.com": 3}}
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    record = log.record(bundle, bundle.decide("hr", inp), inp, actor="ci")
    assert "Zyxwer" not in json.dumps(record)
    token = Redactor([], [], log.key).token
    consent, reviewed = (c["evidence"][0]["failed_element"] for c in record["decision"]["checks"])
    # the element as bound, and what the inner conditions read of it, are tokens
    assert consent["index"] == 1 and consent["bindings"] == {"p": token(ann)}
    assert consent["evidence"][0]["values"] == {"p.name": token("Ann Zyxwer")}
    assert consent["evidence"][1]["values"] == {"p.consent": False}
    # an object's key is copied from the input: a token too
    assert reviewed["key"] == token("ann@example.com")
    assert reviewed["bindings"] == {"email": token("ann@example.com"), "n": token(3)}


def _strings(value: Any) -> list[str]:
    """Every text in a record, keys included."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("name", ['Sean "Red" O\'Brien', "Anna \\ Back", "tab\there", 'Zoë "Z"'])
def test_a_value_the_engine_wrote_as_json_or_grouped_is_replaced(tmp_path: Path, name: str) -> None:
    # a message quoting an object and a schema error write values as JSON (escaped), and a
    # format spec can group a whole number's thousands
    manifest = (
        "name: p\nversion: 1.0.0\ninputs:\n  typed: schemas/s.schema.json\n"
        "audit:\n  keep: [input.officer]\n  personal: [input.officer, input.applicant.name, "
        "input.applicant.ssn]\n"
    )
    policy = (
        'package p\nrequire obj blocking { false } message "applicant {input.applicant}"\n'
        'require num blocking { false } message "ssn {input.applicant.ssn:,} / '
        '{input.applicant.ssn:_}"\n'
    )
    typed = 'package typed\nrequire ok blocking { input.x != 1 } message "m"\n'
    schema = '{"type": "object", "properties": {"officer": {"type": "integer"}}}'
    root = write_bundle(
        tmp_path / "b",
        {
            "tenet.yaml": manifest,
            "p.tenet": policy,
            "typed.tenet": typed,
            "schemas/s.schema.json": schema,
        },
    )
    bundle = tenet.load_bundle(root)
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    input = {"officer": name, "applicant": {"name": name, "ssn": 123456789}}
    for query in ("typed", "p"):
        log.record(bundle, bundle.decide(query, input), input, "ci")
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    texts = [s for r in records for s in _strings(r)]
    spelled = [name, json.dumps(name)[1:-1], json.dumps(name, ensure_ascii=False)[1:-1]]
    for secret in [*spelled, "123456789", "123,456,789", "123_456_789"]:
        assert not [t for t in texts if secret in t], secret
    token = Redactor([], [], log.key).token
    (error,) = records[0]["decision"]["errors"]
    assert error["message"] == f'/officer: "{token(name)}" is not of type "integer"'
    (_, num) = records[1]["decision"]["checks"]
    assert num["message"] == f"ssn {token(123456789)} / {token(123456789)}"


@pytest.mark.parametrize("ssn", [123456789.0, 1.23456789e8, 123456789])
def test_a_personal_number_is_found_by_value_however_the_input_spells_it(
    tmp_path: Path, ssn: float
) -> None:
    # a decision writes a whole number whole: `123456789.0` in the input is `123456789` there
    manifest = "name: p\nversion: 1.0.0\naudit:\n  personal: [input.ssn]\n"
    policy = 'package p\nrequire low blocking { input.ssn < 100 } message "ssn {input.ssn}"\n'
    root = write_bundle(tmp_path / "b", {"tenet.yaml": manifest, "p.tenet": policy})
    bundle = tenet.load_bundle(root)
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    log.record(bundle, bundle.decide("p", {"ssn": ssn}), {"ssn": ssn}, "ci")
    (record,) = (json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines())
    assert not [t for t in _strings(record) if "123456789" in t or "1.23456789" in t]
    (check,) = record["decision"]["checks"]
    token = Redactor([], [], log.key).token(123456789)
    assert check["message"] == f"ssn {token}"
    assert check["evidence"][0]["values"] == {"input.ssn": token}


NOTE = "Patient reports persistent headaches since the accident; referred to neurology for MRI"


@pytest.mark.parametrize(
    "policy",
    [
        # a built-in's error quotes the value cut short, and a conflict its JSON cut short
        "package p\nrequire t blocking { time(input.note) > 0 }\n",
        'package p\nr = input.note\nr = "other"\n',
    ],
)
def test_a_personal_value_a_message_cut_short_is_hidden(tmp_path: Path, policy: str) -> None:
    manifest = "name: p\nversion: 1.0.0\naudit:\n  personal: [input.note]\n"
    root = write_bundle(tmp_path / "b", {"tenet.yaml": manifest, "p.tenet": policy})
    bundle = tenet.load_bundle(root)
    query = "p" if "require" in policy else "p.r"
    decision = bundle.decide(query, {"note": NOTE})
    assert "Patient reports" in json.dumps(decision.to_dict()["errors"])  # cut, not whole
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    log.record(bundle, decision, {"note": NOTE}, "ci")
    text = (tmp_path / "audit.jsonl").read_text("utf-8")
    assert "Patient reports" not in text and "headaches" not in text
    (record,) = (json.loads(line) for line in text.splitlines())
    token = Redactor([], [], log.key).token(NOTE)
    assert token in json.dumps(record["decision"]["errors"])


def test_a_cut_that_is_not_a_personal_value_s_start_stays() -> None:
    secrets = Redactor([], ["input.note"], b"k" * 16).secrets_of({"note": NOTE})
    assert secrets.text("loading... Patient") == "loading... Patient"  # too short a start
    assert secrets.text("see `Patient reports persistent...`") == (
        f"see `{Redactor([], [], b'k' * 16).token(NOTE)}`"
    )


CONSENTS = """package p

forbid no_consent blocking {
    some who, c in input.consents
    c.given != true
} message "{who} has not consented"

require counted warning {
    count(input.consents) < 2
} message "consents from {keys(input.consents)}"
"""


@pytest.mark.parametrize("who", ["bob", "ann.ortiz@example.com"])
def test_a_personal_key_in_an_invalid_input_s_message_is_its_token(
    tmp_path: Path, who: str
) -> None:
    input = {"consents": {who: {"given": float("nan")}}}
    record, token, text = recorded(tmp_path, "input.consents", {"p.tenet": CONSENTS}, input)
    (error,) = record["decision"]["errors"]
    pointer = f"/consents/{token(who)}/{token('given')}"
    assert error["code"] == "invalid_input" and error["path"] == pointer
    assert error["message"].startswith(f"input {pointer}: ")
    assert who not in text


def test_a_personal_key_is_hidden_in_the_message_of_the_check_that_bound_it(
    tmp_path: Path,
) -> None:
    # `bob` reads like a field's name, so it is searched for only where a check bound it;
    # an email cannot be one, so it is searched for in all text
    input = {"consents": {"bob": {"given": False}, "ann.ortiz@example.com": {"given": False}}}
    record, token, text = recorded(tmp_path, "input.consents", {"p.tenet": CONSENTS}, input)
    checks = record["decision"]["checks"]
    assert sorted(c["message"] for c in checks if c["id"] == "p.no_consent") == sorted(
        [f"{token('bob')} has not consented", f"{token('ann.ortiz@example.com')} has not consented"]
    )
    (counted,) = [c["message"] for c in checks if c["id"] == "p.counted"]
    assert counted.startswith(f'consents from ["{token("ann.ortiz@example.com")}"')
    assert "ann.ortiz" not in text


FOLDED = """package p

person(name) = trim(nfkc_casefold(name))

forbid self_approval blocking {
    some a in input.approvals
    who := person(a.user)
    who == person(input.author)
} message "{who} approved their own work ({upper(a.user)}, {lower(input.author)})"
"""


def test_a_personal_name_is_hidden_in_the_forms_a_policy_compares_it_in(tmp_path: Path) -> None:
    # `trim(nfkc_casefold(name))` is how the docs say to compare names: the folded text is
    # bound and quoted, and it is no longer the input's text
    input = {
        "author": " Mallory.Zyx@Example.COM",
        "approvals": [{"user": "ＭＡＬＬＯＲＹ.ZYX@EXAMPLE.COM"}, {"user": "İpek.Qwv@Example.COM"}],
    }
    personal = "input.author, input.approvals"
    record, _, text = recorded(tmp_path, personal, {"p.tenet": FOLDED}, input)
    text = text.lower()
    assert "mallory" not in text and "zyx" not in text and "ｍａｌｌｏｒｙ" not in text
    (check,) = record["decision"]["checks"]
    assert check["status"] == "violated"
    assert check["bindings"]["who"].startswith("hmac:")
    assert check["message"].count("hmac:") == 3


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"maxProperties": 1}, "has too many properties"),
        ({"type": "array"}, "is not of type"),
        ({"propertyNames": {"maxLength": 3}}, "is too long"),
        ({"properties": {"E12345": {"type": "boolean"}}, "additionalProperties": False}, "was"),
    ],
)
def test_a_schema_error_about_a_personal_object_hides_its_field_like_keys(
    tmp_path: Path, schema: dict[str, Any], words: str
) -> None:
    # user names and employee ids read like field names, but a schema error at a personal
    # path quotes them as the input's data
    files = {
        "s.tenet": "package s\nrequire ok { true }\n",
        "schemas/s.schema.json": json.dumps({"type": "object", "properties": {"consents": schema}}),
    }
    input = {"consents": {"jdoe": False, "E12345": True}}
    inputs = "inputs:\n  s: schemas/s.schema.json\n"
    record, _, text = recorded(tmp_path, "input.consents", files, input, "s", inputs)
    messages = [e["message"] for e in record["decision"]["errors"]]
    assert messages and all(words in m for m in messages), messages
    assert "jdoe" not in text and "E12345" not in text


def test_a_folded_form_that_is_a_plain_word_does_not_eat_the_words_of_messages(
    tmp_path: Path,
) -> None:
    policy = (
        "package p\nrequire r blocking { input.x == 1 }"
        ' message "the request will be refused: no grant covers this path in may"\n'
    )
    input = {"person": {"first": "Will", "last": "Grant", "middle": "May"}, "x": 2}
    record, _, _ = recorded(tmp_path, "input.person", {"p.tenet": policy}, input)
    (check,) = record["decision"]["checks"]
    assert check["message"] == "the request will be refused: no grant covers this path in may"
