"""Value formats a job schema may ask the server to check: ``format: <name>`` on a string
option or on the ``items`` of an array option (job_schemas/README.md).

Each format is one function here, ``text -> why it is not valid (or None)``, registered
in :data:`VALUE_FORMATS`; the schema format (``app.launcher.format``) accepts exactly
these names and ``app.launcher.checks.validate_options`` runs them on every launch.
"""

from __future__ import annotations

from collections.abc import Callable


def smiles_problem(text: str) -> str | None:
    """Why ``text`` is not a SMILES RDKit can read (and sanitise), or None."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    if not text.strip() or Chem.MolFromSmiles(text) is None:
        return f"{text!r} is not a valid SMILES"
    return None


VALUE_FORMATS: dict[str, Callable[[str], str | None]] = {"smiles": smiles_problem}
