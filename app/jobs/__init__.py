"""RQ tasks: ids in, idempotent, never swallowing exceptions (RQ retries what we raise)."""

from __future__ import annotations

from flask import current_app

from app.squonk import Squonk, squonk_from_config


def squonk() -> Squonk:
    """This app's Squonk2 client, built once from its config."""
    client = current_app.extensions.get("launcher_squonk")
    if client is None:
        client = squonk_from_config(current_app.config)
        current_app.extensions["launcher_squonk"] = client
    return client
