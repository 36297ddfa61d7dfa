"""Prometheus metrics of one app, in its own registry (so tests can build many apps).

- `triage_http_requests_total{method,route,status}` and
  `triage_http_request_duration_seconds{method,route,status}`: `route` is the route template
  (`/v1/tickets/{ticket_no}`), never the raw path, so ticket numbers do not become labels, and
  `method` one of the standard methods or OTHER;
- `triage_predictions_total{head,label}`: predicted classes per head (classify and intake);
- `triage_tickets_created_total{tier}`, `triage_escalations_total{rule}`;
- `triage_model_info{version}` = 1 for the version in service;
- `triage_deadline_escalations_total{deadline,tier}`: deadlines (first_response, resolution)
  escalated to the supervisor by this process's deadline sweeps, and
  `triage_deadline_sweeps_total{outcome}` (ok / failed): its sweeps. Escalations made by
  `triage sweep` (another process) are not counted here; with several workers, each counts its own.
"""

from __future__ import annotations

import threading

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from model.prediction import Prediction

CONTENT_TYPE = CONTENT_TYPE_LATEST
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The metrics of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "triage_http_requests", "HTTP requests by route template and status", labels, registry=self.registry
        )
        self.latency = Histogram(
            "triage_http_request_duration_seconds",
            "HTTP request latency by route template and status",
            labels,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "triage_predictions", "Predicted classes per head", ["head", "label"], registry=self.registry
        )
        self.tickets = Counter("triage_tickets_created", "Tickets created per tier", ["tier"], registry=self.registry)
        self.escalations = Counter(
            "triage_escalations", "Escalation rules fired at intake", ["rule"], registry=self.registry
        )
        self.deadline_escalations = Counter(
            "triage_deadline_escalations",
            "Deadlines escalated to the supervisor by this process's deadline sweeps",
            ["deadline", "tier"],
            registry=self.registry,
        )
        self.deadline_sweeps = Counter(
            "triage_deadline_sweeps",
            "Deadline sweeps run by this process, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "triage_model_info", "The model version in service", ["version"], registry=self.registry
        )
        self._version: str | None = None
        self._version_lock = threading.Lock()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count a finished request (a method outside the standard ones as OTHER: a client cannot
        make up label values)."""
        method = method if method in HTTP_METHODS else "OTHER"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def observe_prediction(self, prediction: Prediction) -> None:
        """Count the predicted class of every head."""
        for head in ("category", "subtype", "tier"):
            self.predictions.labels(head, getattr(prediction, head).code).inc()

    def observe_model(self, version: str) -> None:
        """Mark `version` as the one in service."""
        if version == self._version:
            return
        with self._version_lock:
            if version == self._version:
                return
            if self._version is not None:
                self.model_info.remove(self._version)
            self.model_info.labels(version).set(1)
            self._version = version

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
