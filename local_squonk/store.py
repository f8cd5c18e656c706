"""Persistent state of the stand-in: one SQLite file under the root.

Projects, instances, tasks (with their states and events) and the callback outbox
live here so that a restart of the server loses nothing. One connection guarded by
a lock is plenty for a stand-in and keeps event ordinals gap-free.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    project_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    product_id TEXT NOT NULL,
    private INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    application_id TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    job_collection TEXT NOT NULL,
    job_job TEXT NOT NULL,
    job_version TEXT NOT NULL,
    command TEXT NOT NULL,
    argv TEXT NOT NULL,
    outputs TEXT NOT NULL,
    instance_directory TEXT NOT NULL,
    phase TEXT NOT NULL,
    launched TEXT NOT NULL,
    started TEXT,
    stopped TEXT,
    exit_code INTEGER,
    task_id TEXT NOT NULL,
    callback_url TEXT,
    callback_context TEXT,
    callback_token TEXT,
    callback_token_deleted INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    pid_create_time REAL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    purpose_id TEXT NOT NULL,
    purpose_version INTEGER NOT NULL DEFAULT 0,
    project_id TEXT,
    created TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    removal INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS task_states (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    state TEXT NOT NULL,
    time TEXT NOT NULL,
    message TEXT
);
CREATE TABLE IF NOT EXISTS task_events (
    task_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (task_id, ordinal)
);
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX IF NOT EXISTS callbacks_pending ON callbacks (status, instance_id, id);
"""


def utc_now() -> str:
    """Now, as the ISO-8601 UTC text Squonk2 uses (``2026-11-21T10:00:00Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return None if row is None else dict(row)


class Store:
    """All reads and writes of the stand-in's state."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        with self._lock:
            return _row(self._conn.execute(sql, params).fetchone())

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._conn.execute(sql, params).fetchall()]

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self._lock:
            cursor = self._conn.execute(sql, params)
            return cursor.lastrowid or 0

    # Projects ---------------------------------------------------------------

    def create_project(
        self, project_id: str, name: str, owner: str, product_id: str, private: bool
    ) -> dict[str, Any]:
        self._write(
            "INSERT INTO projects VALUES (?, ?, ?, ?, ?, ?)",
            (project_id, name, owner, product_id, int(private), utc_now()),
        )
        project = self.get_project(project_id)
        assert project is not None
        return project

    def get_project(self, project_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM projects WHERE project_id = ?", (project_id,))

    def list_projects(self, name: str | None = None) -> list[dict[str, Any]]:
        if name:
            return self._all("SELECT * FROM projects WHERE name = ? ORDER BY created", (name,))
        return self._all("SELECT * FROM projects ORDER BY created")

    # Instances --------------------------------------------------------------

    def create_instance(self, instance: dict[str, Any], task_id: str) -> None:
        """Insert an instance and its PENDING task in one transaction.

        :param instance: column -> value for the instances table
        :param task_id: the id of the instance's task
        """
        now = instance["launched"]
        columns = ", ".join(instance)
        marks = ", ".join("?" for _ in instance)
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.execute(
                    f"INSERT INTO instances ({columns}) VALUES ({marks})", tuple(instance.values())
                )
                self._conn.execute(
                    "INSERT INTO tasks (task_id, purpose, purpose_id, project_id, created)"
                    " VALUES (?, 'INSTANCE', ?, ?, ?)",
                    (task_id, instance["instance_id"], instance["project_id"], now),
                )
                self._conn.execute(
                    "INSERT INTO task_states (task_id, state, time) VALUES (?, 'PENDING', ?)",
                    (task_id, now),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def get_instance(
        self, instance_id: str, include_deleted: bool = False
    ) -> dict[str, Any] | None:
        instance = self._one("SELECT * FROM instances WHERE instance_id = ?", (instance_id,))
        if instance is None or (instance["deleted"] and not include_deleted):
            return None
        return instance

    def list_instances(self, project_id: str | None = None) -> list[dict[str, Any]]:
        if project_id:
            return self._all(
                "SELECT * FROM instances WHERE deleted = 0 AND project_id = ? ORDER BY launched",
                (project_id,),
            )
        return self._all("SELECT * FROM instances WHERE deleted = 0 ORDER BY launched")

    def instances_in_phase(self, phase: str) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM instances WHERE deleted = 0 AND phase = ? ORDER BY launched", (phase,)
        )

    def update_instance(self, instance_id: str, **fields: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._write(
            f"UPDATE instances SET {assignments} WHERE instance_id = ?",
            (*fields.values(), instance_id),
        )

    def find_token_instance(self, project_id: str, token: str) -> dict[str, Any] | None:
        """The instance of a project whose live callback token is ``token``."""
        return self._one(
            "SELECT * FROM instances WHERE project_id = ? AND callback_token = ?"
            " AND callback_token_deleted = 0",
            (project_id, token),
        )

    # Tasks ------------------------------------------------------------------

    def create_task(
        self, task_id: str, purpose: str, purpose_id: str, project_id: str | None, removal: bool
    ) -> None:
        self._write(
            "INSERT INTO tasks (task_id, purpose, purpose_id, project_id, created, removal)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (task_id, purpose, purpose_id, project_id, utc_now(), int(removal)),
        )

    def add_state(self, task_id: str, state: str, message: str | None = None) -> str:
        now = utc_now()
        self._write(
            "INSERT INTO task_states (task_id, state, time, message) VALUES (?, ?, ?, ?)",
            (task_id, state, now, message),
        )
        return now

    def finish_task(self, task_id: str, state: str, exit_code: int | None, message: str) -> str:
        """Record the final state of a task and mark it done; returns the time."""
        with self._lock:
            self._write(
                "UPDATE tasks SET done = 1, exit_code = ? WHERE task_id = ?", (exit_code, task_id)
            )
            return self.add_state(task_id, state, message)

    def add_event(self, task_id: str, level: str, message: str) -> int:
        """Append an event to a task; returns its ordinal (1, 2, 3, ...)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COALESCE(MAX(ordinal), 0) + 1 FROM task_events WHERE task_id = ?",
                (task_id,),
            ).fetchone()
            ordinal = int(row[0])
            self._conn.execute(
                "INSERT INTO task_events VALUES (?, ?, ?, ?, ?)",
                (task_id, ordinal, level, message[:4096], utc_now()),
            )
            return ordinal

    def get_task(self, task_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM tasks WHERE task_id = ?", (task_id,))

    def task_states(self, task_id: str) -> list[dict[str, Any]]:
        return self._all(
            "SELECT state, time, message FROM task_states WHERE task_id = ? ORDER BY id",
            (task_id,),
        )

    def task_events(self, task_id: str, after_ordinal: int, limit: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT ordinal, level, message, time FROM task_events"
            " WHERE task_id = ? AND ordinal > ? ORDER BY ordinal LIMIT ?",
            (task_id, after_ordinal, limit),
        )

    def list_tasks(
        self,
        *,
        project_id: str | None = None,
        exclude_done: bool = False,
        exclude_removal: bool = False,
        exclude_purposes: set[str] | None = None,
        instance_callback_context: str | None = None,
    ) -> list[dict[str, Any]]:
        # Joined on the instance's own (running) task: a removal task of the same
        # instance is not what a caller filtering by callback context is after.
        sql = "SELECT t.* FROM tasks t LEFT JOIN instances i ON i.task_id = t.task_id"
        where: list[str] = []
        params: list[Any] = []
        if project_id:
            where.append("t.project_id = ?")
            params.append(project_id)
        if exclude_done:
            where.append("t.done = 0")
        if exclude_removal:
            where.append("t.removal = 0")
        for purpose in sorted(exclude_purposes or ()):
            where.append("t.purpose != ?")
            params.append(purpose)
        if instance_callback_context:
            where.append("i.callback_context = ?")
            params.append(instance_callback_context)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._all(sql + " ORDER BY t.created, t.rowid", tuple(params))

    # Callback outbox --------------------------------------------------------

    def enqueue_callback(
        self, instance_id: str, task_id: str, url: str, payload: dict[str, Any]
    ) -> int:
        return self._write(
            "INSERT INTO callbacks (instance_id, task_id, url, payload, next_attempt)"
            " VALUES (?, ?, ?, ?, ?)",
            (instance_id, task_id, url, json.dumps(payload), time.time()),
        )

    def due_callbacks(self, now: float) -> list[dict[str, Any]]:
        """Pending callbacks that are due and first in line for their instance.

        Only the oldest pending callback of an instance is offered so that STARTED
        always reaches the receiver before SUCCESS/FAILURE.
        """
        return self._all(
            "SELECT * FROM callbacks c WHERE c.status = 'pending' AND c.next_attempt <= ?"
            " AND c.id = (SELECT MIN(id) FROM callbacks d"
            "             WHERE d.instance_id = c.instance_id AND d.status = 'pending')"
            " ORDER BY c.next_attempt, c.id",
            (now,),
        )

    def next_callback_time(self) -> float | None:
        row = self._one("SELECT MIN(next_attempt) AS t FROM callbacks WHERE status = 'pending'")
        return None if row is None else row["t"]

    def update_callback(self, callback_id: int, **fields: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._write(
            f"UPDATE callbacks SET {assignments} WHERE id = ?", (*fields.values(), callback_id)
        )

    def get_callback(self, callback_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM callbacks WHERE id = ?", (callback_id,))
