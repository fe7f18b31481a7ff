"""Framework catalogues, the controls × checks matrix, and the evidence pack (its numbers,
its links from a control to the decision record, and how it renders in a browser)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import tenet
from tenet.audit import AuditLog
from tenet.cli import main
from tenet.compliance.matrix import build_matrix
from tenet.compliance.pack import build_pack, render_pack_html
from tenet.runtime.clock import format_rfc3339, parse_rfc3339
from tests.conftest import write_bundle

CATALOGUE = """name: Example Act
description: obligations for example systems
source: https://example.org/act
controls:
  art-1:
    title: Accuracy
    description: systems are accurate enough
    reference: Article 1
  art-2:
    title: Human oversight
    reference: Article 2
  art-3:
    title: Record keeping
    reference: Article 3
"""

POLICY = """package gates

#@ title: accuracy floor
#@ controls: [act/art-1]
require accuracy {
    input.accuracy >= 0.9
} message "accuracy {input.accuracy} is below 0.9"

#@ controls: [act/art-2, other/x-1]
require reviewed {
    input.reviewed == true
}

require unclaimed {
    true
}
"""

WAIVERS = {
    "waivers": [
        {
            "check": "gates.accuracy",
            "match": {"model": "legacy"},
            "expires": "2099-01-01T00:00:00Z",
            "approved_by": "cro@example.com",
            "reason": "replaced next quarter",
        }
    ]
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_bundle(
        tmp_path / "b",
        {"gates.tenet": POLICY, "frameworks/act.yaml": CATALOGUE},
        WAIVERS,
    )


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def test_catalogues_load_with_the_bundle(root: Path) -> None:
    bundle = tenet.load_bundle(root)
    act = bundle.frameworks["act"]
    assert act.name == "Example Act"
    assert list(act.controls) == ["act/art-1", "act/art-2", "act/art-3"]
    assert act.controls["act/art-2"].reference == "Article 2"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name: X\nsource: s\ncontrols: {a: {titel: y}}\n", "titel"),
        ("name: X\ncontrols: {a: {title: y}}\n", "source"),
        ("name: X\nsource: s\n", "controls"),
        ("name: X\nsource: s\ncontrols: {a: {title: y}}\nversion: 2\n", "version"),
        ("- a\n", "mapping"),
    ],
)
def test_a_bad_catalogue_is_a_load_error_naming_the_file(
    tmp_path: Path, text: str, says: str
) -> None:
    root = write_bundle(tmp_path / "b", {"gates.tenet": POLICY, "frameworks/act.yaml": text})
    with pytest.raises(tenet.PolicyError) as info:
        tenet.load_bundle(root)
    diags = info.value.diagnostics
    assert all(d.path == "frameworks/act.yaml" for d in diags)
    assert any(says in d.render() for d in diags)


def test_the_matrix_maps_controls_to_checks_and_lists_gaps(root: Path) -> None:
    m = build_matrix(tenet.load_bundle(root))
    assert [(c.id, checks) for c, checks in m.rows] == [
        ("act/art-1", ["gates.accuracy"]),
        ("act/art-2", ["gates.reviewed"]),
        ("act/art-3", []),
    ]
    assert [c.id for c in m.gaps] == ["act/art-3"]
    assert m.unknown == {"other/x-1": ["gates.reviewed"]}
    assert m.unannotated == ["gates.unclaimed"]

    text = run("compliance", "matrix", "--bundle", str(root)).output
    assert "✗ act/art-3  Record keeping" in text
    assert "gap: no check evidences this control" in text
    assert "2 of 3 controls evidenced by a check, 1 gap" in text
    assert "other/x-1: gates.reviewed" in text
    doc = json.loads(run("compliance", "matrix", "--bundle", str(root), "--format", "json").output)
    assert doc["gaps"] == ["act/art-3"]
    rows = list(
        csv.reader(
            io.StringIO(
                run("compliance", "matrix", "--bundle", str(root), "--format", "csv").output
            )
        )
    )
    assert rows[0] == ["framework", "control", "title", "reference", "check"]
    assert ["act", "act/art-1", "Accuracy", "Article 1", "gates.accuracy"] in rows
    result = run("compliance", "matrix", "--bundle", str(root), "--framework", "actt")
    assert result.exit_code == 2 and "`act`" in result.output


def make_log(root: Path, tmp_path: Path) -> tuple[str, tenet.Bundle, list[dict[str, Any]]]:
    bundle = tenet.load_bundle(root)
    url = f"sqlite:///{tmp_path}/audit.db"
    log = AuditLog.open(url)
    inputs = [
        {"accuracy": 0.95, "reviewed": True},  # both pass
        {"accuracy": 0.80, "reviewed": True},  # accuracy violated
        {"accuracy": 0.80, "reviewed": False, "model": "legacy"},  # waived, reviewed violated
        {"accuracy": 0.99, "reviewed": False},  # reviewed violated
    ]
    written = [
        log.record(bundle, bundle.decide("gates", inp, now="2026-06-01T00:00:00Z"), inp, "ci")
        for inp in inputs
    ]
    return url, bundle, written


def test_the_pack_counts_what_happened_under_each_control(root: Path, tmp_path: Path) -> None:
    _, bundle, written = make_log(root, tmp_path)
    pack = build_pack(bundle, "act", written, 0, 4e9, [])
    art1, art2, art3 = pack.controls
    assert dict(art1.counts["gates.accuracy"]) == {"passed": 2, "violated": 1, "waived": 1}
    assert dict(art2.counts["gates.reviewed"]) == {"passed": 2, "violated": 2}
    assert art3.checks == [] and art3.recent == []
    assert art1.waivers == [
        {
            "check": "gates.accuracy",
            "approved_by": "cro@example.com",
            "reason": "replaced next quarter",
            "expires": "2099-01-01T00:00:00Z",
        }
    ]
    # newest first, each linked to its record and chain hash
    assert [d["record"] for d in art1.recent] == [r["id"] for r in reversed(written)]
    assert art1.recent[0]["hash"] == written[-1]["hash"]
    assert set(pack.records) == {r["id"] for r in written}
    assert pack.chain_ok and pack.decisions == 4
    # a decision of another bundle recorded in the same log is not this pack's evidence
    other = {**written[1], "id": "other", "bundle": {**written[1]["bundle"], "name": "team-b"}}
    pack = build_pack(bundle, "act", [*written, other], 0, 4e9, [])
    assert pack.decisions == 4 and pack.other_bundles == {"team-b": 1}
    assert dict(pack.controls[0].counts["gates.accuracy"])["violated"] == 1
    assert "1 decision of other bundles left out: team-b (1)" in render_pack_html(pack, "log")


def test_decisions_of_another_build_show_their_version_and_the_waivers_they_used(
    root: Path, tmp_path: Path
) -> None:
    """A window may span builds of the bundle: a waiver that only an earlier build had still
    shows, with the build, as what waived its decisions."""
    _, bundle, written = make_log(root, tmp_path)
    current = bundle.info.to_dict()
    named = f"{current['name']} {current['version']}"
    pack = build_pack(bundle, "act", written, 0, 4e9, [])
    assert pack.versions == {f"{named} ({current['digest'][7:19]})": 4}
    assert "more than this build" not in render_pack_html(pack, "log")
    (applied,) = pack.controls[0].applied
    assert applied["decisions"] == 1 and applied["approved_by"] == "cro@example.com"

    # the same decisions, as if made by a build whose waiver is since gone
    old = {**current, "digest": "sha256:" + "ab" * 32}
    waived = next(r for r in written if _status(r, "gates.accuracy") == "waived")
    earlier = [{**r, "id": f"{r['id']}-old", "bundle": old} for r in written]
    for r in earlier:
        if r["id"] == f"{waived['id']}-old":
            r["decision"] = json.loads(json.dumps(r["decision"]))
            check = next(c for c in r["decision"]["checks"] if c["id"] == "gates.accuracy")
            check["waiver"] = {**check["waiver"], "approved_by": "former-cro@example.com"}
    pack = build_pack(bundle, "act", [*earlier, *written], 0, 4e9, [])
    assert pack.decisions == 8 and pack.other_bundles == {}
    assert pack.versions[f"{named} (abababababab)"] == 4
    by_approver = {w["approved_by"]: w for w in pack.controls[0].applied}
    assert by_approver["former-cro@example.com"]["bundle"].endswith("(abababababab)")
    assert by_approver["former-cro@example.com"]["decisions"] == 1
    page = render_pack_html(pack, "log")
    assert "made by more than this build of the bundle" in page
    assert "former-cro@example.com" in page and "(abababababab)" in page
    assert pack.to_dict()["controls"][0]["waivers_applied"] == pack.controls[0].applied


def _status(r: dict[str, Any], check_id: str) -> str | None:
    return next((c["status"] for c in r["decision"]["checks"] if c["id"] == check_id), None)


def test_a_check_that_errored_is_counted_and_listed(tmp_path: Path) -> None:
    """A check that could not be evaluated is no evidence of its control working: the pack
    counts it as `error`, beside passed, violated and waived, and lists the decision."""
    policy = """package gates

#@ controls: [act/art-1]
require ratio {
    1 / input.n > 0
}
"""
    root = write_bundle(tmp_path / "e", {"gates.tenet": policy, "frameworks/act.yaml": CATALOGUE})
    bundle = tenet.load_bundle(root)
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    written = [
        log.record(bundle, bundle.decide("gates", {"n": n}), {"n": n}, "ci") for n in (1, 0, 0)
    ]
    pack = build_pack(bundle, "act", written, 0, 4e9, [])
    art1 = pack.controls[0]
    assert dict(art1.counts["gates.ratio"]) == {"passed": 1, "error": 2}
    assert pack.to_dict()["controls"][0]["totals"] == {
        "passed": 1, "violated": 0, "waived": 0, "error": 2
    }  # fmt: skip
    assert [d["status"] for d in art1.recent] == ["error", "error", "passed"]
    page = render_pack_html(pack, "log")
    assert "2 error" in page and "<th>error</th>" in page


def report(root: Path, url: str, out: Path, *more: str) -> Result:
    """`tenet compliance report` of framework `act` over ten years of the log, into `out`."""
    return run(
        "compliance", "report", "--bundle", str(root), "--log", url, "--framework", "act",
        "--since", "3650d", "-o", str(out), *more,
    )  # fmt: skip


def test_the_report_command_writes_html_and_json(root: Path, tmp_path: Path) -> None:
    url, _, written = make_log(root, tmp_path)
    out = tmp_path / "pack.html"
    result = report(root, url, out)
    assert result.exit_code == 0, result.output
    assert "3 controls (1 gap), 4 decisions, the audit chain verifies" in result.output
    page = out.read_text("utf-8")
    assert "<script" not in page and "src=" not in page and 'href="http' not in page
    # from a control to the exact decision record
    first = written[-1]["id"]
    assert f'href="#rec-{first}"' in page and f'id="rec-{first}"' in page
    assert written[-1]["hash"] in page
    doc_path = tmp_path / "pack.json"
    report(root, url, doc_path, "--format", "json")
    doc = json.loads(doc_path.read_text())
    assert doc["gaps"] == ["act/art-3"]
    assert doc["controls"][0]["totals"] == {"passed": 2, "violated": 1, "waived": 1, "error": 0}


def test_a_window_starting_in_the_future_is_a_usage_error(root: Path, tmp_path: Path) -> None:
    # an empty pack of it would look like a quiet quarter
    url, _, _ = make_log(root, tmp_path)
    out = tmp_path / "pack.html"
    result = run(
        "compliance", "report", "--bundle", str(root), "--log", url, "--framework", "act",
        "--since", "2999-01-01T00:00:00Z", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 2 and not out.exists()
    assert "`2999-01-01T00:00:00Z` is in the future (the clock says " in result.output


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_a_pack_with_a_fixed_end_is_the_same_bytes_every_time(
    root: Path, tmp_path: Path, fmt: str
) -> None:
    # an auditor regenerates the pack from the same log and compares: the log grows after the
    # window's end and the clock moves on, and neither may show
    url, bundle, written = make_log(root, tmp_path)
    until = written[1]["time"]
    first, second = tmp_path / f"1.{fmt}", tmp_path / f"2.{fmt}"
    assert report(root, url, first, "--until", until, "--format", fmt).exit_code == 0
    inp = {"accuracy": 0.5, "reviewed": False}
    AuditLog.open(url).record(bundle, bundle.decide("gates", inp), inp, "ci")
    result = report(root, url, second, "--until", until, "--format", fmt)
    assert result.exit_code == 0 and "2 decisions" in result.output
    assert first.read_bytes() == second.read_bytes()
    if fmt == "json":
        doc = json.loads(first.read_text("utf-8"))
        since = format_rfc3339(parse_rfc3339(until) - 3650 * 86400)  # back from the end
        assert (doc["since"], doc["until"], doc["decisions"]) == (since, until, 2)


@pytest.mark.parametrize(
    ("window", "says"),
    [
        (
            ["--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"],
            "the window starts at `2026-01-02T00:00:00Z`, after it ends at `2026-01-01T00:00:00Z`",
        ),
        (["--until", "2999-01-01T00:00:00Z"], "--until `2999-01-01T00:00:00Z` is in the future"),
        (["--until", "soon"], "--until `soon` is neither a window back from now"),
    ],
)
def test_a_window_that_ends_before_it_starts_or_in_the_future_is_a_usage_error(
    root: Path, tmp_path: Path, window: list[str], says: str
) -> None:
    url, _, _ = make_log(root, tmp_path)
    out = tmp_path / "pack.html"
    result = run(
        "compliance", "report", "--bundle", str(root), "--log", url, "--framework", "act",
        *window, "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 2 and not out.exists()
    assert says in result.output


def test_a_tampered_log_is_reported_in_the_pack(root: Path, tmp_path: Path) -> None:
    import sqlite3

    url, _, written = make_log(root, tmp_path)
    sqlite3.connect(tmp_path / "audit.db", isolation_level=None).execute(
        "DELETE FROM records WHERE id = ?", (written[1]["id"],)
    )
    out = tmp_path / "pack.html"
    result = report(root, url, out)
    assert result.exit_code == 1
    assert "does NOT verify" in out.read_text("utf-8")


# ---- rendering in a real browser -----------------------------------------------------------


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered rows of an 8-bit RGB(A) PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        ftype, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def test_the_pack_renders_in_headless_chromium(root: Path, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have Chromium: .ci/run installs Debian's `chromium`")
        pytest.skip("no Chromium found (Debian: apt-get install chromium)")
    url, _, _ = make_log(root, tmp_path)
    page = tmp_path / "pack.html"
    run(
        "compliance",
        "report",
        "--bundle",
        str(root),
        "--log",
        url,
        "--framework",
        "act",
        "--since",
        "3650d",
        "-o",
        str(page),
    )
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1000,1400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if re.search(r"CONSOLE|Uncaught", line)]
    assert console == [], console
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 1400)
    # not blank: many distinct colours, and some dark (text) pixels
    colours = {row[i : i + 3] for row in rows[::7] for i in range(0, len(row), 21)}
    assert len(colours) > 20
    assert any(min(row[i : i + 3]) < 80 for row in rows[::5] for i in range(0, len(row), 3))
