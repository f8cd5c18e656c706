"""Settings of the stand-in, read from ``LOCAL_SQUONK_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TOKEN = "local-squonk-token"


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know; built once at start-up."""

    root: Path
    token: str = DEFAULT_TOKEN
    workers: int = 2
    run_timeout_s: float = 600.0
    callbacks_enabled: bool = True
    callback_attempts: int = 5
    callback_backoff_s: float = 1.0
    callback_timeout_s: float = 5.0
    max_upload_mb: float = 100.0
    # The im-test collection (sleep/crash jobs) exists for tests only, so it is
    # kept out of the catalogue a scientist sees unless asked for.
    test_jobs: bool = False
    # Where the job definition files are (re-read when one changes)
    jobs_dir: Path | None = None

    @property
    def projects_dir(self) -> Path:
        return self.root / "projects"

    @property
    def database_path(self) -> Path:
        return self.root / "state.sqlite3"

    @property
    def request_log_path(self) -> Path:
        return self.root / "requests.jsonl"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment (``os.environ`` by default).

        :param environ: the mapping to read instead of the process environment
        """
        env = os.environ if environ is None else environ
        return cls(
            root=Path(env.get("LOCAL_SQUONK_ROOT") or "./instance/local_squonk").resolve(),
            token=env.get("LOCAL_SQUONK_TOKEN") or DEFAULT_TOKEN,
            workers=max(1, int(env.get("LOCAL_SQUONK_WORKERS") or 2)),
            run_timeout_s=float(env.get("LOCAL_SQUONK_RUN_TIMEOUT") or 600),
            callbacks_enabled=_flag(env.get("LOCAL_SQUONK_CALLBACKS"), True),
            callback_attempts=max(1, int(env.get("LOCAL_SQUONK_CALLBACK_ATTEMPTS") or 5)),
            callback_backoff_s=float(env.get("LOCAL_SQUONK_CALLBACK_BACKOFF") or 1),
            callback_timeout_s=float(env.get("LOCAL_SQUONK_CALLBACK_TIMEOUT") or 5),
            max_upload_mb=float(env.get("LOCAL_SQUONK_MAX_UPLOAD_MB") or 100),
            test_jobs=_flag(env.get("LOCAL_SQUONK_TEST_JOBS"), False),
            jobs_dir=Path(env["LOCAL_SQUONK_JOBS_DIR"]).resolve()
            if env.get("LOCAL_SQUONK_JOBS_DIR")
            else None,
        )
