"""The runtime: values, operators, built-ins, evidence tracing and evaluation."""
