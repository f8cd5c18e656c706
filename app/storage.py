"""Files under DATA_DIR: one place that names them and writes them safely."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import current_app


def data_path(relative: str) -> Path:
    """Absolute path of a stored file from its DATA_DIR-relative name."""
    return Path(current_app.config["DATA_DIR"]) / relative


def write_file(relative: str, content: bytes) -> Path:
    """Write under a temporary name, fsync, then rename: a reader never sees half a file."""
    final = data_path(relative)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")
    try:
        with open(temporary, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    return final
