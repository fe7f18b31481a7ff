"""Retention classes are checked when the bundle loads: a mistake in them would keep records
forever, or let them be pruned early, without a word."""

from __future__ import annotations

from pathlib import Path

import pytest

import tenet
from tests.conftest import write_bundle

GOOD = """default_class: misc
classes:
  misc: {keep_for: 30d, description: everything else}
  loans: {keep_for: 10d, query_prefixes: [lending]}
  cfg: {keep_for: 400d, events: [configuration_change]}
  failures: {keep_for: 5d, outcomes: [error], events: [error]}
"""


def load(tmp_path: Path, retention: str) -> tenet.Bundle:
    root = write_bundle(
        tmp_path / "b",
        {
            "tenet.yaml": "name: b\nversion: 1.0.0\n",
            "lending/p.tenet": "package lending\nallow = true\n",
            "retention/data.yaml": retention,
        },
    )
    return tenet.load_bundle(root)


def test_good_classes_load(tmp_path: Path) -> None:
    load(tmp_path, GOOD)


@pytest.mark.parametrize(
    "old, new, message, help",
    [
        ("keep_for: 10d,", "keep_for: forever,", "`keep_for` is `forever`, not a duration", "90d"),
        ("keep_for: 10d,", "keep_for: 10days,", "`keep_for` is `10days`", "90d"),
        ("keep_for: 10d,", "keep_for: -10d,", "`keep_for` is `-10d`", "90d"),
        ("[lending]", "lending", "`query_prefixes` must be a list", "[lending]"),
        ("default_class: misc", "default_class: mics", "is `mics`, which is not a class", "`misc`"),
        ("outcomes: [error]", "outcomes: [errors]", "`errors` is not an outcome", "`error`"),
        ("events: [configuration_change]", "events: [config]", "`config` is not an event", ""),
        ("{keep_for: 30d,", "{keep_for: 30d, keepfor: 2d,", "unknown key `keepfor`", "keep_for"),
        ("classes:\n", "clases: {}\nclasses:\n", "unknown key `clases`", "classes"),
    ],
)
def test_a_mistake_stops_the_bundle_naming_the_key(
    tmp_path: Path, old: str, new: str, message: str, help: str
) -> None:
    assert old in GOOD
    with pytest.raises(tenet.PolicyError) as info:
        load(tmp_path, GOOD.replace(old, new, 1))
    (d,) = info.value.diagnostics
    assert d.code == "retention" and message in d.message and d.path == "retention/data.yaml"
    assert help in (d.help or "")


def test_classes_that_are_not_a_mapping_stop_the_bundle(tmp_path: Path) -> None:
    with pytest.raises(tenet.PolicyError, match=r"`data\.retention\.classes` must be a mapping"):
        load(tmp_path, "classes: [a, b]\n")


def test_data_named_retention_without_classes_is_the_policy_s_own(tmp_path: Path) -> None:
    load(tmp_path, "years: 7\n")


@pytest.mark.parametrize(
    "text, message, help",
    [
        # misspelt, with no correct key beside it: every record would be kept forever
        (GOOD.replace("classes:", "clases:"), "unknown key `clases`", "`classes`"),
        (GOOD.replace("default_class:", "defaultclass:").replace("classes:", "klasses:"),
         "unknown key", "did you mean"),
        # the docs' own file, written with a top `retention:` key: one level too deep
        ("retention:\n" + "".join("  " + line + "\n" for line in GOOD.splitlines()),
         "holds `retention`", "drop its top `retention:` key"),
    ],
)  # fmt: skip
def test_classes_misspelt_or_too_deep_stop_the_bundle(
    tmp_path: Path, text: str, message: str, help: str
) -> None:
    with pytest.raises(tenet.PolicyError) as info:
        load(tmp_path, text)
    d = info.value.diagnostics[0]
    assert d.code == "retention" and message in d.message and help in (d.help or "")
