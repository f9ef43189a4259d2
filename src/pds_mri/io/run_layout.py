"""The names of every file in a training run and a benchmark directory, in one place (torch-free).

`pds train` writes a run directory, `pds synthesize`, `calibrate`, `export`, `diagnose` and `report` read it,
and `pds benchmark` nests one per model and fold; they all take the paths from here (as `io/layout.py` is the
one owner of the prepared directory's names):

    RUN_DIR/config.yaml, model.json, split.json, normalisation.json, MODEL_CARD.md, uncertainty_scale.json,
            stage1/ and stage2/ (checkpoints/{best,last}/, logs)
    BENCH_DIR/config.yaml, results.json, results.md,
              runs/<model>/fold-<k>/  a RUN_DIR (trained models) + trained.json, done.json,
                                      synth-<direction>/, eval-<direction>/
    SYNTH_DIR/synthesized.tsv   (`pds synthesize`)     EVAL_DIR/metrics.json   (`pds evaluate`)
    OUT_DIR/diagnosis.json, diagnosis.md   (`pds diagnose`)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STAGES = ("stage1", "stage2")
SYNTH_TSV = "synthesized.tsv"  # a synthesis directory's index (io/synthesized.py)
METRICS_JSON = "metrics.json"  # an evaluation directory's result (io/result_files.py EvaluationMetrics)
DIAGNOSIS_JSON = "diagnosis.json"  # a diagnosis directory's result (io/result_files.py DiagnosisResult)
DIAGNOSIS_MD = "diagnosis.md"


@dataclass(frozen=True)
class _Folder:
    """A folder the tool owns, path-like: `Path(it)`, `it / name` and messages naming it keep working."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name


@dataclass(frozen=True)
class RunDir(_Folder):
    """A training run directory."""

    CONFIG = "config.yaml"
    MODEL = "model.json"
    SPLIT = "split.json"
    NORMALISATION = "normalisation.json"
    MODEL_CARD = "MODEL_CARD.md"
    UNCERTAINTY_SCALE = "uncertainty_scale.json"

    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def model(self) -> Path:
        return self.path / self.MODEL

    @property
    def split(self) -> Path:
        return self.path / self.SPLIT

    @property
    def normalisation(self) -> Path:
        return self.path / self.NORMALISATION

    @property
    def model_card(self) -> Path:
        return self.path / self.MODEL_CARD

    @property
    def uncertainty_scale(self) -> Path:
        return self.path / self.UNCERTAINTY_SCALE

    def stage(self, stage: str) -> Path:
        """A training stage's folder (its checkpoints and logs)."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        return self.path / stage

    def is_run(self) -> bool:
        """Whether this looks like a run directory at all (a config plus a split, a card or a stage)."""
        return self.config.is_file() and (
            self.split.exists() or self.model_card.exists() or self.stage("stage1").exists()
        )


@dataclass(frozen=True)
class FoldDir(RunDir):
    """One model's fold of a benchmark: a run directory (for trained models) plus the benchmark's markers."""

    TRAINED = "trained.json"
    DONE = "done.json"

    @property
    def trained(self) -> Path:
        """Written when the fold's training finished (`TrainedRecord`)."""
        return self.path / self.TRAINED

    @property
    def done(self) -> Path:
        """Written when the fold is synthesised and evaluated (`FoldRecord`)."""
        return self.path / self.DONE

    def synthesized(self, direction: str) -> Path:
        return self.path / f"synth-{direction}"

    def evaluation(self, direction: str) -> Path:
        return self.path / f"eval-{direction}"

    @property
    def fold(self) -> int:
        return int(self.path.name.removeprefix("fold-"))


@dataclass(frozen=True)
class BenchmarkDir(_Folder):
    """A `pds benchmark` output directory."""

    RESULTS_JSON = "results.json"
    RESULTS_MD = "results.md"
    RUNS = "runs"

    @property
    def results_json(self) -> Path:
        return self.path / self.RESULTS_JSON

    @property
    def results_md(self) -> Path:
        return self.path / self.RESULTS_MD

    @property
    def runs(self) -> Path:
        return self.path / self.RUNS

    def model_dir(self, model: str) -> Path:
        return self.runs / model

    def fold(self, model: str, fold: int) -> FoldDir:
        return FoldDir(self.model_dir(model) / f"fold-{fold}")

    def folds(self, model: str) -> list[FoldDir]:
        """The model's fold directories that exist, in fold order."""
        found = [p for p in self.model_dir(model).glob("fold-*") if p.name.removeprefix("fold-").isdigit()]
        return [FoldDir(p) for p in sorted(found, key=lambda p: int(p.name.removeprefix("fold-")))]

    def is_benchmark(self) -> bool:
        return self.results_json.is_file() or self.results_md.is_file()
