"""The HTTP face of the stand-in: the Data Manager API subset of CONTRACTS.md section 1.

Every body is a JSON object (``im-squonk2-client`` refuses anything else), status codes
are the ones the client expects, and every request is appended to ``requests.jsonl``.
"""

from __future__ import annotations

import hmac
import json
import logging
import mimetypes
import os
import re
import secrets
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, Flask, current_app, g, request, send_file
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from . import __version__
from .callbacks import CallbackDispatcher
from .catalogue import JOBS_DIR, Catalogue, SpecificationError, parse_specification, prepare_launch
from .config import Settings
from .paths import UnsafePathError, check_file_name, resolve
from .runner import Runner
from .store import Store, utc_now

logger = logging.getLogger(__name__)

API_PREFIX = "/data-manager-api"
JOB_APPLICATION_ID = "datamanagerjobs.squonk.it"
OWNER = "local-user"
SHORTUUID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

AS_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-_. ]{0,78}[A-Za-z0-9])$")
PROJECT_ID = re.compile(r"^project-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PRODUCT_ID = re.compile(r"^product-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CALLBACK_TOKEN = re.compile(rf"^[{SHORTUUID_ALPHABET}]{{22}}$")

# Calls that carry no bearer token in Squonk2: the version, and the two that
# authenticate with an instance's callback token instead.
PUBLIC_ENDPOINTS = frozenset(
    {"dm.get_version", "dm.get_file_with_token", "dm.delete_instance_token"}
)
MIME_TYPES = {
    ".sdf": "chemical/x-mdl-sdfile",
    ".mol": "chemical/x-mdl-molfile",
    ".pdb": "chemical/x-pdb",
    ".smi": "squonk/x-smiles",
}

bp = Blueprint("dm", __name__, url_prefix=API_PREFIX)


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Services:
    """The long-lived parts of one server, shared by all requests."""

    settings: Settings
    store: Store
    catalogue: Catalogue
    callbacks: CallbackDispatcher
    runner: Runner
    log_lock: threading.Lock
    jobs_lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self) -> None:
        self.runner.shutdown()
        self.callbacks.stop()

    def jobs(self) -> Catalogue:
        """The catalogue, re-read when a definition file changed."""
        with self.jobs_lock:
            self.catalogue = self.catalogue.reloaded()
            return self.catalogue


def create_app(settings: Settings | None = None) -> Flask:
    """Build the server and start its runner and callback dispatcher.

    :param settings: the configuration (from the environment if not given)
    """
    settings = settings or Settings.from_env()
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database_path)
    catalogue = Catalogue.load(settings.jobs_dir or JOBS_DIR, include_test_jobs=settings.test_jobs)
    callbacks = CallbackDispatcher(store, settings)
    runner = Runner(store, settings, callbacks)
    services = Services(settings, store, catalogue, callbacks, runner, threading.Lock())

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(settings.max_upload_mb * 1024 * 1024)
    app.extensions["local_squonk"] = services
    app.register_blueprint(bp)
    app.before_request(_authenticate)
    app.after_request(_log_request)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)

    callbacks.start()
    runner.start()
    logger.info("local_squonk %s serving %s (root %s)", __version__, API_PREFIX, settings.root)
    return app


def services() -> Services:
    return current_app.extensions["local_squonk"]


# Cross-cutting ----------------------------------------------------------------


def _authenticate() -> None:
    g.started = time.perf_counter()
    if request.endpoint in PUBLIC_ENDPOINTS or not request.path.startswith(API_PREFIX):
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    expected = services().settings.token
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise ApiError(401, "Missing or invalid bearer token")


def _log_request(response: Any) -> Any:
    """Append one JSON line per request; tokens never appear in it."""
    record: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round(
            (time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1
        ),
    }
    args = {k: v for k, v in request.args.items() if "token" not in k.lower()}
    if args:
        record["args"] = args
    upload = g.get("upload")
    if upload:
        # Flat keys for easy counting, and the same facts grouped under "upload".
        record.update(
            project_id=upload["project_id"], file=upload["file"], project_path=upload["path"]
        )
        record["upload"] = upload
    line = json.dumps(record) + "\n"
    svc = services()
    with svc.log_lock, open(svc.settings.request_log_path, "a", encoding="utf-8") as log:
        log.write(line)
    return response


def _api_error(error: ApiError) -> ResponseReturnValue:
    return {"error": error.message}, error.status


def _http_error(error: HTTPException) -> ResponseReturnValue:
    return {"error": error.description or error.name}, error.code or 500


def _unexpected_error(error: Exception) -> ResponseReturnValue:
    logger.exception("Unhandled error on %s %s", request.method, request.path)
    return {"error": f"Internal error: {type(error).__name__}"}, 500


def _flag(name: str, source: Any = None) -> bool:
    # The client sends booleans as the strings "True"/"False".
    value = (source if source is not None else request.values).get(name, "")
    return str(value).strip().lower() in {"true", "1", "yes"}


def _int_arg(name: str, default: int) -> int:
    value = request.args.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError as error:
        raise ApiError(400, f"{name} must be an integer") from error
    if number < 0:
        raise ApiError(400, f"{name} must not be negative")
    return number


def _project_or_404(project_id: str | None) -> tuple[dict[str, Any], Path]:
    if not project_id:
        raise ApiError(400, "project_id is required")
    project = services().store.get_project(project_id)
    if project is None:
        raise ApiError(404, f"No such project: {project_id}")
    return project, services().settings.projects_dir / project_id


def _resolve(root: Path, path: str, file_name: str | None = None) -> Path:
    try:
        return resolve(root, path, file_name)
    except UnsafePathError as error:
        raise ApiError(400, str(error)) from error


def _display_path(path: str) -> str:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Service ------------------------------------------------------------------------


@bp.get("/version")
def get_version() -> ResponseReturnValue:
    """The service version (no token needed)."""
    return {"version": f"{__version__}-local-squonk"}


@bp.get("/account-server/namespace")
def get_namespace() -> ResponseReturnValue:
    """The account server namespace; the client's ping()."""
    return {"namespace": "local-squonk"}


# Projects -------------------------------------------------------------------------


def _project_json(project: dict[str, Any]) -> dict[str, Any]:
    return {
        "project_id": project["project_id"],
        "name": project["name"],
        "owner": project["owner"],
        "product_id": project["product_id"],
        "private": bool(project["private"]),
        "created": project["created"],
        "editors": [project["owner"]],
        "observers": [],
        "administrators": [project["owner"]],
    }


@bp.get("/project")
def list_projects() -> ResponseReturnValue:
    """Projects, optionally only those with ``project_name``."""
    projects = [
        _project_json(p) for p in services().store.list_projects(request.args.get("project_name"))
    ]
    return {"count": len(projects), "projects": projects}


@bp.post("/project")
def create_project() -> ResponseReturnValue:
    """Create a project and its volume."""
    name = (request.form.get("name") or "").strip()
    product_id = request.form.get("tier_product_id") or ""
    if not name or len(name) > 80:
        raise ApiError(400, "name is required (at most 80 characters)")
    if not PRODUCT_ID.match(product_id):
        raise ApiError(400, "tier_product_id must look like product-<uuid>")
    store = services().store
    if store.list_projects(name):
        raise ApiError(409, f"A project named {name!r} already exists")
    project_id = f"project-{uuid.uuid4()}"
    (services().settings.projects_dir / project_id).mkdir(parents=True)
    store.create_project(project_id, name, OWNER, product_id, _flag("private", request.form))
    return {"project_id": project_id}, 201


@bp.get("/project/<project_id>")
def get_project(project_id: str) -> ResponseReturnValue:
    """One project's details."""
    project, root = _project_or_404(project_id)
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    return {**_project_json(project), "size": size}


# Files ------------------------------------------------------------------------------


def _file_json(path: Path) -> dict[str, Any]:
    stat = path.stat()
    mime = MIME_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    entry: dict[str, Any] = {
        "file_name": path.name,
        "owner": OWNER,
        "immutable": False,
        "stat": {
            "size": stat.st_size,
            "modified": _timestamp(stat.st_mtime),
            "permissions": "rw-r--r--",
        },
    }
    if mime:
        entry["mime_type"] = mime
    return entry


@bp.get("/file")
def list_files() -> ResponseReturnValue:
    """Files and sub-paths on a project path; 404 if the path does not exist."""
    project_id = request.args.get("project_id")
    _, root = _project_or_404(project_id)
    path = request.args.get("path") or "/"
    directory = _resolve(root, path)
    if not directory.is_dir():
        raise ApiError(404, f"No such path: {path}")
    include_hidden = _flag("include_hidden", request.args)
    files, paths = [], []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.is_symlink() or (entry.name.startswith(".") and not include_hidden):
            continue
        if entry.is_dir():
            paths.append(entry.name)
        elif entry.is_file():
            files.append(_file_json(entry))
    return {
        "count": len(files),
        "project_id": project_id,
        "path": _display_path(path),
        "files": files,
        "paths": paths,
    }


@bp.put("/project/<project_id>/file")
def put_file(project_id: str) -> ResponseReturnValue:
    """Upload one file to a project path, creating the path."""
    _, root = _project_or_404(project_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(400, "A multipart 'file' is required")
    try:
        name = check_file_name(upload.filename)
    except UnsafePathError as error:
        raise ApiError(400, str(error)) from error
    path = request.form.get("path") or "/"
    directory = _resolve(root, path)
    if directory.exists() and not directory.is_dir():
        raise ApiError(400, f"Path is a file: {path}")
    directory.mkdir(parents=True, exist_ok=True)
    target = _resolve(root, path, name)
    if target.is_dir():
        raise ApiError(400, f"A directory has that name: {name}")
    # Write then rename so a reader never sees half a file.
    partial = target.with_name(f".{name}.{secrets.token_hex(4)}.part")
    upload.save(partial)
    os.replace(partial, target)
    g.upload = {
        "project_id": project_id,
        "path": _display_path(path),
        "file": name,
        "size": target.stat().st_size,
    }
    return {"project_id": project_id, "path": _display_path(path), "file_name": name}, 201


def _send_project_file(root: Path) -> ResponseReturnValue:
    path = request.args.get("path") or "/"
    file_name = request.args.get("file") or ""
    target = _resolve(root, path, file_name)
    if not target.is_file():
        raise ApiError(404, f"No such file: {_display_path(path)}/{file_name}")
    mime = MIME_TYPES.get(target.suffix.lower()) or "application/octet-stream"
    return send_file(target, mimetype=mime, download_name=target.name, max_age=0)


@bp.get("/project/<project_id>/file")
def get_file(project_id: str) -> ResponseReturnValue:
    """Download a project file."""
    _, root = _project_or_404(project_id)
    return _send_project_file(root)


@bp.get("/project/<project_id>/file-with-token")
def get_file_with_token(project_id: str) -> ResponseReturnValue:
    """Download a project file with an instance's callback token instead of a bearer."""
    _, root = _project_or_404(project_id)
    token = request.args.get("token") or ""
    if not token or services().store.find_token_instance(project_id, token) is None:
        raise ApiError(403, "Invalid or deleted token for this project")
    return _send_project_file(root)


@bp.delete("/file")
def delete_file() -> ResponseReturnValue:
    """Delete one project file."""
    _, root = _project_or_404(request.args.get("project_id"))
    path = request.args.get("path") or "/"
    target = _resolve(root, path, request.args.get("file") or "")
    if not target.is_file():
        raise ApiError(404, "No such file")
    target.unlink()
    return "", 204


# Jobs ---------------------------------------------------------------------------------


@bp.get("/job")
def list_jobs() -> ResponseReturnValue:
    """The job catalogue."""
    jobs = [job.summary() for job in services().jobs().all()]
    return {"count": len(jobs), "jobs": jobs}


@bp.get("/job/<int:job_id>")
def get_job(job_id: int) -> ResponseReturnValue:
    """One job definition by its numeric id."""
    job = services().jobs().get(job_id)
    if job is None:
        raise ApiError(404, f"No such job: {job_id}")
    return job.detail()


@bp.get("/job/get-by-version")
def get_job_by_version() -> ResponseReturnValue:
    """One job definition by collection, job and version."""
    args = request.args
    job = (
        services()
        .jobs()
        .find(args.get("collection", ""), args.get("job", ""), args.get("version", ""))
    )
    if job is None:
        raise ApiError(404, "No such job")
    return job.detail()


# Instances ------------------------------------------------------------------------------


def _prepare_instance() -> dict[str, Any]:
    """Validate a dry-run/start form; everything needed to start, or ApiError."""
    form = request.form
    if form.get("application_id") != JOB_APPLICATION_ID:
        raise ApiError(400, f"application_id must be {JOB_APPLICATION_ID}")
    name = form.get("as_name") or ""
    if not AS_NAME.match(name):
        raise ApiError(400, "as_name must be 2-80 letters, digits or '-_. ' (not at the ends)")
    project_id = form.get("project_id") or ""
    if not PROJECT_ID.match(project_id):
        raise ApiError(400, "project_id must look like project-<uuid>")
    _, root = _project_or_404(project_id)

    callback_url = form.get("callback_url") or None
    if callback_url:
        parsed = urlparse(callback_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ApiError(400, "callback_url must be an http(s) URL")
    callback_context = form.get("callback_context")
    if callback_context is not None and not 1 <= len(callback_context) <= 256:
        raise ApiError(400, "callback_context must be 1-256 characters")
    callback_token = form.get("callback_token") or None
    if callback_token and not CALLBACK_TOKEN.match(callback_token):
        raise ApiError(400, "callback_token must be 22 characters of the shortuuid alphabet")
    if not callback_token and _flag("generate_callback_token", form):
        if not callback_url:
            raise ApiError(400, "generate_callback_token needs a callback_url")
        callback_token = "".join(secrets.choice(SHORTUUID_ALPHABET) for _ in range(22))

    try:
        collection, job_name, version, variables = parse_specification(
            form.get("specification") or ""
        )
    except SpecificationError as error:
        raise ApiError(400, str(error)) from error
    job = services().jobs().find(collection, job_name, version)
    if job is None:
        raise ApiError(400, f"Unknown job {collection}/{job_name}/{version}")
    instance_uuid = uuid.uuid4()
    instance_directory = f".instance-{instance_uuid}"
    try:
        launch = prepare_launch(job, variables, root, instance_directory)
    except SpecificationError as error:
        raise ApiError(400, str(error)) from error
    return {
        "instance_id": f"instance-{instance_uuid}",
        "project_id": project_id,
        "name": name,
        "application_id": JOB_APPLICATION_ID,
        "job_id": job.id,
        "job_collection": collection,
        "job_job": job_name,
        "job_version": version,
        "command": launch.command,
        "argv": json.dumps(launch.argv),
        "outputs": json.dumps(launch.outputs),
        "instance_directory": instance_directory,
        "phase": "PENDING",
        "launched": utc_now(),
        "callback_url": callback_url,
        "callback_context": callback_context,
        "callback_token": callback_token,
    }


@bp.post("/instance/dry-run")
def dry_run_instance() -> ResponseReturnValue:
    """Check a launch and show its command; nothing is created."""
    instance = _prepare_instance()
    body = {"command": instance["command"]}
    if instance["callback_token"]:
        body["callback_token"] = instance["callback_token"]
    return body, 201


@bp.post("/instance")
def start_instance() -> ResponseReturnValue:
    """Create an instance and queue it for running."""
    instance = _prepare_instance()
    svc = services()
    task_id = f"task-{uuid.uuid4()}"
    root = svc.settings.projects_dir / instance["project_id"]
    (root / instance["instance_directory"]).mkdir()
    svc.store.create_instance({**instance, "task_id": task_id}, task_id)
    svc.runner.submit(instance["instance_id"])
    body = {
        "instance_id": instance["instance_id"],
        "task_id": task_id,
        "command": instance["command"],
    }
    if instance["callback_token"]:
        body["callback_token"] = instance["callback_token"]
    return body, 201


def _instance_json(instance: dict[str, Any]) -> dict[str, Any]:
    states = services().store.task_states(instance["task_id"])
    body: dict[str, Any] = {
        "id": instance["instance_id"],
        "instance_id": instance["instance_id"],
        "application_id": instance["application_id"],
        "application_type": "JOB",
        "job_id": instance["job_id"],
        "job_collection": instance["job_collection"],
        "job_job": instance["job_job"],
        "job_version": instance["job_version"],
        "name": instance["name"],
        "owner": OWNER,
        "project_id": instance["project_id"],
        "phase": instance["phase"],
        "state": states[-1]["state"] if states else "PENDING",
        "launched": instance["launched"],
        "command": instance["command"],
        "outputs": json.loads(instance["outputs"]),
        "task_id": instance["task_id"],
        "instance_directory": instance["instance_directory"],
    }
    # Squonk2 leaves unknown values out rather than sending null.
    for key in ("started", "stopped", "exit_code", "callback_url", "callback_context"):
        if instance.get(key) is not None:
            body[key] = instance[key]
    return body


@bp.get("/instance")
def list_instances() -> ResponseReturnValue:
    """Instances, optionally of one project."""
    rows = services().store.list_instances(request.args.get("project_id"))
    instances = [_instance_json(row) for row in rows]
    return {"count": len(instances), "instances": instances}


@bp.get("/instance/<instance_id>")
def get_instance(instance_id: str) -> ResponseReturnValue:
    """One instance."""
    instance = services().store.get_instance(instance_id)
    if instance is None:
        raise ApiError(404, f"No such instance: {instance_id}")
    return _instance_json(instance)


@bp.delete("/instance/<instance_id>")
def delete_instance(instance_id: str) -> ResponseReturnValue:
    """Stop an instance if it runs (REVOKED), remove its directory and forget it."""
    svc = services()
    instance = svc.store.get_instance(instance_id)
    if instance is None:
        raise ApiError(404, f"No such instance: {instance_id}")
    svc.runner.revoke(instance_id)
    root = svc.settings.projects_dir / instance["project_id"]
    try:
        directory = resolve(root, instance["instance_directory"])
        shutil.rmtree(directory, ignore_errors=True)
    except UnsafePathError:
        logger.warning("Not removing unsafe instance directory of %s", instance_id)
    svc.store.update_instance(instance_id, deleted=1)
    task_id = f"task-{uuid.uuid4()}"
    svc.store.create_task(task_id, "INSTANCE", instance_id, instance["project_id"], removal=True)
    svc.store.finish_task(task_id, "SUCCESS", 0, "Instance deleted")
    return {"task_id": task_id}


@bp.delete("/instance/<instance_id>/token/<token>")
def delete_instance_token(instance_id: str, token: str) -> ResponseReturnValue:
    """Retire an instance's callback token (no bearer token needed)."""
    store = services().store
    instance = store.get_instance(instance_id, include_deleted=True)
    if (
        instance is None
        or not instance["callback_token"]
        or instance["callback_token_deleted"]
        or not hmac.compare_digest(instance["callback_token"].encode(), token.encode())
    ):
        raise ApiError(404, "No such instance token")
    store.update_instance(instance_id, callback_token_deleted=1)
    return {}


# Tasks ------------------------------------------------------------------------------------


def _task_summary(task: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task["task_id"],
        "task_id": task["task_id"],
        "purpose": task["purpose"],
        "purpose_id": task["purpose_id"],
        "purpose_version": task["purpose_version"],
        "created": task["created"],
        "done": bool(task["done"]),
        "removal": bool(task["removal"]),
    }
    if task["done"] and task["exit_code"] is not None:
        body["exit_code"] = task["exit_code"]
    return body


@bp.get("/task")
def list_tasks() -> ResponseReturnValue:
    """Tasks, filtered as the client's get_tasks() asks."""
    args = request.args
    purposes = re.split(r"[,.]", args.get("exclude_purpose") or "")
    tasks = services().store.list_tasks(
        project_id=args.get("project_id") or None,
        exclude_done=_flag("exclude_done", args),
        exclude_removal=_flag("exclude_removal", args),
        exclude_purposes={p.strip().upper() for p in purposes if p.strip()},
        instance_callback_context=args.get("instance_callback_context") or None,
    )
    summaries = [_task_summary(task) for task in tasks]
    return {"count": len(summaries), "tasks": summaries}


@bp.get("/task/<task_id>")
def get_task(task_id: str) -> ResponseReturnValue:
    """One task with its states and events (events after ``event_prior_ordinal``)."""
    store = services().store
    task = store.get_task(task_id)
    if task is None:
        raise ApiError(404, f"No such task: {task_id}")
    after = _int_arg("event_prior_ordinal", 0)
    limit = _int_arg("event_limit", 0) or 500
    states = []
    for row in store.task_states(task_id):
        state = {"state": row["state"], "time": row["time"]}
        if row["message"]:
            state["message"] = row["message"]
        states.append(state)
    return {
        **_task_summary(task),
        "states": states,
        "events": store.task_events(task_id, after, limit),
    }
