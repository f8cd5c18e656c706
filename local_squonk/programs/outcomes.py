"""Honest labels for what Fragmenstein made: the outcome of each merge or placement.

The labels are Fragmenstein's own (``fragmenstein.Laboratory.category_labels``, worst
first): crashed, too distant, timeout, unstable, equally sized, deviant, acceptable.
:func:`judge` classifies one Victor with the Laboratory's own ``categorize`` (called on a
row built from ``victor.summarize()`` as the Laboratory builds it, so the rule is
Fragmenstein's). That function names two of its results differently from its label list;
they are mapped onto the list: "too moved" (combined RMSD over 1 Å) is *deviant*, "too
contorted" (∆∆G not below 0) is *unstable*. Two checks of our own are added, since the
Laboratory does not make them: a ∆∆G that is not finite (NaN or inf) is *crashed*, and a
molecule with fewer aromatic rings than it should have (the most aromatic inspiration
for a merge, the requested SMILES for a placement) is at best *deviant*, its reason
saying "lost aromaticity"; a molecule in disconnected pieces is *crashed*. The worst
label found wins; the reason names every finding.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rdkit import Chem
from rdkit.Chem import rdMolAlign, rdMolDescriptors

# Fragmenstein's order of niceness (LabBench.category_labels), without importing it here.
LABELS = (
    "crashed",
    "too distant",
    "timeout",
    "unstable",
    "equally sized",
    "deviant",
    "acceptable",
)
_RENAMED = {"too moved": "deviant", "too contorted": "unstable"}
DUPLICATE_RMSD = 0.1  # Å, heavy atoms, in place (no alignment)
MOVE_CUTOFF = 1.0  # Å, Laboratory.categorize's default
DDG_CUTOFF = 0.0  # kcal/mol, Laboratory.categorize's default

OUTCOME_FIELDS: dict[str, dict[str, str]] = {
    "outcome": {
        "type": "string",
        "description": "Fragmenstein's outcome label: acceptable, deviant, equally sized, "
        "unstable, timeout, too distant or crashed",
    },
    "outcome_reason": {"type": "string", "description": "Why the molecule got its outcome"},
}


@dataclass
class Outcome:
    """The label of one molecule and why; ``duplicate`` when an earlier run made it."""

    label: str
    reason: str
    duplicate: bool = False


def crashed(reason: str) -> Outcome:
    return Outcome("crashed", reason)


def finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def aromatic_rings(mol: Chem.Mol) -> int:
    return rdMolDescriptors.CalcNumAromaticRings(mol)


def _worse(first: str, second: str) -> str:
    return first if LABELS.index(first) <= LABELS.index(second) else second


def _counts(numbers: Sequence[int]) -> str:
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _row(victor: Any, hits: Sequence[Chem.Mol]) -> Any:
    """The row ``Laboratory.get_completed`` would make of this Victor's result."""
    import pandas as pd

    result = dict(victor.summarize())
    result["error"] = result.get("error") or ""
    positioned = getattr(victor.monster, "positioned_mol", None)
    result["unminimized_mol"] = positioned if positioned is not None else Chem.Mol()
    result["hit_mols"] = list(getattr(victor, "hits", None) or hits)
    for key in ("regarded", "disregarded"):
        if not isinstance(result.get(key), list):
            result[key] = []
    return pd.Series(result)


def _categorize(row: Any, size_tolerance: int) -> str:
    from fragmenstein import Laboratory

    # categorize does not use its instance; an uninitialised one avoids Laboratory's set-up.
    lab = object.__new__(Laboratory)
    return Laboratory.categorize(
        lab, row, size_tolerance=size_tolerance, move_cutoff=MOVE_CUTOFF, ddG_cutoff=DDG_CUTOFF
    )


def _explain(raw: str, row: Any) -> str:
    ddg, rmsd = row.get("∆∆G"), row.get("comRMSD")
    if raw == "crashed":
        return row["error"] or "no energy was computed"
    if raw == "too distant":
        far = ", ".join(map(str, row["disregarded"]))
        return f"the hits are too far apart to merge ({far or row['error']})"
    if raw == "timeout":
        return "Fragmenstein ran out of time"
    if raw == "equally sized":
        largest = max(h.GetNumHeavyAtoms() for h in row["hit_mols"])
        size = row["unminimized_mol"].GetNumHeavyAtoms()
        return f"{size} heavy atoms, no more than the largest hit ({largest})"
    if raw == "too moved":
        return f"moved from the hits: combined RMSD {rmsd:.2f} Å > {MOVE_CUTOFF:g} Å"
    if raw == "too contorted":
        return f"∆∆G {ddg:+.1f} kcal/mol is not below {DDG_CUTOFF:g} (too contorted)"
    return f"∆∆G {ddg:+.1f} kcal/mol, combined RMSD {rmsd:.2f} Å"


def judge(
    victor: Any,
    hits: Sequence[Chem.Mol],
    mol: Chem.Mol | None,
    *,
    size_tolerance: int = 0,
    wanted: Chem.Mol | None = None,
) -> Outcome:
    """Label what ``victor`` made (``mol``: its minimised molecule as written, or None).

    :param hits: the inspirations
    :param size_tolerance: Laboratory's: heavy atoms below the largest hit still acceptable
        (its placements use 50, i.e. size is not judged)
    :param wanted: for a placement, the requested molecule: ``mol`` must keep its aromatic
        rings (for a merge, those of the most aromatic hit)
    """
    try:
        row = _row(victor, hits)
        raw = _categorize(row, size_tolerance)
    except Exception as error:  # noqa: BLE001 - a Victor too broken to summarise crashed
        return crashed(f"{error.__class__.__name__}: {error}")
    label = _RENAMED.get(raw, raw)
    if label not in LABELS:
        label = "crashed"
    reasons = [_explain(raw, row)]
    ddg = row.get("∆∆G")
    if label != "crashed" and not finite(ddg):
        label = "crashed"
        reasons = [f"∆∆G is not finite ({ddg})"]
    if mol is None and label != "crashed" and not row["error"]:
        label, reasons = "crashed", ["no minimised molecule"]
    if mol is not None:
        pieces = len(Chem.GetMolFrags(Chem.RemoveHs(mol, sanitize=False)))
        if pieces > 1:
            reasons.append(f"the molecule is in {pieces} disconnected pieces")
            label = "crashed"
        have = aromatic_rings(mol)
        if wanted is not None:
            should, whose = aromatic_rings(wanted), f"the SMILES has {aromatic_rings(wanted)}"
        else:
            counts = [aromatic_rings(h) for h in hits]
            should = max(counts, default=0)
            whose = f"inspiration{'s have' if len(counts) > 1 else ' has'} {_counts(counts)}"
        if have < should:
            rings = "ring" if have == 1 else "rings"
            reasons.append(f"lost aromaticity: {have} aromatic {rings}, {whose}")
            label = _worse(label, "deviant")
    return Outcome(label, "; ".join(reasons))


def is_duplicate(mol: Chem.Mol, other: Chem.Mol) -> bool:
    """The same molecule in the same place: equal InChIKeys and a heavy-atom RMSD (in
    place, symmetry-aware) under :data:`DUPLICATE_RMSD`."""
    first, second = Chem.RemoveHs(mol), Chem.RemoveHs(other)
    if Chem.MolToInchiKey(first) != Chem.MolToInchiKey(second):
        return False
    try:
        return rdMolAlign.CalcRMS(first, second) < DUPLICATE_RMSD
    except RuntimeError:  # e.g. tautomers sharing a key without a common atom mapping
        return False


def summary(runs: int, outcomes: Sequence[Outcome], distinct: int, what: str = "merge") -> str:
    """The event that sums up the runs: distinct molecules, duplicates, labels."""
    duplicates = sum(o.duplicate for o in outcomes)
    counts = Counter(o.label for o in outcomes if not o.duplicate)
    labels = ", ".join(f"{counts[label]} {label}" for label in LABELS if counts[label])
    noun = "run" if runs == 1 else "runs"
    merges = what if distinct == 1 else f"{what}s"
    return (
        f"{runs} {noun} gave {distinct} distinct {merges} ({duplicates} exact duplicates "
        f"dropped); outcomes: {labels or 'none'}"
    )
