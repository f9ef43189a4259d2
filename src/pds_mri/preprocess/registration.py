"""Registration to MNI152 with ANTsPy, for inputs that are not already in MNI space.

The model grids live in MNI152 world coordinates. Raw scanner-space data (a head placed anywhere in the
scanner) and QSIPrep's ACPC/T1w spaces are not; resampling them as if they were puts every map in the wrong
place without an error. ``estimate`` registers one reference image of the subject — its T1w when there is one
(the BOLD and DWI of the same session share its scanner frame), else the modality's own mean image — to
nilearn's MNI152 template at TEMPLATE_MM with ANTs, and returns a ``ToMNI`` (preprocess/transform.py):

- ``affine``: one affine stage (Mattes mutual information); the RAS subject → MNI matrix only.
- ``syn``: ``antsRegistrationSyNQuick[s]`` — rigid → affine → SyN — the affine matrix plus the SyN
  displacement fields (forward and inverse). Opt-in: on model grids of >= 2 mm an affine already takes
  position, head size and shear out, and SyN's local corrections are mostly finer than a grid voxel.

Both run single-threaded with a fixed seed (ANTsPy ignores a ``random_seed`` argument; its seed is
``ants.config._random_seed``, and ITK's multi-threaded metric sums differ in rounding from run to run), so a
subject registers to the same transform every time.

ITK transforms map points of the FIXED image (the template) to the MOVING image in LPS coordinates; the
conversion to the RAS subject → MNI matrix is ``inv(F · T · F)`` with F = diag(−1, −1, 1, 1).

QC: ``qc`` is the Pearson correlation of the registered reference with the template inside the template's
brain mask (below MIN_QC flagged); ``dice`` is the overlap of the reference's own brain (head) mask, carried
into MNI space by the transform, with the template's brain mask (below MIN_DICE flagged).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

import nibabel as nib
import numpy as np
from scipy import ndimage

from pds_mri.errors import PdsError
from pds_mri.preprocess.masks import dice_coefficient
from pds_mri.preprocess.transform import ToMNI, in_mni, to_mni_space

MNI_SPACES = ("MNI152NLin2009cAsym", "MNI152NLin6Asym", "MNI152NLin2009aAsym", "MNI152Lin", "MNI")
TEMPLATE_MM = 4.0  # the registration's template resolution: enough for coarse model grids, fast on a CPU
MIN_QC = 0.5  # a registered reference that correlates less with the template is flagged
#: Below this Dice of the registered reference's head mask with the MNI152 brain mask a subject is flagged.
#: Measured on the simulated cohort (6 subjects; T1w, mean BOLD and mean DWI each): placed exactly (the
#: heads as simulated, in MNI) 0.852-0.959, the coarse 6 x 6 x 8 mm mean BOLD lowest; moved in the scanner
#: and registered 0.938-0.962 (affine) and 0.949-0.974 (SyN); left unregistered 0.740-0.815; a correct affine
#: shifted by 20 mm 0.769-0.786. 0.83 lies between the failures and the exact placements (a narrow margin:
#: a threshold, not a proof).
MIN_DICE = 0.83
SEED = 1
#: ANTsPy's name of each registration (rigid → affine → SyN for syn: antsRegistrationSyNQuick's stages)
ANTS_TRANSFORM: dict[str, str] = {"affine": "Affine", "syn": "antsRegistrationSyNQuick[s]"}
_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def registration_findings(qc: float | None, dice: float | None, method: str) -> list[str]:
    """What looks wrong with a row's registration (cohort.tsv's registration, _qc and _dice).

    The correlation judges a T1w reference only: a mean BOLD or DWI has another contrast than the T1 template,
    and its r stays near 0 even when it is placed right (−0.04 to 0.29 on the simulated cohort), so flagging it
    would flag every subject without a T1w. The brain-mask Dice judges every reference."""
    found = []
    via = method.split(";")[0]  # a note may follow: "affine via T1w; fMRI as declared (space-MNI152)"
    if qc is not None and qc < MIN_QC and via in ("affine via T1w", "SyN via T1w"):
        found.append(f"poor registration (QC r {qc:.2f} < {MIN_QC})")
    if dice is not None and dice < MIN_DICE:
        found.append(f"poor registration (brain-mask Dice {dice:.2f} < {MIN_DICE})")
    return found


def declared_mni(path_name: str) -> bool:
    """Whether a file name declares an MNI152 space (BIDS ``space-`` entity), as fMRIPrep's outputs do."""
    return any(f"space-{s}" in path_name for s in MNI_SPACES)


@functools.lru_cache(maxsize=1)
def _template() -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
    """nilearn's MNI152 T1 template and brain mask (shipped with nilearn: no download), at TEMPLATE_MM."""
    from nilearn.datasets import load_mni152_brain_mask, load_mni152_template
    from nilearn.image import resample_img

    target = np.diag([TEMPLATE_MM, TEMPLATE_MM, TEMPLATE_MM])
    t1 = resample_img(load_mni152_template(resolution=2), target_affine=target, interpolation="continuous")
    mask = resample_img(load_mni152_brain_mask(resolution=2), target_affine=target, interpolation="nearest")
    return _as_float(t1), _as_float(mask)


def mni_box(mm: float) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(affine, shape) of an MNI grid at `mm` over the registration template's extent (where warps are
    defined): for images resampled through a SyN transform at about their own resolution."""
    template, _ = _template()
    corners = np.array([[0, 0, 0], np.asarray(template.shape[:3]) - 1], dtype=np.float64)
    points = nib.affines.apply_affine(template.affine, corners)
    lo, hi = points.min(axis=0), points.max(axis=0)
    affine = np.diag([mm, mm, mm, 1.0])
    affine[:3, 3] = lo
    shape = tuple(int(n) for n in np.floor((hi - lo) / mm + 1e-6) + 1)
    return affine, (shape[0], shape[1], shape[2])


def _as_float(img: nib.Nifti1Image) -> nib.Nifti1Image:
    return nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine)


def reference_image(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """A 3D image to register: the image itself, or the mean over time / volumes of a 4D one."""
    data = np.asarray(img.dataobj, dtype=np.float32)
    if data.ndim == 4:
        data = data.mean(axis=3)
    if data.ndim != 3:
        raise PdsError(f"registration needs a 3D or 4D image, got {data.ndim}D")
    return nib.Nifti1Image(data, img.affine)


@contextlib.contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """ANTs with a fixed seed and one ITK thread (see the module docstring); the previous settings restored.

    ITK reads its thread count once per process, when its first object is made (an ANTs image too): so the
    variable is set before ANTs is imported here, and every ANTs object of a registration is made inside."""
    key = "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"
    before_env = os.environ.get(key)
    os.environ[key] = "1"
    import ants.config

    before_seed = ants.config._random_seed
    ants.config._random_seed = seed
    try:
        yield
    finally:
        ants.config._random_seed = before_seed
        if before_env is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before_env


def _matrix_of(path: str) -> np.ndarray:
    """The RAS subject → MNI matrix of an ANTs affine (.mat) that maps template points to subject points."""
    import ants

    transform = ants.read_transform(path)
    params = np.asarray(transform.parameters, dtype=np.float64)
    center = np.asarray(transform.fixed_parameters, dtype=np.float64)
    matrix, translation = params[:9].reshape(3, 3), params[9:12]
    itk = np.eye(4)
    itk[:3, :3] = matrix
    itk[:3, 3] = translation + center - matrix @ center
    mni_to_subject = _LPS @ itk @ _LPS  # ITK maps template (fixed) points to subject (moving) points, in LPS
    to_mni = np.linalg.inv(mni_to_subject)
    if not np.all(np.isfinite(to_mni)):
        raise PdsError("registration to MNI152 failed (non-finite transform)")
    return to_mni


def _field(path: str) -> nib.Nifti1Image:
    """A displacement field as antsRegistration wrote it, read into memory (its temp file is deleted after)."""
    img = nib.Nifti1Image.from_filename(path)
    data = np.asarray(img.dataobj, dtype=np.float32)
    if not np.all(np.isfinite(data)):
        raise PdsError("registration to MNI152 failed (non-finite displacement field)")
    out = nib.Nifti1Image(data, img.affine, img.header)
    out.header.set_intent("vector")
    return out


def estimate(reference: nib.Nifti1Image, kind: str = "affine", seed: int = SEED) -> ToMNI:
    """Register ``reference`` (3D) to the MNI152 template: ``kind`` affine or syn (see the module)."""
    if kind not in ANTS_TRANSFORM:
        raise PdsError(f"unknown registration {kind!r} (choose {' or '.join(ANTS_TRANSFORM)})")
    template, _ = _template()
    with _deterministic(seed):  # before the first ANTs object: ITK takes its thread count from it
        import ants

        fixed = ants.from_nibabel_nifti(template)
        moving = ants.from_nibabel_nifti(_as_float(reference))
        result = ants.registration(fixed=fixed, moving=moving, type_of_transform=ANTS_TRANSFORM[kind])
    forward, inverse = list(result["fwdtransforms"]), list(result["invtransforms"])
    try:
        affine = next(p for p in forward if p.endswith(".mat"))
        if kind == "affine":
            return ToMNI(_matrix_of(affine))
        warp = next(p for p in forward if p.endswith(".nii.gz"))
        inverse_warp = next(p for p in inverse if p.endswith(".nii.gz"))
        return ToMNI(_matrix_of(affine), _field(warp), _field(inverse_warp))
    finally:
        for path in {*forward, *inverse}:
            with contextlib.suppress(OSError):
                os.remove(path)


def estimate_to_mni(reference: nib.Nifti1Image, seed: int = SEED) -> np.ndarray:
    """Affine registration of ``reference`` (3D) to the MNI152 template: the RAS subject → MNI matrix."""
    return estimate(reference, "affine", seed).matrix


def _on_template(img: nib.Nifti1Image, transform: ToMNI | np.ndarray, interpolation: str) -> np.ndarray:
    template, _ = _template()
    t = transform if isinstance(transform, ToMNI) else ToMNI(np.asarray(transform, dtype=np.float64))
    moved = to_mni_space(_as_float(img), t, template.affine, template.shape, interpolation)  # type: ignore[arg-type]
    return np.asarray(moved.dataobj, dtype=np.float64)


def qc(reference: nib.Nifti1Image, transform: ToMNI | np.ndarray) -> float:
    """Pearson r of the registered reference and the template inside the template's brain mask (1 = perfect)."""
    template, mask = _template()
    inside = np.asarray(mask.dataobj) > 0.5
    a = _on_template(reference, transform, "continuous")[inside]
    b = np.asarray(template.dataobj, dtype=np.float64)[inside]
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def head_mask(reference: nib.Nifti1Image) -> nib.Nifti1Image:
    """The reference's own foreground: > 10 % of its robust maximum, largest component, holes filled (the
    data-driven part of preprocess/masks.py, without the MNI constraint that would bias the overlap)."""
    from pds_mri.preprocess.masks import THRESHOLD_FRACTION, _largest_component

    data = np.abs(np.nan_to_num(np.asarray(reference.dataobj, dtype=np.float32)))
    positive = data[data > 0]
    if positive.size == 0:
        return nib.Nifti1Image(np.zeros(data.shape, np.float32), reference.affine)
    mask = data > THRESHOLD_FRACTION * float(np.percentile(positive, 98))
    mask = ndimage.binary_fill_holes(_largest_component(mask))
    return nib.Nifti1Image(mask.astype(np.float32), reference.affine)


def dice(reference: nib.Nifti1Image, transform: ToMNI | np.ndarray) -> float:
    """Dice of the reference's head mask, carried into MNI by the transform, with the template's brain mask."""
    _, mask = _template()
    mine = _on_template(head_mask(reference), transform, "nearest") > 0.5
    value = dice_coefficient(mine, np.asarray(mask.dataobj) > 0.5)
    return 0.0 if value is None else value


__all__ = ["ToMNI", "declared_mni", "dice", "estimate", "estimate_to_mni", "in_mni", "qc", "reference_image"]
