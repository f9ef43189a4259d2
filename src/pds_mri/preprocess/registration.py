"""Registration to MNI152 with ANTsPy, for inputs that are not already in MNI space.

The model grids live in MNI152 world coordinates. Raw scanner-space data (a head placed anywhere in the
scanner) and QSIPrep's ACPC/T1w spaces are not; resampling them as if they were puts every map in the wrong
place without an error. ``estimate_to_mni`` registers one reference image of the subject — its T1w when there
is one (the BOLD and DWI of the same session share its scanner frame), else the modality's own mean image — to
nilearn's MNI152 template with ANTs (rigid → affine, Mattes mutual information, fixed seed), and returns the
4×4 world-to-world matrix **subject RAS mm → MNI RAS mm**. ``in_mni`` applies it to an image's affine (voxels
untouched); a map resampled from there lands on the model grid. SyN is not offered: the model grids are
coarse (≥ 2 mm) and an affine takes rigid position, head size and shear out.

ITK transforms map points of the FIXED image (the template) to the MOVING image in LPS coordinates; the
conversion to the RAS subject → MNI matrix is ``inv(F · T · F)`` with F = diag(−1, −1, 1, 1).

QC (``qc``): the Pearson correlation of the registered reference with the template inside the template's
brain mask, recorded in cohort.tsv; below MIN_QC the subject is flagged in the log.
"""

from __future__ import annotations

import functools

import nibabel as nib
import numpy as np

from pds_mri.errors import PdsError

MNI_SPACES = ("MNI152NLin2009cAsym", "MNI152NLin6Asym", "MNI152NLin2009aAsym", "MNI152Lin", "MNI")
TEMPLATE_MM = 4.0  # the registration's template resolution: enough for coarse model grids, fast on a CPU
MIN_QC = 0.5  # a registered reference that correlates less with the template is flagged
_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


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


def estimate_to_mni(reference: nib.Nifti1Image, seed: int = 1) -> np.ndarray:
    """Affine registration of ``reference`` (3D) to the MNI152 template: the RAS subject → MNI matrix."""
    import ants

    template, _ = _template()
    fixed = ants.from_nibabel_nifti(template)
    moving = ants.from_nibabel_nifti(_as_float(reference))
    result = ants.registration(fixed=fixed, moving=moving, type_of_transform="Affine", random_seed=seed)
    transform = ants.read_transform(result["fwdtransforms"][0])
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


def in_mni(img: nib.Nifti1Image, to_mni: np.ndarray) -> nib.Nifti1Image:
    """The same voxels placed in MNI world space: affine ← to_mni · affine."""
    return img.__class__(np.asanyarray(img.dataobj), to_mni @ img.affine, img.header)


def qc(reference: nib.Nifti1Image, to_mni: np.ndarray) -> float:
    """Pearson r of the registered reference and the template inside the template's brain mask (1 = perfect)."""
    from nilearn.image import resample_to_img

    template, mask = _template()
    moved = resample_to_img(in_mni(_as_float(reference), to_mni), template, interpolation="continuous")
    inside = np.asarray(mask.dataobj) > 0.5
    a = np.asarray(moved.dataobj, dtype=np.float64)[inside]
    b = np.asarray(template.dataobj, dtype=np.float64)[inside]
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])
