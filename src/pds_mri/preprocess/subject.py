"""One subject's `pds prepare`: its maps computed, (registered,) resampled onto the model grids, masked and
normalised, its tissue maps, every file of it written, and its cohort.tsv row.

Each subject is independent of the others (`preprocess/cohort_jobs.py` runs them in parallel), and writes only
below its own folder.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from pds_mri.config import Config
from pds_mri.domain import MODALITIES, Modality
from pds_mri.errors import InputError, PdsError
from pds_mri.io import layout
from pds_mri.io.atomic import save_nifti, write_json
from pds_mri.io.inputs import SubjectInputs
from pds_mri.io.prepared_sidecars import native_sidecar
from pds_mri.preprocess._image import grid_image
from pds_mri.preprocess.subject_registration import register_subject, xfm_record
from pds_mri.preprocess.transform import ToMNI, fov_mask_via, to_grid_via, to_mni_space


def prepare_subject_safely(
    subject: SubjectInputs,
    config: Config,
    out_dir: Path,
    registration: str = "none",
    links: dict[str, str] | None = None,
    previous: Path | None = None,
) -> dict:
    """`prepare_subject`, with a failure that validation could not foresee (a map that normalises to nothing,
    a registration that diverges) turned into that subject's one-line problem, collected like the others."""
    try:
        return prepare_subject(subject, config, out_dir, registration, links, previous)
    except InputError:
        raise
    except (PdsError, ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError) as exc:
        where = Path(subject.bold or subject.dwi or subject.row_id)
        raise InputError(where, f"{subject.row_id} could not be prepared ({exc})") from None


def prepare_subject(
    subject: SubjectInputs,
    config: Config,
    out_dir: Path,
    registration: str = "none",
    links: dict[str, str] | None = None,
    previous: Path | None = None,
) -> dict:
    """Compute, (register,) resample, mask and normalise one row's maps (a subject, or a subject-session: its
    files then go to sub-X/ses-Y/<datatype>/ and their names start sub-X_ses-Y_); return its cohort.tsv row.
    `links` (`dataset_links`) name the input datasets, for the BIDS URIs of the native maps' Sources;
    `previous`: the prepared dir of an earlier run, whose transforms made from the same images are re-used."""
    from pds_mri.io.transform_files import write_transform
    from pds_mri.io.validate import validate_subject
    from pds_mri.preprocess.dmri_maps import dmri_map
    from pds_mri.preprocess.fmri_maps import fmri_map
    from pds_mri.preprocess.masks import brain_mask
    from pds_mri.preprocess.resample import to_grid

    errors, data = validate_subject(subject, config.maps)
    if errors or data is None:  # the inputs changed since the cohort was validated
        raise errors[0] if errors else InputError(subject.participant_id, "could not be read")
    sub, ses = subject.participant_id, subject.session_id
    grids = {"fmri": config.grids.fmri, "dmri": config.grids.dmri}
    kinds = {"fmri": config.maps.fmri_map, "dmri": config.maps.dmri_map}
    native: dict[Modality, nib.Nifti1Image] = {}
    if data.bold_img is not None:
        assert data.tr is not None  # validate_subject reports a BOLD run without a usable TR
        native["fmri"] = fmri_map(data.bold_img, config.maps.fmri_map, data.tr, config.maps, data=data.bold_data)
    if data.dwi_img is not None:
        assert data.bvals is not None and data.bvecs is not None  # ... and a DWI without its gradient table
        native["dmri"] = dmri_map(
            data.dwi_img, data.bvals, data.bvecs, config.maps.dmri_map, config.maps, data=data.dwi_data
        )

    row: dict = {
        "participant_id": sub,
        **({} if ses is None else {layout.SESSION_COLUMN: ses, layout.PAIRING_COLUMN: subject.pairing}),
        "diagnosis": subject.diagnosis or "",
        "age": "" if subject.age is None else subject.age,
        "sex": subject.sex or "",
    }
    ents = {m: layout.source_entities(subject.bold if m == "fmri" else subject.dwi, m) for m in MODALITIES}
    names = {m: layout.native_to_mni(sub, m, ses, ents[m]) for m in MODALITIES} | {"t1w": layout.t1w_to_mni(sub, ses)}
    registered = register_subject(data, registration, row, names, previous)
    to_mni = {k: r.transform for k, r in registered.items()}
    on_grid: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    for m, img in native.items():
        row[f"{m}_native"] = layout.native_map(sub, m, kinds[m], ses, ents[m])
        save_nifti(img, out_dir / row[f"{m}_native"])  # the scan's own affine: overlays it
        write_json(
            out_dir / row[f"{m}_native"].replace(".nii.gz", ".json"), native_sidecar(subject, m, kinds[m], links or {})
        )
        transform = to_mni.get(m, ToMNI(np.eye(4)))
        if m in registered:
            row[f"{m}_xfm"] = names[m]
            write_transform(out_dir, names[m], transform, xfm_record(registered[m], row))
        resampled = to_grid_via(img, transform, grids[m], "continuous")
        on_grid[m] = np.asarray(resampled.dataobj, dtype=np.float32)
        masks[m] = brain_mask(resampled, grids[m]) & fov_mask_via(img, transform, grids[m])
    if "t1w" in registered and not any(registered["t1w"] is registered.get(m) for m in native):
        write_transform(out_dir, names["t1w"], to_mni["t1w"], xfm_record(registered["t1w"], row))
    for m in MODALITIES:  # a missing modality borrows the present one's mask, for synthesis later
        if m not in masks:
            other = "dmri" if m == "fmri" else "fmri"
            moved = to_grid(grid_image(masks[other].astype(np.float32), grids[other].affine), grids[m], "nearest")
            masks[m] = np.asarray(moved.dataobj) > 0.5

    t1w = data.t1w_img
    if t1w is not None and "t1w" in to_mni:
        t1w = _t1w_in_mni(t1w, to_mni["t1w"])
    tissue, row["tissue_source"] = _tissue(t1w, grids)
    for m in MODALITIES:
        affine = grids[m].affine
        save_nifti(grid_image(masks[m].astype(np.uint8), affine), out_dir / layout.grid_mask(sub, m, ses))
        row[f"{m}_mask"] = layout.grid_mask(sub, m, ses)
        save_nifti(grid_image(np.moveaxis(tissue[m], 0, -1), affine), out_dir / layout.grid_tissue(sub, m, ses))
        row[f"{m}_tissue"] = layout.grid_tissue(sub, m, ses)
        if m in on_grid:
            row[m] = layout.grid_map(sub, m, kinds[m], ses, ents[m])
            _write_normalised(out_dir, row[m], m, kinds[m], on_grid[m], masks[m], affine, config, row[f"{m}_native"])
    return row


def _write_normalised(
    out_dir: Path,
    name: str,
    m: Modality,
    kind: str,
    x: np.ndarray,
    mask: np.ndarray,
    affine: np.ndarray,
    config: Config,
    native: str,
) -> None:
    """The map on its model grid (`name`, from `layout.grid_map`) and its sidecar: the normalisation, and the
    BIDS-Derivatives keys (the custom grid space's SpatialReference, SkullStripped, Sources)."""
    from pds_mri.preprocess.normalise import fit_normalisation

    norm = fit_normalisation(x, mask, config.maps.norm_percentiles)
    save_nifti(grid_image(norm.apply(x, mask).astype(np.float32), affine), out_dir / name)
    write_json(
        out_dir / name.replace(".nii.gz", ".json"),
        {
            "SpatialReference": f"bids::{layout.pattern_atlas(m)}",
            "SkullStripped": True,  # set to -1 outside the brain mask
            "Sources": [f"bids::{native}"],
            "Modality": m,
            "Map": kind,
            "Normalisation": norm.to_json(),
            "Description": "robust percentile scaling inside the brain mask: low -> -1, high -> +1, clipped; "
            "outside the mask -1. Invert with x = (y + 1) / 2 * (high - low) + low.",
        },
    )


def _t1w_in_mni(t1w: nib.Nifti1Image, transform: ToMNI) -> nib.Nifti1Image:
    """The T1w placed in MNI for its segmentation: its affine moved (voxels untouched) after an affine
    registration; after SyN, resampled through affine + warp onto an MNI box at its own voxel size (at least
    1 mm), which the segmentation's MNI priors then match."""
    from pds_mri.preprocess.registration import mni_box
    from pds_mri.preprocess.transform import in_mni

    if not transform.nonlinear:
        return in_mni(t1w, transform.matrix)
    affine, shape = mni_box(max(1.0, float(np.mean(t1w.header.get_zooms()[:3]))))
    return to_mni_space(t1w, transform, affine, shape, "continuous")


def _tissue(t1w: nib.Nifti1Image | None, grids: dict) -> tuple[dict[str, np.ndarray], str]:
    from pds_mri.preprocess.priors import mni_tissue_priors, segment_t1w, tissue_on_grid

    if t1w is None:
        return {m: mni_tissue_priors(g) for m, g in grids.items()}, "MNI152 priors"
    segmented = segment_t1w(t1w)
    return {m: tissue_on_grid(segmented, g) for m, g in grids.items()}, "T1w segmentation"
