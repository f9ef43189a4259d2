"""Where `pds prepare` puts things: one place that names every file of a prepared directory.

OUT_DIR/
  cohort.tsv                 one row per subject (COHORT_COLUMNS); paths relative to OUT_DIR
  dataset_description.json   BIDS derivative description with GeneratedBy (tool, version, options)
  config.yaml                the config used (grids, maps)
  atlas/space-{grid}_pattern.nii.gz   Dosenbach-160 ROI labels (1..160) on each model grid
  atlas/pattern.tsv                   label, MNI centre, network of each ROI
  space-{grid}_mask.json, space-{grid}_probseg.json   SpatialReference of the custom grid space, inherited by
                                      every mask and tissue file (BIDS inheritance)
  sub-X/sub-X_space-native_desc-{map}_{modality}.nii.gz   map in the input's own grid/affine (input units)
  sub-X/sub-X_space-{grid}_desc-{map}_{modality}.nii.gz   map on the model grid, normalised to [-1, 1]
  sub-X/sub-X_space-{grid}_desc-{map}_{modality}.json     normalisation parameters (to invert it)
  sub-X/sub-X_space-{grid}_mask.nii.gz                    brain mask on the model grid
  sub-X/sub-X_space-{grid}_probseg.nii.gz                 4D GM, WM, CSF probabilities on the model grid
  sub-X/sub-X_desc-{modality}_from-native_to-MNI152NLin2009cAsym_mode-image_xfm.json   registration (if any)
"""

from __future__ import annotations

import re
from pathlib import Path

from pds_mri.domain import Modality
from pds_mri.errors import InputError

TISSUES: tuple[str, str, str] = ("GM", "WM", "CSF")
#: Dosenbach-160 networks, in a fixed order: the index is what the pattern encoder sees (atlas/pattern.tsv).
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
    "fmri_xfm",
    "dmri_xfm",
)


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


def grid_space(modality: Modality) -> str:
    return f"{modality}grid"


def native_map(sub: str, modality: Modality, kind: str) -> str:
    return f"{sub}/{sub}_space-native_desc-{kind}_{modality}.nii.gz"


def grid_map(sub: str, modality: Modality, kind: str) -> str:
    return f"{sub}/{sub}_space-{grid_space(modality)}_desc-{kind}_{modality}.nii.gz"


def norm_sidecar(sub: str, modality: Modality, kind: str) -> str:
    return grid_map(sub, modality, kind).replace(".nii.gz", ".json")


def grid_mask_sidecar(modality: Modality) -> str:
    """Top-level sidecar every subject's grid mask inherits (BIDS inheritance): it declares the custom space."""
    return f"space-{grid_space(modality)}_mask.json"


def grid_tissue_sidecar(modality: Modality) -> str:
    """The same for the tissue probabilities (`grid_tissue`)."""
    return f"space-{grid_space(modality)}_probseg.json"


def grid_mask(sub: str, modality: Modality) -> str:
    return f"{sub}/{sub}_space-{grid_space(modality)}_mask.nii.gz"


def grid_tissue(sub: str, modality: Modality) -> str:
    return f"{sub}/{sub}_space-{grid_space(modality)}_probseg.nii.gz"  # BIDS-Derivatives probabilistic segmentation


def native_to_mni(sub: str, modality: Modality) -> str:
    """The affine that placed a modality's native images in MNI space (JSON, 4×4, RAS mm → RAS mm)."""
    return f"{sub}/{sub}_desc-{modality}_from-native_to-MNI152NLin2009cAsym_mode-image_xfm.json"


def pattern_atlas(modality: Modality) -> str:
    return f"atlas/space-{grid_space(modality)}_pattern.nii.gz"


ATLAS_DIR = "atlas"
PATTERN_TABLE = f"{ATLAS_DIR}/pattern.tsv"
