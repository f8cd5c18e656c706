"""Prometheus metrics, gathered at scrape time from the database and Redis.

Counters live in Redis (one hash) rather than in process memory, so any number of web
processes and workers add to the same figures and a restart loses nothing.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from sqlalchemy import func, select

from app.extensions import db, queue, redis_connection

log = logging.getLogger(__name__)
COUNTERS = "launcher:metrics:counters"


def increment(name: str, *labels: str) -> None:
    """Add one to a counter (never fails the caller: metrics are not worth an error)."""
    try:
        redis_connection().hincrby(COUNTERS, "|".join((name, *labels)), 1)
    except Exception:  # noqa: BLE001
        log.debug("metric %s not counted (Redis unavailable)", name)


def count_callback(outcome: str, reason: str) -> None:
    increment("callbacks", outcome, reason)


class LauncherCollector:
    def collect(self):
        from app.models import JobFileTransfer, JobRequest

        jobs = GaugeMetricFamily("launcher_jobs", "Job requests by status", labels=["status"])
        for status, count in db.session.execute(
            select(JobRequest.job_status, func.count()).group_by(JobRequest.job_status)
        ):
            jobs.add_metric([status], count)
        yield jobs

        counters = {}
        try:
            counters = {k.decode(): int(v) for k, v in redis_connection().hgetall(COUNTERS).items()}
        except Exception:  # noqa: BLE001
            log.warning("metrics: Redis unavailable")
        launches = CounterMetricFamily("launcher_launches", "Jobs launched (requests accepted)")
        launches.add_metric([], counters.get("launches", 0))
        yield launches
        callbacks = CounterMetricFamily(
            "launcher_callbacks", "Squonk2 callbacks received", labels=["outcome", "reason"]
        )
        for key, value in sorted(counters.items()):
            name, *labels = key.split("|")
            if name == "callbacks" and len(labels) == 2:
                callbacks.add_metric(labels, value)
        yield callbacks
        transitions = CounterMetricFamily(
            "launcher_job_transitions", "Job status changes committed", labels=["to", "source"]
        )
        for key, value in sorted(counters.items()):
            name, *labels = key.split("|")
            if name == "job_transitions" and len(labels) == 2:
                transitions.add_metric(labels, value)
        yield transitions

        yield from self.durations(
            JobFileTransfer.created,
            JobFileTransfer.transfer_datetime,
            "launcher_transfer_duration_seconds",
            "Time from a transfer's request to its success",
        )
        yield from self.durations(
            JobRequest.created,
            JobRequest.launched,
            "launcher_launch_duration_seconds",
            "Time from a launch request to the instance on Squonk2",
        )

        queued = GaugeMetricFamily(
            "launcher_queue_length", "Tasks waiting or failed in RQ", labels=["state"]
        )
        try:
            q = queue()
            queued.add_metric(["queued"], q.count)
            queued.add_metric(["failed"], q.failed_job_registry.count)
            queued.add_metric(["started"], q.started_job_registry.count)
        except Exception:  # noqa: BLE001
            log.warning("metrics: queue lengths unavailable")
        yield queued

    @staticmethod
    def durations(start, end, name: str, doc: str):
        rows = db.session.execute(
            select(start, end).where(end.is_not(None)).order_by(end.desc()).limit(1000)
        ).all()
        total = sum(max(0.0, (b - a).total_seconds()) for a, b in rows)
        summary = SummaryMetricFamily(name, doc + " (latest 1000)")
        summary.add_metric([], count_value=len(rows), sum_value=total)
        yield summary


def render() -> bytes:
    registry = CollectorRegistry()
    registry.register(LauncherCollector())
    return generate_latest(registry)
