"""report/markdown/model_card.py: the card reads the run and the model through small protocols."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pds_mri import __version__
from pds_mri.config import preset
from pds_mri.report.markdown.model_card import model_card


@dataclass(frozen=True)
class Run:
    prepared_dir: Path = Path("/data/prepared")
    fold: int = 1
    folds: int = 5
    seed: int = 7


@dataclass(frozen=True)
class Model:
    name: str
    description: str


ROWS = [
    {"participant_id": "sub-01", "diagnosis": "AD"},
    {"participant_id": "sub-02", "diagnosis": "NC"},
    {"participant_id": "sub-03", "diagnosis": None},
    {"participant_id": "sub-04", "diagnosis": "AD"},
]
SPLIT = {"train": ["sub-01", "sub-03", "sub-04"], "val": ["sub-02"], "test": []}


def test_a_pds_card_names_data_model_validation_and_version() -> None:
    metrics = {
        "stage1": {"best_psnr": 21.23456, "best_step": 40, "steps": 60},
        "stage2": {"best_psnr": None, "best_step": None, "steps": 15},
    }
    settings = ["- preset `cpu`; pattern True", "- diffusion: cosine schedule"]
    card = model_card(preset("cpu"), ROWS, SPLIT, metrics, Run(), Model("pds", "the full method"), settings)
    lines = card.splitlines()
    assert lines[0] == "# Model card — PDS (pds-mri)"
    assert "- prepared directory: `/data/prepared`" in lines
    assert "- subjects: 3 train / 1 validation / 0 test (subject-level split, fold 1 of 5, seed 7)" in lines
    assert "- training diagnoses: AD 2, unknown 1" in lines
    model = lines.index("- `pds`: the full method")
    assert lines[model + 1 : model + 4] == [*settings, "- the full config is `config.yaml` beside this card"]
    assert "- stage1: 60 steps, best validation PSNR 21.23 dB at step 40" in lines
    assert "- stage2: 15 steps, best validation PSNR n/a" in lines
    assert "**Warning: syntheses are not diagnostic images.**" in card and card.endswith(f"_pds-mri {__version__}_\n")


def test_the_family_settings_are_the_family_card_lines() -> None:
    from pds_mri.families import family

    config = preset("cpu")
    for name in ("pds", "unet"):
        lines = family(name).card_lines(config)
        card = model_card(config, ROWS, SPLIT, {}, Run(), Model(name, "d"), lines)
        assert "\n".join(lines) in card
    assert card.startswith("# Model card — unet (pds-mri)") and "one deterministic pass" in card
