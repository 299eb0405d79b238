"""The server's metrics, in the Prometheus text format through `prometheus_client` (a registry
per server, so two servers in one process, or a test, never share counters).

API figures are not counted twice: they are read from the HTTP clients' own statistics when
Prometheus scrapes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Webhook-to-write latency buckets: the target is p95 under a second.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class ApiCollector(Collector):
    def __init__(self, stats: Callable[[], Mapping[str, Mapping[str, Any]]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        stats = self.stats()
        requests = CounterMetricFamily("syncmap_api_requests", "Requests sent to each API, retries included", labels=["system"])
        limited = CounterMetricFamily("syncmap_api_rate_limited", "429 answers met, per API", labels=["system"])
        tokens = CounterMetricFamily("syncmap_pipedrive_tokens_spent", "Pipedrive API tokens spent (the daily budget's unit)")
        for system, figures in sorted(stats.items()):
            requests.add_metric([system], float(figures.get("requests", 0)))
            limited.add_metric([system], float(figures.get("rate_limited", 0)))
        tokens.add_metric([], float((stats.get("pipedrive") or {}).get("tokens_spent", 0)))
        yield requests
        yield limited
        yield tokens


class Metrics:
    def __init__(self, api_stats: Callable[[], Mapping[str, Mapping[str, Any]]] = dict) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("syncmap_events_received", "Deliveries accepted into the inbox", ["source"], registry=r)
        self.deduplicated = Counter("syncmap_events_deduplicated", "Deliveries already in the inbox (a retry)", ["source"], registry=r)
        self.rejected = Counter("syncmap_requests_rejected", "Requests refused before the inbox", ["reason"], registry=r)
        self.processed = Counter("syncmap_events_processed", "Deliveries processed", ["source"], registry=r)
        self.failed = Counter("syncmap_events_failed", "Deliveries given up (reconciliation covers them)", ["source"], registry=r)
        self.echoes = Counter("syncmap_events_echo_suppressed", "Deliveries that carried only what syncmap last synced", ["source"], registry=r)
        self.queue = Gauge("syncmap_queue_depth", "Deliveries in the inbox not processed yet", registry=r)
        self.latency = Histogram(
            "syncmap_webhook_to_write_seconds", "From a delivery's arrival to the end of its processing", buckets=LATENCY_BUCKETS, registry=r
        )
        self.passes = Counter("syncmap_reconcile_passes", "Reconciliation passes finished", ["status"], registry=r)
        self.last_pass = Gauge("syncmap_last_reconcile_timestamp_seconds", "When the last reconciliation pass finished", registry=r)
        self.actions = Counter("syncmap_actions", "Journey action deliveries, by outcome", ["action", "status"], registry=r)
        r.register(ApiCollector(api_stats))

    def render(self) -> bytes:
        return generate_latest(self.registry)
