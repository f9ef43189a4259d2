"""The JSON a prepared directory carries besides its maps' normalisation: the native maps' and grid files'
BIDS-Derivatives sidecars, and the BIDS URIs (`DatasetLinks`) through which the native maps name their inputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pds_mri.domain import Modality
from pds_mri.io import layout
from pds_mri.io.inputs import SubjectInputs


def native_sidecar(subject: SubjectInputs, m: Modality, kind: str, links: dict[str, str]) -> dict:
    """A native map keeps its scan's grid and space (no space entity, so no SpatialReference needed)."""
    scan = subject.bold if m == "fmri" else subject.dwi
    return {
        "Description": f"{kind} map of the input scan, on its own grid and affine, in its units",
        "SkullStripped": False,
        "Sources": [] if scan is None else [source_uri(Path(scan), links)],
    }


def dataset_links(bids_dir: Path, derivatives: Sequence[Path]) -> dict[str, str]:
    """DatasetLinks of the prepared dataset: ``raw`` (the input dataset; a manifest's folder) and ``deriv1``,
    ``deriv2``... (each ``--derivatives`` input), as file URIs, the names its Sources' BIDS URIs use."""
    raw = Path(bids_dir).resolve()
    links = {"raw": (raw if raw.is_dir() else raw.parent).as_uri()}
    links.update({f"deriv{i}": Path(d).resolve().as_uri() for i, d in enumerate(derivatives, 1)})
    return links


def source_uri(path: Path, links: dict[str, str]) -> str:
    """``bids:<dataset>:<relative path>`` of an input file, through the deepest linked dataset that holds it
    (a derivatives folder inside the raw dataset is its own dataset); a file URI when none does."""
    resolved = Path(path).resolve()
    from urllib.parse import unquote, urlparse

    roots = [(name, Path(unquote(urlparse(uri).path))) for name, uri in links.items()]
    holding = [(len(root.parts), name, root) for name, root in roots if resolved.is_relative_to(root)]
    if not holding:
        return resolved.as_uri()
    _, name, root = max(holding)
    return f"bids:{name}:{resolved.relative_to(root).as_posix()}"


def grid_mask_sidecar(modality: Modality) -> dict:
    return {
        "SpatialReference": f"bids::{layout.pattern_atlas(modality)}",
        "Description": f"brain mask on the {modality} model grid ({layout.grid_space(modality)}: the grid of "
        "the atlas file named by SpatialReference, in MNI152NLin2009cAsym world coordinates)",
        "Type": "Brain",
    }


def grid_tissue_sidecar(modality: Modality) -> dict:
    return {
        "SpatialReference": f"bids::{layout.pattern_atlas(modality)}",
        "Description": f"tissue probabilities on the {modality} model grid, one volume per class",
        "Labels": {str(i): name for i, name in enumerate(layout.TISSUES)},  # volume index -> class
    }
