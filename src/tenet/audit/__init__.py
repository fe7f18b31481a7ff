"""The audit trail: decisions and governance events recorded as hash-chained records per
retention class, with verification, pruning, queries, access review and reports."""

from tenet.audit.log import (
    AuditLog,
    BatchWriter,
    Verification,
    check_chains,
    default_actor,
    open_log,
    prune,
    verify,
)
from tenet.audit.records import ChainProblem, verify_chain
from tenet.audit.stores import AuditStore, StoreError, open_store

__all__ = [
    "AuditLog",
    "AuditStore",
    "BatchWriter",
    "ChainProblem",
    "StoreError",
    "Verification",
    "check_chains",
    "default_actor",
    "open_log",
    "open_store",
    "prune",
    "verify",
    "verify_chain",
]
