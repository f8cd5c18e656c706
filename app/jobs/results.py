"""Alias of ``app.csets.task`` for RQ tasks queued before 0.2 under ``app.jobs.results``.

Removed in the release after 0.2 (README, "Upgrading"): drain the queue first.
"""

from app.csets.task import import_attempt_failed, import_results  # noqa: F401
