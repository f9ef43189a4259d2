"""MODEL_CARD.md of a `pds train` run: data, model, validation, intended use and the warning.

The run and the model are read through two small protocols (what `TrainOptions` and `ModelSpec` provide) and
the model family's own lines about its settings are passed in, so the report layer needs nothing from the
workflows that train or from the model families.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from pds_mri.config import Config
from pds_mri.io.layout import key_of
from pds_mri.report.format import fixed
from pds_mri.report.provenance import markdown_footer


class TrainedRun(Protocol):
    """What the card says about how the run was made (`pds_mri.workflows.train.TrainOptions` has it)."""

    @property
    def prepared_dir(self) -> Path: ...
    @property
    def fold(self) -> int: ...
    @property
    def folds(self) -> int: ...
    @property
    def seed(self) -> int: ...


class CardModel(Protocol):
    """What the card says about the model (`pds_mri.workflows.models.ModelSpec` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...


def model_card(
    config: Config,
    rows: list[dict[str, Any]],
    split: dict[str, Any],
    metrics: dict[str, dict[str, Any]],
    run: TrainedRun,
    model: CardModel,
    settings: Sequence[str],
) -> str:
    """The card of a finished training: rows is the prepared cohort, metrics {stage: best_psnr, best_step, steps},
    settings the model family's lines about its configuration (`ModelFamily.card_lines`)."""
    train = set(split["train"])
    dx = Counter((r.get("diagnosis") or "unknown") for r in rows if key_of(r) in train)
    lines = [
        f"# Model card — {_title(model.name)} (pds-mri)",
        "",
        "## Data",
        f"- prepared directory: `{run.prepared_dir}`",
        f"- subjects: {len(split['train'])} train / {len(split['val'])} validation / {len(split['test'])} test "
        f"(subject-level split, fold {run.fold} of {run.folds}, seed {run.seed})",
        f"- training diagnoses: {', '.join(f'{k} {v}' for k, v in sorted(dx.items()))}",
        f"- maps: fMRI `{config.maps.fmri_map}` on {config.grids.fmri.shape} at {config.grids.fmri.voxel_mm} mm; "
        f"dMRI `{config.maps.dmri_map}` on {config.grids.dmri.shape} at {config.grids.dmri.voxel_mm} mm",
        "",
        "## Model",
        f"- `{model.name}`: {model.description}",
        *settings,
        "- the full config is `config.yaml` beside this card",
        "",
        "## Validation (EMA weights, held-out subjects, PSNR in dB inside the brain mask, [0, 1] scale)",
    ]
    for stage, m in metrics.items():
        best = "n/a" if m["best_psnr"] is None else f"{fixed(m['best_psnr'], 2)} dB at step {m['best_step']}"
        lines.append(f"- {stage}: {m['steps']} steps, best validation PSNR {best}")
    lines += [
        "",
        "## Intended use",
        "Research: recovering subjects with a missing fMRI or dMRI map for group analyses and multimodal models, with",
        "the uncertainty map (`pds synthesize --samples N`) reported alongside.",
        "",
        "**Warning: syntheses are not diagnostic images.** Do not use them for clinical decisions about an individual.",
        "",
        markdown_footer(),
    ]
    return "\n".join(lines) + "\n"


def _title(name: str) -> str:
    return "PDS" if name == "pds" else name
