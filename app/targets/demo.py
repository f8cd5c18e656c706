"""Demo data from real XChem screens shipped inside the fragmenstein package.

- ``Mac1``: SARS-CoV-2 Nsp3 macrodomain hits from Diamond, in a public project, each with
  the Mac1 template as its apo-desolv PDB.
- ``Mpro``: SARS-CoV-2 main protease ligands in the private project ``lb00000-1``, with no
  apo-desolv files, like historical Fragalysis targets.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
from pathlib import Path

from sqlalchemy import select

from app.config import INSTANCE_DIR
from app.extensions import db
from app.models import User
from app.targets.loader import LoadReport, get_or_create_project, load_target

PUBLIC_PROJECT = "lb18145-1"
PRIVATE_PROJECT = "lb00000-1"
CREDENTIALS_FILE = INSTANCE_DIR / "demo_credentials.json"

DEMO_USERS = [
    # username, email, admin, member of the private project, what they show
    (
        "member",
        "member@example.org",
        False,
        True,
        "member of Mac1's project lb18145-1 and of the private lb00000-1 (Mpro)",
    ),
    ("outsider", "outsider@example.org", False, False, "sees public targets, runs nothing"),
    ("admin", "admin@example.org", True, False, "administrator, sees everything"),
]


def demo_data_dir() -> Path:
    """fragmenstein's demo folder, found without importing fragmenstein (slow, noisy)."""
    spec = importlib.util.find_spec("fragmenstein")
    if spec is None or spec.origin is None:
        raise RuntimeError("the fragmenstein package is not installed")
    return Path(spec.origin).parent / "demo"


def load_demo_targets() -> list[LoadReport]:
    """Load both demo targets (idempotent: a second run changes nothing)."""
    demo = demo_data_dir()
    return [
        load_target(
            demo / "mac1_mols",
            "Mac1",
            PUBLIC_PROJECT,
            public=True,
            template_pdb=demo / "mac1_mols" / "template.pdb",
        ),
        load_target(demo / "mpro_mols", "Mpro", PRIVATE_PROJECT, public=False),
    ]


def ensure_demo_users() -> dict[str, str]:
    """Create the demo users once with random passwords; return username -> password."""
    try:
        credentials = json.loads(CREDENTIALS_FILE.read_text())
    except (OSError, ValueError):
        credentials = {}
    private = get_or_create_project(PRIVATE_PROJECT)
    public = get_or_create_project(PUBLIC_PROJECT)
    for username, email, admin, member, _ in DEMO_USERS:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None or username not in credentials:
            credentials[username] = secrets.token_urlsafe(9)
            if user is None:
                user = User(username=username, email=email, is_admin=admin)
                db.session.add(user)
            user.set_password(credentials[username])
        for project in (private, public) if member else ():
            if project not in user.projects:
                user.projects.append(project)
    db.session.commit()
    CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
    CREDENTIALS_FILE.write_text(json.dumps(credentials, indent=2))
    CREDENTIALS_FILE.chmod(0o600)
    return credentials


def credentials_text(credentials: dict[str, str]) -> str:
    lines = ["Demo users (password file: instance/demo_credentials.json):"]
    for username, _, _, _, role in DEMO_USERS:
        lines.append(f"  {username:<9} {credentials.get(username, '?'):<14} {role}")
    return "\n".join(lines)
