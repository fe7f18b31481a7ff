"""`tenet fairness compute`: the fairness block of a model registration, from a predictions CSV."""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

from tenet.cli_common import binary_stdin
from tenet.cli_common import fail as _fail
from tenet.escape import CONTROL, printable
from tenet.fairness import FairnessError, Metrics, compute_file, metrics, padded
from tenet.wording import count
from tenet.yamlutil import JsonSafeLoader

__all__ = ["fairness"]


def _blank_warnings(found: Metrics, label: str, prediction: str) -> list[str]:
    """Values with blanks around them, in the label, prediction and group columns: they are
    kept as written, so ` 1` is not the positive label and `a ` is a group apart from `a`."""
    seen: dict[str, set[str]] = {label: set(found.label_values)}
    seen.setdefault(prediction, set()).update(found.prediction_values)
    for key in found.groups:
        for column, value in zip(found.group_columns, key, strict=True):
            seen.setdefault(column, set()).add(value)
    out = []
    for column, values in seen.items():
        if odd := sorted(v for v in values if padded(v)):
            listed = ", ".join(f'`"{printable(v)}"`' for v in odd[:10])
            out.append(
                f"column `{column}` has {count(len(odd), 'value')} with blanks around "
                f"{'it' if len(odd) == 1 else 'them'} ({listed}); a field is read exactly as "
                "written, so each is a value of its own"
                "\n  = help: remove the blanks from the file if they are not meant"
            )
    return out


def _warnings(found: Metrics, label: str, prediction: str, pos_label: str) -> list[str]:
    """Labels that look mistaken: a positive label never seen, or more than two classes."""
    out = _blank_warnings(found, label, prediction)
    for column, values in ((label, found.label_values), (prediction, found.prediction_values)):
        shown = ", ".join(f"`{v}`" for v in sorted(values)[:10])
        if found.rows and pos_label not in values:
            out.append(
                f"no row has `{pos_label}` in column `{column}` (values seen: {shown}); "
                f"every row counts as negative there. Is --pos-label right?"
            )
        elif len(others := values - {pos_label}) > 1:
            listed = ", ".join(f"`{v}`" for v in sorted(others)[:10])
            out.append(
                f"column `{column}` has {len(others)} values besides `{pos_label}` ({listed}); "
                "all of them count as negative"
            )
    return out


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order given, list items indented under their key.

    A string is left plain only when it reads back as that string both under YAML 1.1 (the
    rules PyYAML's own resolvers know) and under the YAML 1.2 core rules that Tenet reads
    inputs with: `1e3` and `0o17` are numbers only in 1.2, `yes` and `1_000` only in 1.1.
    The block is pasted into a registration, so a group named `0o17` must stay a string."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


for _first, _resolvers in JsonSafeLoader.yaml_implicit_resolvers.items():
    for _tag, _pattern in _resolvers:
        _Dumper.add_implicit_resolver(_tag, _pattern, [_first])


def _represent_str(dumper: _Dumper, text: str) -> yaml.ScalarNode:
    # PyYAML writes NEL and the line and paragraph separators raw in a single-quoted scalar,
    # where reading folds them into a space; in double quotes every control character and
    # break is an escape (`\N`, `\t`) and reads back as itself
    style = '"' if CONTROL.search(text) or "\ufeff" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def _to_yaml(block: dict[str, Any]) -> str:
    return yaml.dump(
        block,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 16,  # a note stays on one line
    )


@click.group()
def fairness() -> None:
    """Fairness metrics for model registrations."""


@fairness.command()
@click.option(
    "--predictions",
    "path",
    required=True,
    help="CSV with a header row (UTF-8), one prediction per row; - reads standard input.",
)
@click.option("--label", required=True, help="Column of the true labels.")
@click.option("--prediction", required=True, help="Column of the predicted labels.")
@click.option(
    "--group",
    "groups",
    required=True,
    multiple=True,
    help="Column of a sensitive feature; repeat it to group by several columns together.",
)
@click.option(
    "--score", default=None, help="Column of predicted probabilities in [0, 1] (adds ECE)."
)
@click.option(
    "--pos-label",
    default="1",
    show_default=True,
    help="The positive class, compared as text with labels and predictions.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Output format.",
)
def compute(
    path: str,
    label: str,
    prediction: str,
    groups: tuple[str, ...],
    score: str | None,
    pos_label: str,
    fmt: str,
) -> None:
    """Stream a predictions CSV and print the `fairness:` block a registration embeds: per
    group the counts (tp, fp, tn, fn), selection rate, TPR, FPR (and the expected calibration
    error with --score), and the demographic parity and equalized odds differences and ratios
    between groups and to the overall figures, as Fairlearn defines them."""
    try:
        found = compute_file(
            path,
            label=label,
            prediction=prediction,
            groups=list(groups),
            score=score,
            pos_label=pos_label,
            stdin=binary_stdin() if path == "-" else None,
        )
        block = metrics(found)
    except FairnessError as err:
        _fail(str(err) + (f"\n  = help: {err.help}" if err.help else ""))
    if found.rows == 0:
        _fail(f"`{path}` has a header but no rows")
    for warning in _warnings(found, label, prediction, pos_label):
        click.echo(f"warning: {warning}", err=True)
    # a registration embeds this under `fairness:`; policies read
    # `fairness.attributes.<attribute>.groups` (and `.calibration`)
    block = {
        "attributes": {"+".join(groups): {k: v for k, v in block.items() if k != "rows"}},
        "source": {
            "predictions": {"file": path, "sha256": found.sha256, "rows": found.rows},
            "label": label,
            "prediction": prediction,
            "positive_label": pos_label,
            **({"score": score} if score is not None else {}),
        },
    }
    if fmt == "json":
        click.echo(json.dumps(block, indent=2, ensure_ascii=False))
    else:
        click.echo(_to_yaml(block), nl=False)
