"""A decision log pointed at the wrong file: refused before anything is written, read or cut,
by recording and by every `tenet audit` command alike."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tenet.audit import prune, verify
from tenet.audit.records import canonical
from tenet.audit.stores import SqliteStore, StdoutStore, StoreError, open_store
from tenet.cli import main
from tests.audit.test_cli_audit import make_log


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "content",
    [
        b"precious notes line 1\nprecious line 2 without a newline",
        b"precious, one line without a newline",
        b'{"a": 1}\n{"torn',  # JSON, but not records
        b"[1, 2]\n",
    ],
)
@pytest.mark.parametrize("create", [True, False])
def test_a_jsonl_file_that_is_not_a_log_is_refused_and_kept(
    tmp_path: Path, content: bytes, create: bool
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="is not a decision log: line 1 is not an audit record"):
        open_store(f"jsonl:///{path}", create=create)
    assert path.read_bytes() == content


def test_a_jsonl_log_with_a_foreign_line_later_is_refused_on_append(tmp_path: Path) -> None:
    url, _ = make_log(tmp_path)
    lines = [canonical(r).decode() for r in open_store(url, create=False).records()]
    path = tmp_path / "log.jsonl"
    path.write_text(lines[0] + "\nnot a record\n" + lines[1][:20], "utf-8")
    before = _digest(path)
    store = open_store(f"jsonl:///{path}")
    with pytest.raises(StoreError) as caught:
        store.append([{"id": "x", "class": "c", "kind": "decision", "time": "t"}])
    # records before the line: a log damaged or edited, kept as evidence, not another file
    assert str(caught.value) == (
        f"`jsonl:///{path}` is damaged: line 2 is not an audit record; nothing is appended to "
        "a log that does not read as one: run `tenet audit verify` on it, keep it as "
        "evidence, and record into a new log"
    )
    assert _digest(path) == before  # the torn last line was not cut either


@pytest.mark.parametrize("line", ["[1, 2]", '{"x": 1}'])
def test_a_jsonl_line_that_is_not_a_record_is_a_finding_of_verify(
    tmp_path: Path, line: str
) -> None:
    url, _ = make_log(tmp_path)
    lines = [canonical(r).decode() for r in open_store(url, create=False).records()]
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join([*lines[:2], line, *lines[2:]]) + "\n", "utf-8")
    problems = verify(open_store(f"jsonl:///{path}", create=False))
    assert problems and problems[0].record_id == "line 3"


LAYOUT = (
    "it is not stored as the text its hash was taken over (white space or a `\\r` added "
    "around it: the log was written out again in another layout)"
)
BLANK = "it is a blank line: a log holds one record a line, nothing between"


@pytest.mark.parametrize(
    "layout, found",
    [
        (lambda lines: [line + "\r" for line in lines], (0, LAYOUT)),  # CRLF line ends
        (lambda lines: [*lines[:3], lines[3] + "\r", *lines[4:]], (3, LAYOUT)),
        (lambda lines: [*lines[:2], " " + lines[2], *lines[3:]], (2, LAYOUT)),
        (lambda lines: [lines[0], "", *lines[1:]], ("line 2", BLANK)),
        (lambda lines: [*lines, ""], ("line 7", BLANK)),  # a blank line at the end
        (lambda lines: [*lines[:4], "  \t", *lines[4:]], ("line 5", BLANK)),
    ],
)
def test_a_jsonl_log_laid_out_otherwise_is_an_edit(
    tmp_path: Path, layout: Any, found: tuple[int | str, str]
) -> None:
    url, _ = make_log(tmp_path)
    records = list(open_store(url, create=False).records())
    path = tmp_path / "log.jsonl"
    lines = layout([canonical(r).decode() for r in records])
    path.write_bytes("".join(line + "\n" for line in lines).encode())
    before = _digest(path)
    problems = verify(open_store(f"jsonl:///{path}", create=False))
    where, detail = found
    record = records[where]["id"] if isinstance(where, int) else where
    assert (record, "modified", detail) in {(p.record_id, p.kind, p.detail) for p in problems}
    if detail == BLANK:  # no record is appended after a line that is none, as for any other
        with pytest.raises(StoreError, match=f"is damaged: {where} is not an audit record"):
            open_store(f"jsonl:///{path}").append(
                [{"id": "n", "class": "c", "kind": "decision", "time": "t"}]
            )
        assert _digest(path) == before


def test_a_record_cut_short_is_named_in_its_class(tmp_path: Path) -> None:
    _, written = make_log(tmp_path)
    path = tmp_path / "log.jsonl"
    lines = [json.dumps(r, sort_keys=True, separators=(",", ":")) for r in written]
    path.write_text("\n".join([*lines[:2], lines[2][:400], *lines[3:]]) + "\n", "utf-8")
    (problem, *_) = verify(open_store(f"jsonl:///{path}", create=False))
    assert (problem.record_id, problem.retention_class) == ("line 3", written[2]["class"])


def test_a_sqlite_database_of_another_program_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    sqlite3.connect(path).execute("CREATE TABLE notes (x TEXT)")
    for create in (True, False):
        with pytest.raises(StoreError, match=r"it is a database of other tables \(`notes`\)"):
            open_store(f"sqlite:///{path}", create=create)
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("notes",)]
    result = run("audit", "verify", "--log", f"sqlite:///{path}")
    assert result.exit_code == 2 and "is not a decision log" in result.output


def test_a_records_table_of_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    sqlite3.connect(path).execute("CREATE TABLE records (id TEXT, name TEXT)")
    with pytest.raises(StoreError, match="its `records` table is another program's"):
        open_store(f"sqlite:///{path}")


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("precious notes " * 100, "utf-8")
    with pytest.raises(StoreError, match="file is not a database"):
        open_store(f"sqlite:///{path}")
    assert path.read_text("utf-8") == "precious notes " * 100


def test_an_empty_sqlite_file_reads_as_a_log_with_no_records_and_stays_empty(
    tmp_path: Path,
) -> None:
    # as `touch` makes it: a write would adopt it, so a read must not call it no log
    path = tmp_path / "audit.db"
    path.touch()
    url = f"sqlite:///{path}"
    assert run("audit", "verify", "--log", url).output == "verified: the log holds no records yet\n"
    assert list(open_store(url, create=False).records()) == []
    assert path.stat().st_size == 0 and not (tmp_path / "audit.db-wal").exists()


def test_a_scheme_is_read_without_regard_to_case(tmp_path: Path) -> None:
    assert isinstance(open_store("STDOUT:"), StdoutStore)
    assert isinstance(open_store(f"SQLite:///{tmp_path}/a.db"), SqliteStore)


@pytest.mark.parametrize("url", ["stdout:/foo", "stdout://host"])
def test_stdout_takes_no_path(url: str) -> None:
    with pytest.raises(StoreError, match="`stdout:` takes no path"):
        open_store(url)


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
def test_a_folder_is_not_a_log(tmp_path: Path, scheme: str) -> None:
    for create in (True, False):
        with pytest.raises(StoreError, match="is a folder, not a file"):
            open_store(f"{scheme}:///{tmp_path}", create=create)


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
@pytest.mark.parametrize("end", ["/", "%2F", "%2f"])
def test_a_path_ending_in_a_slash_names_a_folder(tmp_path: Path, scheme: str, end: str) -> None:
    # not the file `new` (as `Path` would read it), nor a log made there
    ext = "db" if scheme == "sqlite" else "jsonl"
    with pytest.raises(StoreError) as caught:
        open_store(f"{scheme}://{tmp_path}/new{end}")
    assert str(caught.value) == (
        f"`{scheme}://{tmp_path}/new{end}` names a folder (its path ends in `/`): name the "
        f"log's file, as in `{scheme}://{tmp_path}/new/audit.{ext}`"
    )
    assert not (tmp_path / "new").exists()


def test_recording_into_a_file_that_is_not_a_log_exits_2(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("precious\n", "utf-8")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "tenet.yaml").write_text("name: b\nversion: 1.0.0\n", "utf-8")
    (tmp_path / "b" / "p.tenet").write_text("package p\nallow = true\n", "utf-8")
    (tmp_path / "in.json").write_text("{}", "utf-8")
    result = run(
        "eval", "p", "--bundle", str(tmp_path / "b"), "--input", str(tmp_path / "in.json"),
        "--decision-log", f"jsonl:///{notes}",
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"error: cannot open the decision log: `jsonl:///{notes}` is not a decision log" in (
        result.output
    )
    assert notes.read_text("utf-8") == "precious\n"


def test_a_report_goes_to_stdout_with_a_dash_and_never_makes_folders(tmp_path: Path) -> None:
    url, _ = make_log(tmp_path)
    result = CliRunner().invoke(main, ["audit", "report", "--log", url, "-o", "-"])
    assert result.exit_code == 0 and result.stdout.startswith("<!DOCTYPE html>")
    assert "wrote -: 6 decisions in the last 30d" in result.stderr
    missing = tmp_path / "no" / "such"
    result = run("audit", "report", "--log", url, "-o", str(missing / "r.html"))
    assert result.exit_code == 2
    assert f"the folder `{missing}` does not exist" in result.output
    assert not (tmp_path / "no").exists()


def test_a_jsonl_log_cut_or_replaced_under_its_writer_is_not_started_anew(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    store = open_store(f"jsonl:///{path}")
    entry = {"id": "a", "class": "c", "kind": "decision", "time": "2026-01-01T00:00:00Z"}
    store.append([entry, {**entry, "id": "b"}])
    lines = path.read_text("utf-8").splitlines(keepends=True)
    path.write_text(lines[0], "utf-8")  # the last record cut off
    with pytest.raises(StoreError, match=r"the chain `c` ends at record 1, .* up to record 2"):
        store.append([{**entry, "id": "c"}])
    assert path.read_text("utf-8") == lines[0]


def test_a_jsonl_log_pruned_under_its_writer_is_written_on(tmp_path: Path) -> None:
    url, _ = make_log(tmp_path)  # sqlite: copied into a JSONL log
    path = tmp_path / "log.jsonl"
    path.write_text(
        "".join(canonical(r).decode() + "\n" for r in open_store(url, create=False).records()),
        "utf-8",
    )
    writer = open_store(f"jsonl:///{path}")
    entry = {"id": "n1", "class": "access", "kind": "decision", "time": "2026-01-01T00:00:00Z"}
    writer.append([entry])
    later = time.time() + 1e10  # when every record made now has expired
    removed = prune(open_store(f"jsonl:///{path}"), later, "ops")  # another process
    assert removed == {"access": 3, "deployments": 3}
    writer.append([{**entry, "id": "n2"}])
    assert verify(open_store(f"jsonl:///{path}", create=False), now=later) == []


@pytest.mark.parametrize(
    "args, said",
    [
        (["serve", "--decision-log", ""], "--decision-log is empty"),
        (["eval", "p", "--input", "-", "--decision-log", " "], "--decision-log is empty"),
        (["serve", "--audit-fail-closed"], "--audit-fail-closed needs --decision-log"),
        (["serve", "--audit-queue", "5"], "--audit-queue needs --decision-log"),
        (["serve", "--actor", "ops"], "--actor needs --decision-log"),
        (["eval", "p", "--input", "-", "--actor", "ops"], "--actor needs --decision-log"),
    ],
)
def test_log_options_without_a_log_are_refused(tmp_path: Path, args: list[str], said: str) -> None:
    """An unset variable given as the log would turn recording off without a word."""
    result = run(*args, "--bundle", str(tmp_path))
    assert result.exit_code == 2 and f"error: {said}" in result.output


def test_a_failed_sqlite_write_reopens_the_database_for_the_next(tmp_path: Path) -> None:
    """SQLite opens a file it may not write read-only, and keeps it so: a connection a write
    failed on is dropped, so that a cause since mended ends the failures."""
    path = tmp_path / "audit.db"
    store = open_store(f"sqlite:///{path}")
    entry = {"id": "a", "class": "c", "kind": "decision", "time": "2026-01-01T00:00:00Z"}
    store.append([entry])
    store._local.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(StoreError, match="readonly database"):
        store.append([{**entry, "id": "b"}])
    store.append([{**entry, "id": "c"}])
    assert [r["id"] for r in store.records()] == ["a", "c"]
    assert verify(store) == []


def test_a_jsonl_writer_waiting_on_a_prune_writes_to_the_file_the_prune_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pruning replaces the file while holding its lock: a writer waiting for that lock must
    then open the new file, or its records go to the removed one, reported committed."""
    import threading

    path = tmp_path / "audit.jsonl"
    old = {"class": "c", "kind": "decision", "time": "2020-01-01T00:00:00Z", "keep_seconds": 1}
    writer = open_store(f"jsonl:///{path}")
    writer.append([{**old, "id": "old1"}, {**old, "id": "old2"}])
    entered, go = threading.Event(), threading.Event()
    real = os.replace

    def held_replace(src: Path, dst: Path) -> None:
        entered.set()
        assert go.wait(20)
        real(src, dst)

    monkeypatch.setattr("tenet.audit.stores.os.replace", held_replace)
    pruning = threading.Thread(
        target=lambda: prune(open_store(f"jsonl:///{path}"), time.time(), "ops")
    )
    pruning.start()
    assert entered.wait(20)
    new = {"id": "new", "class": "c", "kind": "decision", "time": "2026-01-01T00:00:00Z"}
    writing = threading.Thread(target=lambda: writer.append([new]))
    writing.start()
    deadline = time.monotonic() + 20
    while "->" not in Path("/proc/locks").read_text():  # the writer waits for the lock
        assert time.monotonic() < deadline, "the writer never waited for the lock"
        time.sleep(0.01)
    go.set()
    pruning.join(20)
    writing.join(20)
    records = list(open_store(f"jsonl:///{path}", create=False).records())
    assert [r["kind"] for r in records] == ["checkpoint", "decision"]
    assert records[1]["id"] == "new" and records[1]["seq"] == 3
    assert verify(open_store(f"jsonl:///{path}", create=False)) == []


@pytest.mark.parametrize("path, scheme", [("logs/audit.jsonl", "jsonl"), ("audit.db", "sqlite")])
def test_a_bare_path_is_answered_with_the_url_it_would_be(path: str, scheme: str) -> None:
    with pytest.raises(StoreError, match=f"is a path, not a log URL: write `{scheme}:///"):
        open_store(path)


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
@pytest.mark.parametrize("extra", ["?mode=ro", "#x", "?"])
def test_a_log_url_with_options_is_refused_before_anything_is_made(
    tmp_path: Path, scheme: str, extra: str
) -> None:
    url = f"{scheme}:///{tmp_path}/audit.{scheme}{extra}"
    with pytest.raises(StoreError, match="takes no options"):
        open_store(url)
    assert list(tmp_path.iterdir()) == []


def test_a_question_mark_in_a_log_s_name_is_written_quoted(tmp_path: Path) -> None:
    store = open_store(f"jsonl:///{tmp_path}/what%3F.jsonl")
    store.close()
    assert [p.name for p in tmp_path.iterdir()] == ["what?.jsonl"]


@pytest.mark.parametrize(
    "url, message",
    [
        ("sqlite://host/tmp/x.db", "names a host (`host`)"),
        # one slash left out of an absolute path, the usual typo: not `/x.db`, dropping `tmp`
        ("sqlite://tmp/h5/x.db", "three slashes: write `sqlite:///tmp/h5/x.db`, or `sqlite:///"),
        ("jsonl://var/log/a.jsonl", "write `jsonl:///var/log/a.jsonl`, or `jsonl:///"),
        ("sqlite://localhost/tmp/x.db", "write `sqlite:///tmp/x.db`, or `sqlite:///"),
        ("jsonl://audit.jsonl", "with three slashes: write `jsonl:///"),
        ("sqlite:///tmp/bad%ZZ.db", "a `%` that is no escape"),
        ("jsonl:///tmp/50%.jsonl", "write a `%` in a file's name as `%25`"),
    ],
)
def test_a_log_url_with_a_host_or_a_bad_escape_is_refused(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=re.escape(message)):
        open_store(url)


@pytest.mark.parametrize("url", ["stdout", "STDOUT", "stdout/"])
def test_stdout_without_its_colon_is_answered_with_stdout_colon(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert str(caught.value) == (
        f"`{url}` is not a log URL: write `stdout:` for standard output, or "
        f"`sqlite://{Path(url).absolute()}` for a file of that name"
    )


def test_one_slash_names_the_same_file_as_three(tmp_path: Path) -> None:
    open_store(f"sqlite:{tmp_path}/a.db").close()
    assert [p.name for p in tmp_path.iterdir()] == ["a.db"]
    open_store(f"sqlite:///{tmp_path}/a.db", create=False).close()


@pytest.mark.parametrize("url", ["sqlite:///tmp/n%00.db", "jsonl:///tmp/n%00.jsonl", "stdout:#f"])
def test_a_nul_in_a_log_s_name_or_a_fragment_after_stdout_is_refused(url: str) -> None:
    with pytest.raises(StoreError):
        open_store(url)


DAMAGE = {
    "not json": b"garbage\n",
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "not utf-8": b'{"id": "\xff\xfe"}\n',
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_jsonl_line_is_named_by_verify_and_passed_by_by_every_reader(
    tmp_path: Path, damage: bytes
) -> None:
    url, _ = make_log(tmp_path)
    records = open_store(url, create=False).records()
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"".join(canonical(r) + b"\n" for r in records) + damage)
    log = f"jsonl:///{path}"
    (problem,) = verify(open_store(log, create=False))
    assert (problem.record_id, problem.kind) == ("line 7", "modified")
    for args in (
        ["audit", "verify"],
        ["audit", "query", "--since", "1d"],
        ["audit", "report", "-o", str(tmp_path / "r.html")],
    ):
        result = CliRunner().invoke(main, [*args, "--log", log])
        assert result.exception is None or isinstance(result.exception, SystemExit), args
    assert "6 records" in CliRunner().invoke(main, ["audit", "query", "--log", log]).output
    with pytest.raises(StoreError, match="is damaged: line 7 is not an audit record"):
        open_store(log).append([{"id": "n", "class": "c", "kind": "decision", "time": "t"}])


@pytest.mark.parametrize("body", ["garbage", "[" * 100_000 + "]" * 100_000, "[1, 2]"])
def test_a_sqlite_body_that_is_no_record_is_modified(tmp_path: Path, body: str) -> None:
    url, written = make_log(tmp_path)
    conn = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    conn.execute("UPDATE records SET body = ? WHERE id = ?", (body, written[2]["id"]))
    conn.close()
    (problem,) = verify(open_store(url, create=False))
    assert (problem.record_id, problem.kind) == (written[2]["id"], "modified")
    result = CliRunner().invoke(main, ["audit", "report", "--log", url, "-o", str(tmp_path / "r")])
    assert result.exit_code == 1 and "DOES NOT VERIFY" in result.output


def test_a_report_into_a_fifo_is_written_through_it(tmp_path: Path) -> None:
    url, _ = make_log(tmp_path)
    fifo = tmp_path / "r.html"
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run("audit", "report", "--log", url, "-o", str(fifo))
    reader.join(10)
    assert result.exit_code == 0
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert read[0].startswith(b"<!DOCTYPE html>")


def test_a_log_that_is_no_regular_file_is_not_said_to_be_missing(tmp_path: Path) -> None:
    fifo = tmp_path / "audit.jsonl"
    os.mkfifo(fifo)
    result = run("audit", "verify", "--log", f"jsonl://{fifo}")
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot open `jsonl://{fifo}`: `{fifo}` is not a regular file\n"
