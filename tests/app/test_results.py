"""Moved: kept only so that ``from tests.app.test_results import ...`` still works while
tests/csets/test_job_sets.py switches to ``tests.support``. Holds no tests; delete this
folder then."""

from tests.support import finished_in_squonk, reconcile

__all__ = ["finished_in_squonk", "reconcile"]
