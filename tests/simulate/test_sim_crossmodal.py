"""Both modalities share the subject's anatomy: on a common grid, a subject's fMRI and dMRI maps match
each other better than another subject's.

The mean BOLD (CSF bright, T2*-weighted) and the mean DWI (CSF dark, diffusion-weighted) relate
non-monotonically, as in real scans, so Pearson correlation of those two is not the right yardstick:
the mean BOLD is compared by correlation with the b0 (same contrast order), and with the mean DWI by
normalised mutual information, the usual multimodal similarity.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
from nilearn import datasets
from nilearn.image import resample_to_img

from pds_mri.simulate.cohort import plan_subject, simulate_subject

N = 4


def _nmi(a: np.ndarray, b: np.ndarray, bins: int = 32) -> float:
    h, _, _ = np.histogram2d(a, b, bins=bins)
    p = h / h.sum()

    def ent(q: np.ndarray) -> float:
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    return (ent(p.sum(0)) + ent(p.sum(1))) / ent(p.ravel())


def test_same_subject_maps_match_better_than_other_subjects(cpu_config) -> None:
    subs = [simulate_subject(cpu_config, 11, plan_subject(11, k, N)) for k in range(N)]
    grid = cpu_config.grids.dmri
    ref = nib.Nifti1Image(np.zeros(grid.shape, np.float32), grid.affine)
    mni_mask = datasets.load_mni152_brain_mask(resolution=2)
    mask = resample_to_img(mni_mask, ref, interpolation="nearest").get_fdata() > 0

    def on_grid(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
        img = nib.Nifti1Image(data.astype(np.float32), affine)
        return resample_to_img(img, ref, interpolation="continuous").get_fdata()[mask]

    fmri, dmri, b0 = [], [], []
    for s in subs:
        dw = s.dwi.gradients.bvals > 50
        fmri.append(on_grid(s.bold.data.mean(-1), s.bold.affine))
        dmri.append(on_grid(s.dwi.data[..., dw].mean(-1), s.dwi.affine))
        b0.append(on_grid(s.dwi.data[..., ~dw].mean(-1), s.dwi.affine))
    r = np.array([[np.corrcoef(fmri[i], b0[j])[0, 1] for j in range(N)] for i in range(N)])
    nmi = np.array([[_nmi(fmri[i], dmri[j]) for j in range(N)] for i in range(N)])
    off = ~np.eye(N, dtype=bool)
    assert r.diagonal().mean() - r[off].mean() > 0.15, r
    assert nmi.diagonal().mean() - nmi[off].mean() > 0.02, nmi
    for i in range(N):
        for j in range(N):
            if i != j:
                assert r[i, i] > max(r[i, j], r[j, i]), (i, j, r)
                assert nmi[i, i] > max(nmi[i, j], nmi[j, i]), (i, j, nmi)
