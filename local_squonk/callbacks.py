"""Callback delivery: PUT the CONTRACTS.md section 2 JSON to an instance's callback_url.

Callbacks go through an outbox table so delivery never blocks a job and survives a
restart. A dispatcher thread hands due callbacks to a few sender threads; only the
oldest pending callback of an instance is in flight, so a receiver sees STARTED before
SUCCESS. Any 2xx is delivered; anything else is retried with doubling back-off up to
the configured number of attempts, and every attempt is written as a task event.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from .config import Settings
from .store import Store, utc_now

logger = logging.getLogger(__name__)

_SENDERS = 4
_IDLE_WAIT_S = 1.0


class CallbackDispatcher:
    """Queues callbacks and delivers them in the background."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._wake = threading.Condition()
        self._in_flight: set[int] = set()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._senders = ThreadPoolExecutor(_SENDERS, thread_name_prefix="callback")

    def start(self) -> None:
        """Start delivering, including callbacks left pending by a previous run."""
        if not self._settings.callbacks_enabled:
            logger.info("Callback delivery is disabled (LOCAL_SQUONK_CALLBACKS=0)")
            return
        self._thread = threading.Thread(target=self._loop, name="callback-dispatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread:
            self._thread.join(timeout=5)
        self._senders.shutdown(wait=False, cancel_futures=True)

    def notify(self, instance: dict[str, Any], job_status: str, when: str | None = None) -> None:
        """Queue a callback for ``instance`` if it asked for callbacks.

        :param instance: the instance row
        :param job_status: STARTED, SUCCESS, FAILURE or REVOKED
        :param when: the state transition time (now if not given)
        """
        url = instance.get("callback_url")
        if not url or not self._settings.callbacks_enabled:
            return
        payload: dict[str, Any] = {
            "job_status": job_status,
            "instance_id": instance["instance_id"],
            "task_id": instance["task_id"],
            "project_id": instance["project_id"],
            "state_transition_time": when or utc_now(),
        }
        if instance.get("callback_context"):
            payload["callback_context"] = instance["callback_context"]
        self._store.enqueue_callback(instance["instance_id"], instance["task_id"], url, payload)
        with self._wake:
            self._wake.notify_all()

    def _loop(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
            now = time.time()
            for callback in self._store.due_callbacks(now):
                with self._wake:
                    if callback["id"] in self._in_flight:
                        continue
                    self._in_flight.add(callback["id"])
                self._senders.submit(self._deliver, callback)
            next_due = self._store.next_callback_time()
            wait = _IDLE_WAIT_S if next_due is None else min(_IDLE_WAIT_S, next_due - now)
            with self._wake:
                if not self._stopping:
                    self._wake.wait(timeout=max(0.01, wait))

    def _deliver(self, callback: dict[str, Any]) -> None:
        try:
            self._attempt(callback)
        except Exception:  # a sender thread must never die silently
            logger.exception("Callback %s delivery crashed", callback["id"])
        finally:
            with self._wake:
                self._in_flight.discard(callback["id"])
                self._wake.notify_all()

    def _attempt(self, callback: dict[str, Any]) -> None:
        # The dispatcher may have offered a row that another sender has just handled:
        # act only on the row as it is now.
        fresh = self._store.get_callback(callback["id"])
        if (
            fresh is None
            or fresh["status"] != "pending"
            or fresh["attempts"] != callback["attempts"]
            or fresh["next_attempt"] > time.time()
        ):
            return
        payload = json.loads(callback["payload"])
        status = payload["job_status"]
        attempt = callback["attempts"] + 1
        limit = self._settings.callback_attempts
        task_id = callback["task_id"]
        try:
            response = requests.put(
                callback["url"], json=payload, timeout=self._settings.callback_timeout_s
            )
            outcome = f"HTTP {response.status_code}"
            delivered = 200 <= response.status_code < 300
        except requests.RequestException as error:
            outcome = f"error {type(error).__name__}"
            delivered = False

        if delivered:
            self._store.update_callback(callback["id"], attempts=attempt, status="delivered")
            self._store.add_event(
                task_id,
                "INFO",
                f"Callback {status} attempt {attempt}/{limit}: {outcome}, delivered",
            )
            return
        if attempt >= limit:
            self._store.update_callback(callback["id"], attempts=attempt, status="abandoned")
            self._store.add_event(
                task_id, "INFO", f"Callback {status} attempt {attempt}/{limit}: {outcome}"
            )
            self._store.add_event(
                task_id,
                "WARNING",
                f"Callback {status} not delivered after {attempt} attempts; giving up",
            )
            logger.warning("Callback %s for %s abandoned", status, callback["instance_id"])
            return
        delay = self._settings.callback_backoff_s * 2 ** (attempt - 1)
        self._store.update_callback(
            callback["id"], attempts=attempt, next_attempt=time.time() + delay
        )
        self._store.add_event(
            task_id,
            "INFO",
            f"Callback {status} attempt {attempt}/{limit}: {outcome}, retrying in {delay:g} s",
        )
