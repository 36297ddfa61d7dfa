"""Prometheus metrics of one app, in its own registry (so tests can build many apps).

- `triage_http_requests_total{method,route,status}` and
  `triage_http_request_duration_seconds{method,route,status}`: `route` is the route template
  (`/v1/tickets/{ticket_no}`), never the raw path, so ticket numbers do not become labels, and
  `method` one of the standard methods or OTHER;
- `triage_predictions_total{head,label}`: predicted classes per head (classify and intake);
- `triage_tickets_created_total{tier}`, `triage_escalations_total{rule}`;
- `triage_model_info{version}` = 1 for the version in service;
- `triage_intake_head_escalations_total{tier,trigger}`: tickets escalated to the department head
  because their tier is one of the policy's `head_at_intake` (practice document 003), when filed
  (`trigger` "intake") or by the review that gave them that tier ("review"); not deadlines, so not
  in `triage_deadline_escalations_total`;
- `triage_deadline_escalations_total{deadline,tier,level}`: deadlines (first_response, resolution)
  escalated by this process's deadline sweeps to the supervisor (`level` "1") or to the department
  head (`level` "2"), and
  `triage_deadline_sweeps_total{outcome}` (ok / failed): its sweeps. Escalations made by
  `triage sweep` (another process) are not counted here; with several workers, each counts its own.

Escalation notifications (while `TRIAGE_NOTIFY_URL` is set, `api.notifier`):

- `triage_notification_attempts_total{outcome}`: this process's delivery attempts that ended
  `delivered` (a 2xx answer), `retry` (failed, tried again after the back-off) or `failed` (the
  last attempt failed: given up);
- `triage_notifications_undelivered{state}`: the outbox's rows `pending` (not yet delivered, to be
  tried) and `failed` (given up), and `triage_oldest_pending_notification_age_seconds`: since the
  oldest pending one was written (absent when none is); read from the database at each scrape, as
  the backlog below, so every worker gives the same numbers (`triage_backlog_up` 0 covers both).

The backlog, read from the database at each scrape (`BacklogCollector`, one grouped query of
`api.services.backlog`, whose docstring defines the states), so every worker reports the same
numbers and escalations by `triage sweep` are included:

- `triage_open_tickets{tier,state}`: open (not closed) tickets by state, `awaiting_confirmation`
  (resolved, the customer's confirmation pending), else `overdue`, else `due_soon`, else `on_time`
  (exclusive: the four add up to the tier's open tickets; 0 for each tier of the taxonomy without
  open tickets);
- `triage_open_escalated_tickets{tier,level}`: open tickets whose highest escalation level is
  `level`: "1", a deadline escalated to the supervisor and none to the department head, "2", a
  deadline escalated to the department head or the ticket escalated to the head when filed or
  reviewed as urgent (0 for each level of each tier shown; summed over `level`, the open tickets
  escalated either way);
- `triage_oldest_open_ticket_age_seconds{tier}`: since the oldest open ticket still being worked
  on (not awaiting confirmation) was received (only tiers with such a ticket);
- `triage_backlog_up`: 1 when this scrape read the backlog, else 0 (and none of the three above);
  `triage_backlog_scrape_errors_total`: scrapes whose read failed. A failing read never fails the
  scrape; it is logged once per run of failures (a warning), and its recovery once (info).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from api.db import describe_error
from api.services.backlog import STATES, TierBacklog
from api.services.outbox import OutboxBacklog
from model.prediction import Prediction

CONTENT_TYPE = CONTENT_TYPE_LATEST
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

log = logging.getLogger("api.metrics")

BacklogReader = Callable[[], Mapping[str, TierBacklog] | None]
"""Reads the backlog per tier (a database error raised); None when there is no database to read."""


class BacklogCollector:
    """The backlog gauges, read by `read` at each scrape (a custom collector of the registry)."""

    def __init__(self, read: BacklogReader) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._errors = 0
        self._failing = False

    def describe(self) -> list[Metric]:
        """The families without samples (so that registering does not read the database)."""
        return list(self._families(None))

    def collect(self) -> Iterator[Metric]:
        """The backlog now, or only `triage_backlog_up` 0 when it cannot be read."""
        try:
            backlog = self._read()
        except Exception as error:  # whatever the database says, /metrics still answers
            backlog = None
            with self._lock:
                self._errors += 1
                if not self._failing:
                    log.warning(
                        "backlog metrics: the database could not be read (%s); logged once until it recovers",
                        describe_error(error),
                    )
                self._failing = True
        else:
            with self._lock:
                if self._failing:
                    log.info("backlog metrics: the database is read again")
                self._failing = False
        yield from self._families(backlog)

    def _families(self, backlog: Mapping[str, TierBacklog] | None) -> Iterator[Metric]:
        tickets = GaugeMetricFamily(
            "triage_open_tickets",
            "Open tickets by tier and state (deadline state, or awaiting confirmation)",
            labels=["tier", "state"],
        )
        escalated = GaugeMetricFamily(
            "triage_open_escalated_tickets",
            "Open escalated tickets (a deadline, or an urgent ticket to the head), by the highest level reached",
            labels=["tier", "level"],
        )
        oldest = GaugeMetricFamily(
            "triage_oldest_open_ticket_age_seconds",
            "Age of the oldest open ticket not awaiting confirmation",
            labels=["tier"],
        )
        for tier, counts in (backlog or {}).items():
            for state in STATES:
                tickets.add_metric([tier, state], counts.tickets[state])
            for level, count in counts.escalated.items():
                escalated.add_metric([tier, str(level)], count)
            if counts.oldest_age_seconds is not None:
                oldest.add_metric([tier], counts.oldest_age_seconds)
        yield tickets
        yield escalated
        yield oldest
        yield GaugeMetricFamily(
            "triage_backlog_up", "1 when this scrape read the backlog from the database", value=int(backlog is not None)
        )
        with self._lock:
            errors = self._errors
        yield CounterMetricFamily("triage_backlog_scrape_errors", "Scrapes whose backlog read failed", value=errors)


OutboxReader = Callable[[], OutboxBacklog | None]
"""Reads the outbox's undelivered rows (a database error raised); None when there is no database."""


class OutboxCollector:
    """The outbox gauges, read by `read` at each scrape (nothing when it cannot be read: the
    backlog's `triage_backlog_up` and its warning say the database failed)."""

    def __init__(self, read: OutboxReader) -> None:
        self._read = read

    def describe(self) -> list[Metric]:
        """The families without samples (so that registering does not read the database)."""
        return list(self._families(None))

    def collect(self) -> Iterator[Metric]:
        """The outbox now, or no samples when it cannot be read."""
        try:
            outbox = self._read()
        except Exception:  # counted and logged by the backlog's collector, which reads the same database
            outbox = None
        yield from self._families(outbox)

    def _families(self, outbox: OutboxBacklog | None) -> Iterator[Metric]:
        undelivered = GaugeMetricFamily(
            "triage_notifications_undelivered",
            "Escalation notifications not delivered: pending (to be tried) or failed (given up)",
            labels=["state"],
        )
        oldest = GaugeMetricFamily(
            "triage_oldest_pending_notification_age_seconds",
            "Age of the oldest escalation notification still pending",
        )
        if outbox is not None:
            undelivered.add_metric(["pending"], outbox.pending)
            undelivered.add_metric(["failed"], outbox.failed)
            if outbox.oldest_pending_age_seconds is not None:
                oldest.add_metric([], outbox.oldest_pending_age_seconds)
        yield undelivered
        yield oldest


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
            "Deadlines escalated by this process's deadline sweeps, by level (1 supervisor, 2 department head)",
            ["deadline", "tier", "level"],
            registry=self.registry,
        )
        self.intake_head_escalations = Counter(
            "triage_intake_head_escalations",
            "Urgent tickets escalated to the department head when filed (intake) or reviewed (review)",
            ["tier", "trigger"],
            registry=self.registry,
        )
        self.deadline_sweeps = Counter(
            "triage_deadline_sweeps",
            "Deadline sweeps run by this process, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.notification_attempts = Counter(
            "triage_notification_attempts",
            "Escalation notification attempts of this process, by outcome (delivered, retry, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "triage_model_info", "The model version in service", ["version"], registry=self.registry
        )
        self._version: str | None = None
        self._version_lock = threading.Lock()

    def track_backlog(self, read: BacklogReader) -> None:
        """Report the backlog that `read` gives at each scrape (`BacklogCollector`)."""
        self.registry.register(BacklogCollector(read))

    def track_outbox(self, read: OutboxReader) -> None:
        """Report the outbox that `read` gives at each scrape (`OutboxCollector`)."""
        self.registry.register(OutboxCollector(read))

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
