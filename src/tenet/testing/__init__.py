"""Policy tests: expectations shared with the conformance suite, the `tenet test` runner,
coverage, and reports (text, JSON, JUnit XML)."""
