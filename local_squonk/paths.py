"""Keep every file path inside its project volume.

Clients name files with a project path (``/`` is the project root) and a file name.
Nothing may leave the volume: ``..`` components, NUL bytes and symbolic links anywhere
on the way are refused, and the final real path is checked to be under the root.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


class UnsafePathError(ValueError):
    """A path that would leave, or cannot be trusted to stay in, a project volume."""


def _parts(project_path: str) -> list[str]:
    if "\x00" in project_path or "\\" in project_path:
        raise UnsafePathError(f"Invalid path: {project_path!r}")
    # A leading '/' means the project root, as in the Data Manager API.
    parts = [p for p in PurePosixPath(project_path).parts if p not in ("/", ".")]
    if any(p == ".." for p in parts):
        raise UnsafePathError(f"Path may not contain '..': {project_path!r}")
    return parts


def check_file_name(file_name: str) -> str:
    """Return ``file_name`` if it is a plain name (no directories, not ``.``/``..``).

    :param file_name: the name a client gave
    """
    if (
        not file_name
        or "/" in file_name
        or "\\" in file_name
        or "\x00" in file_name
        or file_name in (".", "..")
    ):
        raise UnsafePathError(f"Invalid file name: {file_name!r}")
    return file_name


def resolve(root: Path, project_path: str, file_name: str | None = None) -> Path:
    """The absolute path of ``project_path[/file_name]`` inside the volume ``root``.

    The target need not exist, but every existing component must be a real
    directory or file, never a symbolic link.

    :param root: the project volume
    :param project_path: a project path, e.g. ``/fragalysis-files/x``
    :param file_name: an optional plain file name under that path
    """
    parts = _parts(project_path)
    if file_name is not None:
        parts.append(check_file_name(file_name))
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise UnsafePathError(f"Symbolic links are not followed: {project_path!r}")
    real_root = os.path.realpath(root)
    real = os.path.realpath(current)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise UnsafePathError(f"Path leaves the project: {project_path!r}")
    return current


def check_relative(path: str) -> str:
    """Return ``path`` if it is a relative path with no ``..`` (job inputs and outputs).

    :param path: a path relative to the project root
    """
    if not path or path.startswith("/") or "\x00" in path:
        raise UnsafePathError(f"Expected a path relative to the project: {path!r}")
    _parts(path)
    return path
