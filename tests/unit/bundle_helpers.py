"""Helpers shared by the bundle tests: a small governance bundle, and hand-made archives."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from tests.conftest import write_bundle

MANIFEST = """\
name: ai-governance
version: 1.4.0
revision: f7a3b2c
description: AI governance policies
requires: ">=0.1.0"
inputs:
  deploy: schemas/deployment_request.schema.json
"""

STAGING = """\
package deploy.staging

import data.thresholds as t

# the floor comes from data
require accuracy_floor blocking {
    input.evaluation.accuracy >= t.staging.min_accuracy
} message "accuracy {input.evaluation.accuracy} is below {t.staging.min_accuracy}"

require model_card warning {
    input.model.model_card_url
} message "link a model card"
"""

ACCESS = """\
package access

default allow = false

allow if {
    input.user.role == "admin"
}
"""

SCHEMA = """\
{
  "type": "object",
  "required": ["model", "evaluation"],
  "properties": {
    "model": {"type": "object", "properties": {"model_id": {"type": "string"}}},
    "evaluation": {
      "type": "object",
      "properties": {"accuracy": {"type": "number"}, "latency_p99": {"type": "number"}}
    }
  }
}
"""

FILES = {
    "tenet.yaml": MANIFEST,
    "deploy/staging/gates.tenet": STAGING,
    "access/rules/models.tenet": ACCESS,
    "data.yaml": "owners: [ml-platform]\n",
    "thresholds/data.yaml": "staging:\n  min_accuracy: 0.85\n",
    "data.json": '{"thresholds": {"prod": {"min_accuracy": 0.9}}}',
    "schemas/deployment_request.schema.json": SCHEMA,
    "tests/deploy_test.yaml": "cases: []\n",
}

PASSING = {
    "model": {"model_id": "m1", "model_card_url": "https://x"},
    "evaluation": {"accuracy": 0.9},
}


def make_bundle(root: Path, files: dict[str, str] | None = None, **overrides: str | None) -> Path:
    """The standard bundle at `root`, with files replaced (or removed, when None)."""
    merged: dict[str, str | None] = {**(FILES if files is None else files), **overrides}
    return write_bundle(root, {k: v for k, v in merged.items() if v is not None})


def tar_gz(entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    """A gzip-compressed tar of hand-made entries: (name, content) pairs or raw TarInfo."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            if isinstance(e, tuple):
                info = tarfile.TarInfo(e[0])
                info.size = len(e[1])
                tar.addfile(info, io.BytesIO(e[1]))
            else:
                tar.addfile(e)
    return gzip.compress(raw.getvalue())


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info
