"""Queueing work on RQ, one way for every task.

- :func:`enqueue` gives each piece of work a deterministic RQ job id
  (``<queue>-transfer-<id>``, ``<queue>-launch-<id>``, ``<queue>-import-<id>``), so a
  reconciler and a request cannot queue the same work twice: while a job of that id is
  queued, scheduled or running, asking again returns it.
- :func:`on_final_failure` builds the RQ failure callback of a task whose row must say
  why it stopped once its last retry failed (RQ calls it after every failed attempt).
- :func:`release_abandoned` hands back the work of a worker that died (kill -9, OOM):
  RQ's own abandoned-job sweep, run by the reconciler instead of waiting for RQ's
  10-minute maintenance.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from typing import Any

from flask import current_app
from rq import Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Callback, Job, JobStatus
from rq.registry import StartedJobRegistry

from app.extensions import db, queue, redis_connection
from app.squonk.client import SquonkTransientError

log = logging.getLogger(__name__)

LIVE = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED})


def task_id(kind: str, row_id: int) -> str:
    """The RQ job id of the work ``kind`` on row ``row_id``, e.g. ``launcher-transfer-12``.

    It starts with the queue's name: deployments (or test runs) that share one Redis but
    not one database must not mistake each other's work for their own."""
    prefix = re.sub(r"[^A-Za-z0-9_-]+", "_", current_app.config["QUEUE_NAME"])
    return f"{prefix}-{kind}-{row_id}"


def live_task(rq_id: str) -> Job | None:
    """The RQ job of that id if it is still going to run (or running)."""
    try:
        job = Job.fetch(rq_id, connection=redis_connection())
    except NoSuchJobError:
        return None
    return job if job.get_status(refresh=False) in LIVE else None


def release_abandoned() -> int:
    """Tasks whose worker stopped sending heartbeats (it died) are released, the way RQ's
    maintenance does it: retried while they have retries left (their failure callback hears
    of each attempt), otherwise failed. Returns how many were released.

    A running task's entry expires one heartbeat TTL (the worker's job monitoring interval
    plus 60 s) after its worker's last heartbeat."""
    registry = StartedJobRegistry(queue=queue())
    expired = registry.get_expired_job_ids()
    if expired:
        log.warning("released %d task(s) of a dead worker: %s", len(expired), expired)
        registry.cleanup()
    return len(expired)


def enqueue(func: str, kind: str, row_id: int, *, on_failure: str, timeout: int) -> Job:
    """Queue ``func(row_id)`` once: retried with SQUONK2_RETRY_INTERVALS on transient failures,
    ``on_failure`` speaking after the last attempt. Commit the row first."""
    intervals = current_app.config["SQUONK2_RETRY_INTERVALS"]
    rq_id = task_id(kind, row_id)
    for _ in range(3):
        try:
            return queue().enqueue(
                func,
                row_id,
                job_id=rq_id,
                unique=True,
                retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
                on_failure=Callback(on_failure),
                job_timeout=timeout,
                failure_ttl=7 * 24 * 3600,
            )
        except DuplicateJobError:
            existing = live_task(rq_id)
            if existing is not None:
                log.info("%s is already queued", rq_id)
                return existing
            # a finished or failed run of the same work: make way for the new one
            try:
                Job.fetch(rq_id, connection=redis_connection()).delete()
            except NoSuchJobError:
                pass
    raise RuntimeError(f"could not queue {rq_id}")


def on_final_failure(
    model: type,
    expected: Callable[[Any], bool],
    give_up: Callable[[Any, str], None],
    unreachable: str,
    what: str,
) -> Callable[..., None]:
    """An RQ failure callback for a task on ``model`` rows.

    After the last attempt only, and only if the row is still in a state the task was
    working on (``expected``), ``give_up(row, message)`` records why: ``unreachable`` when
    Squonk2 could not be reached, else that ``what`` stopped unexpectedly.
    """

    def failed(job, connection, exc_type, exc_value, traceback) -> None:
        if job.retries_left:
            log.info(
                "%s attempt failed (%s); %s retries left", what, exc_type.__name__, job.retries_left
            )
            return
        db.session.rollback()
        row = db.session.get(model, job.args[0])
        if row is None or not expected(row):
            return
        if issubclass(exc_type, SquonkTransientError):
            message = unreachable
        else:
            message = f"The {what} stopped unexpectedly ({exc_type.__name__}); please try again."
        give_up(row, message)

    return failed


def in_states(attribute: str, states: Collection[str]) -> Callable[[Any], bool]:
    """``expected`` for :func:`on_final_failure`: the row's ``attribute`` is one of ``states``."""
    return lambda row: getattr(row, attribute) in states
