"""The app's Squonk2 client: built once per app from its config. Nothing else in the app
talks to Squonk2 (``/readyz`` included)."""

from __future__ import annotations

from flask import current_app

from app.squonk.client import Squonk, squonk_from_config


def squonk() -> Squonk:
    """This app's Squonk2 client, built once from its config."""
    client = current_app.extensions.get("launcher_squonk")
    if client is None:
        client = squonk_from_config(current_app.config)
        current_app.extensions["launcher_squonk"] = client
    return client


def forget() -> None:
    """Drop the client so the next call builds one from the (changed) config."""
    current_app.extensions.pop("launcher_squonk", None)
