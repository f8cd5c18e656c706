"""JSON API (CONTRACTS.md section 4): targets, their proteins, snapshots."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_login import current_user
from sqlalchemy import select

from app.access import snapshot_or_404, target_or_404
from app.api import body_schema, codes, error, iso, text, valid_body
from app.extensions import db
from app.models import Protein, Snapshot, Target
from app.targets.service import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    SnapshotError,
    create_snapshot,
    visible_targets_with_counts,
)

bp = Blueprint("targets_api", __name__, url_prefix="/api")


def target_json(target: Target, protein_count: int) -> dict:
    return {
        "title": target.title,
        "project": target.project.title,
        "open_to_public": target.project.open_to_public,
        "default_squonk_project": target.default_squonk_project,
        "last_updated_datetime": iso(target.last_updated_datetime),
        "protein_count": protein_count,
    }


def snapshot_json(snapshot: Snapshot) -> dict:
    return {
        "id": snapshot.id,
        "title": snapshot.title,
        "description": snapshot.description,
        "target": snapshot.target.title,
        "author": snapshot.author.username if snapshot.author else None,
        "created": iso(snapshot.created),
        "proteins": snapshot.protein_codes,
    }


@bp.get("/targets/")
def targets():
    """Targets the caller may see."""
    return jsonify([target_json(t, count) for t, count in visible_targets_with_counts()])


@bp.get("/targets/<title>/proteins/")
def proteins(title: str):
    """Every protein of a visible target with its SMILES and which files exist."""
    target = target_or_404(title)
    rows = db.session.execute(
        select(Protein.code, Protein.smiles, Protein.mol_file, Protein.apo_desolv_file)
        .where(Protein.target_id == target.id)
        .order_by(Protein.code)
    ).all()
    return jsonify(
        [
            {
                "code": code,
                "smiles": smiles,
                "files": {"mol": mol is not None, "apo_desolv": apo is not None},
            }
            for code, smiles, mol, apo in rows
        ]
    )


SNAPSHOT_BODY = body_schema(
    {
        "target": text(200, required=True),
        "proteins": codes(),
        "title": text(MAX_TITLE),
        "description": text(MAX_DESCRIPTION),
    },
    required=("target", "proteins"),
)


@bp.post("/snapshots/")
def create_snapshot_api():
    """Create a snapshot: ``{"target": title, "proteins": [codes], "title"?}``."""
    body = valid_body(SNAPSHOT_BODY)
    title, codes = body["target"], body["proteins"]
    target = target_or_404(title)
    try:
        snapshot = create_snapshot(
            target,
            codes,
            current_user,
            title=body.get("title"),
            description=body.get("description"),
        )
    except SnapshotError as exc:
        return error(str(exc), proteins=str(exc))
    return jsonify(snapshot_json(snapshot)), 201


@bp.get("/snapshots/<int:snapshot_id>/")
def snapshot(snapshot_id: int):
    """One snapshot."""
    return jsonify(snapshot_json(snapshot_or_404(snapshot_id)))
