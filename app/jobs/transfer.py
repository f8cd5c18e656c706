"""Alias of ``app.transfers.task`` for RQ tasks queued before 0.2 under ``app.jobs.transfer``.

Removed in the release after 0.2 (README, "Upgrading"): drain the queue first.
"""

from app.transfers.task import transfer_attempt_failed, transfer_files  # noqa: F401
