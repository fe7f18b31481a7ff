"""`tenet fairness compute`: hand-computed values, groups without positives or negatives, errors,
and a property against a plain reference computation written here with lists and Fractions."""

from __future__ import annotations

import csv as csvlib
import hashlib
import io
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

import tenet
from tenet.cli import main
from tenet.cli_fairness import _to_yaml
from tenet.fairness import FairnessError, compute_file, compute_rows, metrics
from tenet.yamlutil import load_yaml
from tests.conftest import REPO, write_bundle

PREDICTIONS = REPO / "tests" / "golden" / "ci" / "predictions.csv"


def run(*args: str, stdin: str | bytes | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def flat(block: dict[str, Any]) -> dict[str, Any]:
    """The one attribute's figures beside the source facts, for short assertions."""
    (figures,) = block["attributes"].values()
    return {**block["source"], **figures}


def compute(*args: str, stdin: str | bytes | None = None) -> dict[str, Any]:
    r = run("fairness", "compute", *args, "--format", "json", stdin=stdin)
    assert r.exit_code == 0, r.output
    return flat(json.loads(r.stdout))


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---- hand-computed ------------------------------------------------------------------------------


def test_hand_computed_values() -> None:
    # tests/golden/ci/predictions.csv, by hand:
    #   female: (1,1) (1,0) (0,0) (0,1) (0,0)  -> tp 1, fn 1, tn 2, fp 1
    #   male:   (1,1) (1,1) (0,1) (0,0) (0,1)  -> tp 2, fn 0, tn 1, fp 2
    #   nonbinary: (0,0) (0,1)                 -> tn 1, fp 1, no positive label
    out = compute(
        "--predictions", str(PREDICTIONS), "--label", "label", "--prediction", "prediction",
        "--group", "sex", "--score", "score",
    )  # fmt: skip
    g = out["groups"]
    assert {k: (v["tp"], v["fp"], v["tn"], v["fn"], v["n"]) for k, v in g.items()} == {
        "female": (1, 1, 2, 1, 5),
        "male": (2, 2, 1, 0, 5),
        "nonbinary": (0, 1, 1, 0, 2),
    }
    assert g["female"]["selection_rate"] == 0.4  # (1 + 1) / 5
    assert g["male"]["selection_rate"] == 0.8
    assert g["nonbinary"]["selection_rate"] == 0.5
    assert (g["female"]["true_positive_rate"], g["male"]["true_positive_rate"]) == (0.5, 1.0)
    assert g["nonbinary"]["true_positive_rate"] is None
    assert "no positive labels" in g["nonbinary"]["note"]
    assert g["female"]["false_positive_rate"] == 1 / 3
    assert g["male"]["false_positive_rate"] == 2 / 3
    assert g["nonbinary"]["false_positive_rate"] == 0.5
    # ECE = sum over bins of |sum of scores - positives| / n
    # female: |0.91-1| + |0.42-1| + 0.12 + 0.55 + 0.08 = 1.42 -> 0.284
    # male: 0.23 + 0.17 + 0.61 + 0.33 + 0.52 = 1.86 -> 0.372; nonbinary: 0.21 + 0.58 -> 0.395
    assert g["female"]["expected_calibration_error"] == pytest.approx(0.284, abs=1e-12)
    assert g["male"]["expected_calibration_error"] == pytest.approx(0.372, abs=1e-12)
    assert g["nonbinary"]["expected_calibration_error"] == pytest.approx(0.395, abs=1e-12)
    assert out["overall"]["expected_calibration_error"] == pytest.approx(4.07 / 12, abs=1e-12)
    assert out["overall"]["selection_rate"] == 7 / 12
    assert out["overall"]["true_positive_rate"] == 0.75  # 3 / (3 + 1)
    assert out["overall"]["false_positive_rate"] == 0.5  # 4 / (4 + 4)
    bg, to = out["between_groups"], out["to_overall"]
    assert bg["demographic_parity_difference"] == 0.8 - 0.4
    assert bg["demographic_parity_ratio"] == 0.5  # 0.4 / 0.8
    # TPR over female and male only: 1 - 0.5; FPR over all three: 2/3 - 1/3
    assert bg["true_positive_rate_difference"] == 0.5
    assert bg["false_positive_rate_difference"] == float(Fraction(1, 3))
    assert bg["equalized_odds_difference"] == {"worst_case": 0.5, "mean": float(Fraction(5, 12))}
    assert bg["equalized_odds_ratio"] == {"worst_case": 0.5, "mean": 0.5}
    # to the overall 7/12: |0.8 - 7/12| = 13/60 is the largest
    assert to["demographic_parity_difference"] == float(Fraction(13, 60))
    assert to["demographic_parity_ratio"] == float(Fraction(24, 35))  # 0.4 / (7/12)
    assert to["true_positive_rate_difference"] == 0.25  # |0.5 - 0.75| = |1 - 0.75|
    assert to["false_positive_rate_difference"] == float(Fraction(1, 6))
    assert to["equalized_odds_difference"] == {
        "worst_case": 0.25,
        "mean": float(Fraction(5, 24)),
    }
    # ratios to the overall, each at most 1: TPR min(0.5/0.75, 0.75/1); FPR min((1/3)/0.5, ...)
    assert to["equalized_odds_ratio"] == {
        "worst_case": float(Fraction(2, 3)),
        "mean": float(Fraction(2, 3)),
    }
    assert out["excluded"] == {"true_positive_rate": ["nonbinary"], "false_positive_rate": []}
    assert out["predictions"] == {
        "file": str(PREDICTIONS),
        "sha256": hashlib.sha256(PREDICTIONS.read_bytes()).hexdigest(),
        "rows": 12,
    }
    assert (out["label"], out["prediction"], out["positive_label"], out["score"]) == (
        "label",
        "prediction",
        "1",
        "score",
    )
    assert "notes" not in out


def test_several_group_columns(tmp_path: Path) -> None:
    csv = write(
        tmp_path / "p.csv",
        "y,p,sex,age\n1,1,f,young\n0,0,f,young\n1,0,f,old\n0,1,m,old\n1,1,m,old\n",
    )
    out = compute("--predictions", csv, "--label", "y", "--prediction", "p",
                  "--group", "sex", "--group", "age")  # fmt: skip
    assert list(out["groups"]) == ["f, old", "f, young", "m, old"]
    assert out["groups"]["f, young"]["values"] == {"sex": "f", "age": "young"}
    assert out["group_by"] == ["sex", "age"]
    assert "expected_calibration_error" not in out["groups"]["f, old"]  # no --score


def test_groups_without_positives_or_negatives_are_reported(tmp_path: Path) -> None:
    csv = write(
        tmp_path / "p.csv",
        "y,p,g\n1,1,a\n0,0,a\n1,0,a\n0,1,a\n"  # a: both kinds
        "1,1,b\n1,0,b\n"  # b: no negatives
        "0,0,c\n0,1,c\n0,1,c\n",  # c: no positives
    )
    out = compute("--predictions", csv, "--label", "y", "--prediction", "p", "--group", "g")
    g = out["groups"]
    assert g["b"]["false_positive_rate"] is None and "no negative labels" in g["b"]["note"]
    assert g["c"]["true_positive_rate"] is None and "no positive labels" in g["c"]["note"]
    assert "note" not in g["a"]
    assert out["excluded"] == {"true_positive_rate": ["c"], "false_positive_rate": ["b"]}
    bg = out["between_groups"]
    # TPR over a (1/2) and b (1/2); FPR over a (1/2) and c (2/3)
    assert bg["true_positive_rate_difference"] == 0.0
    assert bg["false_positive_rate_difference"] == float(Fraction(2, 3) - Fraction(1, 2))
    # selection rate over all three: a 2/4, b 1/2, c 2/3
    assert bg["demographic_parity_difference"] == float(Fraction(2, 3) - Fraction(1, 2))


def test_a_metric_no_group_can_take_part_in_is_null_with_a_note(tmp_path: Path) -> None:
    csv = write(tmp_path / "p.csv", "y,p,g\n0,0,a\n0,0,b\n0,0,b\n")  # nothing positive at all
    r = run("fairness", "compute", "--predictions", csv, "--label", "y", "--prediction", "p",
            "--group", "g", "--format", "json")  # fmt: skip
    assert r.exit_code == 0
    out = flat(json.loads(r.stdout))
    bg = out["between_groups"]
    assert bg["demographic_parity_difference"] == 0.0
    assert bg["demographic_parity_ratio"] is None  # 0 / 0
    assert bg["true_positive_rate_difference"] is None
    assert bg["equalized_odds_difference"] == {"worst_case": None, "mean": None}
    assert out["to_overall"]["demographic_parity_ratio"] is None
    notes = "\n".join(out["notes"])
    assert "between_groups: the selection rate (demographic parity) ratio is null" in notes
    assert "every group's selection_rate is 0" in notes
    assert "no group has a true_positive_rate" in notes
    assert "to_overall: the selection rate (demographic parity) ratio is null" in notes
    # and the labels look wrong: said on stderr, not in the block
    assert "no row has `1` in column `y`" in r.stderr


def test_pos_label_and_other_values(tmp_path: Path) -> None:
    csv = write(tmp_path / "p.csv", "y,p,g\nyes,yes,a\nno,yes,a\nmaybe,no,a\nyes,no,b\n")
    r = run("fairness", "compute", "--predictions", csv, "--label", "y", "--prediction", "p",
            "--group", "g", "--pos-label", "yes", "--format", "json")  # fmt: skip
    assert r.exit_code == 0
    out = flat(json.loads(r.stdout))
    assert {k: (v["tp"], v["fp"], v["tn"], v["fn"]) for k, v in out["groups"].items()} == {
        "a": (1, 1, 1, 0),  # `maybe` is not `yes`: a negative label
        "b": (0, 0, 0, 1),
    }
    assert out["positive_label"] == "yes"
    assert "column `y` has 2 values besides `yes` (`maybe`, `no`); all of them" in r.stderr


def test_yaml_and_json_say_the_same(tmp_path: Path) -> None:
    args = ["fairness", "compute", "--predictions", str(PREDICTIONS), "--label", "label",
            "--prediction", "prediction", "--group", "sex", "--score", "score"]  # fmt: skip
    as_yaml = run(*args)
    assert as_yaml.exit_code == 0
    assert load_yaml(as_yaml.stdout) == json.loads(run(*args, "--format", "json").stdout)
    assert "positive_label: '1'" in as_yaml.stdout  # a string, not the number 1


# Strings that a plain YAML scalar would turn into something else under YAML 1.2's core rules
# (how Tenet reads inputs) or YAML 1.1's, or that need quoting for their blanks, `:` or `#`.
TRICKY = ["1e3", "1.5e3", "0o17", "0x1F", "1_000", ".inf", "-.inf", ".nan", "true", "True",
          "yes", "off", "null", "~", "", " a", "a ", " ", "a: b", "a:", ":", "#x", "a #b",
          "- a", "<<", "=", "12", "+1", "-0.5", "2026-01-01", "@x", "`x", "!x", "&x", "*x",
          "%x", "|", ">", "'q'", '"q"', "{a}", "[a]", "a,b"]  # fmt: skip


@pytest.mark.parametrize("pos_label", ["1e3", "0o17", "null", " 1", "1"])
def test_the_yaml_block_reads_back_as_tenet_reads_inputs(tmp_path: Path, pos_label: str) -> None:
    """Every group name and the positive label read back, with Tenet's YAML 1.2 reading, as
    the strings they were: the YAML says what the JSON says."""
    lines = [["y", "p", "g"]]
    for g in TRICKY:
        lines += [[pos_label, pos_label, g], ["0", "0", g]]
    out = io.StringIO()
    csvlib.writer(out, lineterminator="\n").writerows(lines)
    path = write(tmp_path / "p.csv", out.getvalue())
    args = ["fairness", "compute", "--predictions", path, "--label", "y", "--prediction", "p",
            "--group", "g", "--pos-label", pos_label]  # fmt: skip
    as_yaml = run(*args)
    assert as_yaml.exit_code == 0, as_yaml.output
    read = load_yaml(as_yaml.stdout)
    assert read == json.loads(run(*args, "--format", "json").stdout)
    assert sorted(read["attributes"]["g"]["groups"]) == sorted(TRICKY)
    assert read["source"]["positive_label"] == pos_label


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=12))
def test_any_text_reads_back_from_the_yaml_block(text: str) -> None:
    block = {text: {"n": 1, "name": text, "values": [text]}}
    assert load_yaml(_to_yaml(block)) == block


def test_the_block_feeds_the_policy_built_ins(tmp_path: Path) -> None:
    r = run("fairness", "compute", "--predictions", str(PREDICTIONS), "--label", "label",
            "--prediction", "prediction", "--group", "sex", "--format", "json")  # fmt: skip
    block = json.loads(r.stdout)
    policy = (
        "package reg\n\ndpd = demographic_parity_difference(input.fairness.attributes.sex.groups)\n"
    )
    bundle = tenet.load_bundle(write_bundle(tmp_path / "b", {"reg.tenet": policy}))
    decision = bundle.decide("reg.dpd", {"fairness": block})
    dpd = block["attributes"]["sex"]["between_groups"]["demographic_parity_difference"]
    assert decision.result == pytest.approx(dpd)


def test_the_block_is_what_the_governance_bundle_reads(tmp_path: Path) -> None:
    # embedded under `fairness:`, it validates against the bundle's schema and decides
    from tests.conftest import REPO

    r = run("fairness", "compute", "--predictions", str(PREDICTIONS), "--label", "label",
            "--prediction", "prediction", "--group", "sex", "--score", "score",
            "--format", "json")  # fmt: skip
    block = json.loads(r.stdout)
    bins = block["attributes"]["sex"]["calibration"]
    assert all(
        len(b) == 10 and set(b[0]) == {"count", "score_sum", "positives"} for b in bins.values()
    )
    bundle = tenet.load_bundle(REPO / "policies" / "ai-governance")
    registration = {
        "model_id": "churn-model",
        "version": "2.3.1",
        "fairness": {**block, "individual_consistency": 0.95},
    }
    doc = bundle.decide("fairness", registration).to_dict()
    assert doc["errors"] == []  # the input schema accepts it
    # and so do the registration's and the deployment request's, which share its definition
    for query in ("registration", "deploy.staging", "deploy.production"):
        decided = bundle.decide(query, registration, now="2026-06-01T00:00:00Z").to_dict()
        assert [e for e in decided["errors"] if "/fairness" in e.get("path", "/fairness")] == []
    checks = {c["id"]: c for c in doc["checks"]}
    # the tool reports the group with no positive labels; the policy names it as a gap
    assert block["attributes"]["sex"]["excluded"]["true_positive_rate"] == ["nonbinary"]
    assert checks["fairness.evidence"]["status"] == "violated"
    assert "sex/nonbinary" in checks["fairness.evidence"]["message"]
    assert checks["fairness.demographic_parity"]["status"] in ("passed", "violated")


def test_a_block_without_scores_is_missing_evidence_under_its_control(tmp_path: Path) -> None:
    """Without --score the block has no calibration curves. The bundle's README says missing
    evidence is a check violation naming its control, not a schema error: so the decision is a
    `fairness.evidence` violation, and the evidence pack counts it under that check's control."""
    from tenet.audit import AuditLog
    from tenet.compliance.pack import build_pack

    r = run("fairness", "compute", "--predictions", str(PREDICTIONS), "--label", "label",
            "--prediction", "prediction", "--group", "sex", "--format", "json")  # fmt: skip
    block = json.loads(r.stdout)
    assert "calibration" not in block["attributes"]["sex"]
    bundle = tenet.load_bundle(REPO / "policies" / "ai-governance")
    report = {
        "model_id": "churn-model",
        "version": "2.3.1",
        "fairness": {**block, "individual_consistency": 0.95},
    }
    decision = bundle.decide("fairness", report)
    doc = decision.to_dict()
    assert doc["errors"] == []
    evidence = next(c for c in doc["checks"] if c["id"] == "fairness.evidence")
    assert evidence["status"] == "violated"
    assert "sex/female: no calibration curve; sex/male: no calibration curve" in evidence["message"]
    log = AuditLog.open(f"jsonl:///{tmp_path}/audit.jsonl")
    written = [log.record(bundle, decision, report, "ci")]
    pack = build_pack(bundle, "eu-ai-act", written, 0, 4e9, [])
    (art10,) = [c for c in pack.controls if c.id == "eu-ai-act/art-10"]
    assert art10.counts["fairness.evidence"]["violated"] == 1


def test_stdin_bom_blank_lines_and_quoted_newlines() -> None:
    text = '\ufeffy,p,g\n\n1,1,"a\nb"\n0,0,"a\nb"\n\n1,0,c\n'
    out = compute("--predictions", "-", "--label", "y", "--prediction", "p", "--group", "g",
                  stdin=text.encode("utf-8"))  # fmt: skip
    assert out["predictions"]["rows"] == 3
    assert out["predictions"]["file"] == "-"
    assert out["predictions"]["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert list(out["groups"]) == ["a\nb", "c"]


def test_fields_are_kept_exactly_as_written_and_blanks_are_pointed_out(tmp_path: Path) -> None:
    """RFC 4180: a field is its text, blanks included, on both sides and in every column. So
    ` a` and `a ` are groups apart from `a`, and ` 1` is not the positive label; each column
    holding such values gets a warning, rather than being trimmed on one side only."""
    path = write(tmp_path / "p.csv", "label,pred,g\n 1, 1, a\n1 ,1 ,a \n0,0,a\n0,0,b\n1,1,b\n")
    r = run("fairness", "compute", "--predictions", path, "--label", "label",
            "--prediction", "pred", "--group", "g", "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    groups = flat(json.loads(r.stdout))["groups"]
    assert {k: (v["tp"], v["fp"], v["tn"], v["fn"]) for k, v in groups.items()} == {
        " a": (0, 0, 1, 0),
        "a ": (0, 0, 1, 0),
        "a": (0, 0, 1, 0),
        "b": (1, 0, 1, 0),
    }
    for column, values in (("label", '`" 1"`, `"1 "`'), ("pred", '`" 1"`, `"1 "`'),
                           ("g", '`" a"`, `"a "`')):  # fmt: skip
        assert (
            f"warning: column `{column}` has 2 values with blanks around them ({values}); a "
            "field is read exactly as written, so each is a value of its own\n"
            "  = help: remove the blanks from the file if they are not meant\n"
        ) in r.stderr
    clean = write(tmp_path / "q.csv", "label,pred,g\n1,1,a\n0,0,b\n")
    r = run("fairness", "compute", "--predictions", clean, "--label", "label",
            "--prediction", "pred", "--group", "g")  # fmt: skip
    assert r.exit_code == 0 and "blanks" not in r.stderr


# ---- errors -------------------------------------------------------------------------------------


def fails(*args: str, stdin: str | None = None) -> str:
    r = run("fairness", "compute", *args, stdin=stdin)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.startswith("error: ")
    return r.stderr


@pytest.fixture
def csv(tmp_path: Path) -> str:
    return write(tmp_path / "p.csv", "label,prediction,score,sex\n1,1,0.5,f\n0,1,0.25,m\n")


BASE = ("--label", "label", "--prediction", "prediction", "--group", "sex")


def test_a_missing_column_is_named_with_a_suggestion(csv: str) -> None:
    err = fails("--predictions", csv, "--label", "lable", "--prediction", "prediction",
                "--group", "sex")  # fmt: skip
    assert "--label `lable`" in err and "no such column; did you mean `label`?" in err
    err = fails("--predictions", csv, *BASE[:4], "--group", "zip")
    assert "--group `zip`" in err and "its columns are `label`, `prediction`" in err
    err = fails("--predictions", csv, *BASE, "--score", "scores")
    assert "did you mean `score`?" in err


def test_a_column_name_with_blanks_around_it_is_named_as_such(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "label, pred,g\n1,1,a\n")
    err = fails("--predictions", path, "--label", "label", "--prediction", "pred", "--group", "g")
    assert err == (
        f'error: --prediction `pred`: `{path}` has no such column, but has `" pred"`, with '
        "blanks around the name\n"
        "  = help: a CSV field is read exactly as written, header included: remove the blanks "
        "around the commas in the header\n"
    )


def test_a_bad_score_names_its_row(tmp_path: Path) -> None:
    body = 'label,prediction,score,sex\n1,1,0.5,f\n1,1,"0.5\n",f\n'
    path = write(tmp_path / "p.csv", body.replace('"0.5\n"', "1.5"))
    err = fails("--predictions", path, *BASE, "--score", "score")
    assert "line 3 (row 2): the score `1.5` is outside [0, 1]" in err
    path = write(tmp_path / "q.csv", "label,prediction,score,sex\n1,1,high,f\n")
    assert "line 2 (row 1): the score `high` is not a number" in fails(
        "--predictions", path, *BASE, "--score", "score"
    )
    path = write(tmp_path / "r.csv", "label,prediction,score,sex\n1,1,nan,f\n")
    assert "`nan` is not a number" in fails("--predictions", path, *BASE, "--score", "score")


def test_a_file_that_is_not_utf8_names_the_line_and_byte(tmp_path: Path) -> None:
    (tmp_path / "latin1.csv").write_bytes(b"label,prediction,sex\n1,1,f\n1,0,m\n0,1,f\xe9\n")
    err = fails("--predictions", str(tmp_path / "latin1.csv"), *BASE)
    assert "is not UTF-8 text: line 4, column 6 holds the byte 0xe9 (at byte offset 38)" in err
    assert "\n  = help: save the file as UTF-8" in err
    # far past the first read-ahead chunk, and a character split across chunks is fine
    rows = "".join(f"1,{i % 2},\u00e9t\u00e9\n" for i in range(20_000)).encode()
    data = b"label,prediction,sex\n" + rows + b"0,0,\xff\n"
    assert data[(1 << 16) - 1 : (1 << 16) + 1] == "\u00e9".encode()  # split by the 64 KiB read
    (tmp_path / "far.csv").write_bytes(data)
    err = fails("--predictions", str(tmp_path / "far.csv"), *BASE)
    assert f"line 20002, column 5 holds the byte 0xff (at byte offset {len(data) - 2})" in err
    (tmp_path / "cut.csv").write_bytes(b"label,prediction,sex\n1,1,\xc3")
    assert "line 2, column 5 holds the byte 0xc3 (at byte offset 25)" in fails(
        "--predictions", str(tmp_path / "cut.csv"), *BASE
    )
    with pytest.raises(
        FairnessError, match="standard input is not UTF-8 text: line 1, column 6 holds"
    ):
        compute_file("-", label="label", prediction="prediction", groups=["sex"],
                     stdin=io.BytesIO(b"label\xe9,prediction,sex\n"))  # fmt: skip


def test_a_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    for name, encoding in (("le.csv", "utf-16"), ("be.csv", "utf-16-be")):
        text = "label,prediction,sex\n1,1,f\n"
        data = text.encode(encoding)
        if encoding == "utf-16-be":
            data = b"\xfe\xff" + data
        (tmp_path / name).write_bytes(data)
        err = fails("--predictions", str(tmp_path / name), *BASE)
        assert "(at byte offset 0), the start of a UTF-16 byte order mark" in err
        assert "iconv -f utf-16 -t utf-8" in err
    (tmp_path / "latin1.csv").write_bytes(b"label,prediction,sex\n1,1,f\xe9\n")
    assert "iconv -f latin1" in fails("--predictions", str(tmp_path / "latin1.csv"), *BASE)


def test_malformed_files(tmp_path: Path) -> None:
    short = write(tmp_path / "short.csv", "label,prediction,sex\n1,1,f\n1,1\n")
    assert "line 3 (row 2) has 2 fields; the header has 3" in fails("--predictions", short, *BASE)
    empty = write(tmp_path / "empty.csv", "")
    assert "is empty: it needs a header row" in fails("--predictions", empty, *BASE)
    header = write(tmp_path / "header.csv", "label,prediction,sex\n")
    assert "has a header but no rows" in fails("--predictions", header, *BASE)
    twice = write(tmp_path / "twice.csv", "label,prediction,sex,sex\n1,1,f,m\n")
    assert "more than one column `sex`" in fails("--predictions", twice, *BASE)
    (tmp_path / "latin1.csv").write_bytes(b"label,prediction,sex\n1,1,f\xe9\n")
    assert "is not UTF-8 text" in fails("--predictions", str(tmp_path / "latin1.csv"), *BASE)
    assert "cannot read" in fails("--predictions", str(tmp_path / "gone.csv"), *BASE)
    assert "cannot read" in fails("--predictions", str(tmp_path), *BASE)
    assert "given twice" in fails("--predictions", short, *BASE, "--group", "sex")
    same = write(tmp_path / "same.csv", 'label,prediction,a,b\n1,1,"x, y",z\n1,1,x,"y, z"\n')
    err = fails("--predictions", same, *BASE[:4], "--group", "a", "--group", "b")
    assert "have the same name `x, y, z`" in err


def test_missing_options_exit_2(csv: str) -> None:
    r = run("fairness", "compute", "--predictions", csv, "--label", "label")
    assert r.exit_code == 2 and "--prediction" in r.stderr
    r = run("fairness", "compute", "--predictions", csv, *BASE, "--format", "xml")
    assert r.exit_code == 2


def test_the_library_streams_any_row_source() -> None:
    found = compute_rows(iter([["y", "p", "g"], ["1", "1", "a"]]), label="y", prediction="p",
                         groups=["g"])  # fmt: skip
    assert metrics(found)["groups"]["a"]["tp"] == 1
    with pytest.raises(FairnessError, match="cannot read standard input"):
        compute_file("-", label="y", prediction="p", groups=["g"], stdin=_Broken())


class _Broken(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise OSError(5, "Input/output error")


# ---- the property: against a reference written plainly ----------------------------------------


def reference(rows: list[tuple[str, str, tuple[str, ...], int]]) -> dict[str, Any]:
    """Each row: label, prediction, group values, score in thousandths. Positive label "1"."""
    by_group: dict[tuple[str, ...], list[tuple[str, str, tuple[str, ...], int]]] = {}
    for row in rows:
        by_group.setdefault(row[2], []).append(row)

    def counts(rs: list[Any]) -> dict[str, int]:
        return {
            "tp": len([r for r in rs if r[0] == "1" and r[1] == "1"]),
            "fp": len([r for r in rs if r[0] != "1" and r[1] == "1"]),
            "tn": len([r for r in rs if r[0] != "1" and r[1] != "1"]),
            "fn": len([r for r in rs if r[0] == "1" and r[1] != "1"]),
        }

    def rates(c: dict[str, int]) -> dict[str, Fraction | None]:
        n = c["tp"] + c["fp"] + c["tn"] + c["fn"]
        pos, neg = c["tp"] + c["fn"], c["fp"] + c["tn"]
        return {
            "selection_rate": Fraction(c["tp"] + c["fp"], n),
            "true_positive_rate": Fraction(c["tp"], pos) if pos else None,
            "false_positive_rate": Fraction(c["fp"], neg) if neg else None,
        }

    def ece(rs: list[Any]) -> Fraction:
        total = Fraction(0)
        for b in range(10):
            in_bin = [r for r in rs if min(r[3] // 100, 9) == b]
            if in_bin:
                mean_score = sum(Fraction(r[3], 1000) for r in in_bin) / len(in_bin)
                positive = Fraction(len([r for r in in_bin if r[0] == "1"]), len(in_bin))
                total += Fraction(len(in_bin), len(rs)) * abs(mean_score - positive)
        return total

    overall = rates(counts(rows))
    group_rates = {g: rates(counts(rs)) for g, rs in by_group.items()}
    out: dict[str, Any] = {
        "groups": {
            ", ".join(g): {**counts(rs), "ece": ece(rs), **group_rates[g]}
            for g, rs in by_group.items()
        },
        "overall_ece": ece(rows),
    }
    for method in ("between_groups", "to_overall"):
        for rate in ("selection_rate", "true_positive_rate", "false_positive_rate"):
            values = [r[rate] for r in group_rates.values() if r[rate] is not None]
            o = overall[rate]
            diff: Fraction | None
            ratio: Fraction | None
            if not values:
                diff = ratio = None
            elif method == "between_groups":
                diff = max(values) - min(values)
                ratio = min(values) / max(values) if max(values) != 0 else None
            else:
                assert o is not None
                diff = max(abs(v - o) for v in values)
                if o == 0:
                    ratio = None
                else:
                    ratio = min(v / o if v / o <= 1 else o / v for v in values)
            out[(method, rate, "difference")] = diff
            out[(method, rate, "ratio")] = ratio
    return out


ROW = st.tuples(
    st.sampled_from(["0", "1", "2"]),
    st.sampled_from(["0", "1"]),
    st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["u", "v"])),
    st.integers(0, 1000),
)


def _f(x: Fraction | None) -> float | None:
    return None if x is None else float(x)


@settings(max_examples=300, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=40), st.booleans())
def test_matches_the_reference(raw: list[Any], two_columns: bool) -> None:
    rows = [(y, p, g if two_columns else g[:1], s) for y, p, g, s in raw]
    header = ["label", "prediction", "g1", "g2", "score"]
    csv_rows = [header] + [[y, p, g[0], g[1], str(s / 1000)] for y, p, g, s in raw]
    groups = ["g1", "g2"] if two_columns else ["g1"]
    out = metrics(
        compute_rows(
            iter(csv_rows), label="label", prediction="prediction", groups=groups, score="score"
        )
    )
    ref = reference(rows)
    assert set(out["groups"]) == set(ref["groups"])
    for name, want in ref["groups"].items():
        got = out["groups"][name]
        assert {k: got[k] for k in ("tp", "fp", "tn", "fn")} == {
            k: want[k] for k in ("tp", "fp", "tn", "fn")
        }
        for rate in ("selection_rate", "true_positive_rate", "false_positive_rate"):
            assert got[rate] == _f(want[rate])
        assert got["expected_calibration_error"] == pytest.approx(float(want["ece"]), abs=1e-9)
    assert out["overall"]["expected_calibration_error"] == pytest.approx(
        float(ref["overall_ece"]), abs=1e-9
    )
    for method in ("between_groups", "to_overall"):
        m = out[method]
        assert m["demographic_parity_difference"] == _f(
            ref[(method, "selection_rate", "difference")]
        )
        assert m["demographic_parity_ratio"] == _f(ref[(method, "selection_rate", "ratio")])
        for kind in ("difference", "ratio"):
            tpr = ref[(method, "true_positive_rate", kind)]
            fpr = ref[(method, "false_positive_rate", kind)]
            assert m[f"true_positive_rate_{kind}"] == _f(tpr)
            assert m[f"false_positive_rate_{kind}"] == _f(fpr)
            if tpr is None or fpr is None:
                want_eo = {"worst_case": None, "mean": None}
            else:
                worst = max(tpr, fpr) if kind == "difference" else min(tpr, fpr)
                want_eo = {"worst_case": float(worst), "mean": float((tpr + fpr) / 2)}
            assert m[f"equalized_odds_{kind}"] == want_eo
    undefined_tpr = sorted(n for n, g in ref["groups"].items() if g["true_positive_rate"] is None)
    assert out["excluded"]["true_positive_rate"] == undefined_tpr


def test_a_written_file_gives_what_the_rows_give(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(PREDICTIONS.read_text("utf-8"), "utf-8")
    from_file = metrics(compute_file(str(path), label="label", prediction="prediction",
                                     groups=["sex"], score="score"))  # fmt: skip
    rows = [line.split(",") for line in PREDICTIONS.read_text("utf-8").splitlines()]
    from_rows = metrics(compute_rows(iter(rows), label="label", prediction="prediction",
                                     groups=["sex"], score="score"))  # fmt: skip
    assert from_file == from_rows
    assert yaml.safe_load(yaml.safe_dump(from_file)) == from_file


QUOTES_HELP = (
    '  = help: quote a field whole ("a, b") and write a quote inside it twice ("say ""hi"""), '
    "as RFC 4180 has it\n"
)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            'label,prediction,sex\n1,1,"f\n',
            "line 2: a quoted field is not closed before the end of the file\n" + QUOTES_HELP,
        ),
        (
            'label,prediction,sex\n1,1,f\n0,0,"m"x\n',
            "line 3: text follows the closing quote of a field\n" + QUOTES_HELP,
        ),
        (
            "label,prediction,sex\n1,1," + "f" * 200_000 + "\n",
            "line 2: a field is longer than 131072 characters\n  = help: a label, prediction, "
            "group or score is short: look for a quote left open, which takes in the lines "
            "after it, or a column written without separators\n",
        ),
    ],
)
def test_a_csv_that_breaks_rfc_4180_quoting_is_refused_by_line(
    tmp_path: Path, text: str, said: str
) -> None:
    path = write(tmp_path / "p.csv", text)
    assert fails("--predictions", path, *BASE) == f"error: `{path}` {said}"


def test_quoted_fields_are_read_as_rfc_4180_has_them(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", 'label,prediction,sex\n1,1,"a, b"\n0,0,"say ""hi"""\n')
    r = run("fairness", "compute", "--predictions", path, *BASE, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert set(json.loads(r.stdout)["attributes"]["sex"]["groups"]) == {"a, b", 'say "hi"'}
