"""CI reports of `tenet eval`: JUnit XML, SARIF 2.1.0 and GitHub workflow annotations."""

from __future__ import annotations

from tenet.ci.github import render_github
from tenet.ci.junit import render_junit
from tenet.ci.run import FAIL_ON, Evaluated, fails, findings, render_text_all
from tenet.ci.sarif import render_sarif

__all__ = [
    "FAIL_ON",
    "Evaluated",
    "fails",
    "findings",
    "render_github",
    "render_junit",
    "render_sarif",
    "render_text_all",
]
