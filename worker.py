"""The RQ worker: builds the app once (before forking work horses) and serves our queue.

Run as ``python worker.py``; ``--burst`` drains the queue and exits (tests, one-off runs).
"""

from __future__ import annotations

import argparse
import logging

from rq import Worker
from rq.serializers import JSONSerializer

from app import create_app
from app.extensions import queue, redis_connection


class JobIdFilter(logging.Filter):
    """Adds the RQ job id to every log line, so one task's lines can be followed."""

    def filter(self, record: logging.LogRecord) -> bool:
        from rq import get_current_job

        job = get_current_job()
        record.rq_job = job.id if job else "-"
        return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    args = parser.parse_args(argv)

    handler = logging.StreamHandler()
    handler.addFilter(JobIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(rq_job)s] %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler])

    app = create_app()
    with app.app_context():
        worker = Worker([queue()], connection=redis_connection(), serializer=JSONSerializer)
        worker.work(burst=args.burst, with_scheduler=True)


if __name__ == "__main__":
    main()
