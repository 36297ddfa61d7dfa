"""The service's own deadline sweep: a task of the app's lifespan that escalates near and passed
deadlines (`api.services.deadline_escalation`, to the supervisor and then to the department head)
every `deadline_sweep_seconds`, the first time right after start-up.

Each sweep runs in a worker thread at the app's clock and the configured warning share; what it
escalates is logged (ticket numbers, no customer data) and counted in the app's metrics, per level. A sweep
that fails (the database is away) is logged and counted, and the next one runs at the next
interval. At shutdown a running sweep stops before its next claim, and the task waits for it
before the database is closed. Every
worker process runs its own task; the sweeps do not get in each other's way (the claim of a
deadline is a single conditional UPDATE), they only repeat the look-up.
"""

from __future__ import annotations

import logging

from api.db import describe_error
from api.deps import Services
from api.periodic import Periodic
from api.services.deadline_escalation import Escalation, summary, sweep_deadlines

log = logging.getLogger("api.deadlines")
LOGGED = 20  # escalations named in a sweep's log line; the others are counted


class DeadlineSweeper(Periodic):
    """Runs the deadline sweep of one app periodically while the app runs."""

    name = "deadline-sweep"

    def __init__(self, services: Services, interval: float) -> None:
        super().__init__(interval)
        self.services = services

    def sweep_once(self) -> list[Escalation]:
        """One sweep at the app's clock (blocking); a failure is logged and counted, not raised."""
        services = self.services
        if services.database is None:
            return []
        try:
            with services.database.sweep_session() as session:
                done = sweep_deadlines(
                    session,
                    now=services.clock(),
                    share=services.settings.deadline_warning_share,
                    stopping=self.stopping,
                )
        except Exception as error:  # the next sweep tries again
            services.metrics.deadline_sweeps.labels("failed").inc()
            log.error("deadline sweep failed: %s", describe_error(error))
            return []
        services.metrics.deadline_sweeps.labels("ok").inc()
        for escalation in done:
            services.metrics.deadline_escalations.labels(
                escalation.deadline, escalation.tier, str(escalation.level)
            ).inc()
        if done:
            shown = ", ".join(
                f"{item.ticket_no} {item.deadline}{' (passed)' if item.passed else ''} level {item.level}"
                for item in done[:LOGGED]
            )
            more = f" and {len(done) - LOGGED} more" if len(done) > LOGGED else ""
            log.info("escalated %s: %s%s", summary(done), shown, more)
        return done

    def run_once(self) -> list[Escalation]:
        """One sweep (`sweep_once`), for the periodic task."""
        return self.sweep_once()
