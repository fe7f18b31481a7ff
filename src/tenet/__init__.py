"""Tenet: a policy-as-code engine for AI governance, with an explanation for every decision.

import tenet
bundle = tenet.load_bundle("policies/ai-governance")
decision = bundle.decide("deploy.staging", input_doc)
decision.allowed, decision.to_dict()
"""

from tenet.bundle import Bundle, ReadLimits, load_bundle
from tenet.compiler import CompileOptions
from tenet.decision import Decision
from tenet.diagnostics import Diagnostic, PolicyError, QueryError
from tenet.runtime.evaluate import Limits

__version__ = "0.1.0"

__all__ = [
    "Bundle",
    "CompileOptions",
    "Decision",
    "Diagnostic",
    "Limits",
    "PolicyError",
    "QueryError",
    "ReadLimits",
    "__version__",
    "load_bundle",
]
