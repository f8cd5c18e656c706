"""Command-line interface: ``flask --app app targets|users|demo ...``."""

from __future__ import annotations

import getpass
import re
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from app.accounts.service import (
    AccountError,
    TokenError,
    add_membership,
    describe_time,
    disable_user,
    enable_user,
    end_sessions,
    issue_token,
    project_titled,
    remove_membership,
    revoke_token,
    tokens_of,
)
from app.extensions import db
from app.models import Target, User
from app.targets.loader import LoadError, get_or_create_project, load_target

targets_cli = AppGroup("targets", help="Load and manage fragment-screen targets.")
users_cli = AppGroup("users", help="Manage local user accounts and API tokens.")
demo_cli = AppGroup("demo", help="The demo data set.")
jobs_cli = AppGroup("jobs", help="The launchable jobs: job_schemas/ on Squonk2's job definitions.")


def cli_actor() -> str:
    """Who the people audit trail says did what the command line did: ``cli:<OS user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "cli"


def _user_or_fail(name: str) -> User:
    user = db.session.scalar(select(User).where(User.username == name))
    if user is None:
        raise click.ClickException(f"no user called {name!r}")
    return user


@targets_cli.command("load")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--title", required=True, help="Target title, e.g. Mac1.")
@click.option("--project", required=True, help="Proposal the target belongs to, e.g. lb18145-1.")
@click.option("--public/--private", default=None, help="Open the project to everyone, or not.")
@click.option(
    "--template-pdb",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="One PDB used as every protein's apo-desolv file.",
)
def targets_load(directory, title, project, public, template_pdb):
    """Load or reload a target from a directory of <code>.mol and <code>_apo-desolv.pdb."""
    try:
        report = load_target(directory, title, project, public=public, template_pdb=template_pdb)
    except LoadError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(report.summary())


@targets_cli.command("list")
def targets_list():
    """List targets with their project and protein count."""
    for target in db.session.scalars(select(Target).order_by(Target.title)):
        visibility = "public" if target.project.open_to_public else "private"
        click.echo(
            f"{target.title}\t{target.project.title} ({visibility})\t"
            f"{len(target.proteins)} proteins\t"
            f"squonk project: {target.default_squonk_project or '-'}"
        )


@targets_cli.command("set-squonk-project")
@click.argument("title")
@click.argument("project_id")
def targets_set_squonk_project(title, project_id):
    """Set the Squonk2 project (project-<uuid>) a target's files and jobs go to."""
    from app.targets.service import set_squonk_project

    target = db.session.scalar(select(Target).where(Target.title == title))
    if target is None:
        raise click.ClickException(f"no target called {title!r}")
    error = set_squonk_project(target, project_id)
    if error:
        raise click.ClickException(error)
    click.echo(f"{title}: Squonk2 project {target.default_squonk_project}")


@users_cli.command("create")
@click.argument("name")
@click.option("--password", required=True)
@click.option("--email")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
def users_create(name, password, email, admin):
    """Create a local user account."""
    if db.session.scalar(select(User).where(User.username == name)) is not None:
        raise click.ClickException(f"user {name!r} already exists")
    if len(password) < 8:
        raise click.ClickException("the password must have at least 8 characters")
    user = User(username=name, email=email, is_admin=admin)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"created {'admin ' if admin else ''}user {name}")


@users_cli.command("add-to-project")
@click.argument("name")
@click.argument("project")
def users_add_to_project(name, project):
    """Make a user a member of a project (proposal; created when new)."""
    user = _user_or_fail(name)
    try:
        project_row = get_or_create_project(project)
    except LoadError as exc:
        raise click.ClickException(str(exc)) from exc
    if add_membership(user, project_row, by=cli_actor()):
        click.echo(f"{name} is a member of {project}")
    else:
        click.echo(f"{name} is already a member of {project}")


@users_cli.command("remove-from-project")
@click.argument("name")
@click.argument("project")
def users_remove_from_project(name, project):
    """End a user's (local) membership of a project."""
    user = _user_or_fail(name)
    try:
        project_row = project_titled(project)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    if remove_membership(user, project_row, by=cli_actor()):
        click.echo(f"{name} is no longer a member of {project}")
    else:
        click.echo(f"{name} is not a member of {project}")


def _lifetime(_ctx, _param, value: str | None) -> timedelta | None:
    """``30d``, ``12h`` or ``45m``; a bare number is days."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)\s*([dhm]?)", value.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise click.BadParameter("a positive number of days, or e.g. 30d, 12h, 45m")
    unit = {"d": "days", "": "days", "h": "hours", "m": "minutes"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


@users_cli.command("token")
@click.argument("name")
@click.option("--name", "token_name", help="What the token is for, e.g. ci (unique per user).")
@click.option(
    "--expires-in",
    "lifetime",
    callback=_lifetime,
    metavar="DURATION",
    help="Refuse the token after this long: 90d, 12h, 45m (default: until revoked).",
)
def users_token(name, token_name, lifetime):
    """Issue a new API bearer token for a user and print it (it is not shown again)."""
    user = _user_or_fail(name)
    try:
        _, token = issue_token(user, token_name, lifetime, by=cli_actor())
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(token)


@users_cli.command("tokens")
@click.argument("name")
def users_tokens(name):
    """List a user's API tokens: id, name, created, expires, last used, state (no secrets)."""
    user = _user_or_fail(name)
    rows = tokens_of(user)
    if not rows:
        click.echo(f"{name} has no API tokens")
    else:
        click.echo("id\tname\tcreated\texpires\tlast used\tstate")
    for row in rows:
        state = row.state()
        if state == "revoked":
            state = f"revoked {describe_time(row.revoked)}"
        click.echo(
            f"{row.id}\t{row.name}\t{describe_time(row.created)}\t"
            f"{describe_time(row.expires)}\t{describe_time(row.last_used)}\t{state}"
        )
    if user.disabled is not None:
        click.echo(f"{name} is disabled: none of these tokens is accepted")


@users_cli.command("revoke")
@click.argument("name")
@click.argument("token", metavar="TOKEN_NAME_OR_ID")
def users_revoke(name, token):
    """Revoke one of a user's API tokens, by its name or id (see ``users tokens``)."""
    user = _user_or_fail(name)
    try:
        row = revoke_token(user, token, by=cli_actor())
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {name}'s token {row.name} (id {row.id})")


@users_cli.command("end-sessions")
@click.argument("name")
def users_end_sessions(name):
    """Log a user out of every browser (API tokens keep working; see ``users revoke``)."""
    end_sessions(_user_or_fail(name), by=cli_actor())
    click.echo(f"ended every session of {name}")


@users_cli.command("disable")
@click.argument("name")
def users_disable(name):
    """Refuse a user's log-ins, sessions and API tokens from now on."""
    if disable_user(_user_or_fail(name), by=cli_actor()):
        click.echo(f"disabled {name}: sessions ended, log-in and API tokens refused")
    else:
        click.echo(f"{name} is already disabled")


@users_cli.command("enable")
@click.argument("name")
def users_enable(name):
    """Let a disabled user log in again; their unrevoked, unexpired tokens work again."""
    if enable_user(_user_or_fail(name), by=cli_actor()):
        click.echo(f"enabled {name}: log-in and unrevoked API tokens accepted again")
    else:
        click.echo(f"{name} is not disabled")


@demo_cli.command("load")
def demo_load():
    """Load the Mac1 and Mpro demo targets and the demo users (idempotent)."""
    from app.targets.demo import credentials_text, ensure_demo_users, load_demo_targets

    for report in load_demo_targets():
        click.echo(report.summary())
    click.echo(credentials_text(ensure_demo_users()))


@jobs_cli.command("check")
def jobs_check():
    """What changed in Squonk2's job definitions since the last refresh (nothing stored)."""
    from app.jobs.definitions import check

    report = check()
    for line in report.lines:
        click.echo(line)
    if report.problems:
        raise click.ClickException(
            f"{report.problems} change(s) or problem(s): `flask jobs refresh` to take them"
        )


@jobs_cli.command("refresh")
def jobs_refresh():
    """Fetch every launchable job's definition from Squonk2 again and cache what changed;
    running servers use it at their next request."""
    from app.jobs.definitions import refresh

    report = refresh()
    for line in report.lines:
        click.echo(line)
    if report.problems:
        raise click.ClickException(f"{report.problems} job(s) not refreshed")


def register(app: Flask) -> None:
    for group in (targets_cli, users_cli, demo_cli, jobs_cli):
        app.cli.add_command(group)
