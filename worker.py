"""The RQ worker: builds the app once (before forking work horses) and serves our queue;
a child process runs RQ's cron scheduler, which queues the reconciler periodically.

Run as ``python worker.py``; ``--burst`` drains the queue and exits (tests, one-off runs);
``--no-cron`` leaves the periodic reconciler to another worker.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os

from rq import Worker
from rq.cron import CronScheduler

from app import create_app
from app.extensions import queue, redis_connection

log = logging.getLogger("worker")

# How often a worker vouches for the task it runs (RQ's job monitoring interval, default
# 30 s). A task's claim lapses this plus 60 s after its worker's last word; the reconciler
# then releases it (app.queueing.release_abandoned), so a kill -9 costs about 70 s.
HEARTBEAT_SECONDS = 10


class JobIdFilter(logging.Filter):
    """Adds the RQ job id to every log line, so one task's lines can be followed."""

    def filter(self, record: logging.LogRecord) -> bool:
        from rq import get_current_job

        job = get_current_job()
        record.rq_job = job.id if job else "-"
        return True


def setup_logging() -> None:
    handler = logging.StreamHandler()
    handler.addFilter(JobIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(rq_job)s] %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def run_cron() -> None:
    """RQ's cron scheduler: queue the reconciler every RECONCILE_INTERVAL seconds."""
    from app.jobs.reconcile import reconcile

    app = create_app()
    with app.app_context():
        scheduler = CronScheduler(connection=redis_connection(), name=f"launcher-{os.getpid()}")
        scheduler.register(
            reconcile,
            queue_name=app.config["QUEUE_NAME"],
            interval=app.config["RECONCILE_INTERVAL"],
            job_timeout=600,
        )
        scheduler.start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    parser.add_argument("--no-cron", action="store_true", help="do not run the reconciler")
    args = parser.parse_args(argv)
    setup_logging()

    app = create_app()
    cron = None
    if not args.burst and not args.no_cron and app.config["RECONCILE_CRON"]:
        cron = multiprocessing.get_context("fork").Process(
            target=run_cron, name="cron", daemon=True
        )
        cron.start()
    try:
        with app.app_context():
            worker = Worker(
                [queue()],
                connection=redis_connection(),
                job_monitoring_interval=HEARTBEAT_SECONDS,
            )
            worker.work(burst=args.burst, with_scheduler=True)
    finally:
        if cron is not None and cron.is_alive():
            cron.terminate()


if __name__ == "__main__":
    main()
