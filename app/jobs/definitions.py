"""The launchable jobs: each ``job_schemas/`` override on top of the job definition Squonk2
has, cached per Squonk2 URL and job version (table ``job_definitions``).

Where definitions come from (``JOB_DEFINITIONS``):

- ``squonk2`` (the default when ``SQUONK2_DMAPI_URL`` is set: production and ``make run``):
  ``get_job_by_version``, stored once and read from the database after that. A request
  costs one small query (the cached versions' digests); the schemas are built once per set
  of digests and kept in memory, so a refresh stored by any process (``flask jobs
  refresh``, the reconciler's scheduled one) is seen at the next request, without a
  restart. A job whose definition Squonk2 cannot give (down, unknown job) or whose override
  does not fit it is unavailable, named with the reason; it never turns a page into a 500.
- ``files`` (tests, and any set-up without Squonk2): the ``DataManagerJobDefinition`` files
  of ``JOB_DEFINITIONS_DIR`` (the local Squonk2's), read and checked at start-up.

An override whose structure is wrong stops start-up in both cases (file, path, reason).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.extensions import db
from app.launcher import JobSchema, JobSchemaError
from app.launcher.definition import Definition, definition_changes, normalised
from app.launcher.definition import definitions_from_dir as read_definition_files
from app.launcher.schemas import Override, build_job_schema, load_job_schemas, load_overrides
from app.models import JobDefinition
from app.models.base import as_utc, utcnow
from app.squonk.client import SquonkError
from app.squonk.current import squonk

log = logging.getLogger(__name__)

# Schemas built for this many different sets of definitions are kept (a refresh adds one)
_MEMO_SIZE = 8


@dataclass
class Catalogue:
    """The launchable jobs by key, and those that cannot be launched now, with why."""

    schemas: dict[str, JobSchema]
    unavailable: dict[str, str] = field(default_factory=dict)


def init_app(app: Flask) -> None:
    """Read the overrides (a bad one stops start-up); in ``files`` mode build the jobs."""
    overrides = load_overrides(Path(app.config["JOB_SCHEMAS_DIR"]))
    state = app.extensions["job_definitions"] = {
        "overrides": overrides,
        "memo": {},
        "failed": {},  # job key -> monotonic time of the last failed fetch
    }
    if source(app) == "files":
        state["files"] = _from_files(app)


def _from_files(app: Flask) -> Catalogue:
    definitions = read_definition_files(Path(app.config["JOB_DEFINITIONS_DIR"]))
    return Catalogue(load_job_schemas(Path(app.config["JOB_SCHEMAS_DIR"]), definitions))


def source(app: Flask | None = None) -> str:
    app = app or current_app
    chosen = app.config.get("JOB_DEFINITIONS")
    if chosen in ("squonk2", "files"):
        return chosen
    if chosen:
        raise RuntimeError("JOB_DEFINITIONS must be 'squonk2' or 'files'")
    return "squonk2" if app.config.get("SQUONK2_DMAPI_URL") else "files"


def _state() -> dict:
    return current_app.extensions["job_definitions"]


def overrides() -> dict[str, Override]:
    return _state()["overrides"]


def catalogue() -> Catalogue:
    """The launchable jobs now (once per request)."""
    if source() == "files":
        if "files" not in _state():
            _state()["files"] = _from_files(current_app)
        return _state()["files"]
    if has_request_context() and "job_catalogue" in g:
        return g.job_catalogue
    found = _cached_catalogue()
    if has_request_context():
        g.job_catalogue = found
    return found


def job_schemas() -> dict[str, JobSchema]:
    return catalogue().schemas


def squonk_url() -> str:
    return str(current_app.config.get("SQUONK2_DMAPI_URL") or "").rstrip("/")


def _built(override: Override, body: dict) -> JobSchema:
    """The job ``override`` makes of a definition Squonk2 gave (raises JobSchemaError)."""
    return build_job_schema(override, Definition(body, f"Squonk2 at {squonk_url()}"))


def _same_version(override: Override) -> tuple:
    """The WHERE clause of the cached row of ``override``'s job version."""
    collection, job, version = override.job_key
    return (
        JobDefinition.squonk_url == squonk_url(),
        JobDefinition.collection == collection,
        JobDefinition.job == job,
        JobDefinition.version == version,
    )


def _cached_catalogue() -> Catalogue:
    wanted = overrides()
    rows = {
        (c, j, v): (digest, row_id)
        for c, j, v, digest, row_id in db.session.execute(
            select(
                JobDefinition.collection,
                JobDefinition.job,
                JobDefinition.version,
                JobDefinition.digest,
                JobDefinition.id,
            ).where(JobDefinition.squonk_url == squonk_url())
        )
    }
    unavailable: dict[str, str] = {}
    for key, override in wanted.items():
        if override.job_key not in rows:
            stored = _fetch_missing(key, override, unavailable)
            if stored is not None:
                rows[override.job_key] = stored
    memo_key = tuple(
        sorted((key, rows[o.job_key][0]) for key, o in wanted.items() if o.job_key in rows)
    )
    memo: dict = _state()["memo"]
    built = memo.get(memo_key)
    if built is None:
        ids = [rows[o.job_key][1] for o in wanted.values() if o.job_key in rows]
        bodies = {
            (r.collection, r.job, r.version): r.definition
            for r in db.session.scalars(select(JobDefinition).where(JobDefinition.id.in_(ids)))
        }
        built = Catalogue({})
        for key, override in wanted.items():
            body = bodies.get(override.job_key)
            if body is None:
                continue
            try:
                built.schemas[key] = _built(override, body)
            except JobSchemaError as error:
                log.error("job %s cannot be launched: %s", key, error)
                built.unavailable[key] = f"its Squonk2 definition does not fit: {error}"
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[memo_key] = built
    return Catalogue(built.schemas, {**built.unavailable, **unavailable})


def _fetch_missing(key: str, override: Override, unavailable: dict[str, str]):
    """Fetch a definition never cached; None (and the reason in ``unavailable``) when
    Squonk2 cannot give it now or the override does not fit it."""
    failed: dict = _state()["failed"]
    retry = current_app.config["JOB_DEFINITIONS_RETRY_SECONDS"]
    last = failed.get(key)
    if last is not None and time.monotonic() - last < retry:
        unavailable[key] = "Squonk2 could not give its definition; asking again shortly"
        return None
    try:
        body = normalised(squonk().get_job_by_version(*override.job_key))
        _built(override, body)
    except SquonkError as error:
        failed[key] = time.monotonic()
        log.warning("definition of %s (%s) not fetched: %s", key, override.label, error)
        unavailable[key] = f"Squonk2 could not give its definition ({error})"
        return None
    except JobSchemaError as error:
        failed[key] = time.monotonic()
        log.error("job %s cannot be launched: %s", key, error)
        unavailable[key] = f"its Squonk2 definition does not fit: {error}"
        return None
    failed.pop(key, None)
    try:
        return store(override, body)
    except SQLAlchemyError as error:  # e.g. SQLite busy under another writer: next time
        log.warning("definition of %s not cached: %s", key, error)
        unavailable[key] = "its definition could not be cached; asking again shortly"
        return None


def store(override: Override, body: dict) -> tuple[str, int]:
    """Insert or update the cached definition; returns its (digest, row id).

    Written and committed in a session of its own: a definition fetched in the middle of
    another transaction (a callback's status change asking which output to import) never
    commits that transaction early. Safe when two processes race to store the same one.
    """
    collection, job, version = override.job_key
    digest = Definition(body, "").digest
    for _ in range(2):
        with Session(db.engine) as session:
            row = session.scalar(select(JobDefinition).where(*_same_version(override)))
            if row is None:
                row = JobDefinition(
                    squonk_url=squonk_url(), collection=collection, job=job, version=version
                )
                session.add(row)
            row.definition, row.digest, row.fetched = body, digest, utcnow()
            try:
                session.commit()
            except IntegrityError:  # another process stored it first: update theirs
                session.rollback()
                continue
            return digest, row.id
    raise RuntimeError(f"could not store the definition of {override.label}")


@dataclass
class Report:
    """What a refresh or a check found, one line per job (or per change)."""

    lines: list[str] = field(default_factory=list)
    problems: int = 0


def _cached(override: Override) -> JobDefinition | None:
    return db.session.scalar(select(JobDefinition).where(*_same_version(override)))


def _live(key: str, override: Override, report: Report) -> dict | None:
    try:
        return normalised(squonk().get_job_by_version(*override.job_key))
    except SquonkError as error:
        report.lines.append(f"{key}: {override.label} could not be fetched from Squonk2 ({error})")
        report.problems += 1
        return None


def refresh() -> Report:
    """Fetch every job's definition again and store those that changed. A definition the
    override does not fit is not stored (the cached one stays), and counts as a problem."""
    report = Report()
    if source() == "files":
        report.lines.append(
            f"definitions are read from {current_app.config['JOB_DEFINITIONS_DIR']} at "
            "start-up (JOB_DEFINITIONS=files): restart to read them again"
        )
        return report
    for key, override in overrides().items():
        body = _live(key, override, report)
        if body is None:
            continue
        try:
            _built(override, body)
        except JobSchemaError as error:
            report.lines.append(f"{key}: not stored, the override does not fit it:\n{error}")
            report.problems += 1
            continue
        cached = _cached(override)
        changes = definition_changes(cached.definition, body) if cached is not None else []
        store(override, body)
        if cached is None:
            report.lines.append(f"{key}: {override.label} cached")
        elif changes:
            report.lines.append(f"{key}: {override.label} updated:")
            report.lines += [f"  {line}" for line in changes]
        else:
            report.lines.append(f"{key}: {override.label} unchanged")
    log.info("job definitions refreshed: %s", "; ".join(report.lines))
    return report


def check() -> Report:
    """What changed in Squonk2 since the last refresh (nothing is stored)."""
    report = Report()
    if source() == "files":
        report.lines.append(
            f"definitions are read from {current_app.config['JOB_DEFINITIONS_DIR']} "
            f"(JOB_DEFINITIONS=files); {len(job_schemas())} jobs checked at start-up"
        )
        return report
    for key, override in overrides().items():
        body = _live(key, override, report)
        if body is None:
            continue
        cached = _cached(override)
        if cached is None:
            report.lines.append(f"{key}: {override.label} not cached yet (flask jobs refresh)")
            report.problems += 1
        else:
            changes = definition_changes(cached.definition, body)
            when = f"{as_utc(cached.fetched):%Y-%m-%d %H:%M} UTC"
            if changes:
                report.lines.append(f"{key}: {override.label} changed since {when}:")
                report.lines += [f"  {line}" for line in changes]
                report.problems += len(changes)
            else:
                report.lines.append(f"{key}: {override.label} unchanged since {when}")
        try:
            _built(override, body)
        except JobSchemaError as error:
            report.lines.append(f"{key}: a refresh would not store it:\n{error}")
            report.problems += 1
    return report


def refresh_if_due() -> Report | None:
    """The scheduled refresh (run by the reconciler): when the oldest cached definition is
    older than ``JOB_DEFINITIONS_REFRESH_SECONDS``."""
    every = current_app.config["JOB_DEFINITIONS_REFRESH_SECONDS"]
    if not every or source() == "files":
        return None
    oldest = db.session.scalar(
        select(func.min(JobDefinition.fetched)).where(JobDefinition.squonk_url == squonk_url())
    )
    if oldest is None or as_utc(oldest) > utcnow() - timedelta(seconds=every):
        return None
    return refresh()
