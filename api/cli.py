"""The `triage` command: the model commands of `training.cli` plus those that need the ticket service.

`export` and `report` read the ticket database (`DATABASE_URL`, default the SQLite file under
`var/`, as the service uses), `sweep` escalates its near and passed deadlines; `serve` starts the
service. Dates are days in the business time zone (`TRIAGE_TIMEZONE`, default Asia/Shanghai),
both ends inclusive.
"""

from __future__ import annotations

import copy
import logging.config
import os
import re
import socket
import sys
import traceback
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from sqlalchemy.orm import Session

from api.db import Database, SchemaError
from api.schemas import EARLIEST_YEAR, LATEST_YEAR
from api.services.deadline_escalation import LEVEL_ROLES, summary, sweep_deadlines
from api.services.export import ticket_rows, write_export
from api.services.outbox import install_outbox, requeue_failed
from api.services.stats import day_bounds
from api.settings import Settings, settings_error
from model.errors import ModelError
from model.taxonomy import DEFAULT_TAXONOMY, load_taxonomy
from training import cli as model_cli
from training.cli import RegistryOption, TaxonomyOption, console, fail, open_registry, out_exists, output_file
from training.monthly import NO_CJK_FONT, read_export, reviewed_only_warning, write_monthly_report
from training.report import cjk_font

app = typer.Typer(
    help="Complaint triage: train, evaluate, compare and promote the classifier; export tickets, "
    "write the monthly report and serve the API.",
    no_args_is_help=True,
)
app.registered_commands.extend(model_cli.app.registered_commands)

DatabaseOption = Annotated[
    str,
    typer.Option("--database-url", envvar="DATABASE_URL", help="Ticket database (default: the service's SQLite file)."),
]
MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")  # ASCII digits: \d matches full-width ones too
# How long a worker process may take to answer uvicorn's first health check. Each worker imports
# the service (scikit-learn, jieba, pandas: 3-18 s on a busy 2-core machine) before it answers;
# with uvicorn's 5 s every worker was killed as hung and started again, forever.
WORKER_START_SECONDS = 120


def _settings(database_url: str) -> Settings:
    try:
        return Settings(database_url=database_url) if database_url else Settings()
    except ValidationError as error:
        fail(f"the service settings are invalid: {settings_error(error)}")


@contextmanager
def ticket_session(settings: Settings, *, outbox: bool = False) -> Iterator[Session]:
    """A session on the ticket database, which must be at the schema this code knows; `outbox`:
    its escalation events get their notification rows (`api.services.outbox`)."""
    try:
        database = Database(settings.resolved_database_url, create=False)  # reading: never a new one
    except SchemaError as error:
        fail(str(error))
    try:
        try:
            database.prepare(auto_migrate=False)
        except SchemaError as error:
            fail(str(error))
        if outbox:
            install_outbox(database.sessions)
        with database.session() as session:
            yield session
    finally:
        database.dispose()


@app.command("export")
def export_command(
    since: Annotated[datetime, typer.Option("--since", formats=["%Y-%m-%d"], help="First day received, YYYY-MM-DD.")],
    until: Annotated[datetime, typer.Option("--until", formats=["%Y-%m-%d"], help="Last day received, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.", parser=output_file)],
    all_tickets: Annotated[
        bool, typer.Option("--all", help="Every ticket (for the monthly report), not only the reviewed ones.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    database_url: DatabaseOption = "",
    taxonomy_path: TaxonomyOption = DEFAULT_TAXONOMY,
) -> None:
    """Reviewed tickets as training rows (final labels, masked text, the suggestion beside them).

    With --all, every ticket received in the range, reviewed or not, in the same columns. An
    existing --out file is replaced only with --force, and only once the export is complete.
    """
    if out.is_file() and not force:  # said before the database is read (and checked again at the end)
        fail(out_exists(out))
    first, last = since.date(), until.date()
    for day, option in ((first, "--since"), (last, "--until")):
        if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
            fail(f"{option} {day}: expected a day between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    if first > last:
        fail(f"--since {first} is after --until {last}")
    settings = _settings(database_url)
    try:
        taxonomy = load_taxonomy(taxonomy_path)
    except ModelError as error:
        fail(str(error))
    now = datetime.now(settings.zone)
    start, end = day_bounds(first, last, settings.zone)
    with (
        ticket_session(settings) as session,
        closing(
            ticket_rows(session, start=start, end=end, all_tickets=all_tickets, zone=settings.zone, now=now)
        ) as rows,
    ):
        try:
            result = write_export(out, rows, taxonomy=None if all_tickets else taxonomy, overwrite=force)
        except FileExistsError as error:
            if out.exists():  # made while the tickets were read
                fail(out_exists(out))
            fail(f"{out}: cannot be written ({error.filename} is a file, not a folder)")
        except OSError as error:
            fail(f"{out}: cannot be written ({error.strerror})")
    for problem in result.skipped:
        console.print(f"  left out: {problem}", highlight=False, markup=False)
    kind = "tickets" if all_tickets else "reviewed tickets"
    skipped = f" ({len(result.skipped)} left out, see above)" if result.skipped else ""
    console.print(f"wrote {result.written} {kind} received {first}..{last} to {out}{skipped}", highlight=False)
    if result.written == 0:
        # an empty file trains nothing (train refuses it): say why there may be none
        zone = getattr(settings.zone, "key", str(settings.zone))
        console.print(
            f"[yellow]warning:[/] no {kind} received {first}..{last} (days in {zone}, TRIAGE_TIMEZONE; "
            f"today there is {now.date()}); triage train refuses a file with no rows",
            highlight=False,
        )


def _month(value: str) -> tuple[date, date]:
    match = MONTH.fullmatch(value)
    if match is None or not EARLIEST_YEAR <= int(match.group(1)) <= LATEST_YEAR:
        fail(f"--month {value!r}: expected YYYY-MM between {EARLIEST_YEAR} and {LATEST_YEAR}, e.g. 2026-10")
    first = date(int(match.group(1)), int(match.group(2)), 1)
    following = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
    return first, following - timedelta(days=1)


@app.command("report")
def report_command(
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md and the figures.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="An export (triage export --all); default: read the database.")
    ] = None,
    database_url: DatabaseOption = "",
    taxonomy_path: Annotated[
        Path,
        typer.Option(
            "--taxonomy",
            envvar="TRIAGE_TAXONOMY",
            help="Taxonomy YAML file whose codes the tickets hold (an export file is checked against it) and "
            "whose Chinese names the report shows.",
        ),
    ] = DEFAULT_TAXONOMY,
) -> None:
    """The monthly report (markdown summary and PNG figures) from an export file or the database.

    The values of an export file are checked first (taxonomy codes, channel, status, SLA states,
    emotion index, survey scores, feedback, times): every problem is listed and nothing is written.
    """
    first, last = _month(month)
    if out.exists() and not out.is_dir():  # said before the export or the database is read
        fail(f"--out {out} is a file; give a folder (report.md and the figures are written into it)")
    try:
        taxonomy = load_taxonomy(taxonomy_path)
    except ModelError as error:
        fail(str(error))
    if data is not None:
        source = f"the export {data}"
        try:
            rows = read_export(data, taxonomy)
        except ValueError as error:
            fail(str(error))
    else:
        source = "the ticket database"
        settings = _settings(database_url)
        # from the month before too, which the report compares with
        start, end = day_bounds((first - timedelta(days=1)).replace(day=1), last, settings.zone)
        with ticket_session(settings) as session:
            rows = list(
                ticket_rows(
                    session, start=start, end=end, all_tickets=True, zone=settings.zone, now=datetime.now(settings.zone)
                )
            )
    try:
        path = write_monthly_report(rows, month, out, taxonomy=taxonomy, source=source, every_ticket=data is None)
    except OSError as error:
        fail(f"{out}: cannot be written ({error.strerror})")
    except ValueError as error:
        fail(str(error))
    console.print(f"wrote {path} and its figures ({sum(row['created_at'][:7] == month for row in rows)} tickets)")
    if data is not None and (warning := reviewed_only_warning(rows, month, source)):
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if cjk_font() is None:
        console.print(f"[yellow]warning:[/] {NO_CJK_FONT}", highlight=False)


@app.command("sweep")
def sweep_command(database_url: DatabaseOption = "") -> None:
    """Escalate to the supervisor, once, every open ticket whose deadline is near or passed, and to the
    department head, once, those whose deadline then passed unmet: one sweep of the deadlines, for
    cron (the service sweeps by itself every TRIAGE_DEADLINE_SWEEP_SECONDS). With TRIAGE_NOTIFY_URL set,
    each escalation's notification is recorded with it, and the service sends it."""
    settings = _settings(database_url)
    with ticket_session(settings, outbox=settings.notify_enabled) as session:
        done = sweep_deadlines(session, now=datetime.now(UTC), share=settings.deadline_warning_share)
    for escalation in done:
        due = escalation.due.astimezone(settings.zone).isoformat(timespec="minutes")
        state = "passed" if escalation.passed else "near"
        console.print(
            f"  {escalation.ticket_no} {escalation.tier}: {escalation.deadline} due {due} ({state}), "
            f"to {LEVEL_ROLES[escalation.level]}",
            highlight=False,
        )
    share = f"{100 * settings.deadline_warning_share:g} %"
    if done:
        console.print(f"escalated {summary(done)} (warning at {share} of the window left)")
        # cron's environment is not the service's: without the URL no outbox row was written
        console.print(
            "their notifications recorded for the service to send"
            if settings.notify_enabled
            else "not notified: TRIAGE_NOTIFY_URL is not set for this command (set it as the service has it, "
            "and the service sends the notifications of the escalations recorded from then on)",
            highlight=False,
        )
    else:
        console.print(f"no deadline to escalate (warning at {share} of the window left)")


@app.command("notify-retry")
def notify_retry_command(database_url: DatabaseOption = "") -> None:
    """Queue every failed escalation notification again (once the gateway is mended): each gets the
    whole back-off again, and the service sends it within TRIAGE_NOTIFY_INTERVAL_SECONDS."""
    settings = _settings(database_url)
    with ticket_session(settings) as session:
        count = requeue_failed(session, now=datetime.now(UTC))
        session.commit()
    if not count:
        console.print("no failed notification to send again")
        return
    console.print(f"queued {count} failed notification(s) again; the service sends them at its next round")
    if not settings.notify_enabled:
        console.print(
            "TRIAGE_NOTIFY_URL is not set for this command: make sure the service has it, or nothing is sent",
            highlight=False,
        )


@app.command("serve")
def serve_command(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on  [default: TRIAGE_HOST, else 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port to listen on  [default: TRIAGE_PORT, else 8000]")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=32, help="Server processes; each holds its own model (about 400 MB).")
    ] = 1,
    *,
    registry_root: RegistryOption,
) -> None:
    """Start the API (uvicorn); trains the default model first when the registry has none
    (unless TRIAGE_TRAIN_DEFAULT_MODEL is false)."""
    import uvicorn

    from api.main import cannot_start, create_app, said_in_one_line, start_services, stop_services

    open_registry(registry_root)  # a registry that is a file, or an unreadable CURRENT: one line
    os.environ["TRIAGE_REGISTRY"] = str(registry_root)  # the app (and every worker) reads its settings from here
    log_config = service_log_config()
    logging.config.dictConfig(log_config)
    # Start the services once before uvicorn does, so that a bad setting, key, database or model
    # stops the command before it listens or starts workers, in the one line the app's own start
    # would give (`cannot_start`).
    try:
        settings = Settings()  # TRIAGE_HOST and TRIAGE_PORT too: a bad one is a setting's one line
        source = "TRIAGE_HOST" if host is None else "--host"
        host = settings.host if host is None else host
        port = settings.port if port is None else port
        check_host(host, port, source)
        services = create_app(settings).state.services
        start_services(services)
    except Exception as error:  # every start-up failure ends the command the same way
        if not said_in_one_line(error):
            traceback.print_exc()  # a bug: where it happened
        fail(cannot_start(error))
    stop_services(services)
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
        timeout_worker_healthcheck=WORKER_START_SECONDS,
    )


def check_host(host: str, port: int, source: str) -> None:
    """Refuse, naming `source`, a host that uvicorn would take for every interface (an empty one, a
    blank left in an env file) or fail to resolve only once the model has loaded, in its own words."""
    if not host.strip():
        raise OSError(f"{source} is empty; name the interface to listen on (127.0.0.1; 0.0.0.0 for every one)")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "not a host name"
        raise OSError(f"{source} {host!r}: no interface or host of that name ({reason})") from None


def service_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration, with the service's own `api` loggers (start-up, model
    swaps, migrations, errors) at INFO in the same format; unconfigured, only their warnings
    reached stderr, bare."""
    import uvicorn.config

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["api"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def main() -> None:
    """Entry point for `python -m api.cli`."""
    app(sys.argv[1:])


if __name__ == "__main__":
    main()
