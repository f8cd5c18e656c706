"""A real ISPyB for tests: a database of the run's own on the local MariaDB holding the
ISPyB tables memberships are read from (as the ``ispyb.sqlalchemy`` models define them),
and :class:`Ispyb` to put people, proposals and visits in it. The fixtures ``ispyb_url``
and ``ispyb`` (tests/conftest.py) use these.

MariaDB is expected on 127.0.0.1:3306 (root, no password); each run creates its own
database and drops it. Without MariaDB the tests that need it are skipped, except under
CI=1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from ispyb.sqlalchemy import (
    BLSession,
    Person,
    Proposal,
    ProposalHasPerson,
    SessionHasPerson,
)
from sqlalchemy import create_engine, delete, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

MARIADB = "mysql+pymysql://root@127.0.0.1:3306/"
# the password of the ISPyB people's accounts in our own database
PASSWORD = "ispyb-user-password"
# the ISPyB tables memberships are read from, and those their foreign keys need
MEMBERSHIP_TABLES = (Person, Proposal, BLSession, SessionHasPerson, ProposalHasPerson)


def tables_needed():
    """The membership tables and every table their foreign keys point to."""
    needed, todo = {}, [model.__table__ for model in MEMBERSHIP_TABLES]
    while todo:
        table = todo.pop()
        if table.name not in needed:
            needed[table.name] = table
            todo.extend(fk.column.table for fk in table.foreign_keys)
    return list(needed.values())


@contextmanager
def ispyb_database() -> Iterator[str]:
    """A database of this run's own on the local MariaDB, with the ISPyB tables; its URL.
    Skips the test (fails it under CI=1) when MariaDB cannot be reached."""
    admin = create_engine(
        MARIADB, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        where = make_url(MARIADB).render_as_string(hide_password=True)
        reason = f"MariaDB is not reachable at {where} (root, no password): {exc.orig}"
        if os.environ.get("CI") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"launcher_ispyb_{uuid.uuid4().hex}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}`"))
    url = make_url(MARIADB).set(database=name)
    engine = create_engine(url)
    try:
        Person.metadata.create_all(engine, tables=tables_needed())
        engine.dispose()
        yield url.render_as_string(hide_password=False)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


class Ispyb:
    """The test's ISPyB rows: people by login, proposals and visits by name."""

    def __init__(self, url: str):
        self.engine = create_engine(url)
        self.people: dict[str, int] = {}
        self.proposals: dict[str, int] = {}
        self.visits: dict[str, int] = {}

    def empty(self) -> None:
        with self.engine.begin() as conn:
            for model in reversed(MEMBERSHIP_TABLES):
                conn.execute(delete(model))

    def person(self, login: str | None) -> int:
        with self.engine.begin() as conn:
            person_id = conn.execute(
                insert(Person).values(login=login, familyName=login or "PI")
            ).inserted_primary_key[0]
        if login:
            self.people[login] = person_id
        return person_id

    def proposal(self, code: str, number: str) -> int:
        principal = self.person(None)
        with self.engine.begin() as conn:
            proposal_id = conn.execute(
                insert(Proposal).values(
                    proposalCode=code, proposalNumber=number, personId=principal, title="t"
                )
            ).inserted_primary_key[0]
        self.proposals[f"{code}{number}"] = proposal_id
        return proposal_id

    def visit(self, proposal: str, number: int) -> int:
        with self.engine.begin() as conn:
            session_id = conn.execute(
                insert(BLSession).values(
                    proposalId=self.proposals[proposal], visit_number=number, beamLineName="i04-1"
                )
            ).inserted_primary_key[0]
        self.visits[f"{proposal}-{number}"] = session_id
        return session_id

    def on_visit(self, login: str, visit: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(SessionHasPerson).values(
                    sessionId=self.visits[visit], personId=self.people[login], role="Team Member"
                )
            )

    def off_visit(self, login: str, visit: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(SessionHasPerson)
                .where(SessionHasPerson.sessionId == self.visits[visit])
                .where(SessionHasPerson.personId == self.people[login])
            )

    def on_proposal(self, login: str, proposal: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(ProposalHasPerson).values(
                    proposalId=self.proposals[proposal],
                    personId=self.people[login],
                    role="Co-Investigator",
                )
            )
