"""Does a synthesis keep the disease signal? Group differences of regional means, real vs synthetic.

A synthesis that pulls every subject towards the population mean keeps PSNR respectable and erases what a
disease study measures. For each direction, region and contrast (AD − NC, MCI − NC) this compares, over the
*same* test subjects, the difference of group means of the regional mean intensity in the real maps and in
the syntheses, Cohen's d of both, and the ratio synthetic / real of the unstandardised differences
(1 = the disease signal kept, 0 = erased, > 1 = exaggerated), each with a percentile bootstrap CI that
resamples participants within each group (the same resample for real and synthetic, so the ratio is
paired; participants with sessions in both groups are drawn once for both groups).

Regions (on the target model grid, inside each subject's brain mask): the brain, the six Dosenbach
networks (the union of their ROI spheres) and GM / WM / CSF (most probable class, probability > 0.5).
Intensities are on the [0, 1] protocol scale. The syntheses must be made without the diagnosis (label-free)
for the comparison to mean anything; the caller checks that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pds_mri.evaluation.metrics import to_unit
from pds_mri.evaluation.regions import region_masks
from pds_mri.evaluation.resampling import Clusters
from pds_mri.io.layout import NETWORKS, key_of, participant_of_key

CONTRASTS = (("AD", "NC"), ("MCI", "NC"))
N_RESAMPLES = 2000
CONFIDENCE = 0.95
MIN_PER_GROUP = 2


def regional_means(
    image: Tensor,
    item: Mapping[str, Tensor],
    roi_network: Sequence[int] | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Mean of ``image`` ([-1, 1], target grid) on the [0, 1] scale in each region; NaN for an empty region.

    ``extra`` adds named boolean regions of the target grid (e.g. ``disease``: the fold's data-driven disease
    region), intersected with the subject's brain mask."""
    regions = region_masks(item["mask"], item["tissue"], item["pattern"])
    brain = regions["brain"]
    values = to_unit(image.reshape(brain.shape).float())
    masks = {"brain": brain, **{k: v for k, v in regions.items() if k in ("gm", "wm", "csf")}}
    for name, region in (extra or {}).items():
        masks[name] = brain & torch.from_numpy(np.asarray(region, dtype=bool)).reshape(brain.shape)
    if roi_network is not None:
        labels = item["pattern"].reshape(brain.shape).long()
        lookup = np.asarray([-1, *roi_network])  # label 0 = background
        network = lookup[labels.clamp(min=0, max=len(roi_network)).numpy()]
        for k, name in enumerate(NETWORKS):
            masks[f"net-{name}"] = brain & torch.from_numpy(network == k)
    return {k: float(values[m].mean()) if bool(m.any()) else float("nan") for k, m in masks.items()}


def _cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / max(len(a) + len(b) - 2, 1)
    return float((a.mean() - b.mean()) / np.sqrt(pooled)) if pooled > 0 else float("nan")


def _ci(values: np.ndarray) -> list[float | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [None, None]
    tail = (1.0 - CONFIDENCE) / 2.0 * 100.0
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100.0 - tail))]


def _means(values: np.ndarray, resamples: list[np.ndarray]) -> np.ndarray:
    """The mean of each resample (`Clusters.resample` index arrays, each (B, m))."""
    return np.concatenate([values[idx].mean(axis=1) for idx in resamples])


def contrast(
    real: Mapping[str, float], synth: Mapping[str, float], groups: Mapping[str, str], case: str, control: str, seed: int
) -> dict[str, Any] | None:
    """One region's case − control comparison over rows (keys → value); None if a group has < 2 participants
    (the bootstrap draws participants: one participant's sessions alone would give a zero-width CI)."""
    ids = [i for i in real if i in synth and np.isfinite(real[i]) and np.isfinite(synth[i])]
    cases = [i for i in ids if groups.get(i) == case]
    controls = [i for i in ids if groups.get(i) == control]
    case_clusters, control_clusters = Clusters.of_keys(cases), Clusters.of_keys(controls)
    if len(case_clusters.members) < MIN_PER_GROUP or len(control_clusters.members) < MIN_PER_GROUP:
        return None
    r_case, r_ctrl = np.array([real[i] for i in cases]), np.array([real[i] for i in controls])
    s_case, s_ctrl = np.array([synth[i] for i in cases]), np.array([synth[i] for i in controls])
    rng = np.random.default_rng(seed)
    if _shared_participants(cases, controls):
        boot_real, boot_synth = _joint_bootstrap(cases, controls, (r_case, r_ctrl), (s_case, s_ctrl), rng)
    else:  # independent groups: participants resampled within each group
        ia = case_clusters.resample(rng, N_RESAMPLES, lambda idx: idx)  # whole participants
        ib = control_clusters.resample(rng, N_RESAMPLES, lambda idx: idx)
        boot_real = _means(r_case, ia) - _means(r_ctrl, ib)
        boot_synth = _means(s_case, ia) - _means(s_ctrl, ib)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot_ratio = boot_synth / boot_real
    diff_real, diff_synth = float(r_case.mean() - r_ctrl.mean()), float(s_case.mean() - s_ctrl.mean())
    return {
        "n_case": len(cases),
        "n_control": len(controls),
        "n_case_participants": len(case_clusters.members),
        "n_control_participants": len(control_clusters.members),
        "real_difference": diff_real,
        "real_difference_ci": _ci(boot_real),
        "synthetic_difference": diff_synth,
        "synthetic_difference_ci": _ci(boot_synth),
        "real_cohens_d": _cohens_d(r_case, r_ctrl),
        "synthetic_cohens_d": _cohens_d(s_case, s_ctrl),
        "ratio": diff_synth / diff_real if diff_real != 0 else None,
        "ratio_ci": _ci(boot_ratio),
    }


def _shared_participants(cases: Sequence[str], controls: Sequence[str]) -> bool:
    """Whether a participant has rows in both groups (a converter: e.g. an NC and a later AD session)."""
    return bool({participant_of_key(k) for k in cases} & {participant_of_key(k) for k in controls})


def _joint_bootstrap(
    cases: Sequence[str],
    controls: Sequence[str],
    real: tuple[np.ndarray, np.ndarray],
    synth: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Case − control mean differences of N_RESAMPLES resamples that draw participants once from both groups
    together, each drawn participant bringing its case rows to the cases and its control rows to the controls.

    A converter's two sessions are one person's: drawn apart (once per group) their correlation would be
    ignored. A resample left without cases or without controls gives NaN (left out of the CI)."""
    keys = [*cases, *controls]
    clusters = Clusters.of_keys(keys)
    n_case = len(cases)
    values_real = np.concatenate(real)
    values_synth = np.concatenate(synth)
    out_real, out_synth = np.full(N_RESAMPLES, np.nan), np.full(N_RESAMPLES, np.nan)
    draws = rng.integers(0, len(clusters.members), size=(N_RESAMPLES, len(clusters.members)))
    for b, draw in enumerate(draws):
        rows = np.concatenate([clusters.members[c] for c in draw])
        case_rows, control_rows = rows[rows < n_case], rows[rows >= n_case]
        if case_rows.size and control_rows.size:
            out_real[b] = values_real[case_rows].mean() - values_real[control_rows].mean()
            out_synth[b] = values_synth[case_rows].mean() - values_synth[control_rows].mean()
    return out_real, out_synth


def group_differences(rows: Sequence[Mapping[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Rows (one per subject × direction, with ``diagnosis``, ``region_means_real``, ``region_means_synth``)
    → one record per direction × region × contrast that both groups reach."""
    out: list[dict[str, Any]] = []
    for direction in sorted({str(r["direction"]) for r in rows}):
        mine = [r for r in rows if r["direction"] == direction and r.get("region_means_real")]
        groups = {key_of(r): str(r.get("diagnosis") or "n/a") for r in mine}  # a row: (participant, session)
        regions = list(dict.fromkeys(k for r in mine for k in r["region_means_real"]))
        for region in regions:
            real = {key_of(r): _float(r["region_means_real"].get(region)) for r in mine}
            synth = {key_of(r): _float(r["region_means_synth"].get(region)) for r in mine}
            for case, control in CONTRASTS:
                result = contrast(real, synth, groups, case, control, seed)
                if result is not None:
                    out.append({"direction": direction, "region": region, "contrast": f"{case}-{control}", **result})
    return out


def mean_difference_map(volumes: Sequence[np.ndarray], groups: Sequence[str], case: str, control: str) -> np.ndarray:
    """Voxel-wise mean of the ``case`` volumes minus the mean of the ``control`` volumes (same grid, [0, 1] scale
    or any): the picture of a group difference, to set the real one beside the synthetic one."""
    cases = [v for v, g in zip(volumes, groups, strict=True) if g == case]
    controls = [v for v, g in zip(volumes, groups, strict=True) if g == control]
    if len(cases) < MIN_PER_GROUP or len(controls) < MIN_PER_GROUP:
        raise ValueError(f"{case} − {control}: needs >= {MIN_PER_GROUP} subjects per group")
    return np.mean(np.stack(cases), axis=0) - np.mean(np.stack(controls), axis=0)


def json_safe(value: Any) -> Any:
    """NaN / inf → None, recursively (JSON has neither)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


PROTOCOL = {
    "what": "difference of group means (case - control) of each subject's regional mean intensity, in the real "
    "maps and in the syntheses of the same test subjects; [0, 1] scale",
    "regions": "brain; the six Dosenbach networks (union of their ROI spheres); GM/WM/CSF (most probable class, "
    "p > 0.5); with `pds evaluate --run` also 'disease', the data-driven disease region of the run's training "
    "subjects (disease-pattern map >= 0.5); all inside the brain mask on the target model grid",
    "contrasts": [f"{a}-{b}" for a, b in CONTRASTS],
    "ratio": "synthetic difference / real difference (1 = kept, 0 = erased, > 1 = exaggerated)",
    "ci": f"{CONFIDENCE:.0%} percentile bootstrap, {N_RESAMPLES} resamples of participants within each group (a drawn "
    "participant brings all its sessions), the same resample for real and synthetic (paired ratio); when a "
    "participant has sessions in both groups (a converter), participants are drawn once from both groups together, "
    "each bringing its case and its control sessions",
    "cohens_d": "difference of means / pooled standard deviation (n - 1)",
    "minimum": f"a contrast is reported when both groups have >= {MIN_PER_GROUP} participants; n_case and "
    "n_control count rows (subject-sessions), n_case_participants and n_control_participants participants",
}


def group_differences_payload(rows: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """metrics.json / results.json "group_differences": the protocol and one record per direction × region ×
    contrast of the rows (`pds evaluate`'s rows, or a benchmark model's rows pooled over its folds)."""
    return {"protocol": PROTOCOL, "rows": json_safe(group_differences(rows, seed))}
