"""Alias of ``app.jobs.task`` for RQ tasks queued before 0.2 under ``app.jobs.launch``.

Removed in the release after 0.2 (README, "Upgrading"): drain the queue first.
"""

from app.jobs.task import launch_attempt_failed, launch_job  # noqa: F401
