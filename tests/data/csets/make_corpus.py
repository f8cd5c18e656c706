"""Regenerate the computed-set SDF corpus in this folder (valid files, broken files, cases.yaml).

Run from the repository root: ``.venv/bin/python tests/data/csets/make_corpus.py``.
The molecules are real Mac1 fragment hits shipped with Fragmenstein
(``fragmenstein/demo/mac1_mols/*.mol``); protein codes are their file stems, e.g.
``diamond-x0104_A``. The files are committed so the tests need neither Fragmenstein nor this
script; the script exists so a broken file can be explained and rebuilt, not hand-edited.

Each broken file is a copy of the valid file with one deliberate fault (or a few, for the
"collects every problem" cases), and ``cases.yaml`` says which problem(s) it must produce.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rdkit import Chem

HERE = Path(__file__).resolve().parent
STEMS = [
    "diamond-x0104_A",
    "diamond-x0128_A",
    "diamond-x0091_B",
    "diamond-x0142_A",
    "diamond-x0158_B",
    "diamond-x0159_B",
    "diamond-x0173_B",
    "diamond-x0216_A",
]
PDB_FILES = ["pdbs/merge-1_bound.pdb"]
HEADER = {
    "submitter_name": "Ada Lovelace",
    "submitter_email": "ada@example.org",
    "submitter_institution": "Diamond Light Source",
    "generation_date": "2024-03-15",
    "method": "fragmenstein-combine",
    "ref_url": "https://fragalysis.example.org/jobs/42/",
}
DESCRIPTIONS = {
    "DDG": "Gibbs free energy of binding, kcal/mol (Fragmenstein ∆∆G)",
    "RMSD": "RMSD of the placed atoms to the hits, Å",
    "outcome": "Fragmenstein outcome label",
}


def mol_block(stem: str) -> str:
    # find_spec locates the package without importing it (importing Fragmenstein is slow and
    # noisy: PyRosetta and pandera warnings).
    spec = importlib.util.find_spec("fragmenstein")
    assert spec is not None and spec.origin is not None, "Fragmenstein is not installed"
    folder = Path(spec.origin).parent / "demo" / "mac1_mols"
    return (folder / f"{stem}.mol").read_text().rstrip("\n") + "\n"


def data(name: str, value: str) -> str:
    return f"> <{name}>\n{value}\n\n"


def header(
    title: str = "ver_1.2",
    *,
    fields: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    descriptions: dict[str, str] | None = None,
) -> str:
    # A zero-atom molecule, as build_header_block writes it.
    text = f"{title}\n     RDKit          2D\n\n"
    text += "  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n"
    for key, value in {**HEADER, **(fields or {})}.items():
        if key not in drop:
            text += data(key, value)
    for key, value in (DESCRIPTIONS if descriptions is None else descriptions).items():
        text += data(key, value)
    return text + "$$$$\n"


def molecule(
    index: int,
    *,
    name: str | None = None,
    props: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    block: Callable[[list[str]], list[str]] | None = None,
) -> str:
    """One record: hit ``index`` posed as a "merge" of itself and the next hit."""
    stem = STEMS[index % len(STEMS)]
    partner = STEMS[(index + 1) % len(STEMS)]
    lines = mol_block(stem).rstrip("\n").split("\n")
    lines[0] = f"{stem}-merge.{index + 1}" if name is None else name
    if block is not None:
        lines = block(lines)
    smiles = Chem.MolToSmiles(Chem.MolFromMolBlock(mol_block(stem)))
    values = {
        "ref_mols": f"{stem},{partner}",
        "ref_pdb": stem,
        "original SMILES": smiles,
        "DDG": f"{-4.5 + index * 0.7:.2f}",
        "RMSD": f"{0.3 + index * 0.11:.2f}",
        "outcome": "acceptable" if index % 2 else "too moved",
    }
    values.update(props or {})
    text = "\n".join(lines) + "\n"
    for key, value in values.items():
        if key not in drop:
            text += data(key, value)
    return text + "$$$$\n"


def molecules(count: int = len(STEMS), **changes: Any) -> str:
    """All molecules; ``changes`` maps "m<index>" to molecule() keyword arguments."""
    return "".join(molecule(i, **changes.get(f"m{i}", {})) for i in range(count))


def replace_line(pattern: str, new: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        for i, line in enumerate(lines):
            if line.startswith(pattern):
                lines[i] = new
                return lines
        raise AssertionError(f"no line starts with {pattern!r}")

    return edit


def atom_line(k: int, new: Callable[[str], str]) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        lines[3 + k] = new(lines[3 + k])
        return lines

    return edit


VALID = header() + molecules()

# file name -> (content, expectation). Records: header = 1, molecule index i = record i + 2.
CASES: dict[str, tuple[str | bytes, dict[str, Any]]] = {}


def case(file: str, content: str | bytes, *problems: dict[str, Any], **extra: Any) -> None:
    CASES[file] = (content, {"problems": list(problems), **extra})


def p(record: int | None, fld: str | None, *contains: str) -> dict[str, Any]:
    return {"record": record, "field": fld, "contains": list(contains)}


# --- the file as a whole -------------------------------------------------------------------
case("empty.sdf", b"", p(None, None, "The file is empty"))
case("blank_lines_only.sdf", "\n\n   \n", p(None, None, "The file is empty"))
case(
    "not_sdf.png",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00",
    p(None, None, "not an SDF file", "PNG image"),
)
case(
    "plain_text.sdf",
    "Here are my molecules:\nx0104 merged with x0128, DDG -7.1\nx0142 alone\n",
    p(None, None, "not an SDF file", "M  END", "$$$$"),
)
case(
    "smiles_list.sdf",
    "smiles,name\nCC(=O)Nc1ccccc1,a\nc1ccncc1,b\n",
    p(None, None, "not an SDF file"),
)
case(
    "oversized.sdf",
    VALID,
    p(None, None, "the largest file accepted is 2 kB"),
    options={"max_bytes": 2048},
)
case(
    "too_many_records.sdf",
    VALID,
    p(None, None, "8 molecule records", "at most 5"),
    options={"max_records": 5},
)
case("header_only.sdf", header(), p(None, None, "no molecule records"))

# --- header --------------------------------------------------------------------------------
case(
    "wrong_version.sdf",
    header("ver_1.1") + molecules(),
    p(1, "title", "unsupported version line 'ver_1.1'", "exactly 'ver_1.2'"),
)
case(
    "no_header.sdf",
    molecules(),
    p(1, "title", "must start with a header record titled exactly 'ver_1.2'"),
    *[p(1, f, "required header property is missing") for f in HEADER],
    exact=False,  # the first molecule's scores also read as (fine) descriptions
)
for missing in HEADER:
    case(
        f"missing_{missing}.sdf",
        header(drop=(missing,)) + molecules(),
        p(1, missing, "this required header property is missing"),
    )
case(
    "bad_url_scheme.sdf",
    header(fields={"ref_url": "ftp://fragalysis.example.org/jobs/42"}) + molecules(),
    p(1, "ref_url", "'ftp://fragalysis.example.org/jobs/42' is not a web address", "https://"),
)
case(
    "bad_url_text.sdf",
    header(fields={"ref_url": "see our paper"}) + molecules(),
    p(1, "ref_url", "'see our paper' is not a web address"),
)
case(
    "bad_date_format.sdf",
    header(fields={"generation_date": "15/03/2024"}) + molecules(),
    p(1, "generation_date", "'15/03/2024' is not a date in the form YYYY-MM-DD"),
)
case(
    "bad_date_unreal.sdf",
    header(fields={"generation_date": "2024-02-30"}) + molecules(),
    p(1, "generation_date", "'2024-02-30' is not a real calendar date"),
)
case(
    "bad_email.sdf",
    header(fields={"submitter_email": "ada at example.org"}) + molecules(),
    p(1, "submitter_email", "is not an e-mail address"),
)
case(
    "empty_header_value.sdf",
    header(fields={"method": ""}) + molecules(),
    p(1, "method", "the value is empty"),
)
case(
    "empty_description.sdf",
    header(descriptions={**DESCRIPTIONS, "RMSD": ""}) + molecules(),
    p(1, "RMSD", "the description is empty"),
)
case(
    "unreadable_header.sdf",
    header().replace("  0  0  0  0  0  0  0  0  0  0999 V2000", "  zero atoms"),
    p(1, "molblock", "RDKit cannot read the molecule", "counts line", "unreadable"),
    p(None, None, "no molecule records"),
)

# --- molecule blocks (RDKit) ---------------------------------------------------------------
case(
    "unreadable_coordinates.sdf",
    header() + molecules(m1={"block": atom_line(2, lambda s: "   -5.2x9" + s[9:])}),
    p(
        3,
        "molblock",
        "RDKit cannot read the molecule",
        "atom 2 (line 6 of the record)",
        "coordinates are unreadable",
    ),
)
case(
    "truncated_atom_block.sdf",
    # Keep the counts line (17 atoms) but only the first 5 atom lines, then M  END.
    header() + molecules(m0={"block": lambda lines: lines[:9] + ["M  END"]}),
    p(2, "molblock", "announces 17 atoms but only 5 atom lines follow"),
)
case(
    "unknown_element.sdf",
    header() + molecules(m2={"block": atom_line(1, lambda s: s[:31] + "Xx " + s[34:])}),
    p(4, "molblock", "atom 1 (line 5 of the record): unknown element symbol 'Xx'"),
)
case(
    "bad_valence.sdf",
    # x0104 atom 11 is an amide carbon; a second double bond to atom 1 makes it 5-valent.
    header() + molecules(m0={"block": replace_line("  1 11  1  0", "  1 11  2  0")}),
    p(2, "molblock", "Explicit valence for atom # 10 C, 5", "RDKit counts atoms from 0"),
)
case(
    "bond_to_missing_atom.sdf",
    header() + molecules(m0={"block": replace_line("  1 10  1  0", "  1 99  1  0")}),
    p(2, "molblock", "bond 1 (line 22 of the record) refers to atom 99, but there are 17 atoms"),
)
case(
    "missing_m_end.sdf",
    header() + molecules(m3={"block": lambda lines: lines[:-1]}),
    p(5, "molblock", "no 'M  END' line"),
)
case(
    "no_atoms.sdf",
    header()
    + molecules(
        m1={
            "block": lambda lines: lines[:3] + ["  0  0  0  0  0  0  0  0  0  0999 V2000", "M  END"]
        }
    ),
    p(3, "molblock", "the molecule has no atoms"),
)

# --- names ---------------------------------------------------------------------------------
case(
    "illegal_name.sdf",
    header() + molecules(m1={"name": "merge #2 (x0128+x0091)"}),
    p(3, "name", "contains a space, '#', '('", "letters, digits, '-', '_' and '.'"),
)
case(
    "empty_name.sdf",
    header() + molecules(m2={"name": ""}),
    p(4, "name", "the molecule has no name"),
)
case(
    "duplicate_name.sdf",
    header() + molecules(m4={"name": "diamond-x0104_A-merge.1"}),
    p(6, "name", "'diamond-x0104_A-merge.1' is already used by record 2"),
)

# --- properties ----------------------------------------------------------------------------
case(
    "unknown_ref_mols.sdf",
    header() + molecules(m1={"props": {"ref_mols": "diamond-x0128_A,x9999"}}),
    p(3, "ref_mols", "unknown fragment code 'x9999' for this target"),
)
case(
    "misspelt_ref_mols.sdf",
    header() + molecules(m0={"props": {"ref_mols": "diamond-x0104_A,diamond-x0128-A"}}),
    p(2, "ref_mols", "unknown fragment code 'diamond-x0128-A'", "did you mean 'diamond-x0128_A'?"),
)
case(
    "ref_mols_empty_entry.sdf",
    header() + molecules(m2={"props": {"ref_mols": "diamond-x0091_B,,diamond-x0142_A"}}),
    p(4, "ref_mols", "has an empty entry"),
)
case(
    "missing_ref_mols.sdf",
    header() + molecules(m3={"drop": ("ref_mols",)}),
    p(5, "ref_mols", "this required property is missing"),
)
case(
    "unknown_ref_pdb.sdf",
    header() + molecules(m1={"props": {"ref_pdb": "my_protein.pdb"}}),
    p(
        3,
        "ref_pdb",
        "'my_protein.pdb' is not a protein code of this target",
        "no zip of PDB files was provided",
    ),
)
case(
    "unknown_ref_pdb_with_zip.sdf",
    header() + molecules(m1={"props": {"ref_pdb": "merge-2_bound.pdb"}}),
    p(3, "ref_pdb", "nor the name of a PDB file in the accompanying zip"),
    pdb_files=list(PDB_FILES),
)
case(
    "missing_ref_pdb.sdf",
    header() + molecules(m0={"drop": ("ref_pdb",)}),
    p(2, "ref_pdb", "this required property is missing"),
)
case(
    "bad_smiles_syntax.sdf",
    header() + molecules(m2={"props": {"original SMILES": "CC(=O)Nc1ccc(cc1"}}),
    p(4, "original SMILES", "RDKit cannot parse 'CC(=O)Nc1ccc(cc1'", "not valid SMILES"),
)
case(
    "bad_smiles_chemistry.sdf",
    header() + molecules(m0={"props": {"original SMILES": "c1cccc1C(=O)N"}}),
    p(2, "original SMILES", "RDKit cannot parse 'c1cccc1C(=O)N'", "kekulize"),
)
case(
    "missing_original_smiles.sdf",
    header() + molecules(m5={"drop": ("original SMILES",)}),
    p(7, "original SMILES", "this required property is missing"),
)
case(
    "empty_ref_pdb.sdf",
    header() + molecules(m1={"props": {"ref_pdb": ""}}),
    p(3, "ref_pdb", "the value is empty"),
)
case(
    "empty_score.sdf",
    header() + molecules(m6={"props": {"DDG": ""}}),
    p(8, "DDG", "the value is empty"),
)
case(
    "duplicate_property.sdf",
    header() + molecules(m0={"props": {"DDG": "-3.0\n\n> <DDG>\n-5.0"}}),
    p(2, "DDG", "appears more than once"),
)
case(
    "stray_text_after_m_end.sdf",
    header() + molecules(m1={"props": {"RMSD": "0.4\n\nref_pdb = x0128"}}),
    p(3, "data", "unexpected line 'ref_pdb = x0128'"),
)
case(
    "empty_record.sdf",
    header() + molecule(0) + "$$$$\n" + molecule(1),
    p(3, None, "the record is empty"),
)

# --- every problem is collected, not just the first ----------------------------------------
case(
    "many_problems.sdf",
    header(fields={"generation_date": "March 2024"})
    + molecules(
        m0={"props": {"ref_mols": "x9999"}},
        m3={"name": "bad name!"},
        m7={"block": atom_line(1, lambda s: s[:31] + "Qq " + s[34:])},
    ),
    p(1, "generation_date", "'March 2024' is not a date"),
    p(2, "ref_mols", "unknown fragment code 'x9999'"),
    p(5, "name", "'bad name!' contains a space, '!'"),
    p(9, "molblock", "unknown element symbol 'Qq'"),
)


def main() -> None:
    for old in HERE.glob("*.sdf"):
        old.unlink()
    for old in HERE.glob("*.png"):
        old.unlink()
    (HERE / "valid_mac1.sdf").write_text(VALID, encoding="utf-8")
    # The same file as Windows would save it, with a UTF-8 byte-order mark and CRLF.
    (HERE / "valid_mac1_crlf_bom.sdf").write_bytes(
        b"\xef\xbb\xbf" + VALID.replace("\n", "\r\n").encode("utf-8")
    )
    # ref_pdb naming a PDB file of the accompanying zip instead of a protein code.
    (HERE / "valid_ref_pdb_file.sdf").write_text(
        header() + molecules(m0={"props": {"ref_pdb": "merge-1_bound.pdb"}}), encoding="utf-8"
    )
    for file, (content, _) in CASES.items():
        path = HERE / file
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    document = {
        "protein_codes": STEMS,
        "valid": {
            "valid_mac1.sdf": {"molecules": len(STEMS)},
            "valid_mac1_crlf_bom.sdf": {"molecules": len(STEMS)},
            "valid_ref_pdb_file.sdf": {"molecules": len(STEMS), "pdb_files": list(PDB_FILES)},
        },
        "cases": {file: expectation for file, (_, expectation) in CASES.items()},
    }
    with open(HERE / "cases.yaml", "w", encoding="utf-8") as handle:
        handle.write(
            "# Generated by make_corpus.py: every broken file and the problems it must produce.\n"
            "# record: 1-based record number (header = 1; null = the whole file); field: the\n"
            "# property, or title/name/molblock/data; contains: substrings of str(problem).\n"
            "# exact (default true): the report has exactly these problems, nothing more.\n"
        )
        yaml.safe_dump(document, handle, sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    main()
