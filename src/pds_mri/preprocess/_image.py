"""Build float32 NIfTI outputs that keep the spatial header codes of the image they derive from."""

from __future__ import annotations

import nibabel as nib
import numpy as np


def float_image(data: np.ndarray, affine: np.ndarray, like: nib.Nifti1Image | None = None) -> nib.Nifti1Image:
    """A float32 image; copying `like`'s units and sform/qform codes keeps outputs overlayable on inputs.

    The input's header is not reused wholesale: its dtype, scaling and 4th-dim zoom would be wrong for a map.
    """
    img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), np.asarray(affine, dtype=float))
    img.header.set_data_dtype(np.float32)
    if like is not None and isinstance(like.header, nib.Nifti1Header):
        img.header.set_xyzt_units(like.header.get_xyzt_units()[0])
        img.set_sform(img.affine, int(like.header["sform_code"]) or 2)
        img.set_qform(img.affine, int(like.header["qform_code"]) or 2)
    return img


def grid_image(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """An image on a model grid (in MNI152 space: sform/qform code 4), its data kept as given."""
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_sform(affine, code=4)  # MNI152 space
    img.set_qform(affine, code=4)
    return img
