"""Moved: kept only so that ``from tests.app.test_results import ...`` still works while
other files switch to ``tests.support``. Holds no tests."""

from tests.csets.test_job_import import finished_in_squonk, reconcile

__all__ = ["finished_in_squonk", "reconcile"]
