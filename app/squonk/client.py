"""A thin typed wrapper over im-squonk2-client's ``DmApi``.

Everything the product asks of Squonk2 goes through :class:`Squonk`. The client reports
failure as ``ApiRv(success=False, ...)``; here that becomes one of two exceptions:

- :class:`SquonkTransientError`: connection refused, timeout, 5xx (worth retrying);
- :class:`SquonkPermanentError`: 4xx or an answer we cannot use (retrying will not help).

``DmApi`` keeps its URL in a class attribute and serialises its calls per process, so this
module is the one place that sets the URL and holds the process-wide lock around each
call. No Flask globals inside: build it with :func:`squonk_from_config`.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from squonk2.auth import Auth
from squonk2.dm_api import TEST_PRODUCT_ID, DmApi

log = logging.getLogger(__name__)

# DmApi is class-level state (URL) plus a class-level lock; we add ours so that setting
# the URL and making the call happen together even when two configurations share a process.
_CALL_LOCK = threading.RLock()


class SquonkError(Exception):
    """A Squonk2 call failed. ``status`` is the HTTP status code (0: no answer)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class SquonkTransientError(SquonkError):
    """Squonk2 could not be reached or had a server error: retrying may help."""


class SquonkPermanentError(SquonkError):
    """Squonk2 refused the request (4xx) or answered with something unusable."""


class TokenSource(Protocol):
    def token(self) -> str: ...


@dataclass
class StaticToken:
    """A fixed bearer token (the local Squonk2, or a long-lived token)."""

    value: str

    def token(self) -> str:
        return self.value


class KeycloakToken:
    """Service-account credentials exchanged for an access token through the client's
    ``Auth.get_access_token``, which only asks Keycloak again when the prior token has
    less than a minute left."""

    def __init__(
        self,
        url: str,
        realm: str,
        client_id: str,
        username: str,
        password: str,
        client_secret: str | None = None,
    ) -> None:
        self._args = dict(
            keycloak_url=url,
            keycloak_realm=realm,
            keycloak_client_id=client_id,
            username=username,
            password=password,
            keycloak_client_secret=client_secret,
        )
        self._token: str | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            token = Auth.get_access_token(prior_token=self._token, **self._args)
            if not token:
                raise SquonkTransientError("Keycloak did not issue a Squonk2 access token")
            self._token = token
            return token


@dataclass(frozen=True)
class RemoteFile:
    """A file as Squonk2's listing gives it: name, ``stat.size`` and ``stat.modified``."""

    name: str
    size: int
    modified: str | None = None

    @property
    def modified_at(self) -> datetime | None:
        """``modified`` as an aware UTC datetime (None when absent or not ISO 8601)."""
        return parse_time(self.modified)


def parse_time(value: Any) -> datetime | None:
    """A DM time as an aware UTC datetime (None when absent or not ISO 8601).

    The DM writes ISO 8601 times, ``2026-11-21T10:00:00Z`` or with a fraction and/or an
    offset; a time without a zone is UTC."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class TaskEvent:
    """One event of a Squonk2 task, as ``GET /task/{id}`` lists it: the job's own words
    ("Merged x0072 + x0104 ...") or the Data Manager's, numbered by ``ordinal`` (1, 2, ...)."""

    ordinal: int
    message: str
    level: str = "INFO"
    time: datetime | None = None


def task_events(answer: dict) -> list[TaskEvent]:
    """The events of a ``get_task`` answer in ordinal order; malformed entries are skipped
    (an event without a whole-number ordinal cannot be stored exactly once)."""
    events: dict[int, TaskEvent] = {}
    for entry in answer.get("events") or []:
        if not isinstance(entry, dict):
            continue
        try:
            ordinal = int(entry["ordinal"])
        except (KeyError, TypeError, ValueError):
            continue
        events[ordinal] = TaskEvent(
            ordinal,
            str(entry.get("message") or ""),
            str(entry.get("level") or "INFO").upper(),
            parse_time(entry.get("time")),
        )
    return [events[ordinal] for ordinal in sorted(events)]


class Squonk:
    """Squonk2 Data Manager calls the product makes, with typed answers."""

    def __init__(
        self,
        dmapi_url: str,
        tokens: TokenSource,
        ui_url: str | None = None,
        verify_ssl: bool = True,
    ) -> None:
        self.dmapi_url = dmapi_url.rstrip("/")
        self.ui_url = ui_url.rstrip("/") if ui_url else None
        self.tokens = tokens
        self.verify_ssl = verify_ssl

    # -- the one place that calls DmApi ---------------------------------------------
    def _call(
        self,
        what: str,
        method: Callable[..., Any],
        *args: Any,
        authenticated: bool = True,
        **kwargs: Any,
    ) -> dict:
        started = time.perf_counter()
        with _CALL_LOCK:
            DmApi.set_api_url(self.dmapi_url, verify_ssl_cert=self.verify_ssl)
            if authenticated:
                args = (self.tokens.token(), *args)
            try:
                rv = method(*args, **kwargs)
            except (AssertionError, ValueError, TypeError, KeyError) as exc:
                # The client asserts on its inputs and raises on non-object JSON bodies
                raise SquonkPermanentError(f"{what}: {type(exc).__name__}: {exc}") from exc
        status = rv.http_status_code or 0
        log.debug("squonk %s -> %s in %.3fs", what, status, time.perf_counter() - started)
        if rv.success:
            return rv.msg if isinstance(rv.msg, dict) else {}
        # The client replaces the server's error text with its own, so the status code is
        # all we learn: log it (never the token).
        log.warning("squonk %s failed: status %s", what, status or "no answer")
        message = f"{what} failed ({'HTTP ' + str(status) if status else 'no answer'})"
        if status == 0 or status >= 500 or status == 429:
            raise SquonkTransientError(message, status)
        raise SquonkPermanentError(message, status)

    # -- service ---------------------------------------------------------------------
    def version(self) -> str:
        """Squonk2's version (unauthenticated): what ``/readyz`` asks."""
        return str(
            self._call("get version", DmApi.get_version, authenticated=False).get("version", "")
        )

    # -- projects --------------------------------------------------------------------
    def create_project(self, name: str, tier_product_id: str = TEST_PRODUCT_ID) -> str:
        msg = self._call(
            "create project",
            DmApi.create_project,
            project_name=name,
            as_tier_product_id=tier_product_id,
        )
        project_id = msg.get("project_id")
        if not project_id:
            raise SquonkPermanentError("create project: no project_id in the answer")
        return project_id

    def find_project(self, name: str) -> str | None:
        """The id of the project called ``name`` that we can see, if any."""
        msg = self._call("list projects", DmApi.get_available_projects, project_name=name)
        for project in msg.get("projects", []):
            if project.get("name") == name and project.get("project_id"):
                return project["project_id"]
        return None

    # -- files -------------------------------------------------------------------------
    def list_files(self, project_id: str, path: str) -> list[RemoteFile]:
        """Files at ``path`` of the project (``DmApi.list_project_files``: name, size and
        modification time as the DM lists them); an absent path is simply empty."""
        try:
            msg = self._call(
                "list project files",
                DmApi.list_project_files,
                project_id=project_id,
                project_path=path,
            )
        except SquonkPermanentError as exc:
            if exc.status == 404:
                return []
            raise
        try:
            return [
                RemoteFile(
                    f["file_name"],
                    int(f.get("stat", {}).get("size", -1)),
                    f.get("stat", {}).get("modified"),
                )
                for f in msg.get("files", [])
            ]
        except (TypeError, ValueError, KeyError) as exc:
            raise SquonkPermanentError(f"list project files: unexpected answer ({exc})") from exc

    def upload_file(self, project_id: str, local_file: Path, path: str) -> None:
        """Upload one file to ``path`` (created if absent), replacing a file of that name."""
        self._call(
            "upload file",
            DmApi.put_unmanaged_project_files,
            project_id=project_id,
            project_files=str(local_file),
            project_path=path,
            force=True,
        )

    def download_file(self, project_id: str, path: str, name: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="squonk-get-") as tmp:
            local = os.path.join(tmp, "file")
            self._call(
                "download file",
                DmApi.get_unmanaged_project_file,
                project_id=project_id,
                project_file=name,
                local_file=local,
                project_path=path,
            )
            return Path(local).read_bytes()

    # -- jobs --------------------------------------------------------------------------
    def get_job_by_version(self, collection: str, job: str, version: str) -> dict:
        return self._call(
            "get job definition",
            DmApi.get_job_by_version,
            job_collection=collection,
            job_job=job,
            job_version=version,
        )

    def start_job(
        self,
        project_id: str,
        name: str,
        specification: dict,
        callback_url: str | None,
        callback_context: str | None = None,
    ) -> dict:
        """Dry-run the job (Squonk2 checks the specification without running anything),
        then start it; the answer has ``instance_id``, ``task_id`` and ``command``."""
        arguments = dict(
            project_id=project_id,
            name=name,
            specification=specification,
            callback_url=callback_url,
            callback_context=callback_context,
        )
        dry = self._call("dry run", DmApi.dry_run_job_instance, **arguments)
        msg = self._call("start job", DmApi.start_job_instance, **arguments)
        if not msg.get("instance_id") or not msg.get("task_id"):
            raise SquonkPermanentError("start job: no instance_id/task_id in the answer")
        return {**msg, "command": msg.get("command") or dry.get("command")}

    def find_instance(self, callback_context: str) -> tuple[str, str] | None:
        """(instance id, task id) of the instance launched with this callback context."""
        msg = self._call(
            "list tasks",
            DmApi.get_tasks,
            exclude_removal=True,
            instance_callback_context=callback_context,
        )
        for task in msg.get("tasks", []):
            if task.get("purpose") == "INSTANCE" and task.get("purpose_id"):
                return task["purpose_id"], task.get("task_id") or task.get("id")
        return None

    def get_instance(self, instance_id: str) -> dict:
        return self._call("get instance", DmApi.get_instance, instance_id=instance_id)

    def get_task(
        self, task_id: str, event_prior_ordinal: int | None = None, event_limit: int | None = None
    ) -> dict:
        """The task: ``states``, ``done``, ``exit_code`` and its ``events`` (only those after
        ``event_prior_ordinal`` when given; Squonk2 caps how many, ``event_limit`` asks for
        fewer). :func:`task_events` reads the events of the answer."""
        return self._call(
            "get task",
            DmApi.get_task,
            task_id=task_id,
            event_prior_ordinal=max(0, event_prior_ordinal or 0),
            event_limit=max(0, event_limit or 0),
        )

    def delete_instance(self, instance_id: str) -> dict:
        return self._call("delete instance", DmApi.delete_instance, instance_id=instance_id)


def squonk_from_config(config: Any) -> Squonk:
    """Build the client from a Flask-style config mapping (or raise when not configured)."""
    url = config.get("SQUONK2_DMAPI_URL")
    if not url:
        raise SquonkPermanentError("Squonk2 is not configured (SQUONK2_DMAPI_URL)")
    if config.get("SQUONK2_TOKEN"):
        tokens: TokenSource = StaticToken(config["SQUONK2_TOKEN"])
    elif config.get("SQUONK2_KEYCLOAK_URL"):
        tokens = KeycloakToken(
            config["SQUONK2_KEYCLOAK_URL"],
            config["SQUONK2_KEYCLOAK_REALM"],
            config["SQUONK2_KEYCLOAK_CLIENT_ID"],
            config["SQUONK2_USERNAME"],
            config["SQUONK2_PASSWORD"],
            config.get("SQUONK2_KEYCLOAK_CLIENT_SECRET"),
        )
    else:
        raise SquonkPermanentError(
            "Squonk2 credentials are not configured (SQUONK2_TOKEN or SQUONK2_KEYCLOAK_*)"
        )
    return Squonk(
        url,
        tokens,
        ui_url=config.get("SQUONK2_UI_URL"),
        verify_ssl=config.get("SQUONK2_VERIFY_SSL", True),
    )
