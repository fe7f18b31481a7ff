"""Group fairness metrics from a CSV of predictions, in one streaming pass, defined as Fairlearn."""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from operator import itemgetter
from typing import IO, Any

from tenet.escape import printable
from tenet.utf8 import NotUtf8, Utf8Checker
from tenet.wording import count

__all__ = [
    "BINS",
    "FairnessError",
    "GroupCounts",
    "Metrics",
    "compute_file",
    "compute_rows",
    "metrics",
    "padded",
]

BINS = 10  # equal-width score bins over [0, 1] for the expected calibration error
MAX_VALUES_KEPT = 50  # distinct label and prediction values kept, to warn about odd labels


class FairnessError(ValueError):
    """A predictions file that cannot be read as asked: a missing column, a bad score, ...
    ``help`` is advice on how to fix it, when there is some to give."""

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.help = help


@dataclass
class GroupCounts:
    """One group's confusion counts and, with scores, per-bin sums for calibration."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    bin_n: list[int] = field(default_factory=lambda: [0] * BINS)
    bin_score: list[float] = field(default_factory=lambda: [0.0] * BINS)
    bin_positive: list[int] = field(default_factory=lambda: [0] * BINS)

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    def add(self, other: GroupCounts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.tn += other.tn
        self.fn += other.fn
        for i in range(BINS):
            self.bin_n[i] += other.bin_n[i]
            self.bin_score[i] += other.bin_score[i]
            self.bin_positive[i] += other.bin_positive[i]


@dataclass
class Metrics:
    """What one pass over the predictions found."""

    group_columns: list[str]
    groups: dict[tuple[str, ...], GroupCounts]
    rows: int
    with_score: bool
    sha256: str | None = None
    label_values: set[str] = field(default_factory=set)
    prediction_values: set[str] = field(default_factory=set)


class _HashingReader(io.RawIOBase):
    """A binary stream that hashes what is read through it, and checks that it is UTF-8.

    The check is made here, on the bytes in file order, because the text layer above
    decodes read-ahead chunks: its error knows neither the line (the CSV reader has not
    reached it) nor the byte in the file. Raises `NotUtf8` at the first bad byte."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.hash = hashlib.sha256()
        self._utf8 = Utf8Checker()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        self._utf8.feed(data, final=not data)
        buffer[:n] = data
        self.hash.update(data)
        return n


def padded(text: str) -> bool:
    """Whether a CSV field has blanks at its start or end. Fields are kept exactly as written
    (RFC 4180), so ` a` is not `a`: such values are pointed out rather than silently trimmed."""
    return text != text.strip()


def _column(header: list[str], name: str, option: str, source: str) -> int:
    if header.count(name) > 1:
        raise FairnessError(f"{source} has more than one column `{name}`")
    if name in header:
        return header.index(name)
    blanks = [h for h in header if padded(h) and h.strip() == name]
    if blanks:
        raise FairnessError(
            f'{option} `{name}`: {source} has no such column, but has `"{printable(blanks[0])}"`, '
            "with blanks around the name",
            "a CSV field is read exactly as written, header included: remove the blanks "
            "around the commas in the header",
        )
    close = difflib.get_close_matches(name, header, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else f"; its columns are {_list(header)}"
    raise FairnessError(f"{option} `{name}`: {source} has no such column{hint}")


def _list(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "none"


def compute_rows(
    rows: Iterable[list[str]],
    *,
    label: str,
    prediction: str,
    groups: list[str],
    score: str | None = None,
    pos_label: str = "1",
    source: str = "the predictions",
    line_of: Any = None,
) -> Metrics:
    """Count each group's tp, fp, tn and fn (and score bins) over CSV rows, the first being
    the header. ``line_of()`` gives the current line number for error messages."""
    it = iter(rows)
    try:
        header = next(it)
    except StopIteration:
        raise FairnessError(f"{source} is empty: it needs a header row") from None
    if len(set(groups)) != len(groups):
        raise FairnessError("a --group column is given twice")
    li = _column(header, label, "--label", source)
    pi = _column(header, prediction, "--prediction", source)
    gi = [_column(header, g, "--group", source) for g in groups]
    si = _column(header, score, "--score", source) if score is not None else None
    width = len(header)
    found: dict[tuple[str, ...], GroupCounts] = {}
    label_values: set[str] = set()
    prediction_values: set[str] = set()
    n_rows = 0
    single = gi[0] if len(gi) == 1 else None
    key_of = itemgetter(*gi)  # a tuple for several columns
    for row in it:
        if not row:
            continue  # a blank line
        n_rows += 1
        if len(row) != width:
            where = _where(line_of, n_rows)
            raise FairnessError(
                f"{source} {where} has {count(len(row), 'field')}; the header has {width}"
            )
        key = (row[single],) if single is not None else key_of(row)
        c = found.get(key)
        if c is None:
            c = found[key] = GroupCounts()
        y, p = row[li], row[pi]
        if y not in label_values and len(label_values) < MAX_VALUES_KEPT:
            label_values.add(y)
        if p not in prediction_values and len(prediction_values) < MAX_VALUES_KEPT:
            prediction_values.add(p)
        positive = y == pos_label
        if p == pos_label:
            if positive:
                c.tp += 1
            else:
                c.fp += 1
        elif positive:
            c.fn += 1
        else:
            c.tn += 1
        if si is not None:
            text = row[si]
            try:
                s = float(text)
            except ValueError:
                s = math.nan
            if not 0.0 <= s <= 1.0:
                where = _where(line_of, n_rows)
                what = "is not a number" if math.isnan(s) else "is outside [0, 1]"
                raise FairnessError(f"{source} {where}: the score `{text}` {what}")
            b = int(s * BINS)
            if b == BINS:
                b = BINS - 1
            c.bin_n[b] += 1
            c.bin_score[b] += s
            if positive:
                c.bin_positive[b] += 1
    return Metrics(
        group_columns=list(groups),
        groups=found,
        rows=n_rows,
        with_score=score is not None,
        label_values=label_values,
        prediction_values=prediction_values,
    )


def _where(line_of: Any, row: int) -> str:
    return f"line {line_of()} (row {row})" if line_of is not None else f"row {row}"


def compute_file(
    path: str,
    *,
    label: str,
    prediction: str,
    groups: list[str],
    score: str | None = None,
    pos_label: str = "1",
    stdin: IO[bytes] | None = None,
) -> Metrics:
    """Stream a CSV file (UTF-8, header first; `-` reads ``stdin``, by default the process's
    standard input) and count it."""
    source = "standard input" if path == "-" else f"`{path}`"
    try:
        if path == "-":
            raw: IO[bytes] = stdin if stdin is not None else sys.stdin.buffer
        else:
            raw = open(path, "rb")  # closed in the `finally` below
    except OSError as err:
        raise FairnessError(f"cannot read {source}: {err.strerror or err}") from None
    hashing = _HashingReader(raw)
    text = io.TextIOWrapper(io.BufferedReader(hashing, 1 << 16), "utf-8-sig", newline="")
    # RFC 4180: a field is its text exactly, blanks included; labels and groups are compared as
    # text, so trimming one side of a field would silently merge or split them
    reader = csv.reader(text, strict=True)  # a quote left open or text after one: an error
    try:
        result = compute_rows(
            reader,
            label=label,
            prediction=prediction,
            groups=groups,
            score=score,
            pos_label=pos_label,
            source=source,
            line_of=lambda: reader.line_num,
        )
        while hashing.readinto(bytearray(1 << 16)):
            pass  # the digest covers the whole file, even after a last blank line
    except NotUtf8 as bad:
        raise FairnessError(
            f"{source} is not UTF-8 text: {bad.where()}",
            'save the file as UTF-8 ("CSV UTF-8" in a spreadsheet), or convert it, e.g. '
            + bad.iconv("IN.csv > OUT.csv"),
        ) from None
    except csv.Error as err:
        message, help = _csv_problem(str(err))
        raise FairnessError(f"{source} line {reader.line_num}: {message}", help) from None
    except OSError as err:
        raise FairnessError(f"cannot read {source}: {err.strerror or err}") from None
    finally:
        if path != "-":
            raw.close()
    result.sha256 = hashing.hash.hexdigest()
    return result


_QUOTES_HELP = (
    'quote a field whole ("a, b") and write a quote inside it twice ("say ""hi"""), as RFC '
    "4180 has it"
)


def _csv_problem(text: str) -> tuple[str, str | None]:
    """Python's csv complaint in our words, with advice."""
    if text.startswith("unexpected end of data"):
        return "a quoted field is not closed before the end of the file", _QUOTES_HELP
    if "expected after" in text:
        return "text follows the closing quote of a field", _QUOTES_HELP
    if text.startswith("field larger than field limit"):
        limit = csv.field_size_limit()
        return (
            f"a field is longer than {limit} characters",
            "a label, prediction, group or score is short: look for a quote left open, which "
            "takes in the lines after it, or a column written without separators",
        )
    return text[:1].lower() + text[1:], None


# ---- the metrics --------------------------------------------------------------------------------
#
# Definitions as Fairlearn's (https://fairlearn.org/main/api_reference/generated/
# fairlearn.metrics.MetricFrame.html, `difference` and `ratio`; and the docstrings of
# fairlearn.metrics.demographic_parity_difference/_ratio and equalized_odds_difference/_ratio):
#   selection rate (tp + fp) / n; TPR tp / (tp + fn); FPR fp / (fp + tn)
#   between_groups difference: max - min over the groups; ratio: min / max
#   to_overall difference: max |group - overall|; ratio: min over groups of group / overall,
#     inverted when above 1 (so at most 1)
#   equalized odds: of the TPR and FPR differences (ratios), the larger difference (smaller
#     ratio) for `worst_case`, their mean for `mean`
# A group with no positive labels has no TPR and one with no negative labels no FPR: such a
# group is left out of that rate's comparisons and listed under `excluded` (Fairlearn would
# carry a NaN). Rates are exact fractions until they are printed.

RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")
_SHORT = {
    "selection_rate": "selection rate (demographic parity)",
    "true_positive_rate": "true positive rate (equalized odds)",
    "false_positive_rate": "false positive rate (equalized odds)",
}


def _rates(c: GroupCounts) -> dict[str, Fraction | None]:
    return {
        "selection_rate": Fraction(c.tp + c.fp, c.n) if c.n else None,
        "true_positive_rate": Fraction(c.tp, c.tp + c.fn) if c.tp + c.fn else None,
        "false_positive_rate": Fraction(c.fp, c.fp + c.tn) if c.fp + c.tn else None,
    }


def _ece(c: GroupCounts) -> float | None:
    """Σ over bins of |bin n|/N · |mean score − fraction positive| = Σ |Σ score − positives| / N."""
    if not c.n:
        return None
    ece = math.fsum(abs(c.bin_score[i] - c.bin_positive[i]) for i in range(BINS)) / c.n
    return round(ece, 12)  # the float sums of scores carry noise well below that


def _difference(
    values: list[Fraction], overall: Fraction | None, method: str, rate: str
) -> tuple[Fraction | None, str | None]:
    if not values:
        return None, f"no group has a {rate}"
    if method == "between_groups":
        return max(values) - min(values), None
    assert overall is not None  # some group has the rate, so the whole data has it
    return max(abs(v - overall) for v in values), None


def _ratio(
    values: list[Fraction], overall: Fraction | None, method: str, rate: str
) -> tuple[Fraction | None, str | None]:
    if not values:
        return None, f"no group has a {rate}"
    if method == "between_groups":
        top = max(values)
        return (min(values) / top, None) if top else (None, f"every group's {rate} is 0")
    if not overall:
        return None, f"the overall {rate} is 0"
    return min(min(v / overall, overall / v) if v else Fraction(0) for v in values), None


def _num(x: Fraction | None) -> float | None:
    return None if x is None else float(x)


def _agg(a: Fraction | None, b: Fraction | None, agg: str, pick: Any) -> float | None:
    if a is None or b is None:
        return None
    return float(pick(a, b) if agg == "worst_case" else (a + b) / 2)


def _name(key: tuple[str, ...]) -> str:
    return ", ".join(key)


def metrics(result: Metrics) -> dict[str, Any]:
    """The block a registration embeds under `fairness:`: per group the counts, rates and
    calibration error, the overall figures, and the disparities by both methods."""
    names: dict[str, tuple[str, ...]] = {}
    for key in result.groups:
        name = _name(key)
        if name in names:
            raise FairnessError(
                f"groups {list(names[name])} and {list(key)} have the same name `{name}`"
            )
        names[name] = key
    overall_counts = GroupCounts()
    for c in result.groups.values():
        overall_counts.add(c)
    overall_rates = _rates(overall_counts)
    groups_out: dict[str, Any] = {}
    rates: dict[str, list[Fraction]] = {r: [] for r in RATES}
    excluded: dict[str, list[str]] = {"true_positive_rate": [], "false_positive_rate": []}
    for name in sorted(names):
        c = result.groups[names[name]]
        r = _rates(c)
        entry: dict[str, Any] = {"n": c.n, "tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn}
        if len(result.group_columns) > 1:
            entry["values"] = dict(zip(result.group_columns, names[name], strict=True))
        entry.update({k: _num(v) for k, v in r.items()})
        if result.with_score:
            entry["expected_calibration_error"] = _ece(c)
        group_notes = []
        for rate, what in (("true_positive_rate", "positive"), ("false_positive_rate", "negative")):
            value = r[rate]
            if value is None:
                excluded[rate].append(name)
                group_notes.append(
                    f"no {what} labels: {rate} is undefined, and the group is left out of "
                    f"the {rate} comparisons"
                )
            else:
                rates[rate].append(value)
        selection = r["selection_rate"]
        assert selection is not None  # a group has at least one row
        rates["selection_rate"].append(selection)
        if group_notes:
            entry["note"] = "; ".join(group_notes)
        groups_out[name] = entry
    overall: dict[str, Any] = {
        "n": overall_counts.n,
        "tp": overall_counts.tp,
        "fp": overall_counts.fp,
        "tn": overall_counts.tn,
        "fn": overall_counts.fn,
        **{k: _num(v) for k, v in overall_rates.items()},
    }
    if result.with_score:
        overall["expected_calibration_error"] = _ece(overall_counts)
    out: dict[str, Any] = {
        "rows": result.rows,
        "group_by": list(result.group_columns),
        "groups": groups_out,
        "overall": overall,
    }
    if result.with_score:
        # the bins themselves, so that a policy can recompute and check the calibration
        out["calibration"] = {
            name: [
                {
                    "count": c.bin_n[i],
                    "score_sum": round(c.bin_score[i], 9),
                    "positives": c.bin_positive[i],
                }
                for i in range(BINS)
            ]
            for name, c in ((n, result.groups[names[n]]) for n in sorted(names))
        }
    notes: list[str] = []
    for method in ("between_groups", "to_overall"):
        diff: dict[str, Fraction | None] = {}
        ratio: dict[str, Fraction | None] = {}
        for rate in RATES:
            diff[rate], why = _difference(rates[rate], overall_rates[rate], method, rate)
            if why:
                notes.append(f"{method}: the {_SHORT[rate]} difference is null: {why}")
            ratio[rate], why = _ratio(rates[rate], overall_rates[rate], method, rate)
            if why:
                notes.append(f"{method}: the {_SHORT[rate]} ratio is null: {why}")
        tpr_d, fpr_d = diff["true_positive_rate"], diff["false_positive_rate"]
        tpr_r, fpr_r = ratio["true_positive_rate"], ratio["false_positive_rate"]
        out[method] = {
            "demographic_parity_difference": _num(diff["selection_rate"]),
            "demographic_parity_ratio": _num(ratio["selection_rate"]),
            "equalized_odds_difference": {
                "worst_case": _agg(tpr_d, fpr_d, "worst_case", max),
                "mean": _agg(tpr_d, fpr_d, "mean", max),
            },
            "equalized_odds_ratio": {
                "worst_case": _agg(tpr_r, fpr_r, "worst_case", min),
                "mean": _agg(tpr_r, fpr_r, "mean", min),
            },
            "true_positive_rate_difference": _num(tpr_d),
            "false_positive_rate_difference": _num(fpr_d),
            "true_positive_rate_ratio": _num(tpr_r),
            "false_positive_rate_ratio": _num(fpr_r),
        }
    out["excluded"] = excluded
    if notes:
        out["notes"] = notes
    return out
