"""Compliance evidence: framework catalogues, the controls × checks matrix, and the evidence
pack an auditor asks for."""
