"""Fragmenstein combine on every pair of 10 Mac1 hits, through the product, and how honest
the imported merges are.

The app is served by gunicorn (as the Procfile runs it) against a real local_squonk with
its callbacks on, and a real RQ worker (python worker.py) launches the jobs and imports
their results; the bench itself only uses the API with a member's bearer token. It loads
the 10 hits below as the public target Mac1, makes one snapshot of them, sends its files
to Squonk2, and launches fragmenstein-combine on each pair (45 by default; the protein is
the pair's first hit) with ``--count`` runs each, then waits until every job is final
(UPLOADED; SUCCESS, i.e. nothing imported; FAILURE). Prints:

- the jobs per final status (with why for those not UPLOADED), and the wall time;
- the imported merges per outcome label (the ``outcome`` score of each molecule);
- the runs, distinct merges and exact duplicates dropped, summed from the jobs' Squonk2
  events ("N runs gave M distinct merges (K exact duplicates dropped)");
- an RDKit check of every imported merge against its inspirations (``ref_mols``, read
  from the hits' ligand mol files): how many have fewer aromatic rings than the most
  aromatic inspiration, and than the least, and how many of those carry neither "lost
  aromaticity" in ``outcome_reason`` nor the ``lost_aromaticity`` flag (should be 0).

The hits: the two neighbours of the tests (x0104, x0128), the six hits whose ligands'
centroids lie closest to theirs in the adenosine site (within 2.3 Å), and the pair mac-x0178
(a sulfonamide benzoic acid) and mac-x0348 (an indole) whose merge the tests know loses
both rings' aromaticity (they sit together, about 10 Å from the others).

    .venv/bin/python bench/merges.py [--pairs 45] [--count 3] [--timeout 3600]
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import SECRET_KEY, cores, cpu_report, cpu_sample, gunicorn  # noqa: E402

HITS = (
    "diamond-x0104_A",
    "diamond-x0128_A",
    "diamond-x0371_A",
    "diamond-x0471_A",
    "mac-x0263",
    "diamond-x0438_A",
    "diamond-x0724_A",
    "mac-x0496",
    "mac-x0178",
    "mac-x0348",
)
JOB = "fragmenstein-combine"
FINAL = ("UPLOADED", "SUCCESS", "FAILURE", "REVOKED")
SUMMARY = re.compile(r"(\d+) runs? gave (\d+) distinct merges? \((\d+) exact duplicates dropped\)")
LOST = "lost aromaticity"


def setup(work: Path, server) -> tuple[object, str]:
    """The app on a fresh bench database with the 10 hits loaded as Mac1, and a member of
    its project with an API token (returned)."""
    import shutil

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import ApiToken, User
    from app.targets.demo import demo_data_dir
    from app.targets.loader import get_or_create_project, load_target
    from bench._common import bench_database_url

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": bench_database_url(work),
            "SECRET_KEY": SECRET_KEY,
            "DATA_DIR": str(work / "data"),
            "QUEUE_NAME": f"bench-{uuid.uuid4().hex[:6]}",
            "SQUONK2_DMAPI_URL": server.url,
            "SQUONK2_TOKEN": server.token,
            "SQUONK2_EMBEDDED": True,
        }
    )
    source = demo_data_dir() / "mac1_mols"
    mols = work / "mac1"
    mols.mkdir(parents=True, exist_ok=True)
    for code in HITS:
        shutil.copy(source / f"{code}.mol", mols / f"{code}.mol")
    with app.app_context():
        upgrade()
        load_target(mols, "Mac1", "lb18145-1", public=True, template_pdb=source / "template.pdb")
        user = User(username="bench", email="bench@example.org")
        user.projects.append(get_or_create_project("lb18145-1"))
        db.session.add(user)
        _, token = ApiToken.issue(user)
        db.session.commit()
    return app, token


def start_worker(app, server, base: str, work: Path) -> subprocess.Popen:
    """``python worker.py`` on the app's queue, its callbacks pointing at ``base``."""
    env = dict(
        os.environ,
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        QUEUE_NAME=app.config["QUEUE_NAME"],
        DATA_DIR=str(work / "data"),
        SECRET_KEY=SECRET_KEY,
        SQUONK2_DMAPI_URL=server.url,
        SQUONK2_TOKEN=server.token,
        SQUONK2_EMBEDDED="1",
        EXTERNAL_URL=base,
        LAUNCHER_INSTANCE_DIR=str(work / "instance"),
    )
    log = open(work / "worker.log", "w")  # noqa: SIM115 - the process holds it to the end
    return subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py")],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def transfer(api: requests.Session, base: str, snapshot_id: int) -> dict:
    """Send the snapshot's files to Squonk2 and wait for the transfer to end."""
    created = api.post(f"{base}/api/job_file_transfer/", json={"snapshot": snapshot_id})
    created.raise_for_status()
    url = f"{base}/api/job_file_transfer/{created.json()['id']}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        body = api.get(url).json()
        if body["transfer_status"] in ("SUCCESS", "FAILURE"):
            return body
        time.sleep(0.5)
    raise RuntimeError("the file transfer did not end within 300 s")


def wait_final(api: requests.Session, base: str, ids: list[int], timeout: float) -> dict:
    """Poll the bulk status until every job is final (or ``timeout``); their statuses."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        statuses = api.post(f"{base}/api/job_status/", json={"ids": ids}).json()
        counts = Counter(statuses.values())
        line = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        if line != last:
            print(f"  [{time.strftime('%H:%M:%S')}] {line}", flush=True)
            last = line
        if all(status in FINAL for status in statuses.values()) or time.monotonic() > deadline:
            return statuses
        time.sleep(5)


def squonk_events(server, task_id: str | None) -> list[str]:
    """The messages of the job's Squonk2 task (what its Squonk2 page shows)."""
    from squonk2.dm_api import DmApi

    if not task_id:
        return []
    DmApi.set_api_url(server.url, verify_ssl_cert=False)
    reply = DmApi.get_task(server.token, task_id=task_id)
    return [event.get("message", "") for event in reply.msg.get("events", [])] if reply else []


def merges_of(api: requests.Session, base: str, name: str) -> list[dict]:
    """The set's molecules as the API lists them, each with its pose from the downloaded
    SD-file (matched by name)."""
    from rdkit import Chem

    cset = api.get(f"{base}/api/compound-sets/{name}/").json()
    sdf = api.get(base + cset["download_url"]).content
    supplier = Chem.ForwardSDMolSupplier(io.BytesIO(sdf), removeHs=False)
    poses = {}
    for mol in supplier:
        if mol is not None and mol.HasProp("_Name"):
            poses.setdefault(mol.GetProp("_Name"), mol)
    for molecule in cset["molecules"]:
        molecule["mol"] = poses.get(molecule["name"])
    return cset["molecules"]


def aromatic_check(molecules: list[dict]) -> dict[str, int]:
    """Counts of the merges with fewer aromatic rings than their inspirations."""
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    from app.targets.demo import demo_data_dir

    source = demo_data_dir() / "mac1_mols"
    rings = {
        code: rdMolDescriptors.CalcNumAromaticRings(
            Chem.MolFromMolFile(str(source / f"{code}.mol"))
        )
        for code in HITS
    }
    counts = Counter()
    for molecule in molecules:
        mol = molecule["mol"]
        if mol is None:  # no pose of that name in the file: fall back on its SMILES
            mol = Chem.MolFromSmiles(molecule["smiles"])
            counts["read from SMILES"] += 1
        have = rdMolDescriptors.CalcNumAromaticRings(mol)
        theirs = [rings[code] for code in molecule["ref_mols"]]
        reason = str(molecule["scores"].get("outcome_reason", ""))
        labelled = LOST in reason or "lost_aromaticity" in molecule["flags"]
        counts["checked"] += 1
        if LOST in reason:
            counts["reason says lost aromaticity"] += 1
        if "lost_aromaticity" in molecule["flags"]:
            counts["flag lost_aromaticity"] += 1
        for which, bound in (("most", max(theirs)), ("fewest", min(theirs))):
            if have < bound:
                counts[f"below {which}"] += 1
                if not labelled:
                    counts[f"below {which}, unlabelled"] += 1
        if have > max(theirs):
            counts["more than most"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=45, help="how many of the 45 pairs")
    parser.add_argument("--count", type=int, default=3, help="Fragmenstein runs per job")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait, at most")
    args = parser.parse_args()

    from tests.squonk_server import squonk_server

    work = Path(tempfile.mkdtemp(prefix="bench-merges-"))
    pairs = list(itertools.combinations(HITS, 2))[: args.pairs]
    runners = cores()
    print(
        f"{len(pairs)} fragmenstein-combine jobs (count {args.count}) on pairs of {len(HITS)} "
        f"Mac1 hits: {', '.join(HITS)}; local_squonk runs {runners} at once; work dir {work}"
    )
    squonk_env = {"LOCAL_SQUONK_WORKERS": str(runners), "LOCAL_SQUONK_RUN_TIMEOUT": "1200"}
    with squonk_server(work / "squonk", env=squonk_env) as server:
        app, token = setup(work, server)
        extra = {
            "SQUONK2_DMAPI_URL": server.url,
            "SQUONK2_TOKEN": server.token,
            "SQUONK2_EMBEDDED": "1",
        }
        with gunicorn(app, work, workers=2, threads=4, extra_env=extra) as base:
            worker = start_worker(app, server, base, work)
            try:
                run(args, server, base, token, pairs)
            finally:
                worker.terminate()
                worker.wait(30)


def run(args, server, base: str, token: str, pairs: list) -> None:
    """The snapshot, its transfer, the launches, the wait and the figures."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    created = api.post(
        f"{base}/api/snapshots/", json={"target": "Mac1", "proteins": list(HITS), "title": "bench"}
    )
    created.raise_for_status()
    snapshot_id = created.json()["id"]
    started = time.perf_counter()
    sent = transfer(api, base, snapshot_id)
    print(
        f"snapshot {snapshot_id}: files sent in {time.perf_counter() - started:.1f} s "
        f"({sent['transfer_status']}, {sent['files_uploaded']} uploaded)"
    )
    if sent["transfer_status"] != "SUCCESS":
        sys.exit(f"the transfer failed: {sent['message']}")

    before = cpu_sample()
    started = time.perf_counter()
    ids, pair_of = [], {}
    for first, second in pairs:
        body = {
            "snapshot": snapshot_id,
            "job": JOB,
            "inputs": {"fragments": [first, second], "protein": first},
            "options": {"count": args.count},
        }
        response = api.post(f"{base}/api/job_request/", json=body)
        if response.status_code != 201:
            sys.exit(
                f"launch of {first} + {second} refused: {response.status_code} {response.text}"
            )
        ids.append(response.json()["id"])
        pair_of[ids[-1]] = f"{first} + {second}"
    print(f"{len(ids)} jobs launched in {time.perf_counter() - started:.1f} s; waiting:")
    statuses = wait_final(api, base, ids, args.timeout)
    wall = time.perf_counter() - started
    if not all(status in FINAL for status in statuses.values()):
        print(f"NOT ALL FINAL after the {args.timeout:.0f} s timeout: figures so far")
    print(f"wall time, first launch to last job final: {wall:.0f} s ({wall / 60:.1f} min)")
    print(cpu_report(before))

    jobs = [api.get(f"{base}/api/job_request/{job_id}/").json() for job_id in ids]
    print("\njobs per final status:")
    for status, n in Counter(statuses.values()).most_common():
        print(f"  {status:<10} {n}")
    for job in jobs:
        if job["job_status"] != "UPLOADED":
            print(
                f"  job {job['id']} ({pair_of[job['id']]}): {job['job_status']}: {job['message']}"
            )

    runs = distinct = dropped = summarised = 0
    molecules = []
    print("\nper pair: status, runs/distinct/duplicates (Squonk2 event), imported outcomes")
    for job in jobs:
        said = "no summary event"
        for message in squonk_events(server, job["squonk_task_id"]):
            found = SUMMARY.search(message)
            if found:
                summarised += 1
                runs += int(found[1])
                distinct += int(found[2])
                dropped += int(found[3])
                said = f"{found[1]}/{found[2]}/{found[3]}"
        mine = merges_of(api, base, job["computed_set"]) if job["computed_set"] else []
        molecules += mine
        labels = Counter(str(m["scores"].get("outcome", "(none)")) for m in mine)
        print(
            f"  {pair_of[job['id']]:<34} {job['job_status']:<9} {said:<8} "
            + (", ".join(f"{n} {label}" for label, n in labels.most_common()) or "-")
        )
    print(
        f"\nSquonk2 events of {summarised} of {len(jobs)} jobs: {runs} runs gave {distinct} "
        f"distinct merges; exact duplicates dropped in all: {dropped}"
    )

    outcomes = Counter(str(m["scores"].get("outcome", "(none)")) for m in molecules)
    print(f"\nimported merges: {len(molecules)}, per outcome label:")
    for label, n in outcomes.most_common():
        print(f"  {label:<14} {n}")
    flags = Counter(flag for m in molecules for flag in m["flags"])
    if flags:
        print("flags: " + ", ".join(f"{flag} {n}" for flag, n in flags.most_common()))

    counts = aromatic_check(molecules)
    print(f"\nRDKit aromatic-ring check of {counts['checked']} imported merges:")
    print(
        f"  fewer aromatic rings than the most aromatic inspiration:  {counts['below most']}"
        f"  (of those without the lost-aromaticity reason or flag: "
        f"{counts['below most, unlabelled']})"
    )
    print(
        f"  fewer aromatic rings than the least aromatic inspiration: {counts['below fewest']}"
        f"  (of those without the lost-aromaticity reason or flag: "
        f"{counts['below fewest, unlabelled']})"
    )
    print(
        f"  outcome_reason says '{LOST}': {counts['reason says lost aromaticity']}; "
        f"flag lost_aromaticity: {counts['flag lost_aromaticity']}; more aromatic rings than "
        f"every inspiration: {counts['more than most']}"
    )
    if counts["read from SMILES"]:
        print(f"  ({counts['read from SMILES']} merges read from their SMILES: no pose by name)")
    unlabelled = counts["below most, unlabelled"]  # the fewest's are among them
    print(
        f"\nUNLABELLED LOSSES OF AROMATICITY (must be 0): {unlabelled}"
        + ("" if not unlabelled else "  <-- merges that lost rings without saying so")
    )


if __name__ == "__main__":
    main()
