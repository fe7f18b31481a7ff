"""A deterministic fuzz of the parser and evaluator over the conformance policies.

Each policy of ../shared/conformance/*.yaml is mutated (tokens or characters deleted,
duplicated, swapped or replaced) with a seeded random.Random. Loading a mutant raises nothing
but PolicyError; when a mutant loads, deciding its file's queries with the case inputs raises
nothing but QueryError (a query whose rule the mutation removed), and every decision validates
against the schema.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import tenet
from tests.conftest import CONFORMANCE, assert_valid_decision, write_bundle

MUTANTS_PER_FILE = 40
LIMITS = tenet.Limits(max_steps=200_000)

_TOKEN = re.compile(
    r'\s+|"(?:[^"\\\n]|\\.)*"|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|\d[\d_.]*(?:[eE][+-]?\d+)?[A-Za-z%]*'
    r"|:=|==|!=|<=|>=|.",
    re.S,
)
_CHARS = '{}[]()",.:;=<>!%#@-+*/ \n\\0123456789abcxyz_'
_TOKENS = [
    "not", "in", "if", "some", "every", "for", "and", "or", "contains", "message", "when",
    "default", "import", "package", "require", "forbid", "null", "true", "input", "data",
    "{", "}", "[", "]", "(", ")", ":=", "=", ";", ",", "\n", "%", "10%", "1e999", '"{x}"',
]  # fmt: skip


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


# replacements of the same kind keep most mutants loadable, so the evaluator gets fuzzed too
_SAME_KIND = [
    ["==", "!=", "<", "<=", ">", ">=", "in"],
    ["+", "-", "*", "/", " % "],
    ["and", "or"],
    ["0", "1", "-1", "0.5", "2", "10%", "250ms", "1e308", "9999999999999999999999", '"x"', "null"],
    ["true", "false", "null"],
]


def _same_kind(toks: list[str], rng: random.Random) -> bool:
    spots = [
        (i, group)
        for i, t in enumerate(toks)
        for group in _SAME_KIND
        if t in group or (group is _SAME_KIND[3] and t[:1].isdigit())
    ]
    if not spots:
        return False
    i, group = rng.choice(spots)
    toks[i] = rng.choice(group)
    return True


def mutate(text: str, rng: random.Random) -> str:
    """One to three random edits: same-kind replacements, token edits, character edits."""
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if roll < 0.35:
            toks = _tokens(text)
            if _same_kind(toks, rng):
                text = "".join(toks)
        elif roll < 0.75:
            toks = _tokens(text)
            solid = [i for i, t in enumerate(toks) if not t.isspace()]
            if not solid:
                return text
            i = rng.choice(solid)
            kind = rng.choice(["delete", "duplicate", "swap", "replace", "insert"])
            if kind == "delete":
                del toks[i]
            elif kind == "duplicate":
                toks.insert(i, toks[i])
            elif kind == "swap":
                j = rng.choice(solid)
                toks[i], toks[j] = toks[j], toks[i]
            elif kind == "replace":
                toks[i] = rng.choice([*_TOKENS, toks[rng.choice(solid)]])
            else:
                toks.insert(i, rng.choice(_TOKENS) + " ")
            text = "".join(toks)
        elif text:
            i = rng.randrange(len(text))
            kind = rng.choice(["delete", "duplicate", "swap", "insert"])
            if kind == "delete":
                text = text[:i] + text[i + 1 :]
            elif kind == "duplicate":
                text = text[: i + 1] + text[i:]
            elif kind == "swap" and i + 1 < len(text):
                text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
            else:
                text = text[:i] + rng.choice(_CHARS) + text[i:]
    return text


def _conformance_files() -> list[Path]:
    return sorted(CONFORMANCE.glob("*.yaml"))


def test_the_conformance_policies_are_there() -> None:
    # a missing folder is a failure, never a silently empty fuzz
    assert len(_conformance_files()) >= 10


def test_mutation_is_deterministic_and_changes_text() -> None:
    text = "package p\nallow if { input.x == 1 }\n"
    a = [mutate(text, random.Random(7)) for _ in range(3)]
    b = [mutate(text, random.Random(7)) for _ in range(3)]
    assert a == b
    changed = sum(mutate(text, random.Random(seed)) != text for seed in range(50))
    assert changed >= 45


def _bundles(doc: dict[str, Any]) -> list[dict[str, str]]:
    """The policy file sets of one conformance file: its main bundle and its load-error ones."""
    out = []
    if doc.get("files"):
        out.append(doc["files"])
    out.extend(c["files"] for c in doc.get("load_error_cases") or [] if c.get("files"))
    return out


def _decide_all(bundle: tenet.Bundle, cases: list[dict[str, Any]]) -> int:
    made = 0
    for case in cases:
        try:
            decision = bundle.decide(case["query"], case.get("input") or {}, now=case.get("now"))
        except tenet.QueryError:
            continue
        doc = decision.to_dict()
        assert_valid_decision(doc)
        # an internal error is a Python exception the evaluator caught: an engine bug
        assert not [e for e in doc["errors"] if e["code"] == "internal"], doc["errors"]
        made += 1
    return made


@pytest.mark.parametrize("path", _conformance_files(), ids=lambda p: p.stem)
def test_mutated_conformance_policies(path: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(path.read_text("utf-8"))
    rng = random.Random(f"tenet-fuzz:{path.name}")
    cases = doc.get("cases") or []
    loaded = failed = 0
    for n in range(MUTANTS_PER_FILE):
        for k, files in enumerate(_bundles(doc)):
            policies = sorted(name for name in files if name.endswith(".tenet"))
            if not policies:
                continue
            mutated = dict(files)
            target = rng.choice(policies)
            mutated[target] = mutate(files[target], rng)
            root = write_bundle(
                tmp_path / f"m{n}-{k}", mutated, doc.get("data") if k == 0 else None
            )
            try:
                bundle = tenet.load_bundle(root, limits=LIMITS)
            except tenet.PolicyError as err:
                assert err.diagnostics, f"{path.name} mutant {n}: no diagnostics"
                str(err)  # renders
                failed += 1
                continue
            loaded += 1
            if k == 0:
                _decide_all(bundle, cases)
    assert loaded + failed > 0
