"""Loading bundles from folders and archives: layout, data merging, digest, decisions' bundle."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

import pytest

import tenet
from tenet.bundle import bundle_digest, open_tree
from tenet.bundle.archive import build_archive
from tests.conftest import assert_valid_decision, write_bundle
from tests.unit.bundle_helpers import FILES, PASSING, make_bundle, tar_gz


def _spec_digest(files: dict[str, bytes]) -> str:
    """The digest exactly as spec/bundle.md words it, written out independently."""
    text = b"".join(
        rel.encode() + b"\0" + hashlib.sha256(files[rel]).hexdigest().encode() + b"\n"
        for rel in sorted(files, key=lambda r: r.encode())
    )
    return "sha256:" + hashlib.sha256(text).hexdigest()


def test_a_folder_loads_with_its_manifest_policies_at_any_depth_and_merged_data(
    tmp_path: Path,
) -> None:
    b = tenet.load_bundle(make_bundle(tmp_path / "b"))
    assert (b.name, b.version, b.info.revision) == ("ai-governance", "1.4.0", "f7a3b2c")
    assert b.manifest.description == "AI governance policies"
    assert {".".join(m.package) for m in b.modules} == {"deploy.staging", "access"}
    assert b.program.data == {
        "owners": ["ml-platform"],
        "thresholds": {"staging": {"min_accuracy": 0.85}, "prod": {"min_accuracy": 0.9}},
    }
    assert "deployment_request" in b.program.schemas
    assert "tests/deploy_test.yaml" in b.files


def test_every_decision_names_the_bundle(tmp_path: Path) -> None:
    b = tenet.load_bundle(make_bundle(tmp_path / "b"))
    for query, doc in (("deploy.staging", PASSING), ("access.allow", {"user": {"role": "x"}})):
        d = b.decide(query, doc).to_dict()
        assert_valid_decision(d)
        assert d["bundle"] == {
            "name": "ai-governance",
            "version": "1.4.0",
            "revision": "f7a3b2c",
            "digest": b.digest,
        }


def test_the_digest_is_the_specified_one_and_skips_hidden_files_and_the_signature(
    tmp_path: Path,
) -> None:
    root = make_bundle(tmp_path / "b")
    expected = _spec_digest({k: v.encode() for k, v in FILES.items()})
    assert tenet.load_bundle(root).digest == expected
    write_bundle(
        root,
        {
            ".signature": "{}",
            ".git/config": "x",
            "deploy/.notes.md": "x",
            "__pycache__/x.pyc": "x",
            "access/__pycache__/y.pyc": "x",
        },
    )
    assert tenet.load_bundle(root).digest == expected


def test_the_digest_follows_content_not_location_or_times(tmp_path: Path) -> None:
    a = make_bundle(tmp_path / "one")
    b = make_bundle(tmp_path / "elsewhere" / "two")
    os.utime(b / "data.yaml", (1, 1))
    assert tenet.load_bundle(a).digest == tenet.load_bundle(b).digest
    (b / "data.yaml").write_text("owners: [someone-else]\n")
    assert tenet.load_bundle(a).digest != tenet.load_bundle(b).digest


def test_a_folder_and_the_archive_built_from_it_have_the_same_digest(tmp_path: Path) -> None:
    folder = tenet.load_bundle(make_bundle(tmp_path / "b"))
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(build_archive(folder.files))
    loaded = tenet.load_bundle(archive)
    assert loaded.digest == folder.digest
    assert loaded.name == "ai-governance"
    d = loaded.decide("deploy.staging", PASSING).to_dict()
    assert d["outcome"] == "allow"
    assert d["bundle"]["digest"] == folder.digest


def test_archive_order_does_not_change_the_digest(tmp_path: Path) -> None:
    items = sorted((k, v.encode()) for k, v in FILES.items())
    one, two = tmp_path / "one.tar.gz", tmp_path / "two.tar.gz"
    one.write_bytes(tar_gz(list(items)))
    two.write_bytes(tar_gz(list(reversed(items))))
    assert tenet.load_bundle(one).digest == tenet.load_bundle(two).digest


def test_an_archive_of_a_bundle_folder_with_a_top_folder_loads(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "ai-governance")
    archive = tmp_path / "made-by-tar.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="ai-governance")
    assert tenet.load_bundle(archive).digest == tenet.load_bundle(root).digest


def test_an_archive_made_with_dot_prefixes_loads(tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(tar_gz([("./" + k, v.encode()) for k, v in FILES.items()]))
    assert tenet.load_bundle(archive).digest == _spec_digest(
        {k: v.encode() for k, v in FILES.items()}
    )


def test_without_a_manifest_the_bundle_is_named_after_its_folder_or_archive(
    tmp_path: Path,
) -> None:
    root = write_bundle(tmp_path / "gates", {"main.tenet": "package main\nok if { true }\n"})
    b = tenet.load_bundle(root)
    assert (b.name, b.version, b.info.revision) == ("gates", "0.0.0", None)
    archive = tmp_path / "gates-build.tar.gz"
    archive.write_bytes(build_archive(b.files))
    assert tenet.load_bundle(archive).name == "gates-build"


def test_a_data_key_set_twice_names_both_files(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b", **{"thresholds/data.json": '{"staging": {"x": 1}}'})
    write_bundle(root, {"thresholds/staging/data.yaml": "min_accuracy: 0.5\n"})
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    messages = [d.message for d in info.value.diagnostics]
    assert messages == [
        "data key `data.thresholds.staging.min_accuracy` is set by both "
        "`thresholds/data.yaml` and `thresholds/staging/data.yaml`"
    ]


def _load_error(tmp_path: Path, rel: str, text: str) -> str:
    root = write_bundle(tmp_path / "b", {"p.tenet": "package p\nr = data\n", rel: text})
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    (d,) = info.value.diagnostics
    return d.render()


_BOMB = "".join(
    f"{n}: &{n} [{', '.join([f'*{p}' if p else '1'] * 10)}]\n"
    for p, n in zip(["", "a", "b", "c", "d", "e"], "abcdef", strict=True)
)


@pytest.mark.parametrize(
    ("rel", "text", "rendered"),
    [
        (
            "data.yaml",
            "a:\n  b: 1\n c: 2\n",
            "error[data]: data file `data.yaml` is not valid YAML: a new key is not indented "
            "like the keys of the mapping that starts at line 1, column 1\n"
            "  --> data.yaml:3:2\n    |\n  3 |  c: 2\n    |  ^\n"
            "  = help: indent it with spaces exactly as far as the other keys, or further, "
            "below a key that ends with `:`",
        ),
        (
            "x/data.yml",
            "a: 1\na: 2\n",
            "error[data]: data file `x/data.yml` is not valid YAML: the key `a` is given twice\n"
            "  --> x/data.yml:2:1\n    |\n  2 | a: 2\n    | ^\n"
            "  = help: give each key once: it is first given at line 1, column 1",
        ),
        (
            "data.yaml",
            "cmd: !!python/object/apply:os.system [ls]\n",
            "error[data]: data file `data.yaml` is not valid YAML: the tag "
            "`!!python/object/apply:os.system` is not allowed: documents hold JSON values only\n"
            "  --> data.yaml:1:6\n    |\n  1 | cmd: !!python/object/apply:os.system [ls]\n"
            "    |      ^\n"
            "  = help: remove the tag: a document holds strings, numbers, `true`, `false`, "
            "`null`, lists and mappings",
        ),
        (
            "data.yaml",
            _BOMB + "g: [*f, *f]\n",
            "error[data]: data file `data.yaml` is not valid YAML: the document expands to more "
            "than 1000000 values (aliases included)\n"
            "  --> data.yaml:6:4\n    |\n  6 | f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
            "    |    ^\n"
            "  = help: write the values out rather than aliases of aliases",
        ),
        (
            "a/b/data.json",
            '{"x": 1,\n "y": [1, 2,]}',
            "error[data]: data file `a/b/data.json` is not valid JSON: expecting value\n"
            '  --> a/b/data.json:2:13\n    |\n  2 |  "y": [1, 2,]}\n    |             ^\n'
            "  = help: write a value: a string in double quotes, a number, `true`, `false`, "
            "`null`, an object or a list (JSON allows no `,` after the last item)",
        ),
        (
            "data.json",
            '{"x": {"a": 1, "a": 2}}',
            "error[data]: data file `data.json` is not valid JSON: the key `a` is given twice in "
            "one object\n"
            '  --> data.json:1:16\n    |\n  1 | {"x": {"a": 1, "a": 2}}\n'
            "    |                ^\n"
            "  = help: give each key once: the last would silently replace the first",
        ),
        (
            "data.json",
            '{"x": [1, -Infinity]}',
            "error[data]: data file `data.json` is not valid JSON: `-Infinity` is not a JSON "
            "number\n"
            '  --> data.json:1:11\n    |\n  1 | {"x": [1, -Infinity]}\n    |           ^\n'
            "  = help: JSON numbers are finite and written in digits; quote the value if it is "
            "text",
        ),
        (
            "data.yaml",
            "limits:\n  max: 1e999\n",
            "error[data]: data file `data.yaml`: /limits/max: numbers must be finite\n"
            "  --> data.yaml:2:3\n    |\n  2 |   max: 1e999\n    |   ^^^^^^^^^^\n"
            "  = help: a data file holds JSON values: strings, finite numbers, booleans, null, "
            "lists and mappings with string keys",
        ),
    ],
)
def test_a_data_file_that_does_not_parse_is_placed_in_our_words(
    tmp_path: Path, rel: str, text: str, rendered: str
) -> None:
    assert _load_error(tmp_path, rel, text) == rendered


def test_the_manifest_and_catalogues_are_placed_in_the_same_words(tmp_path: Path) -> None:
    assert _load_error(tmp_path / "m", "tenet.yaml", "name: x\n version: 1.0.0\n") == (
        "error[manifest]: `tenet.yaml` is not valid YAML: a `:` stands after a value where no "
        "key can start\n"
        "  --> tenet.yaml:2:9\n    |\n  2 |  version: 1.0.0\n    |         ^\n"
        '  = help: quote a value that holds `: ` (`"a: b"`), or put a nested mapping on its own '
        "line, indented below its key"
    )
    assert _load_error(tmp_path / "f", "frameworks/gdpr.yaml", "name: GDPR\ncontrols: {a: 1\n") == (
        "error[framework]: framework catalogue `frameworks/gdpr.yaml` is not valid YAML: the "
        "mapping `{` that starts at line 2, column 11 is not closed before the end of the file\n"
        "  --> frameworks/gdpr.yaml:2:11\n    |\n  2 | controls: {a: 1\n    |           ^\n"
        "  = help: separate its items with `,` and close it with `}`; quote an item that holds "
        "`: ` or `,`"
    )


def test_no_yaml_error_shows_pyyaml_internals(tmp_path: Path) -> None:
    broken = [
        "a: b: c\n",
        "a:\n\tb: 1\n",
        "a: 1\nb\nc: 2\n",
        'a: "abc\n',
        "a: [1, 2\nb: 3\n",
        "a: {x: 1\n",
        "a: *nope\n",
        'a: "\\q"\n',
        "a: 1\n---\nb: 2\n",
        "- a\nb: 1\n",
        "a: 1\n- b\n",
        "a: \x01\n",
        "a: &\n",
        "a:\n  - 1\n - 2\n",
        "a: |x\n  b\n",
        "a: [,]\n",
        "a: &x [*x]\n",
        "a: &x 1\nb: &x 2\n",
        "%YAML 1.1\n%YAML 1.1\n---\na: 1\n",
        "? a\n? b\n: 1\n: 2\n",
        "a: @x\n",
    ]
    for n, text in enumerate(broken):
        out = _load_error(tmp_path / str(n), "data.yaml", text)
        assert "data.yaml:" in out.splitlines()[1], out  # placed: file:line:column
        assert "= help: " in out, out
        for internal in ("<unicode string>", "<block", "<scalar>", "<stream", "while "):
            assert internal not in out, out


def test_data_files_in_tests_are_not_bundle_data(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b", **{"tests/data.yaml": "owners: [nobody]\n"})
    assert tenet.load_bundle(root).program.data["owners"] == ["ml-platform"]


def test_load_problems_are_reported_together_with_their_files(tmp_path: Path) -> None:
    root = make_bundle(
        tmp_path / "b",
        **{
            "schemas/broken.schema.json": "{not json",
            "data.yaml": "owners: [a\n",
            "access/rules/models.tenet": "package access\nallow if {\n",
        },
    )
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    files = {d.path for d in info.value.diagnostics}
    assert {"schemas/broken.schema.json", "data.yaml", "access/rules/models.tenet"} <= files


def test_open_tree_reads_folder_and_archive_to_the_same_files(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b")
    tree = open_tree(root)
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(build_archive(tree.files))
    assert open_tree(archive).files == tree.files
    assert bundle_digest(tree.files) == tenet.load_bundle(root).digest


def test_a_path_that_is_neither_folder_nor_archive_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(tenet.PolicyError, match="neither a bundle folder nor a bundle archive"):
        tenet.load_bundle(tmp_path / "missing")


@pytest.mark.parametrize(
    "files",
    [
        {"tenet.yaml": 'name: "d1\\ud800"\nversion: 1.0.0\n', "p.tenet": "package p\nx = 1\n"},
        {"p.tenet": 'package p\n\n#@ title: "t\\ud800"\nrequire c { input.a > 1 }\n'},
        {"p.tenet": 'package p\n\n#@ controls: ["eu\\udc00/x"]\nrequire c { input.a > 1 }\n'},
        {"p.tenet": "package p\nx = 1\n", "frameworks/fw.yaml": 'name: "No\\ud800thing"\n'},
    ],
)
def test_half_a_utf16_pair_in_any_yaml_of_a_bundle_is_a_load_error(
    tmp_path: Path, files: dict[str, str]
) -> None:
    root = write_bundle(tmp_path / "b", files)
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    assert "lone surrogate" in str(info.value)
    str(info.value).encode()  # the error itself is text


def test_half_a_utf16_pair_in_a_schema_file_is_a_load_error_at_its_place(tmp_path: Path) -> None:
    # as in the bundle's YAML files: JSON's `\ud800` escape reads as no character
    schema = '{"type": "object",\n "properties": {"x": {"enum": ["a",\n   "\\ud800"]}}}\n'
    root = write_bundle(
        tmp_path / "b",
        {
            "tenet.yaml": "name: b\nversion: 1.0.0\ninputs:\n  p.allow: schemas/in.schema.json\n",
            "p.tenet": 'package p\nallow = input.x == "a"\n',
            "schemas/in.schema.json": schema,
        },
    )
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    (diag,) = info.value.diagnostics
    assert diag.code == "schema" and diag.file == "schemas/in.schema.json"
    assert diag.message.startswith(
        "schema `schemas/in.schema.json` at /properties/x/enum/1: the text holds a lone surrogate"
    )
    assert diag.span is not None and (diag.span.line, diag.span.column) == (3, 4)


@pytest.mark.parametrize(
    ("name", "content", "line", "column"),
    [
        ("p.tenet", b'package p\nr = "caf\xe9"\n', 2, 9),
        ("data.yaml", b"owner: Jos\xe9\n", 1, 11),
        ("p.tenet", b"\xff\xfep\x00", 1, 1),  # UTF-16, with its byte order mark
        ("tenet.yaml", b'name: b\nversion: 1.0.0\ndescription: "caf\xe9"\n', 3, 18),
    ],
)
def test_a_file_that_is_not_utf8_is_an_error_at_its_first_bad_byte(
    tmp_path: Path, name: str, content: bytes, line: int, column: int
) -> None:
    root = write_bundle(tmp_path / "b", {"tenet.yaml": "name: b\nversion: 1.0.0\n"})
    if name != "p.tenet":  # the bundle's one policy, whole
        (root / "p.tenet").write_text("package p\nx = 1\n", "utf-8")
    (root / name).write_bytes(content)
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    (diag,) = info.value.diagnostics
    assert diag.code == "encoding" and diag.file == name
    assert diag.message.startswith(f"`{name}` is not UTF-8 text: line {line}, column {column}")
    assert diag.span is not None and (diag.span.line, diag.span.column) == (line, column)
    utf16 = content.startswith(b"\xff\xfe")
    assert diag.help == (
        f"save it as UTF-8, or convert it, e.g. `iconv -f {'utf-16' if utf16 else 'latin1'} "
        "-t utf-8 IN > OUT`"
    )


@pytest.mark.parametrize(
    "name", ["tenet.yaml", "data.yaml", "sub/data.json", "schemas/s.schema.json"]
)
def test_a_folder_named_as_a_file_the_bundle_reads_is_a_load_error(
    tmp_path: Path, name: str
) -> None:
    root = make_bundle(tmp_path / "b", **{name: None})
    (root / name).mkdir(parents=True)
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    (d,) = info.value.diagnostics
    assert (d.code, d.message, d.file) == ("bundle", f"`{name}` is a folder, not a file", name)
    assert d.help == f"rename or remove the folder: the bundle reads `{name}` as a file"


def test_a_schema_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b")
    (root / "schemas" / "x.schema.json").write_bytes(b'{"title": "caf\xe9"}')
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    (d,) = info.value.diagnostics
    assert d.code == "encoding"
    assert d.message == (
        "`schemas/x.schema.json` is not UTF-8 text: line 1, column 15 holds the byte 0xe9 "
        "(at byte offset 14)"
    )
