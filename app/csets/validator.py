"""The one validator for Fragalysis computed-set SDF files ("ver_1.2", CONTRACTS.md section 5).

Both the upload page and the automatic import of job results call
:func:`validate_computed_set`; nothing is stored unless ``report.ok``. The module is pure
Python + RDKit (no Flask, no database) so it can run in a web request or an RQ worker.

Record numbers
    Records are numbered from 1 in file order and the header counts: the header is record 1,
    the first molecule is record 2. A problem that concerns the whole file has
    ``record=None``.

Parsing strategy
    We split the file on ``$$$$`` lines ourselves instead of iterating an ``SDMolSupplier``:
    one unreadable record then yields one problem with its own record number and the rest of
    the file is still checked. Each record's molecule block (up to ``M  END``) is read with
    ``Chem.MolFromMolBlock(sanitize=True)``; its data items (``> <name>`` + value lines up to a
    blank line) are read by a small parser here, because RDKit drops the properties of a
    record it cannot read and reports duplicated names silently (the last one wins).
"""

from __future__ import annotations

import difflib
import io
import math
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

from rdkit import Chem, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_RECORDS",
    "HEADER_TITLE",
    "MAX_LENGTHS",
    "MAX_PROBLEMS",
    "REQUIRED_HEADER_FIELDS",
    "REQUIRED_MOLECULE_FIELDS",
    "ParsedMolecule",
    "ParsedSet",
    "Problem",
    "ValidationReport",
    "build_header_block",
    "validate_computed_set",
]

HEADER_TITLE = "ver_1.2"
REQUIRED_HEADER_FIELDS: tuple[str, ...] = (
    "submitter_name",
    "submitter_email",
    "submitter_institution",
    "generation_date",
    "method",
    "ref_url",
)
REQUIRED_MOLECULE_FIELDS: tuple[str, ...] = ("ref_mols", "ref_pdb", "original SMILES")
# The longest text the database columns hold (app/models/computed_sets.py, String(n));
# tests/csets/test_validator.py checks these against the models, so they cannot drift.
MAX_LENGTHS: dict[str, int] = {
    "submitter_name": 200,
    "submitter_email": 254,
    "submitter_institution": 200,
    "method": 200,
    "ref_url": 1000,
    "name": 200,  # a molecule's name (its record title)
    "ref_pdb": 255,
}
DEFAULT_MAX_BYTES = 60 * 1024 * 1024  # under MAX_UPLOAD_MB (64): a 40,000-molecule set fits
DEFAULT_MAX_RECORDS = 50_000
# A file with thousands of bad records would otherwise produce a report nobody can read (or
# render); past this many we only count.
MAX_PROBLEMS = 200

# Field names used in Problem.field for things that are not SDF properties.
FIELD_TITLE = "title"  # the header record's first line
FIELD_NAME = "name"  # a molecule record's first line
FIELD_MOLBLOCK = "molblock"  # atoms/bonds of any record
FIELD_DATA = "data"  # the data-item section after M  END

_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
# Python's float() also accepts "nan", "inf", "1_000" and surrounding blanks; a score is only
# numeric when it looks like a plain decimal number, so NaN never reaches the database or JSON.
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# What programs write for a number that is not one (numpy, pandas, C, Java, JavaScript).
_NON_FINITE_RE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
# "> <name>" with anything allowed around it: ">  <ref_mols>  (1)" as RDKit writes it,
# "> 25 <name>", "> <name> (DT12)" from older writers.
_DATA_HEADER_RE = re.compile(r">[^<]*<([^>]*)>")

# Signatures of files people upload by mistake, so we can say what the file actually is.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Excel/Word file)"),
    (b"\x1f\x8b", "a gzip-compressed file; please upload the uncompressed .sdf"),
    (b"\xd0\xcf\x11\xe0", "a Microsoft Office document"),
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file.

    ``message`` says what is wrong without repeating where; ``str(problem)`` gives the full,
    self-contained sentence, e.g.
    ``record 3 (x0104-merge-1): ref_mols: unknown fragment code 'x9999' for this target``.
    """

    record: int | None
    name: str | None
    field: str | None
    message: str

    @property
    def location(self) -> str:
        """Where the problem is, e.g. ``record 3 (x0104-merge-1): ref_mols``; '' for the file."""
        parts: list[str] = []
        if self.record is not None:
            if self.record == 1:
                parts.append("record 1 (header)")
            elif self.name:
                parts.append(f"record {self.record} ({self.name})")
            else:
                parts.append(f"record {self.record}")
        if self.field:
            parts.append(self.field)
        return ": ".join(parts)

    def __str__(self) -> str:
        location = self.location
        return f"{location}: {self.message}" if location else self.message


@dataclass
class ParsedMolecule:
    """A molecule record that passed every check."""

    name: str
    smiles: str  # canonical RDKit SMILES of the pose (hydrogens removed)
    original_smiles: str  # the "original SMILES" property as submitted
    mol_block: str  # the record's molfile text up to M  END, as submitted (LF line ends)
    ref_mols: list[str]  # fragment codes, in file order, without duplicates
    ref_pdb: str  # a protein code of the target or a PDB file name from the zip
    scores: dict[str, float | str]  # every other property: float when numeric, else text
    record: int = 0  # record number in the file (header = 1)
    mol: Chem.Mol | None = field(default=None, repr=False, compare=False)  # the pose, read


@dataclass
class ParsedSet:
    """The content of a valid file: header fields, property descriptions and molecules."""

    submitter_name: str
    submitter_email: str
    submitter_institution: str
    generation_date: date
    method: str
    ref_url: str
    descriptions: dict[str, str]  # property name -> description, from the header
    molecules: list[ParsedMolecule]

    @property
    def score_names(self) -> list[str]:
        """Every score name used by any molecule, in order of first appearance."""
        seen: dict[str, None] = {}
        for molecule in self.molecules:
            for name in molecule.scores:
                seen.setdefault(name, None)
        return list(seen)


@dataclass
class ValidationReport:
    """The outcome: ``ok`` when there is no problem; ``parsed`` is set only then."""

    problems: list[Problem] = field(default_factory=list)
    parsed: ParsedSet | None = None
    record_count: int = 0  # records found in the file, header included (0 if not split)

    @property
    def ok(self) -> bool:
        return not self.problems and self.parsed is not None

    def messages(self) -> list[str]:
        """Every problem as a self-contained sentence (record, name, field, message)."""
        return [str(problem) for problem in self.problems]


class _Problems:
    """Collects problems up to a cap and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.items: list[Problem] = []
        self.dropped = 0
        self.cap = cap

    @property
    def full(self) -> bool:
        # Lets callers skip work (spelling hints) whose result would not be shown anyway.
        return len(self.items) >= self.cap

    def __bool__(self) -> bool:
        return bool(self.items) or self.dropped > 0

    def add(self, record: int | None, name: str | None, fld: str | None, message: str) -> None:
        if self.full:
            self.dropped += 1
        else:
            self.items.append(Problem(record, name, fld, message))

    def finish(self) -> list[Problem]:
        if self.dropped:
            self.items.append(
                Problem(None, None, None, f"… and {self.dropped} more problems not listed")
            )
        return self.items


@dataclass
class _Record:
    number: int  # 1-based, header = 1
    first_line: int  # 1-based line of the file where the record starts
    lines: list[str]


@dataclass
class _DataItem:
    name: str
    value: str


@dataclass
class _ReadRecord:
    """A record split into its molecule (or None when unreadable) and data items."""

    title: str
    mol: Chem.Mol | None
    mol_block: str
    items: list[_DataItem]


@dataclass
class _FileState:
    """What the molecule checks learn from earlier records of the same file."""

    described: frozenset[str] | None  # score names the header describes (None: not checked)
    seen_names: dict[str, int] = field(default_factory=dict)  # name -> record
    # score name -> {True: (record, name) of its first numeric value, False: first text one}
    score_kinds: dict[str, dict[bool, tuple[int, str | None]]] = field(default_factory=dict)
    reported: set[tuple[str, str]] = field(default_factory=set)  # (rule, score) said once


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def validate_computed_set(
    sdf_bytes: bytes,
    protein_codes: Iterable[str],
    pdb_files: Iterable[str] = frozenset(),
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_records: int = DEFAULT_MAX_RECORDS,
    require_descriptions: bool = True,
) -> ValidationReport:
    """Check a computed-set SDF against every rule of CONTRACTS.md section 5.

    :param sdf_bytes: the file as uploaded or fetched (any line ends, optional BOM).
    :param protein_codes: the fragment/protein codes of the target (``ref_mols`` entries and
        ``ref_pdb`` values must be among them).
    :param pdb_files: names of the PDB files in an accompanying zip; ``ref_pdb`` may name one
        (matched on the full name or on its base name, so ``pdbs/a.pdb`` accepts ``a.pdb``).
    :param max_bytes: larger files are rejected with one problem, without being parsed.
    :param max_records: most molecule records accepted (the header is not counted).
    :param require_descriptions: refuse a score the header does not describe (off for job
        results, whose header the importer writes from what the job says about its fields).
    :returns: a report listing every problem (record number, molecule name, field, message;
        records are 1-based and the header is record 1), capped at :data:`MAX_PROBLEMS` plus
        a final "… and N more" problem. ``parsed`` is set only when there is no problem.
    :raises TypeError: ``protein_codes`` or ``pdb_files`` is a single string.
    """
    if isinstance(protein_codes, str) or isinstance(pdb_files, str):
        # A lone string would silently become a set of characters and reject every code.
        raise TypeError("protein_codes and pdb_files must be collections of names, not a str")
    codes = frozenset(protein_codes)
    # Zips often hold folders ("pdbs/a.pdb"); a ref_pdb of "a.pdb" should still match.
    pdb_names = list(pdb_files)
    pdbs = frozenset(pdb_names) | {posixpath.basename(p) for p in pdb_names}
    problems = _Problems(MAX_PROBLEMS)

    if not sdf_bytes:
        problems.add(None, None, None, "The file is empty (0 bytes).")
        return ValidationReport(problems.finish())
    if len(sdf_bytes) > max_bytes:
        problems.add(
            None,
            None,
            None,
            f"The file is {_size(len(sdf_bytes))}; the largest file accepted is "
            f"{_size(max_bytes)}. Split it into several computed sets.",
        )
        return ValidationReport(problems.finish())

    text, not_text = _decode(sdf_bytes)
    if not_text:
        problems.add(None, None, None, f"This is not an SDF file: it looks like {not_text}.")
        return ValidationReport(problems.finish())
    if not text.strip():
        problems.add(None, None, None, "The file is empty (it contains only blank lines).")
        return ValidationReport(problems.finish())

    records = _split_records(text)
    if not _looks_like_sdf(records):
        problems.add(
            None,
            None,
            None,
            "This is not an SDF file: no molecule blocks were found (an SDF file is a series "
            "of molfile records, each ending with 'M  END', separated by '$$$$' lines).",
        )
        return ValidationReport(problems.finish(), record_count=len(records))

    molecule_count = len(records) - 1
    if molecule_count > max_records:
        problems.add(
            None,
            None,
            None,
            f"The file has {molecule_count} molecule records; at most {max_records} are "
            "accepted in one computed set. Split it into several files.",
        )
        return ValidationReport(problems.finish(), record_count=len(records))

    with _quiet_rdkit():
        header = _check_header(records[0], problems)
        if molecule_count == 0:
            problems.add(
                None,
                None,
                None,
                "The file has a header record but no molecule records after it.",
            )
        molecules: list[ParsedMolecule] = []
        described = (
            frozenset(header.descriptions) if header is not None and require_descriptions else None
        )
        state = _FileState(described)
        for record in records[1:]:
            molecule = _check_molecule(record, codes, pdbs, state, problems)
            if molecule is not None:
                molecules.append(molecule)

    if problems or header is None:
        return ValidationReport(problems.finish(), record_count=len(records))
    header.molecules = molecules
    return ValidationReport([], header, record_count=len(records))


def build_header_block(
    submitter_name: str,
    submitter_email: str,
    submitter_institution: str,
    generation_date: date | str,
    method: str,
    ref_url: str,
    descriptions: Mapping[str, str],
) -> str:
    """Return a ``ver_1.2`` header record (ending in ``$$$$`` and a newline) to prepend to an SDF.

    The header's molecule is an empty (zero-atom) molblock written by RDKit: Fragalysis only
    reads the header's title and properties, and RDKit (``MolFromMolBlock``,
    ``SDMolSupplier``) reads an empty molecule back without complaint, whereas a dummy atom
    would be a fake chemical entity in the file. Properties are written in the order required
    fields first, then ``descriptions`` in their given order.

    Descriptions with an empty text are left out (an empty value would make the whole file
    invalid; a score without description is then refused unless the file is validated with
    ``require_descriptions=False``, as job results are). Newlines in any value are
    replaced by spaces because a blank line ends an SDF data item.

    :raises ValueError: a required field is empty, or a description name is a required header
        field, is empty, or contains ``<``, ``>`` or a newline (it could not be written).
    """
    values = {
        "submitter_name": submitter_name,
        "submitter_email": submitter_email,
        "submitter_institution": submitter_institution,
        "generation_date": (
            generation_date.isoformat() if isinstance(generation_date, date) else generation_date
        ),
        "method": method,
        "ref_url": ref_url,
    }
    mol = Chem.Mol()
    mol.SetProp("_Name", HEADER_TITLE)
    for key, value in values.items():
        flat = _one_line(str(value) if value is not None else "")
        if not flat:
            raise ValueError(f"header field {key} must not be empty")
        mol.SetProp(key, flat)
    for key, description in descriptions.items():
        if not key or not key.strip() or any(c in key for c in "<>\r\n"):
            raise ValueError(f"cannot write a description for the property name {key!r}")
        if key in values or key == "_Name":
            raise ValueError(f"{key!r} is a header field, not a molecule property")
        flat = _one_line(description or "")
        if flat:
            mol.SetProp(key, flat)
    buffer = io.StringIO()
    writer = Chem.SDWriter(buffer)
    writer.write(mol)
    writer.close()
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Reading the file
# --------------------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str | None]:
    """Decode the bytes to text; the second item names the file type when it is not text."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return "", what
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Some Windows tools save "Unicode" text as UTF-16 with a BOM.
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError:
            return "", "binary data"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data[:65536]:
        return "", "binary data, not text"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Molfiles are ASCII; a stray Latin-1 character in a property value is not worth
        # rejecting the file for, and Latin-1 decodes any byte.
        text = data.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n"), None


def _split_records(text: str) -> list[_Record]:
    """Split on ``$$$$`` lines; a non-blank tail without a final ``$$$$`` is one more record."""
    records: list[_Record] = []
    current: list[str] = []
    start = 1
    for number, line in enumerate(text.split("\n"), start=1):
        if line.rstrip() == "$$$$":
            records.append(_Record(len(records) + 1, start, current))
            current = []
            start = number + 1
        else:
            current.append(line)
    if any(line.strip() for line in current):
        records.append(_Record(len(records) + 1, start, current))
    return records


def _looks_like_sdf(records: list[_Record]) -> bool:
    """True when at least one record has a molfile counts line or an ``M  END`` line."""
    for record in records:
        if any(_is_m_end(line) for line in record.lines):
            return True
        if len(record.lines) > 3 and ("V2000" in record.lines[3] or "V3000" in record.lines[3]):
            return True
    return False


def _is_m_end(line: str) -> bool:
    return line.rstrip() == "M  END"


def _read_record(record: _Record, problems: _Problems, name: str | None) -> _ReadRecord:
    """Parse one record: molecule block with RDKit, data items with our parser.

    Problems with the molecule block are reported under :data:`FIELD_MOLBLOCK`, stray text
    and duplicated properties under :data:`FIELD_DATA`.
    """
    lines = record.lines
    title = lines[0].strip() if lines else ""
    end = next((i for i, line in enumerate(lines) if _is_m_end(line)), None)
    if end is None:
        # Without M  END we cannot tell where the data items start: guess at the first
        # "> <" line so properties can still be checked.
        data_start = next(
            (i for i, line in enumerate(lines) if _DATA_HEADER_RE.match(line)), len(lines)
        )
        mol_lines = lines[:data_start]
        data_lines = lines[data_start:]
        problems.add(
            record.number,
            name,
            FIELD_MOLBLOCK,
            "the molecule block is incomplete: there is no 'M  END' line",
        )
        mol = None
    else:
        mol_lines = lines[: end + 1]
        data_lines = lines[end + 1 :]
        mol = Chem.MolFromMolBlock("\n".join(mol_lines) + "\n", sanitize=True)
        if mol is None:
            problems.add(
                record.number,
                name,
                FIELD_MOLBLOCK,
                "RDKit cannot read the molecule: " + _diagnose_molblock(mol_lines),
            )
    items = _parse_data_items(data_lines, record, problems, name)
    return _ReadRecord(title, mol, "\n".join(mol_lines) + "\n", items)


def _parse_data_items(
    lines: list[str], record: _Record, problems: _Problems, name: str | None
) -> list[_DataItem]:
    """Data items: a ``> <name>`` line, then value lines up to a blank line."""
    items: list[_DataItem] = []
    seen: set[str] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _DATA_HEADER_RE.match(line)
        if match is None:
            if line.strip():
                problems.add(
                    record.number,
                    name,
                    FIELD_DATA,
                    f"unexpected line {_clip(line)!r} after 'M  END'; each property must "
                    "start with a '> <name>' line, followed by its value and a blank line",
                )
            i += 1
            continue
        prop = match.group(1).strip()
        value_lines: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip():
            value_lines.append(lines[i])
            i += 1
        value = "\n".join(value_lines).strip()
        if not prop:
            problems.add(record.number, name, FIELD_DATA, "a property has an empty name: '> <>'")
            continue
        if prop in seen:
            # RDKit would silently keep the last value; make the ambiguity visible instead.
            problems.add(
                record.number, name, prop, "this property appears more than once in the record"
            )
            continue
        seen.add(prop)
        items.append(_DataItem(prop, value))
    return items


_KNOWN_SYMBOLS: frozenset[str] = frozenset(
    [Chem.GetPeriodicTable().GetElementSymbol(z) for z in range(1, 119)]
    # Query atoms and the isotopes RDKit accepts in molfiles.
    + ["A", "AH", "Q", "QH", "X", "XH", "M", "MH", "L", "LP", "R", "R#", "*", "D", "T"]
)


def _diagnose_molblock(mol_lines: list[str]) -> str:
    """Say why RDKit rejected a molecule block, in terms of the lines a chemist can fix.

    RDKit only logs its reason (and we silence its logs), so we re-check the V2000 layout
    ourselves and, when the layout is fine, re-read without sanitizing to get the chemistry
    error (valence, aromaticity) as an exception message.
    """
    if len(mol_lines) < 4:
        return (
            "the molecule block is too short (a molfile has 3 header lines, a counts line, "
            "atom and bond lines, then 'M  END')"
        )
    counts = mol_lines[3]
    if "V3000" not in counts:
        try:
            n_atoms = int(counts[0:3])
            n_bonds = int(counts[3:6])
        except ValueError:
            return f"the counts line (line 4 of the record) is unreadable: {_clip(counts)!r}"
        for k in range(n_atoms):
            index = 4 + k
            where = f"atom {k + 1} (line {index + 1} of the record)"
            if index >= len(mol_lines) or mol_lines[index].startswith("M  "):
                return f"the counts line announces {n_atoms} atoms but only {k} atom lines follow"
            line = mol_lines[index]
            try:
                float(line[0:10]), float(line[10:20]), float(line[20:30])
            except ValueError:
                return f"{where}: the coordinates are unreadable: {_clip(line)!r}"
            symbol = line[31:34].strip()
            if not symbol:
                return f"{where}: there is no element symbol: {_clip(line)!r}"
            if symbol not in _KNOWN_SYMBOLS:
                return f"{where}: unknown element symbol {symbol!r}"
        for k in range(n_bonds):
            index = 4 + n_atoms + k
            where = f"bond {k + 1} (line {index + 1} of the record)"
            if index >= len(mol_lines) or mol_lines[index].startswith("M  "):
                return f"the counts line announces {n_bonds} bonds but only {k} bond lines follow"
            line = mol_lines[index]
            try:
                first, second, order = int(line[0:3]), int(line[3:6]), int(line[6:9])
            except ValueError:
                return f"{where} is unreadable: {_clip(line)!r}"
            for atom in (first, second):
                if not 1 <= atom <= n_atoms:
                    return f"{where} refers to atom {atom}, but there are {n_atoms} atoms"
            if not 1 <= order <= 8:
                return f"{where} has an unknown bond type {order}"
    raw = Chem.MolFromMolBlock("\n".join(mol_lines) + "\n", sanitize=False, removeHs=False)
    if raw is None:
        return "the atom, bond or property ('M  ...') lines are not valid molfile syntax"
    try:
        Chem.SanitizeMol(raw)
    except Exception as exc:  # RDKit raises several exception types for sanitization.
        return _explain_sanitize_error(exc)
    return "the molecule block is not valid"


def _explain_sanitize_error(exc: Exception) -> str:
    message = str(exc).strip() or type(exc).__name__
    if "atom #" in message or "atoms:" in message:
        # RDKit's atom indices start at 0; atom lines in the file start at 1.
        message += " (RDKit counts atoms from 0)"
    return message


# --------------------------------------------------------------------------------------------
# Checking the records
# --------------------------------------------------------------------------------------------


def _check_header(record: _Record, problems: _Problems) -> ParsedSet | None:
    """Check record 1; return the header fields (molecules filled in later) or None."""
    read = _read_record(record, problems, None)
    before = len(problems.items) + problems.dropped
    if read.title != HEADER_TITLE:
        if read.title.lower().startswith("ver_"):
            message = (
                f"unsupported version line {read.title!r}: the first record's title must be "
                f"exactly '{HEADER_TITLE}'"
            )
        else:
            message = (
                f"the file must start with a header record titled exactly '{HEADER_TITLE}'; "
                f"the first record is titled {_clip(read.title)!r}"
            )
        problems.add(1, None, FIELD_TITLE, message)

    values = {item.name: item.value for item in read.items}
    for required in REQUIRED_HEADER_FIELDS:
        if required not in values:
            problems.add(1, None, required, "this required header property is missing")
        elif not values[required]:
            problems.add(1, None, required, "the value is empty")

    generation_date: date | None = None
    raw_date = values.get("generation_date")
    if raw_date:
        generation_date = _parse_date(raw_date, problems)
    ref_url = values.get("ref_url")
    if ref_url and not _is_web_url(ref_url):
        problems.add(
            1,
            None,
            "ref_url",
            f"{_clip(ref_url)!r} is not a web address: it must start with http:// or https:// "
            "and name a host",
        )
    for key in REQUIRED_HEADER_FIELDS:
        too_long = key in MAX_LENGTHS and _too_long(key, values.get(key) or "")
        if too_long:
            problems.add(1, None, key, too_long)
    email = values.get("submitter_email")
    if email and not _EMAIL_RE.fullmatch(email):
        problems.add(1, None, "submitter_email", f"{_clip(email)!r} is not an e-mail address")

    descriptions: dict[str, str] = {}
    for item in read.items:
        if item.name in REQUIRED_HEADER_FIELDS:
            continue
        if not item.value:
            problems.add(
                1,
                None,
                item.name,
                "the description is empty (every other header property describes the "
                "molecule property of the same name)",
            )
            continue
        descriptions[item.name] = item.value

    if len(problems.items) + problems.dropped > before or generation_date is None:
        return None
    if read.mol is None:
        return None
    return ParsedSet(
        submitter_name=values["submitter_name"],
        submitter_email=values["submitter_email"],
        submitter_institution=values["submitter_institution"],
        generation_date=generation_date,
        method=values["method"],
        ref_url=values["ref_url"],
        descriptions=descriptions,
        molecules=[],
    )


def _parse_date(raw: str, problems: _Problems) -> date | None:
    if not _DATE_RE.fullmatch(raw):
        problems.add(
            1,
            None,
            "generation_date",
            f"{_clip(raw)!r} is not a date in the form YYYY-MM-DD (e.g. 2024-03-15)",
        )
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.add(1, None, "generation_date", f"{raw!r} is not a real calendar date")
        return None


def _is_web_url(value: str) -> bool:
    if any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced '[' in the host
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_molecule(
    record: _Record,
    codes: frozenset[str],
    pdbs: frozenset[str],
    state: _FileState,
    problems: _Problems,
) -> ParsedMolecule | None:
    """Check one molecule record; return it parsed, or None after adding its problems."""
    number = record.number
    raw_title = record.lines[0] if record.lines else ""
    name = raw_title.strip()
    shown = name or None  # the name used to locate problems in messages
    before = len(problems.items) + problems.dropped

    if not any(line.strip() for line in record.lines):
        problems.add(number, None, None, "the record is empty (two '$$$$' lines in a row)")
        return None

    if not name:
        problems.add(
            number,
            None,
            FIELD_NAME,
            "the molecule has no name: the first line of the record (its title) is empty",
        )
    elif not _NAME_RE.fullmatch(name):
        # Spell out each offending character: a bare space or tab is invisible in a list.
        bad = ", ".join(
            {" ": "a space", "\t": "a tab"}.get(c, repr(c))
            for c in sorted({c for c in name if not _NAME_RE.fullmatch(c)})
        )
        shown = _clip(name)
        problems.add(
            number,
            shown,
            FIELD_NAME,
            f"the name {shown!r} contains {bad}; names may only use letters, digits, "
            "'-', '_' and '.'",
        )
    elif _too_long("name", name):
        shown = _clip(name)
        problems.add(number, shown, FIELD_NAME, _too_long("name", name))
    elif name in state.seen_names:
        problems.add(
            number,
            name,
            FIELD_NAME,
            f"the name {name!r} is already used by record {state.seen_names[name]}; "
            "names must be unique in the file",
        )
    else:
        state.seen_names[name] = number

    read = _read_record(record, problems, shown)
    smiles = ""
    if read.mol is not None:
        if read.mol.GetNumAtoms() == 0:
            problems.add(number, shown, FIELD_MOLBLOCK, "the molecule has no atoms")
        else:
            smiles = Chem.MolToSmiles(read.mol)

    values = {item.name: item.value for item in read.items}
    for required in REQUIRED_MOLECULE_FIELDS:
        if required not in values:
            problems.add(number, shown, required, "this required property is missing")

    ref_mols: list[str] = []
    scores: dict[str, float | str] = {}
    for item in read.items:
        if not item.value:
            problems.add(number, shown, item.name, "the value is empty")
        elif item.name == "ref_mols":
            ref_mols = _check_ref_mols(item.value, codes, number, shown, problems)
        elif item.name == "ref_pdb":
            if _too_long("ref_pdb", item.value):
                problems.add(number, shown, item.name, _too_long("ref_pdb", item.value))
            else:
                _check_ref_pdb(item.value, codes, pdbs, number, shown, problems)
        elif item.name == "original SMILES":
            original, reason = _read_smiles(item.value)
            if reason is None and read.mol is not None and smiles:
                reason = _structure_mismatch(item.value, original, read.mol, smiles)
            if reason:
                problems.add(number, shown, item.name, reason)
        else:
            score = _check_score(item, number, shown, state, problems)
            if score is not None:
                scores[item.name] = score

    if len(problems.items) + problems.dropped > before or read.mol is None:
        return None
    return ParsedMolecule(
        name=name,
        smiles=smiles,
        original_smiles=values["original SMILES"],
        mol_block=read.mol_block,
        ref_mols=ref_mols,
        ref_pdb=values["ref_pdb"],
        scores=scores,
        record=number,
        mol=read.mol,
    )


def _check_ref_mols(
    value: str, codes: frozenset[str], number: int, name: str | None, problems: _Problems
) -> list[str]:
    found: dict[str, None] = {}
    for code in (part.strip() for part in value.split(",")):
        if not code:
            problems.add(
                number,
                name,
                "ref_mols",
                f"{_clip(value)!r} has an empty entry; give fragment codes separated by commas",
            )
        elif code not in codes:
            problems.add(
                number,
                name,
                "ref_mols",
                f"unknown fragment code {_clip(code)!r} for this target"
                + ("" if problems.full else _did_you_mean(code, codes)),
            )
        else:
            found.setdefault(code, None)
    return list(found)


def _check_ref_pdb(
    value: str,
    codes: frozenset[str],
    pdbs: frozenset[str],
    number: int,
    name: str | None,
    problems: _Problems,
) -> None:
    if value in codes or value in pdbs:
        return
    if pdbs:
        where = "nor the name of a PDB file in the accompanying zip"
    else:
        where = "and no zip of PDB files was provided"
    problems.add(
        number,
        name,
        "ref_pdb",
        f"{_clip(value)!r} is not a protein code of this target {where}"
        + ("" if problems.full else _did_you_mean(value, codes | pdbs)),
    )


def _read_smiles(smiles: str) -> tuple[Chem.Mol | None, str | None]:
    """The molecule of a SMILES, or the reason RDKit cannot read it."""
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        return None, f"RDKit cannot parse {_clip(smiles)!r}: it is not valid SMILES"
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # RDKit raises several exception types for sanitization.
        return None, f"RDKit cannot parse {_clip(smiles)!r}: {_explain_sanitize_error(exc)}"
    return mol, None


def _structure_key(mol: Chem.Mol) -> str:
    """Canonical SMILES without stereo, isotopes or explicit hydrogens."""
    return Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False), isomericSmiles=False)


def _structure_mismatch(
    submitted: str, original: Chem.Mol, pose: Chem.Mol, pose_smiles: str
) -> str | None:
    """Why the ``original SMILES`` is not the pose's molecule, or None when it is.

    Same atoms and bonds is what counts: stereochemistry (a 3D pose has it, a SMILES often
    not), explicit hydrogens and the protonation state (docking adds or removes protons on
    amines and acids) are ignored; a different element, bond order or connectivity is not.
    """
    if Chem.MolToSmiles(original) == pose_smiles:  # the usual case, and the cheapest test
        return None
    if _structure_key(original) == _structure_key(pose):
        return None
    uncharger = rdMolStandardize.Uncharger()
    try:
        if _structure_key(uncharger.uncharge(original)) == _structure_key(uncharger.uncharge(pose)):
            return None
    except Exception:  # RDKit raises several exception types; a failure means "differs".
        pass
    return (
        f"{_clip(submitted)!r} is not the molecule of the molblock ({_clip(pose_smiles)!r}); "
        "they were compared ignoring stereochemistry, hydrogens and protonation"
    )


def _check_score(
    item: _DataItem, number: int, name: str | None, state: _FileState, problems: _Problems
) -> float | str | None:
    """The score's value (float when numeric, else text), or None after adding a problem."""
    value = item.value
    numeric = bool(_NUMBER_RE.fullmatch(value))
    if _NON_FINITE_RE.fullmatch(value) or (numeric and not math.isfinite(float(value))):
        problems.add(
            number,
            name,
            item.name,
            f"{_clip(value)!r} is not a finite number; a score must be a real number or text "
            "(leave the property out of a record that has no value)",
        )
        return None
    ok = True
    if state.described is not None and item.name not in state.described:
        if ("undescribed", item.name) not in state.reported:
            state.reported.add(("undescribed", item.name))
            problems.add(
                number,
                name,
                item.name,
                f"the property {_clip(item.name)!r} is not described in the header record "
                "(record 1): add it there with a description of what it measures",
            )
        ok = False
    kinds = state.score_kinds.setdefault(item.name, {})
    kinds.setdefault(numeric, (number, name))
    if (
        len(kinds) == 2
        and kinds[numeric][0] == number
        and ("mixed", item.name) not in state.reported
    ):
        # This record is the first of its kind: the score was of the other kind before.
        state.reported.add(("mixed", item.name))
        other_record, other_name = kinds[not numeric]
        where = f"record {other_record}" + (f" ({other_name})" if other_name else "")
        here, there = ("a number", "text") if numeric else ("text", "a number")
        problems.add(
            number,
            name,
            item.name,
            f"{_clip(value)!r} is {here} here but {item.name} is {there} in {where}; a score "
            "must be a number in every record or text in every record",
        )
        ok = False
    if not ok:
        return None
    return float(value) if numeric else value


def _too_long(key: str, value: str) -> str | None:
    limit = MAX_LENGTHS[key]
    if len(value) <= limit:
        return None
    what = "the name" if key == "name" else "the value"
    return f"{what} is {len(value)} characters long; Fragalysis stores at most {limit}"


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


@contextmanager
def _quiet_rdkit() -> Iterator[None]:
    # RDKit logs every failure to stderr (with a C++ stack trace for unknown elements); our
    # problems already say it better, and a 20,000-record file must not flood worker logs.
    blocker = rdBase.BlockLogs()
    try:
        yield
    finally:
        del blocker


def _did_you_mean(value: str, choices: frozenset[str]) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=0.8)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _clip(text: str, limit: int = 80) -> str:
    """Shorten long user text so one absurd line does not swamp the report."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _size(n_bytes: int) -> str:
    if n_bytes >= 1024 * 1024:
        return f"{n_bytes / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    if n_bytes >= 1024:
        return f"{n_bytes / 1024:.1f} kB".replace(".0 kB", " kB")
    return f"{n_bytes} bytes"
