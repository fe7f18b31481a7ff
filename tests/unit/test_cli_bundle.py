"""`tenet bundle build|inspect|sign|verify|keygen|diff` and `tenet eval --public-key`."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import tenet
from tenet.cli import main
from tests.conftest import assert_valid_decision, write_bundle
from tests.unit.bundle_helpers import PASSING, make_bundle


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    result = run("bundle", "keygen", "--out", tmp_path / "keys")
    assert result.exit_code == 0, result.output
    return tmp_path / "keys" / "tenet.pem", tmp_path / "keys" / "tenet.pub.pem"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "ai-governance")


# ---- build ----------------------------------------------------------------------------------


def test_build_is_reproducible(tmp_path: Path, bundle: Path) -> None:
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    first = run("bundle", "build", bundle, "-o", a)
    assert first.exit_code == 0, first.output
    assert run("bundle", "build", bundle, "-o", b).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    digest = tenet.load_bundle(bundle).digest
    assert first.stdout == f"built {a}: ai-governance 1.4.0, 8 files, {digest}\n"
    assert tenet.load_bundle(a).digest == digest


def test_build_names_the_archive_after_the_bundle(
    tmp_path: Path, bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("bundle", "build", bundle).exit_code == 0
    assert (tmp_path / "ai-governance-1.4.0.tar.gz").is_file()


def test_build_refuses_to_write_into_the_bundle(bundle: Path) -> None:
    result = run("bundle", "build", bundle, "-o", bundle / "out.tar.gz")
    assert result.exit_code == 2
    assert "is inside the bundle" in result.stderr


def test_build_writes_into_a_fifo_and_keeps_it(tmp_path: Path, bundle: Path) -> None:
    fifo = tmp_path / "out.tgz"
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run("bundle", "build", bundle, "-o", fifo)
    reader.join(10)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # not replaced by a regular file
    assert tenet.load_bundle(_archive(tmp_path, read[0])).digest == tenet.load_bundle(bundle).digest


def _archive(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "read.tar.gz"
    path.write_bytes(data)
    return path


def test_build_through_a_link_writes_its_target_and_keeps_the_link(
    tmp_path: Path, bundle: Path
) -> None:
    target = tmp_path / "target.tgz"
    target.write_text("old")
    link = tmp_path / "link.tgz"
    link.symlink_to("target.tgz")
    assert run("bundle", "build", bundle, "-o", link).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == "target.tgz"
    assert tenet.load_bundle(target).digest == tenet.load_bundle(bundle).digest


def test_build_to_dash_writes_the_archive_to_stdout(
    tmp_path: Path, bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("bundle", "build", bundle, "-o", "-")
    assert result.exit_code == 0
    assert not (tmp_path / "-").exists()
    digest = tenet.load_bundle(bundle).digest
    assert tenet.load_bundle(_archive(tmp_path, result.stdout_bytes)).digest == digest
    assert result.stderr == f"built -: ai-governance 1.4.0, 8 files, {digest}\n"


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("file.txt/x.tgz", "`{tmp}/file.txt` is a file, not a folder"),
        ("no/x.tgz", "the folder `{tmp}/no` does not exist"),
        ("loop.tgz", "too many levels of symbolic links"),
    ],
)
def test_build_to_where_it_cannot_write_exits_2(
    tmp_path: Path, bundle: Path, where: str, why: str
) -> None:
    (tmp_path / "file.txt").write_text("a file")
    (tmp_path / "loop.tgz").symlink_to("loop.tgz")
    result = run("bundle", "build", bundle, "-o", tmp_path / where)
    assert result.exit_code == 2
    assert (
        result.stderr == f"error: cannot write `{tmp_path / where}`: {why.format(tmp=tmp_path)}\n"
    )


def test_sign_an_archive_to_stdout(tmp_path: Path, bundle: Path, keys: tuple[Path, Path]) -> None:
    archive = tmp_path / "b.tar.gz"
    assert run("bundle", "build", bundle, "-o", archive).exit_code == 0
    result = run("bundle", "sign", archive, "--key", keys[0], "-o", "-")
    assert result.exit_code == 0
    signed = _archive(tmp_path, result.stdout_bytes)
    assert run("bundle", "verify", signed, "--public-key", keys[1]).exit_code == 0
    assert result.stderr.endswith("\nwrote -\n")


def test_build_refuses_a_bundle_that_does_not_load(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "bad", {"main.tenet": "package main\nallow if {\n"})
    result = run("bundle", "build", root, "-o", tmp_path / "x.tar.gz")
    assert result.exit_code == 2
    assert "did not load" in result.stderr
    assert not (tmp_path / "x.tar.gz").exists()


# ---- inspect --------------------------------------------------------------------------------


def test_inspect_text(bundle: Path) -> None:
    result = run("bundle", "inspect", bundle)
    assert result.exit_code == 0, result.output
    digest = tenet.load_bundle(bundle).digest
    assert result.stdout == "\n".join(
        [
            "bundle ai-governance 1.4.0",
            "  revision:    f7a3b2c",
            "  description: AI governance policies",
            "  requires:    >=0.1.0",
            f"  digest:      {digest}",
            "  signature:   none",
            "  files:       8",
            "packages (2): access, deploy.staging",
            "checks (2): 1 blocking, 1 warning, 0 info",
            "  blocking  deploy.staging.accuracy_floor",
            "  warning   deploy.staging.model_card",
            "rules (1): access.allow",
            "functions (0): none",
            "data keys (2): owners, thresholds",
            "schemas (1): deployment_request",
            "input schemas (1):",
            "  deploy → schemas/deployment_request.schema.json",
            "tests (1): tests/deploy_test.yaml",
            "",
        ]
    )


def test_inspect_json_of_a_signed_archive(
    tmp_path: Path, bundle: Path, keys: tuple[Path, Path]
) -> None:
    archive = tmp_path / "b.tar.gz"
    assert run("bundle", "build", bundle, "-o", archive).exit_code == 0
    assert run("bundle", "sign", archive, "--key", keys[0]).exit_code == 0
    result = run("bundle", "inspect", archive, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["name"] == "ai-governance"
    assert doc["checks"] == {
        "blocking": ["deploy.staging.accuracy_floor"],
        "warning": ["deploy.staging.model_card"],
        "info": [],
    }
    assert doc["data_keys"] == ["owners", "thresholds"]
    assert doc["signature"]["matches_digest"] is True
    assert doc["signature"]["digest"] == doc["digest"]


# ---- sign and verify ------------------------------------------------------------------------


def test_sign_and_verify_a_folder(bundle: Path, keys: tuple[Path, Path]) -> None:
    signed = run("bundle", "sign", bundle, "--key", keys[0])
    assert signed.exit_code == 0, signed.output
    assert (bundle / ".signature").is_file()
    verified = run("bundle", "verify", bundle, "--public-key", keys[1])
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.startswith(f"verified: {bundle} (sha256:")


def test_sign_an_archive_in_place_reproducibly(
    tmp_path: Path, bundle: Path, keys: tuple[Path, Path]
) -> None:
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    for archive in (a, b):
        assert run("bundle", "build", bundle, "-o", archive).exit_code == 0
        assert run("bundle", "sign", archive, "--key", keys[0]).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert run("bundle", "verify", a, "--public-key", keys[1]).exit_code == 0
    assert tenet.load_bundle(a, public_key=keys[1]).digest == tenet.load_bundle(bundle).digest


def test_sign_an_archive_to_another_file(
    tmp_path: Path, bundle: Path, keys: tuple[Path, Path]
) -> None:
    archive, signed = tmp_path / "a.tar.gz", tmp_path / "signed.tar.gz"
    assert run("bundle", "build", bundle, "-o", archive).exit_code == 0
    assert run("bundle", "sign", archive, "--key", keys[0], "-o", signed).exit_code == 0
    assert run("bundle", "verify", archive, "--public-key", keys[1]).exit_code == 1
    assert run("bundle", "verify", signed, "--public-key", keys[1]).exit_code == 0


def test_verify_refuses_tampered_unsigned_and_foreign_bundles(
    tmp_path: Path, bundle: Path, keys: tuple[Path, Path]
) -> None:
    unsigned = run("bundle", "verify", bundle, "--public-key", keys[1])
    assert unsigned.exit_code == 1
    assert "the bundle is not signed" in unsigned.stderr
    assert run("bundle", "sign", bundle, "--key", keys[0]).exit_code == 0
    assert run("bundle", "keygen", "--out", tmp_path / "other").exit_code == 0
    foreign = run("bundle", "verify", bundle, "--public-key", tmp_path / "other" / "tenet.pub.pem")
    assert foreign.exit_code == 1
    assert "signed by another key" in foreign.stderr
    (bundle / "data.yaml").write_text("owners: [attacker]\n")
    tampered = run("bundle", "verify", bundle, "--public-key", keys[1])
    assert tampered.exit_code == 1
    assert "changed after signing" in tampered.stderr


def test_a_signature_folder_is_refused_by_sign_and_verify_alike(
    bundle: Path, keys: tuple[Path, Path]
) -> None:
    (bundle / ".signature").mkdir()
    said = (
        "error[bundle]: `.signature` is a folder, not a file\n"
        "  --> .signature\n"
        "  = help: remove the folder: `.signature` is the file `tenet bundle sign` writes\n"
    )
    signed = run("bundle", "sign", bundle, "--key", keys[0])
    assert signed.exit_code == 2
    assert signed.stderr.startswith(said)
    verified = run("bundle", "verify", bundle, "--public-key", keys[1])
    assert verified.exit_code == 2
    assert verified.stderr.startswith(said)
    assert "not signed" not in verified.stderr


def test_a_file_that_cannot_be_written_is_named_without_a_traceback(
    tmp_path: Path, bundle: Path, keys: tuple[Path, Path]
) -> None:
    (tmp_path / "k" / "tenet.pem").mkdir(parents=True)
    keygen = run("bundle", "keygen", "--out", tmp_path / "k", "--force")
    assert keygen.exit_code == 2
    assert keygen.stderr == (
        f"error: cannot write `{tmp_path / 'k' / 'tenet.pem'}`: it is a folder\n"
        "  = help: remove or rename the folder, or write the file elsewhere\n"
    )
    (tmp_path / "plain").write_text("")
    built = run("bundle", "build", bundle, "-o", tmp_path / "plain" / "b.tar.gz")
    assert built.exit_code == 2
    assert built.stderr == (
        f"error: cannot write `{tmp_path / 'plain' / 'b.tar.gz'}`: "
        f"`{tmp_path / 'plain'}` is a file, not a folder\n"
    )


def test_verify_with_an_unusable_key_exits_2(bundle: Path, keys: tuple[Path, Path]) -> None:
    result = run("bundle", "verify", bundle, "--public-key", keys[0])
    assert result.exit_code == 2
    assert "is a private key" in result.stderr
    result = run("bundle", "sign", bundle, "--key", keys[1])
    assert result.exit_code == 2
    assert "is a public key" in result.stderr


def test_a_stale_signature_is_warned_about_when_building(
    tmp_path: Path, bundle: Path, keys: tuple[Path, Path]
) -> None:
    assert run("bundle", "sign", bundle, "--key", keys[0]).exit_code == 0
    (bundle / "data.yaml").write_text("owners: [someone]\n")
    result = run("bundle", "build", bundle, "-o", tmp_path / "x.tar.gz")
    assert result.exit_code == 0
    assert "`.signature` does not match its files" in result.stderr


# ---- keygen ---------------------------------------------------------------------------------


def test_keygen_writes_a_pair_and_keeps_the_private_key_private(
    keys: tuple[Path, Path],
) -> None:
    private, public = keys
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_keygen_does_not_overwrite_without_force(keys: tuple[Path, Path]) -> None:
    before = keys[0].read_bytes()
    result = run("bundle", "keygen", "--out", keys[0].parent)
    assert result.exit_code == 2
    assert "exists; pass --force" in result.stderr
    assert keys[0].read_bytes() == before
    assert run("bundle", "keygen", "--out", keys[0].parent, "--force").exit_code == 0
    assert keys[0].read_bytes() != before


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("../escape", "`../escape` is not a plain file name"),
        ("sub/x", "`sub/x` is not a plain file name"),
        (".hidden", "`.hidden` is not a plain file name"),
        ("", "is empty"),
    ],
)
def test_keygen_name_is_a_plain_file_name(tmp_path: Path, name: str, said: str) -> None:
    out = tmp_path / "keys" / "here"
    result = run("bundle", "keygen", "--out", out, "--name", name)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --name {said}\n  = help: give a stem such as `release`, without `/` and not "
        "starting with `.`\n"
    )
    assert list(tmp_path.rglob("*")) == []


# ---- eval --public-key ----------------------------------------------------------------------


def _input(tmp_path: Path) -> Path:
    p = tmp_path / "input.json"
    p.write_text(json.dumps(PASSING))
    return p


def test_eval_with_a_public_key_accepts_a_signed_bundle(
    tmp_path: Path, bundle: Path, keys: tuple[Path, Path]
) -> None:
    archive = tmp_path / "b.tar.gz"
    assert run("bundle", "build", bundle, "-o", archive).exit_code == 0
    assert run("bundle", "sign", archive, "--key", keys[0]).exit_code == 0
    args = ["eval", "deploy.staging", "--bundle", archive, "--input", _input(tmp_path)]
    result = run(*args, "--public-key", keys[1], "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert_valid_decision(doc)
    assert doc["bundle"]["digest"] == tenet.load_bundle(bundle).digest


def test_eval_with_a_public_key_refuses_unsigned_and_tampered_bundles(
    tmp_path: Path, bundle: Path, keys: tuple[Path, Path]
) -> None:
    args = ["eval", "deploy.staging", "--bundle", bundle, "--input", _input(tmp_path)]
    unsigned = run(*args, "--public-key", keys[1])
    assert unsigned.exit_code == 2
    assert "the bundle is not signed" in unsigned.stderr
    assert run(*args).exit_code == 0  # without a key, no signature is needed
    assert run("bundle", "sign", bundle, "--key", keys[0]).exit_code == 0
    assert run(*args, "--public-key", keys[1]).exit_code == 0
    (bundle / "deploy" / "staging" / "gates.tenet").write_text(
        "package deploy.staging\nrequire accuracy_floor blocking { true }\n"
    )
    tampered = run(*args, "--public-key", keys[1])
    assert tampered.exit_code == 2
    assert "changed after signing" in tampered.stderr
    assert tampered.stdout == ""


def test_eval_reports_an_input_schema_error_decision(tmp_path: Path, bundle: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {}\nevaluation: {accuracy: high}\n")
    result = run("eval", "deploy.staging", "--bundle", bundle, "--input", bad, "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert_valid_decision(doc)
    assert [e["message"] for e in doc["errors"]] == [
        '/evaluation/accuracy: "high" is not of type "number"'
    ]


# ---- diff -----------------------------------------------------------------------------------


def _two_versions(tmp_path: Path) -> tuple[Path, Path, Path]:
    old = make_bundle(tmp_path / "old")
    new = make_bundle(
        tmp_path / "new",
        **{
            "tenet.yaml": "name: ai-governance\nversion: 1.5.0\n",
            "thresholds/data.yaml": "staging:\n  min_accuracy: 0.95\n",
        },
    )
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(
        json.dumps({"query": "deploy.staging", "input": PASSING, "now": "2026-01-01T00:00:00Z"})
        + "\n"
        + json.dumps({"query": "access.allow", "input": {"user": {"role": "admin"}}})
        + "\n"
    )
    return old, new, inputs


def test_diff_text_with_inputs(tmp_path: Path) -> None:
    old, new, inputs = _two_versions(tmp_path)
    result = run("bundle", "diff", old, new, "--inputs", inputs)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1:] == [
        "checks: no change",
        "rules: no change",
        "data:",
        "  ~ data.thresholds.staging.min_accuracy: 0.85 → 0.95",
        "input schemas:",  # the new manifest gives no `inputs`
        "  - deploy  removed: schemas/deployment_request.schema.json",
        "schemas: no change",  # still there, still the same
        f"decisions over 2 inputs from `{inputs}`:",
        "  line 1 deploy.staging: allow → deny",
        "    + violated deploy.staging.accuracy_floor (blocking): accuracy 0.9 is below 0.95",
        "summary: 0 checks added, 0 removed, 0 changed; 0 rules added, 0 removed, 0 changed; "
        "0 data values added, 0 removed, 1 changed; 0 input schemas added, 1 removed, 0 changed; "
        "0 schemas added, 0 removed, 0 changed; 1 of 2 decisions changed "
        "(1 allow → deny, 1 with new violations, 0 with new errors)",
    ]


def test_diff_fail_on_change_and_json(tmp_path: Path) -> None:
    old, new, inputs = _two_versions(tmp_path)
    result = run(
        "bundle", "diff", old, new, "--inputs", inputs, "--fail-on-change", "--format", "json"
    )
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["summary"]["decisions"]["changed"] == 1
    assert run("bundle", "diff", old, old, "--inputs", inputs, "--fail-on-change").exit_code == 0


def test_diff_fail_on_change_fails_on_a_schema_change_no_input_shows(tmp_path: Path) -> None:
    # loosened: no input of the file had the shape it now lets through
    old = make_bundle(tmp_path / "old")
    schema = json.loads((old / "schemas" / "deployment_request.schema.json").read_text())
    schema["required"] = ["model"]
    new = make_bundle(
        tmp_path / "new", **{"schemas/deployment_request.schema.json": json.dumps(schema)}
    )
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(json.dumps({"query": "deploy.staging", "input": PASSING}) + "\n")
    result = run("bundle", "diff", old, new, "--inputs", inputs, "--fail-on-change")
    assert result.exit_code == 1, result.output
    assert "  ~ deploy  changed: schemas/deployment_request.schema.json" in result.stdout
    assert "  no decision changed" in result.stdout
    assert run("bundle", "diff", old, new).exit_code == 0  # without the flag: a report


@pytest.mark.parametrize(
    ("content", "what", "said"),
    [
        (
            b'{"query": "deploy.staging"}\n{oops\n',
            "inputs",
            ": line 2 is not valid JSON at column 2: expecting property name enclosed in double "
            'quotes\n  = help: write each key in double quotes, `"key": value` (JSON allows no '
            "`,` after the last member)\n",
        ),
        (
            b'{"query": "deploy.staging"}\n{"query": "caf\xe9"}\n',
            "inputs file",
            " is not UTF-8 text: line 2, column 15 holds the byte 0xe9 (at byte offset 42)\n"
            "  = help: save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 IN > OUT`\n",
        ),
        (
            b'{"query": "deploy.staging", "input": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n",
            "inputs",
            ": line 1 is not valid JSON: the document nests too deeply to read\n"
            "  = help: flatten the document: keep it to at most 100 levels\n",
        ),
    ],
    ids=["not json", "not utf-8", "nested too deeply"],
)
def test_diff_with_inputs_it_cannot_read_exits_2(
    tmp_path: Path, content: bytes, what: str, said: str
) -> None:
    old, new, inputs = _two_versions(tmp_path)
    inputs.write_bytes(content)
    result = run("bundle", "diff", old, new, "--inputs", inputs)
    assert result.exit_code == 2
    assert result.stderr == f"error: {what} `{inputs}`{said}"


def test_diff_of_a_bundle_that_does_not_load_exits_2(tmp_path: Path) -> None:
    old, _, _ = _two_versions(tmp_path)
    broken = make_bundle(tmp_path / "broken", **{"tenet.yaml": "version: x\n"})
    result = run("bundle", "diff", old, broken)
    assert result.exit_code == 2
    assert "manifest field `version`" in result.stderr


def test_diff_with_a_query_neither_version_has_exits_2(tmp_path: Path) -> None:
    # a typo in a release gate's inputs file must not pass as a decision that did not change
    old, new, inputs = _two_versions(tmp_path)
    inputs.write_text('{"query": "deploy.stagin", "input": {}}\n')
    result = run("bundle", "diff", old, new, "--inputs", inputs)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: inputs `{inputs}`: line 1: unknown query `deploy.stagin`: no package or rule "
        "has that name in either version\n  = help: did you mean `deploy.staging`?\n"
    )


def test_a_public_key_given_twice_is_a_usage_error(
    tmp_path: Path, bundle: Path, keys: tuple[Path, Path]
) -> None:
    # click would keep the last one: with the right key last, the wrong one went unsaid
    assert run("bundle", "sign", bundle, "--key", keys[0]).exit_code == 0
    assert run("bundle", "keygen", "--out", tmp_path / "other").exit_code == 0
    other = tmp_path / "other" / "tenet.pub.pem"
    twice = ["--public-key", other, "--public-key", keys[1]]
    for args in (
        ["bundle", "verify", bundle, *twice],
        ["eval", "deploy.staging", "--bundle", bundle, "--input", _input(tmp_path), *twice],
        ["serve", "--bundle", bundle, *twice],
    ):
        result = run(*args)
        assert result.exit_code == 2, args
        assert result.stderr.endswith(
            "Error: `--public-key` is given 2 times: a bundle is checked against one key, so "
            "give only the key it must be signed by\n"
        )
    assert run("bundle", "verify", bundle, "--public-key", keys[1]).exit_code == 0
    missing = run("bundle", "verify", bundle)
    assert missing.exit_code == 2 and "Missing option '--public-key'" in missing.stderr
