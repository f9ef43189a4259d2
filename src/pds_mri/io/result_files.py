"""Schemas of the tool's JSON result files, used by the writers and every reader (the report) alike.

`pds benchmark` resumes from its records (trained.json, done.json), `pds diagnose` and `pds report` read them and
the result files (metrics.json, results.json, diagnosis.json), possibly long after, after a crash or a hand
edit: a reader gets a typed record or one `InputError` naming the file and the field, never a KeyError deep
inside a table. Extra fields are kept, so a newer tool's file still reads.

Result files: a writer builds the model and writes `result_json(model)`, the fields it set in schema order;
the schema order is the order the files always had, so the bytes are unchanged. Only what a reader needs is
required (metrics.json: protocol and rows; results.json and diagnosis.json: table); the other fields may be
missing (files of earlier versions lack the newer ones) but are type-checked when present. Nested tables are
typed where their keys are fixed; ``dict[str, Any]`` marks the genuinely open parts: protocols (verbatim
descriptions that grow with the method), per-subject rows and per-protocol metrics (their columns follow the
metric, region and calibration registries), feature-space descriptions and pooled calibration curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from pds_mri.errors import InputError
from pds_mri.io.json_files import read_json
from pds_mri.provenance import GeneratedBy as Provenance


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")
    #: what the file is, in error messages
    ROLE: ClassVar[str] = "record"


class TrainedRecord(_Record):
    """`runs/<model>/fold-k/trained.json`: the fold's training finished."""

    ROLE: ClassVar[str] = "benchmark training record"

    model: str
    fold: int
    train_seconds: float  # optimiser-step seconds, a shared stage 1 included
    resumed: bool
    stage1_from: str | None  # the model whose stage 1 this run's stage 2 was trained on


class FoldRecord(_Record):
    """`runs/<model>/fold-k/done.json`: the fold is synthesised and evaluated; its per-subject metric rows."""

    ROLE: ClassVar[str] = "benchmark fold record"

    model: str
    fold: int
    trained_model: str  # the model whose run synthesised (itself, or the run a resynthesis reused)
    run_dir: str  # that run, relative to the benchmark directory
    synthesis_steps: int | None
    synthesis_samples: int
    synthesis_mode: str | None
    test_subjects: list[str]
    train_seconds: float
    rows: list[dict[str, Any]]


# ------------------------------------------------------------------------------ shared parts of result files


class MeanStd(_Record):
    """`evaluation.statistics.mean_std`: mean and sample std (None when undefined) over n values."""

    mean: float | None
    std: float | None
    n: int


class Machine(_Record):
    platform: str
    processor: str | None = None  # results.json only
    cpus: int | None


class GroupDifferenceRow(_Record):
    """One direction × region × contrast; the numbers after these keys: evaluation/group_difference.py."""

    direction: str
    region: str
    contrast: str


class GroupDifferences(_Record):
    protocol: dict[str, Any]
    rows: list[GroupDifferenceRow]
    disease_region: str | None = None  # metrics.json only: how the data-driven region was made, or why not


def _needs(*keys: str) -> Any:
    """A validator of an open row: it must have `keys` as strings (what readers index); the row is kept as is."""

    def check(row: dict[str, Any]) -> dict[str, Any]:
        for key in keys:
            if not isinstance(row.get(key), str):
                raise ValueError(f"row needs a string '{key}'")
        return row

    return AfterValidator(check)


# ------------------------------------------------------------------------------------ metrics.json


class EvaluationInputs(_Record):
    synth_dir: str
    prepared_dir: str
    synthesized_tsv_sha256: str


class DirectionSummary(_Record):
    """metrics.json "summary" of one direction: the subjects, then a `MeanStd` per metric column."""

    __pydantic_extra__: dict[str, MeanStd]
    subjects: int


class Skipped(_Record):
    count: int
    rows: list[dict[str, str]]  # participant_id (session_id), direction, reason


class Calibration(_Record):
    columns: list[str]
    protocol: dict[str, Any]
    directions: dict[str, dict[str, Any]]  # per direction: subjects, then per region the pooled numbers and curve


class EvaluationMetrics(_Record):
    """`pds evaluate`'s EVAL_DIR/metrics.json (workflows/evaluate.py)."""

    ROLE: ClassVar[str] = "`pds evaluate` metrics.json"

    GeneratedBy: Provenance | None = None
    protocol: dict[str, Any]
    inputs: EvaluationInputs | None = None
    metrics: list[str] | None = None
    summary: dict[str, DirectionSummary] | None = None
    rows: list[Annotated[dict[str, Any], _needs("participant_id", "direction", "synthesis")]]
    skipped: Skipped | None = None
    group_differences: GroupDifferences | None = None
    calibration: Calibration | None = None
    seconds: float | None = None


# ------------------------------------------------------------------------------------ results.json


class ModelSummary(_Record):
    """results.json "per_model" of one model."""

    folds_done: list[int]
    complete: bool
    train_seconds: MeanStd
    synth_seconds_per_subject: MeanStd
    directions: dict[str, dict[str, MeanStd]]  # direction -> metric -> over subjects
    parameters: int | None = None  # None when its run cannot be read; absent before budgets were recorded
    optimiser_steps: int | None = None


class PairedComparison(_Record):
    """`evaluation.statistics.paired_comparison`: reference − model over the subjects both scored."""

    n: int
    mean_difference: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    p_wilcoxon: float | None


class BenchmarkResults(_Record):
    """`pds benchmark`'s BENCH_DIR/results.json (workflows/benchmark.py)."""

    ROLE: ClassVar[str] = "`pds benchmark` results.json"

    GeneratedBy: Provenance | None = None
    date: str | None = None
    machine: Machine | str | None = None  # a hand-made results.json may describe it in words
    prepared_dir: str | None = None
    preset: str | None = None
    config: str | None = None
    protocol: dict[str, Any] | None = None
    cross_validation: str | None = None
    folds: int | None = None
    seed: int | None = None
    subjects: int | None = None
    models: dict[str, str] | None = None  # name -> description
    reference: str | None = None
    shared_runs: dict[str, str] | None = None
    statistics: dict[str, str] | None = None
    complete: bool | None = None
    per_model: dict[str, ModelSummary] | None = None
    comparisons: dict[str, dict[str, dict[str, PairedComparison]]] | None = None  # model -> direction -> metric
    table: list[dict[str, Any]]  # the flat table for the report: one row per model × direction
    group_differences: dict[str, GroupDifferences] | None = None  # per model, pooled over its folds


# ---------------------------------------------------------------------------------- diagnosis.json


class DiagnosisFolds(_Record):
    source: str
    n: int
    test: list[list[str]]


class DiagnosisRow(_Record):
    """One protocol's out-of-fold result; its metrics, CIs, folds and predictions follow (evaluation/diagnosis.py)."""

    protocol: str
    group: str
    description: str


class NotRun(_Record):
    protocol: str
    group: str
    reason: str


class DiagnosisResult(_Record):
    """`pds diagnose`'s OUT_DIR/diagnosis.json (workflows/diagnose.py)."""

    ROLE: ClassVar[str] = "`pds diagnose` diagnosis.json"

    GeneratedBy: Provenance | None = None
    date: str | None = None
    machine: Machine | None = None
    prepared_dir: str | None = None
    benchmark_dir: str | None = None
    run_dir: str | None = None
    classifier: str | None = None
    classifier_description: str | None = None
    features: dict[str, dict[str, Any]] | None = None  # per modality: the feature space's description
    subjects: int | None = None
    class_counts: dict[str, int] | None = None
    folds: DiagnosisFolds | None = None
    missing_fraction: float | None = None
    seed: int | None = None
    synthesis_models: list[str] | None = None
    synthesis_sources: dict[str, int] | None = None  # "model:target" -> subjects
    protocol: str | None = None
    notes: list[str] | None = None
    table: list[DiagnosisRow]
    comparisons: list[dict[str, Any]] | None = None  # a, b, subjects, then the paired difference's numbers
    not_run: list[NotRun] | None = None


R = TypeVar("R", bound=_Record)


def read_record(path: Path, schema: type[R], hint: str = "") -> R:
    """The record in `path`, checked against `schema`; one error naming the file and the first bad field."""
    data = read_json(path, schema.ROLE, hint)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        tail = f"; {hint}" if hint else ""
        raise InputError(path, f"field '{where}': {first['msg']}{tail}") from None


def record_json(record: _Record) -> dict[str, Any]:
    """What the writer puts in the file: the fields in schema order (then any extra ones)."""
    return record.model_dump(mode="json")


def result_json(result: _Record) -> dict[str, Any]:
    """What a result file's writer puts in the file: the fields it set, in schema order (then extra ones),
    values as given (no JSON-mode conversion: `write_json` writes them as it always did)."""
    return result.model_dump(exclude_unset=True)
