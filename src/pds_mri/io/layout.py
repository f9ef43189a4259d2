"""Where `pds prepare` puts things: one place that names every file of a prepared (BIDS-Derivatives) directory.

OUT_DIR/
  cohort.tsv                 one row per subject, or per subject-session (COHORT_COLUMNS); paths relative to OUT_DIR
  dataset_description.json   BIDS derivative description with GeneratedBy (tool, version, options), DatasetLinks
  .bidsignore                what BIDS 1.11 has no place for (BIDSIGNORE)
  config.yaml                the config used (grids, maps)
  tpl-{grid}/anat/tpl-{grid}_atlas-Dosenbach160_dseg.nii.gz   ROI labels (1..160) on each model grid
  atlas-Dosenbach160_dseg.tsv                                  index, name, label, MNI centre, network of each ROI
  space-{grid}_mask.json, space-{grid}_probseg.json   SpatialReference of the custom grid space, inherited by
                                      every mask and tissue file (BIDS inheritance)
  sub-X/{func|dwi}/sub-X_{ents}_desc-{map}_{suffix}.nii.gz              map in the input's own grid (input units)
  sub-X/{func|dwi}/sub-X_{ents}_space-{grid}_desc-{map}_{suffix}.nii.gz map on the model grid, in [-1, 1]
  sub-X/{func|dwi}/sub-X_{ents}_space-{grid}_desc-{map}_{suffix}.json   normalisation (to invert it), BIDS keys
  sub-X/anat/sub-X_space-{grid}_desc-brain_mask.nii.gz                  brain mask on the model grid
  sub-X/anat/sub-X_space-{grid}_probseg.nii.gz                          4D GM, WM, CSF probabilities on the grid
  sub-X/{func|dwi}/sub-X_{ents}_from-native_to-MNI152NLin2009cAsym_mode-image_xfm.json   registration (if any)
  sub-X/{func|dwi}/sub-X_{ents}_from-native_to-MNI152NLin2009cAsym_mode-image_xfm.nii.gz SyN warp (if syn)
  sub-X/{func|dwi}/sub-X_{ents}_from-MNI152NLin2009cAsym_to-native_mode-image_xfm.nii.gz its inverse
  sub-X/anat/sub-X_from-T1w_to-MNI152NLin2009cAsym_mode-image_xfm.json   the T1w's own registration, when the row's
                                      images come from other sessions than its T1w (the tissue maps use it)

{ents}: the input scan's entities a map keeps (KEPT_ENTITIES; func always has task-), {suffix}: MAP_SUFFIX.
A row of a dataset with sessions lives in sub-X/ses-Y/ and its names start sub-X_ses-Y_ (BIDS); its row id
(`row_key`) is that prefix. Rows without a session keep sub-X/ and sub-X_.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pds_mri.domain import Modality
from pds_mri.errors import InputError
from pds_mri.io.run_layout import SYNTH_TSV

TISSUES: tuple[str, str, str] = ("GM", "WM", "CSF")
#: Dosenbach-160 networks, in a fixed order: the index is what the pattern encoder sees (PATTERN_TABLE).
NETWORKS: tuple[str, ...] = (
    "default", "fronto-parietal", "cingulo-opercular", "sensorimotor", "occipital", "cerebellum",
)  # fmt: skip

COHORT_COLUMNS: tuple[str, ...] = (
    "participant_id",
    "diagnosis",
    "age",
    "sex",
    "fmri",
    "dmri",
    "fmri_native",
    "dmri_native",
    "fmri_mask",
    "dmri_mask",
    "fmri_tissue",
    "dmri_tissue",
    "tissue_source",
    "registration",
    "registration_qc",
    "registration_dice",
    "fmri_xfm",
    "dmri_xfm",
)
#: The index column of a row's session (``ses-Y``; ``n/a`` for a row without one), right after participant_id.
#: Indexes carry it only when some row has a session, so a dataset without sessions keeps its files unchanged.
#: The prepared directory's index (one row per subject or subject-session) and its config.
COHORT_TSV = "cohort.tsv"
PREPARED_CONFIG = "config.yaml"
SESSION_COLUMN = "session_id"
#: cohort.tsv's last column when a row has a session: which session each image came from, when not its own.
PAIRING_COLUMN = "pairing"
_NO_SESSION = ("", "n/a", "na", "none")


_SAFE_PARTICIPANT = re.compile(r"sub-[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_participant_id(pid: str, source: str | Path, line: int | None = None) -> str:
    """Participant ids name output folders: refuse any that could escape them (`../x`, `/`, NUL, ...) and
    any longer than every later command accepts (so `prepare` never writes what `train` refuses)."""
    if not _SAFE_PARTICIPANT.fullmatch(pid) or ".." in pid:
        where = f"line {line}: " if line is not None else ""
        raise InputError(
            source,
            f"{where}subject {pid[:40]!r} is not a valid label (letters, digits, '.', '_', '-'; at most 64 after sub-)",
        )
    return pid


def inside(root: Path, relative: str | Path, source: str | Path) -> Path:
    """`root / relative`, refused when an index path (absolute, or with ..) would lead outside `root`."""
    root = Path(root)
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise InputError(source, f"path {str(relative)[:80]!r} leads outside {root}")
    return root / relative


_SAFE_SESSION = re.compile(r"ses-[A-Za-z0-9]{1,64}")


def check_session_id(ses: str, source: str | Path, line: int | None = None) -> str:
    """Session ids name output folders too: a BIDS label (letters and digits) after ``ses-``."""
    if not _SAFE_SESSION.fullmatch(ses):
        where = f"line {line}: " if line is not None else ""
        raise InputError(source, f"{where}session {ses[:40]!r} is not a valid label (ses- then letters and digits)")
    return ses


def session_of(row: Mapping[str, Any]) -> str | None:
    """A row's ``ses-Y``, or None (no column — an index written before sessions were read —, empty or n/a)."""
    value = row.get(SESSION_COLUMN)
    if value is None or str(value).strip().lower() in _NO_SESSION:
        return None
    value = str(value).strip()
    return value if value.startswith("ses-") else f"ses-{value}"


def row_key(participant_id: str, session_id: str | None = None) -> str:
    """A row's id and file-name prefix: ``sub-X``, or ``sub-X_ses-Y`` for a session row."""
    return participant_id if session_id is None else f"{participant_id}_{session_id}"


def participant_of_key(key: str) -> str:
    """The participant of a `row_key`: BIDS labels hold no '_', so it is everything before the first '_'."""
    return key.split("_", 1)[0]


def key_of(row: Mapping[str, Any]) -> str:
    """`row_key` of an index row (cohort.tsv, synthesized.tsv, metrics): the (participant, session) it is."""
    return row_key(str(row["participant_id"]), session_of(row))


def row_base(sub: str, ses: str | None = None) -> str:
    """Folder and prefix of a row's files: ``sub-X/sub-X``, or ``sub-X/ses-Y/sub-X_ses-Y``."""
    return f"{row_folder(sub, ses)}/{row_key(sub, ses)}"


def row_folder(sub: str, ses: str | None = None) -> str:
    return sub if ses is None else f"{sub}/{ses}"


def index_columns(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], extra: Sequence[str] = ()) -> list[str]:
    """`columns`, with session_id after participant_id (and `extra` at the end) when some row has a session;
    `columns` unchanged otherwise, so an index of a dataset without sessions is the same file as before."""
    if not any(session_of(r) for r in rows):
        return list(columns)
    out = [c for c in columns if c != SESSION_COLUMN]
    out.insert(out.index("participant_id") + 1, SESSION_COLUMN)
    return out + [c for c in extra if c not in out]


def with_session(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its session_id cell spelled the BIDS way (``ses-Y`` or ``n/a``)."""
    return {**row, SESSION_COLUMN: session_of(row) or "n/a"}


def grid_space(modality: Modality) -> str:
    return f"{modality}grid"


#: BIDS datatype folder of each modality's maps; masks and tissue maps (both grids) live in anat/.
DATATYPE: dict[str, str] = {"fmri": "func", "dmri": "dwi"}
#: The input entities a map keeps, per modality, in BIDS order (`space`, `res`, `desc` follow them).
KEPT_ENTITIES: dict[str, tuple[str, ...]] = {
    "fmri": ("task", "acq", "ce", "rec", "dir", "run", "echo"),
    "dmri": ("acq", "rec", "dir", "run"),
}
#: BIDS 1.11 requires task- on every func/ file; a manifest input without one is resting state (ALFF, ReHo...).
DEFAULT_TASK = "rest"
#: The BIDS suffix of each map. dMRI maps use the spec's dwi derivatives suffixes (FA; ADC for the mean
#: diffusivity; trace for the mean diffusion-weighted signal). BIDS 1.11 has no suffix for a 3D fMRI-derived
#: map (a `_bold` image MUST be 4D), so fMRI maps take `boldmap` (BEP012's proposal, as XCP-D writes ALFF/ReHo),
#: which `.bidsignore` keeps out of validation. Any other map falls back to its modality's default.
MAP_SUFFIX: dict[tuple[str, str], str] = {("dmri", "fa"): "FA", ("dmri", "md"): "ADC", ("dmri", "mean"): "trace"}
DEFAULT_SUFFIX: dict[str, str] = {"fmri": "boldmap", "dmri": "dwimap"}
ATLAS_LABEL = "Dosenbach160"
#: The BIDS version the output names follow (the `tpl-` atlas folder and `atlas-` entity are BIDS 1.11).
DERIVATIVES_BIDS_VERSION = "1.11.1"
#: What `.bidsignore` of every output dataset lists: the files BIDS 1.11 has no place for.
BIDSIGNORE: tuple[str, ...] = (
    COHORT_TSV,  # pds index files (one row per subject; paths into the dataset)
    SYNTH_TSV,
    PREPARED_CONFIG,
    "*_boldmap.*",  # 3D fMRI maps: no BIDS suffix (see MAP_SUFFIX)
    "*_dwimap.*",
    "*_xfm.json",  # registrations: BIDS 1.11 defines no transform files (from-/to-/mode- are BEP014)
    "*_xfm.nii.gz",  # their SyN displacement fields
    "*.html",  # `pds report` QC pages, as fMRIPrep's sub-X.html
    "*_subjects",  # their folders of per-subject pages (the schema validator ignores "name/" patterns)
)


def bidsignore_text() -> str:
    return "\n".join(BIDSIGNORE) + "\n"


_ENTITY = re.compile(r"([a-zA-Z]+)-([a-zA-Z0-9]+)")


def map_suffix(modality: Modality, kind: str) -> str:
    return MAP_SUFFIX.get((modality, kind), DEFAULT_SUFFIX[modality])


def source_entities(path: str | Path | None, modality: Modality) -> dict[str, str]:
    """The entities a map keeps from its input scan's file name (`KEPT_ENTITIES`); func gets a task always."""
    found: dict[str, str] = {}
    if path is not None:
        for part in Path(path).name.split(".")[0].split("_"):
            m = _ENTITY.fullmatch(part)
            if m and m.group(1) in KEPT_ENTITIES[modality]:
                found[m.group(1)] = m.group(2)
    if modality == "fmri":
        found.setdefault("task", DEFAULT_TASK)
    return {k: found[k] for k in KEPT_ENTITIES[modality] if k in found}


def entities_of(name: str | Path) -> dict[str, str]:
    """Every ``key-value`` entity of a file name (a prepared name: to carry its entities on)."""
    parts = Path(name).name.split(".")[0].split("_")
    return {m.group(1): m.group(2) for p in parts if (m := _ENTITY.fullmatch(p))}


def _name(folder: str, stem: str, entities: Mapping[str, str], tail: str) -> str:
    kept = "".join(f"_{k}-{v}" for k, v in entities.items() if v)
    return f"{folder}/{stem}{kept}{tail}"


def _modality_base(sub: str, ses: str | None, modality: Modality) -> tuple[str, str]:
    return f"{row_folder(sub, ses)}/{DATATYPE[modality]}", row_key(sub, ses)


def native_map(
    sub: str, modality: Modality, kind: str, ses: str | None = None, entities: Mapping[str, str] | None = None
) -> str:
    """A map in its input scan's own grid and affine: the space entity is left out (the source's space)."""
    folder, stem = _modality_base(sub, ses, modality)
    ents = dict(entities or source_entities(None, modality))
    return _name(folder, stem, ents, f"_desc-{kind}_{map_suffix(modality, kind)}.nii.gz")


def grid_map(
    sub: str, modality: Modality, kind: str, ses: str | None = None, entities: Mapping[str, str] | None = None
) -> str:
    folder, stem = _modality_base(sub, ses, modality)
    ents = {**(entities or source_entities(None, modality)), "space": grid_space(modality)}
    return _name(folder, stem, ents, f"_desc-{kind}_{map_suffix(modality, kind)}.nii.gz")


def norm_sidecar(
    sub: str, modality: Modality, kind: str, ses: str | None = None, entities: Mapping[str, str] | None = None
) -> str:
    return grid_map(sub, modality, kind, ses, entities).replace(".nii.gz", ".json")


def grid_mask_sidecar(modality: Modality) -> str:
    """Top-level sidecar every subject's grid mask inherits (BIDS inheritance): it declares the custom space."""
    return f"space-{grid_space(modality)}_mask.json"


def grid_tissue_sidecar(modality: Modality) -> str:
    """The same for the tissue probabilities (`grid_tissue`)."""
    return f"space-{grid_space(modality)}_probseg.json"


def grid_mask(sub: str, modality: Modality, ses: str | None = None) -> str:
    """Brain mask on a model grid, in anat/ (both grids have one, also for a modality the row lacks)."""
    return f"{row_folder(sub, ses)}/anat/{row_key(sub, ses)}_space-{grid_space(modality)}_desc-brain_mask.nii.gz"


def grid_tissue(sub: str, modality: Modality, ses: str | None = None) -> str:
    """BIDS-Derivatives probabilistic segmentation (4D GM, WM, CSF), in anat/."""
    return f"{row_folder(sub, ses)}/anat/{row_key(sub, ses)}_space-{grid_space(modality)}_probseg.nii.gz"


def native_to_mni(
    sub: str, modality: Modality, ses: str | None = None, entities: Mapping[str, str] | None = None
) -> str:
    """The affine that placed a modality's native images in MNI space (JSON, 4×4, RAS mm → RAS mm)."""
    folder, stem = _modality_base(sub, ses, modality)
    ents = dict(entities or source_entities(None, modality))
    return _name(folder, stem, ents, "_from-native_to-MNI152NLin2009cAsym_mode-image_xfm.json")


MNI_SPACE = "MNI152NLin2009cAsym"


def t1w_to_mni(sub: str, ses: str | None = None) -> str:
    """The T1w's own registration (JSON), written when it cannot share the row's images' transform."""
    return f"{row_folder(sub, ses)}/anat/{row_key(sub, ses)}_from-T1w_to-{MNI_SPACE}_mode-image_xfm.json"


def warp_of(xfm_json: str, inverse: bool = False) -> str:
    """The SyN displacement field beside a registration JSON: the forward one shares its name (the JSON is its
    sidecar); the inverse swaps from- and to-."""
    forward = xfm_json.removesuffix(".json") + ".nii.gz"
    if not inverse:
        return forward
    match = re.search(r"_from-([a-zA-Z0-9]+)_to-([a-zA-Z0-9]+)_", forward)
    if match is None:
        raise ValueError(f"not a registration name: {xfm_json}")
    swapped = f"_from-{match.group(2)}_to-{match.group(1)}_"
    return forward[: match.start()] + swapped + forward[match.end() :]


def synthesis_name(
    sub: str,
    ses: str | None,
    space: str,
    desc: str,
    target: str,
    ext: str = ".nii.gz",
    *,
    kind: str = "",
    entities: Mapping[str, str] | None = None,
) -> str:
    """A `pds synthesize` output of a row: ``sub-X[/ses-Y]/<func|dwi>/sub-X[_ses-Y]_<entities>[_space-{space}]
    _desc-{kind}{Desc}_<suffix>`` (`entities`: the target's kept input entities); an empty `space` leaves the
    entity out (the provenance sidecar)."""
    modality: Modality = target  # type: ignore[assignment]
    folder, stem = _modality_base(sub, ses, modality)
    ents = {**(entities or source_entities(None, modality)), **({"space": space} if space else {})}
    label = f"{kind}{desc[:1].upper()}{desc[1:]}" if kind else desc
    return _name(folder, stem, ents, f"_desc-{label}_{map_suffix(modality, kind)}{ext}")


def pattern_atlas(modality: Modality) -> str:
    """The ROI labels on a model grid: a BIDS atlas (`tpl-<grid>` template folder, `atlas-` entity, `_dseg`)."""
    g = grid_space(modality)
    return f"tpl-{g}/anat/tpl-{g}_atlas-{ATLAS_LABEL}_dseg.nii.gz"


#: Where `pattern_atlas` lived before the BIDS-Derivatives names; readers fall back to it (`find_pattern_atlas`).
LEGACY_PATTERN_ATLAS = "atlas/space-{grid}_pattern.nii.gz"
LEGACY_PATTERN_TABLE = "atlas/pattern.tsv"


def find_pattern_atlas(prepared_dir: str | Path, modality: Modality) -> Path:
    """A prepared directory's atlas for a modality, also in one written before the BIDS names."""
    path = Path(prepared_dir) / pattern_atlas(modality)
    legacy = Path(prepared_dir) / LEGACY_PATTERN_ATLAS.format(grid=grid_space(modality))
    return legacy if not path.exists() and legacy.exists() else path


def find_pattern_table(prepared_dir: str | Path) -> Path:
    path = Path(prepared_dir) / PATTERN_TABLE
    legacy = Path(prepared_dir) / LEGACY_PATTERN_TABLE
    return legacy if not path.exists() and legacy.exists() else path


#: The folders of the atlas files, shared by every row (moved in with the subjects' files).
ATLAS_DIRS: tuple[str, ...] = tuple(f"tpl-{grid_space(m)}" for m in ("fmri", "dmri"))
#: The ROI table (label, MNI centre, network): a top-level `_dseg.tsv` both grids' atlases inherit.
PATTERN_TABLE = f"atlas-{ATLAS_LABEL}_dseg.tsv"
