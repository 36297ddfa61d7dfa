"""Cost of the database reads that run on their own: the backlog metrics' query (each /metrics
scrape) and the deadline sweep's look-up (every 60 s in each worker), on SQLite and PostgreSQL.

Run: `python bench/backlog_query.py [--tickets 200000] [--open 2000] [--revision head]
[--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--explain]`.

Fills a temporary database, migrated to `--revision` (0003: before the index of open tickets,
`ix_tickets_open`), with synthetic tickets written through the real table model (no model, no
customer data): `--tickets` in all, received over the past year, of which `--open` are open,
received over the last four days (so that some are due soon and some overdue), of the three
tiers with their SLAs from the taxonomy. Every pending deadline past its warning time is already
escalated, and every one past its due time escalated to the department head too, as the sweep
leaves them, so a sweep finds nothing and only its two look-ups (one per deadline, for both
levels) are timed. Then times, `--repeat` times each after one warm-up run:

- `scrape_backlog`: the backlog query of a scrape, with its connection from the pool;
- `sweep_deadlines`: a sweep that has nothing to escalate (its look-ups).

SQLite: a file in a temporary folder, not ANALYZEd (the service never runs ANALYZE). PostgreSQL:
the database `backlog_bench` on the server of `--postgres` (created, ANALYZEd as autovacuum would,
and dropped at the end). Prints a Markdown table of milliseconds (median and max); `--explain`
also prints each query's plan.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from sqlalchemy import create_engine, insert, make_url, text  # noqa: E402

from api.db import Database, alembic_config  # noqa: E402
from api.services.backlog import STATES, backlog_statement, scrape_backlog  # noqa: E402
from api.services.deadline_escalation import needing_escalation, sweep_deadlines  # noqa: E402
from api.services.deadlines import DEADLINES, FIRST_RESPONSE, LEVELS, warning_time  # noqa: E402
from api.services.tracking import OPEN_STATUSES  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.tables import Ticket  # noqa: E402
from model.taxonomy import load_taxonomy  # noqa: E402

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
SHARE = 0.2
TIMEOUT: float = Settings.model_fields["metrics_query_timeout_seconds"].default  # the service's default
BENCH_DATABASE = "backlog_bench"
BATCH = 5000


def synthetic_tickets(total: int, open_count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """`total` ticket rows (the last `open_count` open), as dicts of the Ticket model's columns."""
    rng = random.Random(seed)
    tiers = {code: (tier.first_response_hours, tier.resolution_hours) for code, tier in load_taxonomy().tiers.items()}
    codes = sorted(tiers)
    for index in range(total):
        tier = codes[rng.randrange(len(codes))]
        first_hours, resolution_hours = tiers[tier]
        is_open = index >= total - open_count
        if is_open:
            received = NOW - timedelta(hours=rng.uniform(0, 96))
            status = OPEN_STATUSES[rng.randrange(len(OPEN_STATUSES))]
        else:
            received = NOW - timedelta(days=5 + 360 * index / total)
            status = "closed"
        first_due = received + timedelta(hours=first_hours)
        resolution_due = received + timedelta(hours=resolution_hours)
        answered = status != "received" and (not is_open or rng.random() < 0.8)
        resolved = status == "closed" or status == "resolved"
        row: dict[str, Any] = {
            "ticket_no": f"TS-BENCH-{index:08d}",
            "received_at": received,
            "channel": "phone",
            "text": "合成的测试投诉",
            "text_issues": [],
            "status": status,
            "revision": 1,
            "category": "product",
            "subtype": "defect",
            "tier": tier,
            "demand": "repair",
            "department": "tech",
            "suggested_category": "product",
            "suggested_subtype": "defect",
            "suggested_tier": tier,
            "suggested_demand": "repair",
            "suggested_department": "tech",
            "category_probability": 0.9,
            "subtype_probability": 0.8,
            "tier_probability": 0.7,
            "department_probability": 0.9,
            "top_tier_probability": 0.1,
            "top_subtypes": [],
            "explanation": {},
            "needs_review": False,
            "review_reasons": [],
            "model_version": "bench",
            "emotion_index": 40,
            "escalations": [],
            "first_response_due": first_due,
            "resolution_due": resolution_due,
            "first_responded_at": received + (first_due - received) / 2 if answered else None,
            "resolved_at": received + (resolution_due - received) / 2 if resolved else None,
            "closed_at": received + (resolution_due - received) * 0.6 if status == "closed" else None,
            "first_response_escalated_at": None,
            "resolution_escalated_at": None,
            "updated_at": received,
        }
        if is_open:  # as the sweep leaves them: every pending deadline past its warning, escalated
            for deadline in DEADLINES.values():
                due = row[deadline.due.key]
                warn_at = warning_time(received, due, SHARE)
                if row[deadline.done.key] is None and warn_at <= NOW:
                    row[deadline.escalated.key] = warn_at
                    row[deadline.passed.key] = False  # escalated at its warning time, before it was due
                    if due < NOW:  # and to the department head once it had passed
                        row[deadline.head_escalated.key] = due
        yield row


def fill(database: Database, revision: str, total: int, open_count: int) -> None:
    """Migrate to `revision` and insert the synthetic tickets."""
    with database.engine.connect() as connection:
        command.upgrade(alembic_config(connection), revision)
        connection.commit()
    rows = synthetic_tickets(total, open_count)
    with database.session() as session:
        while batch := [row for _, row in zip(range(BATCH), rows)]:
            session.execute(insert(Ticket), batch)
        session.commit()
    if database.dialect == "postgresql":
        with database.engine.connect() as connection:
            connection.execute(text("ANALYZE tickets"))
            connection.commit()


def timed(run: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of `repeat` runs, after one warm-up run."""
    run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def explain(database: Database) -> None:
    """Print the plans of the backlog query and of the sweep's first look-up."""
    statements = {
        "backlog": backlog_statement(NOW, SHARE),
        "sweep look-up (first_response)": needing_escalation(FIRST_RESPONSE, after=-1, now=NOW, share=SHARE),
    }
    prefix = "EXPLAIN (ANALYZE, BUFFERS)" if database.dialect == "postgresql" else "EXPLAIN QUERY PLAN"
    with database.engine.connect() as connection:
        for name, statement in statements.items():
            sql = str(statement.compile(connection, compile_kwargs={"literal_binds": True}))
            print(f"-- {name} ({database.dialect})")
            for row in connection.exec_driver_sql(f"{prefix} {sql}"):
                print("   ", row[-1])
        connection.rollback()


def measure(database: Database, args: argparse.Namespace) -> list[tuple[str, list[float]]]:
    """Fill the database, check what it holds, and time the two reads."""
    started = time.perf_counter()
    fill(database, args.revision, args.tickets, args.open)
    print(f"{database.dialect}: {args.tickets:,} tickets written in {time.perf_counter() - started:.0f} s", flush=True)
    backlog = scrape_backlog(database, now=NOW, share=SHARE, timeout=TIMEOUT)
    counts = {state: sum(tier.tickets[state] for tier in backlog.values()) for state in STATES}
    levels = {level: sum(tier.escalated[level] for tier in backlog.values()) for level in LEVELS}
    print(f"  open tickets by state: {counts}; escalated, by highest level: {levels}")
    assert sum(counts.values()) == args.open, counts

    def sweep() -> None:
        with database.session() as session:
            assert sweep_deadlines(session, now=NOW, share=SHARE) == []

    if args.explain:
        explain(database)
    return [
        ("scrape_backlog", timed(lambda: scrape_backlog(database, now=NOW, share=SHARE, timeout=TIMEOUT), args.repeat)),
        ("sweep_deadlines (2 look-ups)", timed(sweep, args.repeat)),
    ]


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """The URL of a fresh database `backlog_bench` on `server`, dropped afterwards."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}"))
            connection.execute(text(f"CREATE DATABASE {BENCH_DATABASE}"))
        try:
            yield make_url(server).set(database=BENCH_DATABASE).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
    finally:
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000, help="tickets in all (default: %(default)s)")
    parser.add_argument("--open", type=int, default=2_000, help="open tickets among them (default: %(default)s)")
    parser.add_argument("--revision", default="head", help="schema revision (default: %(default)s; 0003: no index)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per query (default: %(default)s)")
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help=f"a PostgreSQL server URL (used to create and drop {BENCH_DATABASE}); empty: SQLite only",
    )
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    args = parser.parse_args()
    results: list[tuple[str, str, list[float]]] = []
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{folder}/bench.db")
        try:
            results += [("sqlite", name, ms) for name, ms in measure(database, args)]
        finally:
            database.dispose()
    if args.postgres:
        with postgres_database(args.postgres) as url:
            database = Database(url)
            try:
                results += [("postgresql", name, ms) for name, ms in measure(database, args)]
            finally:
                database.dispose()
    print()
    print(f"{args.tickets:,} tickets, {args.open:,} open, schema revision {args.revision}, {args.repeat} runs each")
    print()
    print("| database | read | median ms | max ms |")
    print("|---|---|---|---|")
    for backend, name, ms in results:
        print(f"| {backend} | {name} | {statistics.median(ms):.1f} | {max(ms):.1f} |")


if __name__ == "__main__":
    main()
