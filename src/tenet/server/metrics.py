"""Prometheus metrics of the sidecar: decisions by query and outcome, their latency, requests by
route and status, the bundle's reloads and the decision log's writes, in the text exposition
format."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenet.server.audit import SidecarAudit
    from tenet.server.cache import DecisionCache
    from tenet.server.reload import WatchStatus

__all__ = ["BUCKETS", "Metrics"]

# seconds: a decision takes tens of microseconds, a large package query milliseconds
BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0


class Metrics:
    """Counters kept by the event loop's thread; the bundle's figures are read from the watcher
    when the metrics are rendered."""

    def __init__(self) -> None:
        self.decisions: dict[tuple[str, str, str], int] = {}  # (endpoint, query, outcome)
        self.requests: dict[tuple[str, int], int] = {}  # (route, status)
        self.latency: dict[str, _Histogram] = {}  # endpoint -> histogram
        self.in_flight = 0

    def decided(self, endpoint: str, query: str, outcome: str) -> None:
        key = (endpoint, query, outcome)
        self.decisions[key] = self.decisions.get(key, 0) + 1

    def observe(self, endpoint: str, seconds: float) -> None:
        h = self.latency.get(endpoint)
        if h is None:
            h = self.latency[endpoint] = _Histogram()
        h.counts[bisect_left(BUCKETS, seconds)] += 1
        h.sum += seconds

    def answered(self, route: str, status: int) -> None:
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1

    def render(
        self,
        bundle: WatchStatus,
        audit: SidecarAudit | None = None,
        cache: DecisionCache | None = None,
    ) -> bytes:
        lines: list[str] = []
        add = lines.append
        add("# HELP tenet_decisions_total Decisions made, by endpoint, query and outcome.")
        add("# TYPE tenet_decisions_total counter")
        for (endpoint, query, outcome), n in sorted(self.decisions.items()):
            labels = _labels(endpoint=endpoint, query=query, outcome=outcome)
            add(f"tenet_decisions_total{labels} {n}")
        add(
            "# HELP tenet_decision_duration_seconds Time to answer a decision request that was "
            "answered (200), from its first byte read to its response, by endpoint."
        )
        add("# TYPE tenet_decision_duration_seconds histogram")
        for endpoint, h in sorted(self.latency.items()):
            running = 0
            for bound, n in zip((*BUCKETS, None), h.counts, strict=True):
                running += n
                le = "+Inf" if bound is None else _number(bound)
                labels = _labels(endpoint=endpoint, le=le)
                add(f"tenet_decision_duration_seconds_bucket{labels} {running}")
            labels = _labels(endpoint=endpoint)
            add(f"tenet_decision_duration_seconds_sum{labels} {_number(h.sum)}")
            add(f"tenet_decision_duration_seconds_count{labels} {running}")
        add("# HELP tenet_http_requests_total Requests answered, by route and status code.")
        add("# TYPE tenet_http_requests_total counter")
        for (route, status), n in sorted(self.requests.items()):
            add(f"tenet_http_requests_total{_labels(route=route, status=str(status))} {n}")
        add("# HELP tenet_http_requests_in_flight Requests being answered now.")
        add("# TYPE tenet_http_requests_in_flight gauge")
        add(f"tenet_http_requests_in_flight {self.in_flight}")
        lines.extend(_bundle_lines(bundle))
        if cache is not None:
            lines.extend(_cache_lines(cache))
        if audit is not None:
            lines.extend(_audit_lines(audit))
        lines.append("")
        return "\n".join(lines).encode("utf-8")


def _cache_lines(cache: DecisionCache) -> Iterable[str]:
    yield (
        "# HELP tenet_decision_cache_requests_total Decision and data requests looked up in the "
        "decision cache, by result."
    )
    yield "# TYPE tenet_decision_cache_requests_total counter"
    yield f'tenet_decision_cache_requests_total{{result="hit"}} {cache.hits}'
    yield f'tenet_decision_cache_requests_total{{result="miss"}} {cache.misses}'
    yield "# HELP tenet_decision_cache_entries Answers held by the decision cache."
    yield "# TYPE tenet_decision_cache_entries gauge"
    yield f"tenet_decision_cache_entries {len(cache)}"


def _bundle_lines(s: WatchStatus) -> Iterable[str]:
    info = s.bundle.info
    yield "# HELP tenet_bundle_info The bundle deciding now (the value is always 1)."
    yield "# TYPE tenet_bundle_info gauge"
    labels = _labels(
        name=info.name, version=info.version, revision=info.revision or "", digest=info.digest
    )
    yield f"tenet_bundle_info{labels} 1"
    yield "# HELP tenet_bundle_loaded_timestamp_seconds When the bundle deciding now was loaded."
    yield "# TYPE tenet_bundle_loaded_timestamp_seconds gauge"
    yield f"tenet_bundle_loaded_timestamp_seconds {_number(s.loaded_at)}"
    yield "# HELP tenet_bundle_reloads_total Reloads of the bundle after it changed, by result."
    yield "# TYPE tenet_bundle_reloads_total counter"
    yield f'tenet_bundle_reloads_total{{result="success"}} {s.reloads}'
    yield f'tenet_bundle_reloads_total{{result="failure"}} {s.failures}'
    yield (
        "# HELP tenet_bundle_reload_failing 1 while the last reload failed and an older "
        "version is still deciding."
    )
    yield "# TYPE tenet_bundle_reload_failing gauge"
    yield f"tenet_bundle_reload_failing {int(s.last_error is not None)}"


def _audit_lines(audit: SidecarAudit) -> Iterable[str]:
    w = audit.writer.counts
    yield "# HELP tenet_audit_records_total Audit records handed to the store, by result."
    yield "# TYPE tenet_audit_records_total counter"
    yield f'tenet_audit_records_total{{result="written"}} {w.records}'
    yield f'tenet_audit_records_total{{result="failed"}} {w.failed_records}'
    yield (
        "# HELP tenet_audit_batches_total Batches of audit records sent to the store "
        "(the writer may commit several in one transaction)."
    )
    yield "# TYPE tenet_audit_batches_total counter"
    yield f'tenet_audit_batches_total{{result="committed"}} {w.batches}'
    yield f'tenet_audit_batches_total{{result="failed"}} {w.failed_batches}'

    yield (
        "# HELP tenet_audit_failures_total Requests whose decisions could not be recorded "
        "(answered with Tenet-Decision-Logged: false, or 503 when failing closed)."
    )
    yield "# TYPE tenet_audit_failures_total counter"
    yield f"tenet_audit_failures_total {audit.failures}"
    yield "# HELP tenet_audit_queue_depth Audit records waiting to be written."
    yield "# TYPE tenet_audit_queue_depth gauge"
    yield f"tenet_audit_queue_depth {audit.writer.depth()}"
    yield "# HELP tenet_audit_failing 1 while the last write to the decision log failed."
    yield "# TYPE tenet_audit_failing gauge"
    yield f"tenet_audit_failing {int(audit.last_error is not None)}"


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(x: float) -> str:
    return repr(float(x))
