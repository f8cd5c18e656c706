"""Shared by the benchmarks: a database of their own, and small statistics."""

from __future__ import annotations

import atexit
import os
import statistics
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import sqlalchemy_url


def bench_database_url(workdir: Path) -> str:
    """A fresh PostgreSQL database next to DATABASE_URL's (dropped at exit), else SQLite."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        return f"sqlite:///{workdir / 'bench.db'}"
    url = make_url(sqlalchemy_url(base))
    name = f"bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    atexit.register(drop)
    return url.set(database=name).render_as_string(hide_password=False)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> str:
    return (
        f"median {statistics.median(values_ms):7.1f} ms   "
        f"p95 {percentile(values_ms, 95):7.1f} ms   p99 {percentile(values_ms, 99):7.1f} ms"
    )
