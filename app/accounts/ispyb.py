"""Project memberships from ISPyB (``MEMBERSHIP_SOURCE=ispyb``).

A user's ISPyB names are the visits and proposals ISPyB links to their login
(``Person.login`` = our ``User.username``): visits through ``Session_has_Person`` ->
``BLSession`` (``<proposalCode><proposalNumber>-<visit_number>``, e.g. ``lb18145-1``),
proposals through ``ProposalHasPerson`` -> ``Proposal`` (``lb18145``). One of our projects
(``Project.title``) matches a visit exactly, or a proposal: the proposal itself
(``lb18145``) and each of its visits (``lb18145-<n>``). Titles and names are compared
exactly (case included), as ISPyB spells them.

ISPyB is read with the ``ispyb.sqlalchemy`` models through an engine of its own on
``ISPYB_URL``. Each web process keeps a user's names for ``ISPYB_CACHE_SECONDS``; a change
in ISPyB is seen once that has passed. When ISPyB cannot be asked, nothing is guessed:
:class:`MembershipUnavailable` is raised (a 503 page, and
``/readyz`` says so).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Engine, create_engine, or_, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import Project, User

log = logging.getLogger(__name__)


class MembershipUnavailable(RuntimeError):
    """The membership source cannot be asked (ISPyB is down): access cannot be decided, so
    nothing private is shown and the page says why (503). Raised here, the one source that
    can be down; :mod:`app.accounts.memberships` offers it to the rest of the app."""


# An unreachable ISPyB must fail a page fast, not hang it
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class IspybNames:
    """What ISPyB links to one login."""

    visits: frozenset[str]
    proposals: frozenset[str]
    expires: float  # time.monotonic() after which ISPyB is asked again

    def all(self) -> list[str]:
        return sorted(self.visits | self.proposals)


_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_names: dict[tuple[str, str], IspybNames] = {}  # (ISPYB_URL, login) -> names


def _url() -> URL:
    """ISPYB_URL, with the driver we install (pymysql) when none is named."""
    url = make_url(current_app.config["ISPYB_URL"])
    if url.drivername in ("mysql", "mariadb"):
        url = url.set(drivername=f"{url.drivername}+pymysql")
    return url


def _where() -> str:
    """ISPYB_URL as it may be logged: without its password."""
    return _url().render_as_string(hide_password=True)


def _engine() -> Engine:
    key = current_app.config["ISPYB_URL"]
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_engine(
                _url(),
                pool_pre_ping=True,
                pool_recycle=3600,
                connect_args={
                    "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                    "read_timeout": READ_TIMEOUT_SECONDS,
                },
            )
            _engines[key] = engine
        return engine


def _unavailable(exc: Exception) -> MembershipUnavailable:
    """Log why ISPyB could not be asked (its URL without the password) and say so."""
    password = _url().password
    reason = str(getattr(exc, "orig", None) or exc)
    if password:
        reason = reason.replace(str(password), "***")
    log.warning("ISPyB at %s cannot be reached: %s: %s", _where(), type(exc).__name__, reason)
    return MembershipUnavailable("ISPyB, where project memberships come from, cannot be reached")


def _ask_ispyb(login: str) -> tuple[frozenset[str], frozenset[str]]:
    """The visits and proposals ISPyB links to ``login``."""
    from ispyb.sqlalchemy import BLSession, Person, Proposal, ProposalHasPerson, SessionHasPerson

    visits_of = (
        select(Proposal.proposalCode, Proposal.proposalNumber, BLSession.visit_number)
        .select_from(Person)
        .join(SessionHasPerson, SessionHasPerson.personId == Person.personId)
        .join(BLSession, BLSession.sessionId == SessionHasPerson.sessionId)
        .join(Proposal, Proposal.proposalId == BLSession.proposalId)
        .where(Person.login == login)
    )
    proposals_of = (
        select(Proposal.proposalCode, Proposal.proposalNumber)
        .select_from(Person)
        .join(ProposalHasPerson, ProposalHasPerson.personId == Person.personId)
        .join(Proposal, Proposal.proposalId == ProposalHasPerson.proposalId)
        .where(Person.login == login)
    )
    try:
        with _engine().connect() as conn:
            visits = frozenset(
                f"{code}{number}-{visit}"
                for code, number, visit in conn.execute(visits_of)
                if code and number and visit is not None
            )
            proposals = frozenset(
                f"{code}{number}" for code, number in conn.execute(proposals_of) if code and number
            )
    except SQLAlchemyError as exc:
        raise _unavailable(exc) from None
    return visits, proposals


def names_of(user: User) -> IspybNames:
    """The user's ISPyB visits and proposals, from this process' cache while fresh."""
    key = (current_app.config["ISPYB_URL"], user.username)
    now = time.monotonic()
    with _lock:
        cached = _names.get(key)
    if cached is not None and cached.expires > now:
        return cached
    visits, proposals = _ask_ispyb(user.username)
    names = IspybNames(visits, proposals, now + current_app.config["ISPYB_CACHE_SECONDS"])
    with _lock:
        for stale in [k for k, v in _names.items() if v.expires <= now]:
            del _names[stale]
        _names[key] = names
    return names


def user_project_names(user: User) -> list[str]:
    """The visit and proposal names ISPyB gives for ``user`` (sorted), e.g. for showing
    where a user's memberships come from."""
    return names_of(user).all()


def matches(title: str, names: IspybNames) -> bool:
    """Does a project title match one of the user's visits or proposals?"""
    if title in names.visits or title in names.proposals:
        return True
    proposal, dash, _ = title.partition("-")  # a visit of a proposal: <proposal>-<n>
    return bool(dash) and proposal in names.proposals


def member_project_ids(user: User) -> frozenset[int]:
    """Ids of our projects that match the user's ISPyB visits and proposals.

    :raises MembershipUnavailable: ISPyB cannot be reached.
    """
    names = names_of(user)
    if not names.visits and not names.proposals:
        return frozenset()
    # SQL narrows the rows down, :func:`matches` decides (LIKE's case rules differ by
    # database)
    candidates = db.session.execute(
        select(Project.id, Project.title).where(
            or_(
                Project.title.in_(names.visits | names.proposals),
                *(Project.title.startswith(f"{p}-", autoescape=True) for p in names.proposals),
            )
        )
    )
    return frozenset(id_ for id_, title in candidates if matches(title, names))


def check() -> str:
    """For /readyz: ISPyB answers a read of its proposals (when it is the source)."""
    if current_app.config.get("MEMBERSHIP_SOURCE", "local") != "ispyb":
        return "not configured"
    from ispyb.sqlalchemy import Proposal

    try:
        with _engine().connect() as conn:
            conn.execute(select(Proposal.proposalId).limit(1)).all()
    except SQLAlchemyError as exc:
        raise _unavailable(exc) from None
    return "ok"


def forget() -> None:
    """Drop the cached names and close the engines (tests; a changed ISPYB_URL)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
        _names.clear()
    for engine in engines:
        engine.dispose()
