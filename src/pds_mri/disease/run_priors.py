"""The disease-informed priors of one training run: fitted on its training subjects, stored beside its weights.

`pds train` fits what the config asks for (``model.disease_state``, ``model.disease_map_weight`` > 0) on
``split.json``'s TRAINING subjects only — never validation or test — and writes RUN_DIR/disease_state.safetensors
and RUN_DIR/disease_map.safetensors. Validation and `pds synthesize` read them back; a label-free synthesis of a
subject then conditions on the estimated probabilities of its own source map (`attach_estimate`), which no
label of any test subject can change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pds_mri.disease.pattern_map import MAP_FILE, disease_pattern_map, load_maps, save_maps
from pds_mri.disease.state import STATE_FILE, DiseaseState, fit_source_classifier
from pds_mri.errors import InputError

PROBS_KEY = "diagnosis_probs"


@dataclass(frozen=True)
class RunPriors:
    state: DiseaseState | None = None
    maps: Mapping[str, np.ndarray] | None = None
    fitted_on: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.state is None and self.maps is None

    def map_tensors(self) -> dict[str, torch.Tensor] | None:
        return None if self.maps is None else {d: torch.from_numpy(np.asarray(m)) for d, m in self.maps.items()}

    def attach_estimate(self, batch: dict[str, torch.Tensor], direction: str) -> np.ndarray | None:
        """Put the source-only NC/MCI/AD estimate of each subject into ``batch`` (label untouched); return it."""
        if self.state is None:
            return None
        source = batch["source"][:, 0].detach().float().cpu().numpy()
        probs = self.state.probabilities(direction, source)
        batch[PROBS_KEY] = torch.as_tensor(probs, dtype=torch.float32, device=batch["source"].device)
        return probs

    def save(self, run_dir: Path) -> None:
        if self.state is not None:
            self.state.save(Path(run_dir) / STATE_FILE)
        if self.maps is not None:
            save_maps(Path(run_dir) / MAP_FILE, self.maps, self.fitted_on)


def wanted(model_config: Any) -> tuple[bool, bool]:
    """(disease state, disease map) as a run's `model:` config asks; configs without the fields ask for neither."""
    return bool(getattr(model_config, "disease_state", False)), float(
        getattr(model_config, "disease_map_weight", 0.0)
    ) > 0


def fit_run_priors(
    items: Sequence[Mapping[str, Any]],
    participant_ids: Sequence[str],
    directions: Sequence[str],
    *,
    state: bool,
    maps: bool,
    seed: int = 0,
) -> RunPriors:
    """Fit on the TRAINING subjects' items (PreparedCohort items: one dict per direction)."""
    if not (state or maps):
        return RunPriors()
    labels = [int(it[directions[0]]["diagnosis"]) for it in items]
    classifiers, disease_maps = {}, {}
    for direction in directions:
        masks = np.stack([it[direction]["mask"][0].numpy() for it in items])
        if state:
            sources = np.stack([it[direction]["source"][0].numpy() for it in items])
            classifiers[direction] = fit_source_classifier(sources, masks, labels, seed)
        if maps:
            targets = np.stack([it[direction]["target"][0].numpy() for it in items])
            disease_maps[direction] = disease_pattern_map(targets, masks, labels)
    ids = tuple(str(p) for p in participant_ids)
    return RunPriors(
        state=DiseaseState(classifiers, ids) if state else None,
        maps=disease_maps if maps else None,
        fitted_on=ids,
    )


def load_run_priors(run_dir: Path, model_config: Any, train_ids: Sequence[str] | None = None) -> RunPriors:
    """The priors a run's config asks for, as `pds train` wrote them; with ``train_ids`` (the run's split) a
    prior fitted on any other subject is refused: it could have seen a test subject's label."""
    use_state, use_maps = wanted(model_config)
    run_dir = Path(run_dir)
    state = DiseaseState.load(run_dir / STATE_FILE) if use_state else None
    maps, fitted = load_maps(run_dir / MAP_FILE) if use_maps else (None, ())
    fitted_on = state.fitted_on if state is not None else fitted
    if train_ids is not None:
        allowed = set(train_ids)
        for path, ids in ((STATE_FILE, state.fitted_on if state else ()), (MAP_FILE, fitted)):
            extra = sorted(set(ids) - allowed)
            if extra:
                raise InputError(
                    run_dir / path, f"fitted on subject(s) outside the run's training split: {', '.join(extra[:5])}"
                )
    return RunPriors(state=state, maps=maps, fitted_on=tuple(fitted_on))
