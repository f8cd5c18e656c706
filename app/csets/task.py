"""The RQ task that imports a successful job's output SDF as a computed set."""

from __future__ import annotations

import json
import logging
import posixpath

from flask import current_app

from app.csets.service import UPLOAD_LIVE, create_computed_set, run_upload, upload_failed
from app.csets.validator import build_header_block
from app.extensions import db
from app.jobs import states
from app.jobs.definitions import job_schemas
from app.jobs.service import import_failed, nothing_to_import
from app.models import ComputedSetUpload, JobRequest
from app.models.base import utcnow
from app.queueing import in_states, on_final_failure
from app.squonk.client import SquonkPermanentError, SquonkTransientError
from app.squonk.current import squonk

log = logging.getLogger(__name__)

INSTITUTION = "Fragalysis Job Launcher"


def output_location(job: JobRequest) -> tuple[str, str]:
    """(project folder, file name) of the job's imported output."""
    schema = job_schemas()[job.job_key]
    relative = schema.imported_outputs[0].path(job.options)
    folder, name = posixpath.split(relative.lstrip("/"))
    return "/" + folder, name


# Fields of every computed set, described by the format itself (CONTRACTS.md section 5)
_FORMAT_FIELDS = ("original SMILES", "ref_mols", "ref_pdb")


def field_descriptions(job: JobRequest, folder: str, name: str) -> dict[str, str]:
    """Descriptions of the output's fields: the job definition's (``annotation-properties``
    ``fields-descriptor``), then those of the ``<stem>.meta.json`` beside the file, which
    describes this very run, when there is one."""
    schema = job_schemas().get(job.job_key)
    declared = schema.imported_outputs[0].fields if schema and schema.imported_outputs else {}
    descriptions = {k: v for k, v in declared.items() if k not in _FORMAT_FIELDS}
    stem = name.rsplit(".", 1)[0]
    try:
        meta = json.loads(squonk().download_file(job.squonk_project, folder, f"{stem}.meta.json"))
    except (SquonkPermanentError, ValueError):
        return descriptions
    fields = meta.get("fields", meta) if isinstance(meta, dict) else {}
    for field, about in fields.items():
        text = about.get("description") if isinstance(about, dict) else about
        if isinstance(text, str) and text.strip() and field not in _FORMAT_FIELDS:
            descriptions[field] = text.strip()
    return descriptions


def import_results(job_id: int) -> str:
    """Fetch the output, add the ver_1.2 header, validate and store it (all or nothing)."""
    job = db.session.get(JobRequest, job_id)
    if job is None or job.job_status != states.UPLOADING:
        return job.job_status if job else "missing"
    folder, name = output_location(job)
    try:
        sdf = squonk().download_file(job.squonk_project, folder, name)
        descriptions = field_descriptions(job, folder, name)
    except SquonkPermanentError as exc:
        import_failed(job, f"the output {folder}/{name} could not be fetched ({exc})")
        return job.job_status
    except SquonkTransientError:
        raise
    if not sdf.strip():
        nothing_to_import(job)
        return job.job_status
    user = job.user
    base = current_app.config["EXTERNAL_URL"].rstrip("/")
    header = build_header_block(
        submitter_name=user.username if user else "unknown",
        submitter_email=(user.email if user and user.email else "unknown@localhost"),
        submitter_institution=INSTITUTION,
        generation_date=utcnow().date(),
        method=f"{job.job_key} {job.squonk_instance_id}",
        ref_url=f"{base}/jobs/{job.id}/",
        descriptions=descriptions,
    )
    cset, report = create_computed_set(
        job.target, header.encode() + sdf, owner=user, job_request_id=job.id
    )
    if cset is None:
        problems = "; ".join(str(p) for p in report.problems[:5])
        more = len(report.problems) - 5
        import_failed(job, problems + (f" (and {more} more)" if more > 0 else ""))
        return job.job_status
    job.computed_set_id = cset.id
    states.report(
        job,
        states.UPLOADED,
        "system",
        message=f"computed set {cset.name} with {cset.molecule_count} molecule"
        + ("" if cset.molecule_count == 1 else "s"),
    )
    job.message = None
    db.session.commit()
    log.info("job %s imported as computed set %s", job.id, cset.name)
    return job.job_status


# RQ failure callback: after the last attempt, the job says why (and stays SUCCESS)
import_attempt_failed = on_final_failure(
    JobRequest,
    expected=in_states("job_status", {states.UPLOADING}),
    give_up=import_failed,
    unreachable="Squonk2 could not be reached",
    what="import",
)


def store_upload(upload_id: int) -> str:
    """Validate and store a large computed-set upload (``app.csets.service.run_upload``)."""
    return run_upload(upload_id)


# RQ failure callback: after the last attempt, the upload's page says it stopped
upload_attempt_failed = on_final_failure(
    ComputedSetUpload,
    expected=in_states("status", set(UPLOAD_LIVE)),
    give_up=upload_failed,
    unreachable="the upload could not be finished",
    what="upload",
)
