"""The `pds` command line: a thin Typer layer over pds_mri.workflows; heavy imports stay lazy.

User errors (PdsError) print one line and exit 2; `--debug` shows the traceback instead. Training stopped by
SIGTERM/SIGUSR1 checkpoints, prints one line and exits 75 (EX_TEMPFAIL: resume it with --resume).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from pds_mri import __version__
from pds_mri.config import MAX_SEED
from pds_mri.domain import (
    Device,
    DirectionChoice,
    PresetName,
    Registration,
    SynthesisMode,
    TrainStage,
)
from pds_mri.errors import PdsError, StoppedBySignal, Terminated
from pds_mri.evaluation.classifiers import CLASSIFIERS
from pds_mri.preprocess.maps import DMRI_MAPS, FMRI_MAPS
from pds_mri.progress import configure_logging
from pds_mri.registry import Registry


class _Command(typer.core.TyperCommand):
    """Help without Python type names: a flag shows no type (Typer labels it `<bool>`), a value option its
    metavar (`PATH`, `N`, `a|b|c`), an argument its name."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))


class _Group(typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))


def _readable(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param.help, str) and param.help in _LAZY_HELP:  # filled when the command is used
            param.help = _LAZY_HELP[param.help]()
        if param.metavar is None:
            param.metavar = _metavar(param)
        if param.param_type_name == "argument":  # its help says what it is; Typer would add `<path>`, `<str>`
            param.display_type_rich = _no_type
    return params


def _no_type(ctx: Any) -> None:
    return None


def _metavar(param: Any) -> str:
    if getattr(param, "is_flag", False):
        return ""
    if param.param_type_name == "argument":
        return str(param.name or "value").upper()
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return "VALUE"
    if desc.is_choice:
        name = "|".join(str(c) for c in desc.choices)
    elif desc.is_path:
        name = "PATH"
    else:
        bare = param.bare_type().removeprefix("list[").removesuffix("]")
        name = {"int": "N", "float": "X", "Path": "PATH"}.get(bare, "TEXT")
    return f"{name}..." if desc.is_list else name


def _model_name(value: str) -> str:
    """`--model` checked at parse time against the registry (its members change; a Literal cannot list them)."""
    from pds_mri.workflows.models import model_specs

    specs = model_specs()
    if value not in specs:
        raise typer.BadParameter(f"'{value}' is not a model; choose one of {', '.join(specs)}")
    return value


def _model_help() -> str:
    from pds_mri.workflows.models import model_help

    return model_help()


def _benchmark_models_help() -> str:
    from pds_mri.workflows.models import benchmark_defaults

    return "Models to compare, repeated or comma-separated; default: " + ", ".join(benchmark_defaults()) + "."


#: help texts read from the model registry, which imports the families (torch): made only when a command that
#: shows them runs, so `pds --help` and the light commands stay fast
_LAZY_HELP: dict[str, Callable[[], str]] = {
    "@model-help": _model_help,
    "@benchmark-models-help": _benchmark_models_help,
}


def _member_of(registry: Registry[Any]) -> Callable[[str], str]:
    """A parse-time check against a registry (its members are files, so a Literal cannot list them); the
    option's metavar lists them: `metavar="|".join(registry.names())`."""

    def parse(value: str) -> str:
        if value not in registry:
            raise typer.BadParameter(f"unknown {registry.kind} '{value}'; choose one of {', '.join(registry.names())}")
        return value

    return parse


def _model_names(values: list[str] | None) -> list[str] | None:
    """`--models a,b --models c`, each name checked at parse time."""
    for name in _split_names(values):
        _model_name(name)
    return values


def _limit_threads(omp_nthreads: int | None) -> None:
    if omp_nthreads is not None:
        from pds_mri.threads import limit_threads

        limit_threads(omp_nthreads)


app = typer.Typer(
    name="pds",
    help="Synthesise a missing brain-MRI modality (fMRI <-> dMRI maps) with PDS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Group,
)
_state = {"debug": False}

Preset = Annotated[
    PresetName | None,
    typer.Option(
        "--preset",
        help="paper (the paper's grids and training budget) or cpu (coarse grids, 400 steps: demos and tests). "
        "prepare: required on your own data (cpu for a `pds simulate` cohort); train/benchmark: default the "
        "prepared directory's.",
        show_default=False,
    ),
]
OmpThreads = Annotated[
    int | None,
    typer.Option(
        "--omp-nthreads",
        min=1,
        help="Cap every thread pool (PyTorch, BLAS/OpenMP, ANTsPy's ITK) at N threads per process. "
        "Default: all available cores (prepare with --nprocs P: cores / P per worker).",
        show_default=False,
    ),
]
SeedOption = Annotated[
    int, typer.Option("--seed", min=0, max=MAX_SEED, help="Random seed; the same seed gives the same files.")
]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="YAML config layered over the preset.")]
DeviceOption = Annotated[
    Device,
    typer.Option("--device", help="auto (CUDA when available, else CPU), cpu, cuda, or mps (Apple GPU, one process)."),
]


def _split_names(values: list[str] | None) -> tuple[str, ...]:
    """`--models a,b --models c` -> ("a", "b", "c")."""
    return tuple(name.strip() for value in values or () for name in value.split(",") if name.strip())


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pds-mri {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors, and debug log lines.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Log lines (steps, progress) also on a terminal, beside the bars.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Warnings and errors only: no bars, no messages.")] = False,
) -> None:
    _state["debug"] = debug


@app.command(cls=_Command)
def simulate(
    out_dir: Annotated[Path, typer.Argument(help="Where to write the BIDS dataset.")],
    subjects: Annotated[int, typer.Option("--subjects", min=1, help="Number of subjects.")] = 12,
    seed: SeedOption = 0,
    preset: Annotated[
        PresetName, typer.Option("--preset", help="Acquisition of the simulated scans: cpu (small, fast) or paper.")
    ] = "cpu",
    missing_fmri: Annotated[
        float, typer.Option("--missing-fmri", min=0.0, max=1.0, help="Fraction of subjects without fMRI.")
    ] = 0.0,
    missing_dmri: Annotated[
        float, typer.Option("--missing-dmri", min=0.0, max=1.0, help="Fraction of subjects without dMRI.")
    ] = 0.0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier simulation in OUT_DIR (nothing else).")
    ] = False,
) -> None:
    """Write a seeded, simulated BIDS cohort (NC / MCI / AD) with BOLD, DWI and T1w.

    Example: pds simulate sim --subjects 30 --missing-dmri 0.2
    """
    from pds_mri.workflows.simulate import run_simulate

    run_simulate(out_dir, subjects, seed, preset, missing_fmri, missing_dmri, overwrite)


@app.command(cls=_Command)
def prepare(
    bids_dir: Annotated[Path, typer.Argument(help="BIDS dataset, fMRIPrep/QSIPrep derivative, or a CSV manifest.")],
    out_dir: Annotated[Path, typer.Argument(help="Output directory (created; safe to re-run).")],
    analysis_level: Annotated[
        str | None,
        typer.Argument(
            help="BIDS-App analysis level: 'participant' (the only one; may be left out).", show_default=False
        ),
    ] = None,
    participant_label: Annotated[
        list[str] | None,
        typer.Option(
            "--participant-label",
            help="Only these subjects, space-separated as in BIDS Apps (`--participant-label 01 02`; 'sub-' optional).",
        ),
    ] = None,
    session_label: Annotated[
        list[str] | None,
        typer.Option(
            "--session-label",
            help="Only runs of these sessions, space-separated (`--session-label 01 02`; 'ses-' optional).",
        ),
    ] = None,
    bids_filter_file: Annotated[
        Path | None,
        typer.Option(
            "--bids-filter-file",
            help='JSON of pybids queries per input, as in fMRIPrep: {"bold": {"task": "rest"}, "dwi": {"run": 1}, '
            '"t1w": {...}}; null = entity absent.',
        ),
    ] = None,
    fmri_map: Annotated[
        str | None,
        typer.Option(
            "--fmri-map",
            parser=_member_of(FMRI_MAPS),
            metavar="|".join(FMRI_MAPS.names()),
            help=f"fMRI map: {FMRI_MAPS.describe()}. Default: the --config YAML's maps.fmri_map, "
            f"else {FMRI_MAPS.default}.",
            show_default=False,
        ),
    ] = None,
    dmri_map: Annotated[
        str | None,
        typer.Option(
            "--dmri-map",
            parser=_member_of(DMRI_MAPS),
            metavar="|".join(DMRI_MAPS.names()),
            help=f"dMRI map: {DMRI_MAPS.describe()}. Default: the --config YAML's maps.dmri_map, "
            f"else {DMRI_MAPS.default}.",
            show_default=False,
        ),
    ] = None,
    preset: Preset = None,
    config: ConfigOption = None,
    derivatives: Annotated[
        list[Path] | None, typer.Option("--derivatives", help="Extra derivative folders to index (repeatable).")
    ] = None,
    diagnosis_column: Annotated[
        str, typer.Option("--diagnosis-column", help="participants.tsv column holding NC/MCI/AD.")
    ] = "diagnosis",
    diagnosis_map: Annotated[
        str | None,
        typer.Option(
            "--diagnosis-map",
            metavar="LABEL=DX,...",
            help="Map other diagnosis labels onto NC, MCI or AD (or 'unknown'), case-insensitive: "
            "--diagnosis-map 'SMC=NC,uncertain dementia=AD'. Labels neither known nor mapped count as unknown, "
            "with one warning listing them.",
        ),
    ] = None,
    n_jobs: Annotated[
        int, typer.Option("--n-jobs", "--nprocs", min=1, help="Subjects prepared in parallel (worker processes).")
    ] = 1,
    omp_nthreads: OmpThreads = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="List invalid subjects and prepare the others.")
    ] = False,
    registration: Annotated[
        Registration,
        typer.Option(
            "--registration",
            help="auto | none | affine | syn. auto: none when the inputs declare MNI152 space (space-MNI152... "
            "file names, or SpatialReference in dataset_description.json, as `pds simulate` writes), else affine: "
            "each subject registered to MNI152 with ANTsPy (via its T1w, else each modality's mean image). syn "
            "(opt-in): rigid -> affine -> SyN, the warp applied to every map; auto stays affine because the model "
            "grids are coarse (>= 2 mm), where SyN's local corrections are mostly below a voxel. Transforms are "
            "stored beside each map and re-used by a re-run on the same images.",
        ),
    ] = "auto",
) -> None:
    """Validate inputs, compute fMRI/dMRI maps, register to MNI152 where needed, resample to the model grids,
    normalise; write cohort.tsv.

    Example: pds prepare /data/bids prepared --fmri-map alff --dmri-map fa --n-jobs 4
    """
    from pds_mri.workflows.prepare import PrepareOptions, run_prepare

    if analysis_level not in (None, "participant"):
        raise PdsError(f"analysis level '{analysis_level}': pds prepare has only the 'participant' level")
    run_prepare(
        PrepareOptions(
            bids_dir=bids_dir,
            out_dir=out_dir,
            participant_labels=tuple(participant_label or ()),
            session_labels=tuple(session_label or ()),
            bids_filter_file=bids_filter_file,
            fmri_map=fmri_map,
            dmri_map=dmri_map,
            preset=preset,
            config=config,
            derivatives=tuple(derivatives or ()),
            diagnosis_column=diagnosis_column,
            diagnosis_map=diagnosis_map,
            n_jobs=n_jobs,
            omp_nthreads=omp_nthreads,
            skip_invalid=skip_invalid,
            registration=registration,
        )
    )


@app.command(cls=_Command)
def train(
    prepared_dir: Annotated[Path, typer.Argument(help="Output of `pds prepare` (its cohort.tsv).")],
    run_dir: Annotated[Path, typer.Argument(help="Run directory: config, split, checkpoints, logs, model card.")],
    preset: Preset = None,
    config: ConfigOption = None,
    model: Annotated[str, typer.Option("--model", parser=_model_name, metavar="MODEL", help="@model-help")] = "pds",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from RUN_DIR's last checkpoint.")] = False,
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed of weights, noise and split.")] = 0,
    fold: Annotated[int, typer.Option("--fold", min=0, help="Cross-validation fold to train (0-based).")] = 0,
    folds: Annotated[int, typer.Option("--folds", min=1, help="Number of folds; 1 = train/validation only.")] = 1,
    stage: Annotated[TrainStage, typer.Option("--stage", help="all, 1 (diffusion) or 2 (refiners).")] = "all",
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Override the steps of each stage.")] = None,
    stage1_from: Annotated[
        Path | None,
        typer.Option(
            "--stage1-from",
            help="With --stage 2: start from this run's stage-1 weights (ablate a refiner on the same stage 1).",
        ),
    ] = None,
    deterministic: Annotated[
        bool,
        typer.Option(
            "--deterministic",
            help="Byte-identical GPU results: deterministic cuDNN/cuBLAS kernels, no TF32 (slower). "
            "Default on CUDA: TF32 on.",
        ),
    ] = False,
    device: DeviceOption = "auto",
    omp_nthreads: OmpThreads = None,
) -> None:
    """Train PDS: stage 1 (pattern-aware conditional diffusion) then stage 2 (tissue + microstructure refiners).

    Only subjects with both modalities are used; the subject-level split is written to RUN_DIR/split.json.
    Runs unchanged under torchrun.

    Example: pds train prepared runs/pds --preset cpu --seed 0
    Example: torchrun --nproc_per_node=4 -m pds_mri.cli train prepared runs/pds --preset paper
    """
    from pds_mri.workflows.train import TrainOptions, run_train

    _limit_threads(omp_nthreads)
    run_train(
        TrainOptions(
            prepared_dir=prepared_dir,
            run_dir=run_dir,
            preset=preset,
            config=config,
            model=model,
            resume=resume,
            seed=seed,
            fold=fold,
            folds=folds,
            stage=stage,
            steps=steps,
            stage1_from=stage1_from,
            deterministic=deterministic,
            device=device,
        )
    )


@app.command(cls=_Command)
def synthesize(
    run_dir: Annotated[
        Path, typer.Argument(help="A run directory written by `pds train`, or a model archive from `pds export`.")
    ],
    input_dir: Annotated[Path, typer.Argument(help="A prepared directory (its cohort.tsv).")],
    out_dir: Annotated[Path, typer.Argument(help="Where the syntheses and synthesized.tsv go.")],
    direction: Annotated[
        DirectionChoice, typer.Option("--direction", help="auto (what each subject lacks), fmri2dmri or dmri2fmri.")
    ] = "auto",
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Sampler steps (default: config).")] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Stochastic samples; >1 writes uncertainty.")] = 1,
    guidance: Annotated[float | None, typer.Option("--guidance", min=0.0, help="Classifier-free guidance.")] = None,
    seed: SeedOption = 0,
    use_diagnosis: Annotated[
        bool,
        typer.Option(
            "--use-diagnosis/--no-diagnosis",
            help="Condition on the subject's known diagnosis. Off by default: maps imputed with the label make "
            "any later group comparison or classifier on them circular.",
        ),
    ] = False,
    participant_label: Annotated[
        list[str] | None,
        typer.Option("--participant-label", help="Only these subjects, space-separated ('sub-' optional)."),
    ] = None,
    save_samples: Annotated[
        bool, typer.Option("--save-samples", help="Also write the --samples N posterior samples (4D, model grid).")
    ] = False,
    mode: Annotated[
        SynthesisMode | None,
        typer.Option(
            "--mode",
            help="mean: the best estimate of the posterior mean (1 network evaluation; the default of the run's "
            "config); sample: a stochastic posterior sample (--steps sampler steps; --samples N averages N).",
        ),
    ] = None,
    disease_state: Annotated[
        bool,
        typer.Option(
            "--disease-state/--no-disease-state",
            help="For a run trained with model.disease_state: condition label-free syntheses on the run's "
            "source-only estimate of each subject's diagnosis (fitted on its training subjects). On by default.",
        ),
    ] = True,
    deterministic: Annotated[
        bool,
        typer.Option(
            "--deterministic",
            help="Byte-identical GPU results: deterministic cuDNN/cuBLAS kernels, no TF32 (slower). "
            "Default on CUDA: TF32 on.",
        ),
    ] = False,
    device: DeviceOption = "auto",
    omp_nthreads: OmpThreads = None,
    uncertainty_scale: Annotated[
        bool,
        typer.Option(
            "--uncertainty-scale/--no-uncertainty-scale",
            help="Multiply the std by the run's calibration (`pds calibrate`: fitted on its validation "
            "subjects), when it has one. On by default.",
        ),
    ] = True,
) -> None:
    """Synthesise the missing modality: model-grid and native-space NIfTI, uncertainty, provenance JSON.

    With --samples N > 1 the voxel-wise std of N posterior samples is written beside the estimate.

    Example: pds synthesize runs/pds prepared synth --samples 8
    """
    from pds_mri.workflows.synthesize import SynthesizeOptions, run_synthesize

    _limit_threads(omp_nthreads)
    run_synthesize(
        SynthesizeOptions(
            run_dir=run_dir,
            input_dir=input_dir,
            out_dir=out_dir,
            direction=direction,
            steps=steps,
            samples=samples,
            guidance=guidance,
            seed=seed,
            use_diagnosis=use_diagnosis,
            participant_labels=tuple(participant_label or ()),
            mode=mode,
            save_samples=save_samples,
            disease_state=disease_state,
            deterministic=deterministic,
            uncertainty_scale=uncertainty_scale,
            device=device,
        )
    )


@app.command(cls=_Command)
def calibrate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `pds train`.")],
    prepared_dir: Annotated[Path, typer.Argument(help="The prepared directory it was trained on.")],
    samples: Annotated[int, typer.Option("--samples", min=2, help="Posterior samples per synthesis.")] = 8,
    seed: SeedOption = 0,
    omp_nthreads: OmpThreads = None,
) -> None:
    """Fit the uncertainty scale on the run's validation subjects: afterwards `pds synthesize --samples N`
    writes std maps whose ±2σ intervals cover ~95 % of the errors (RUN_DIR/uncertainty_scale.json).

    Use the same --samples as for synthesis. Test subjects never enter the fit.

    Example: pds calibrate runs/pds prepared --samples 8
    """
    from pds_mri.workflows.calibrate import run_calibrate

    _limit_threads(omp_nthreads)
    run_calibrate(run_dir, prepared_dir, samples, seed)


@app.command(cls=_Command)
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `pds train`.")],
    archive: Annotated[Path, typer.Argument(help="The model archive to write (a new .zip file).")],
) -> None:
    """Pack a trained model into one .zip that `pds synthesize` takes in place of RUN_DIR, on any machine.

    Only what synthesis needs: config, model, normalisation, split, priors, the weights' checkpoint per stage.

    Example: pds export runs/pds pds-model.zip && pds synthesize pds-model.zip prepared synth
    """
    from pds_mri.workflows.export import run_export

    run_export(run_dir, archive)


@app.command(cls=_Command)
def evaluate(
    synth_dir: Annotated[Path, typer.Argument(help="Output of `pds synthesize` (its synthesized.tsv).")],
    prepared_dir: Annotated[Path, typer.Argument(help="The prepared directory holding the real maps.")],
    out_dir: Annotated[Path, typer.Argument(help="Where metrics.json and metrics.tsv go.")],
    run: Annotated[
        Path | None,
        typer.Option(
            "--run",
            help="The run that made the syntheses: group differences are also scored in the data-driven disease "
            "region of its training subjects (never the subjects scored).",
        ),
    ] = None,
    omp_nthreads: OmpThreads = None,
) -> None:
    """PSNR, SSIM and MAE per subject and direction inside the brain mask, plus pattern-ROI and tissue errors,
    and the AD − NC / MCI − NC group differences of real vs synthetic maps (group_differences.tsv).

    Only syntheses whose real target exists can be scored (synthesise them with --direction).

    Example: pds evaluate synth prepared eval
    """
    from pds_mri.workflows.evaluate import run_evaluate

    _limit_threads(omp_nthreads)
    run_evaluate(synth_dir, prepared_dir, out_dir, run)


@app.command(cls=_Command)
def benchmark(
    prepared_dir: Annotated[Path, typer.Argument(help="A prepared directory (its cohort.tsv).")],
    out_dir: Annotated[Path, typer.Argument(help="Benchmark directory (resumable): runs, results.json/.md.")],
    folds: Annotated[int, typer.Option("--folds", min=2, help="Subject-level stratified folds.")] = 5,
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            callback=_model_names,
            metavar="MODEL,...",
            help="@benchmark-models-help",
        ),
    ] = None,
    preset: Preset = None,
    config: ConfigOption = None,
    seed: SeedOption = 0,
    fold: Annotated[
        list[int] | None,
        typer.Option("--fold", min=0, help="Run only this fold (repeatable; default all): e.g. one process per GPU."),
    ] = None,
    omp_nthreads: OmpThreads = None,
) -> None:
    """Cross-validate every model and direction with the same splits and budget; paired statistics vs PDS.

    Example: pds benchmark prepared bench --folds 5 --models pds,unet,ddpm
    """
    from pds_mri.workflows.benchmark import BenchmarkOptions, run_benchmark

    _limit_threads(omp_nthreads)
    names = _split_names(models)
    run_benchmark(
        BenchmarkOptions(
            prepared_dir=prepared_dir,
            out_dir=out_dir,
            folds=folds,
            models=names,
            preset=preset,
            config=config,
            seed=seed,
            only_folds=tuple(fold or ()),
        )
    )


@app.command(cls=_Command)
def diagnose(
    prepared_dir: Annotated[Path, typer.Argument(help="The prepared directory (real maps, diagnoses).")],
    out_dir: Annotated[Path, typer.Argument(help="Where diagnosis.json and diagnosis.md go.")],
    run: Annotated[
        Path | None, typer.Option("--run", help="A run directory whose test-split syntheses to use.")
    ] = None,
    benchmark_dir: Annotated[
        Path | None, typer.Option("--benchmark", help="A benchmark directory: out-of-fold syntheses and folds.")
    ] = None,
    classifier: Annotated[
        str,
        typer.Option(
            "--classifier",
            parser=_member_of(CLASSIFIERS),
            metavar="|".join(CLASSIFIERS.names()),
            help=f"{CLASSIFIERS.describe()}.",
        ),
    ] = CLASSIFIERS.default,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Folds when no benchmark fixes them.")] = 5,
    missing: Annotated[
        float, typer.Option("--missing", min=0.0, max=0.9, help="Share of subjects lacking one modality.")
    ] = 0.3,
    seed: SeedOption = 0,
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            callback=_model_names,
            metavar="MODEL,...",
            help="Benchmark synthesis models (repeat or comma-separate; default pds,unet): the first for the "
            "hybrid rows, all as imputers.",
        ),
    ] = None,
    omp_nthreads: OmpThreads = None,
) -> None:
    """NC / MCI / AD classification with real, hybrid and imputed maps (subject-level CV, no leakage).

    Example: pds diagnose prepared diag --benchmark bench --classifier pca-svm
    """
    from pds_mri.workflows.diagnose import SYNTH_MODELS, DiagnoseOptions, run_diagnose

    _limit_threads(omp_nthreads)
    names = _split_names(models) or SYNTH_MODELS
    run_diagnose(
        DiagnoseOptions(
            prepared_dir=prepared_dir,
            out_dir=out_dir,
            run_dir=run,
            benchmark_dir=benchmark_dir,
            classifier=classifier,
            folds=folds,
            missing=missing,
            seed=seed,
            models=names,
        )
    )


@app.command(cls=_Command)
def report(
    path: Annotated[
        Path,
        typer.Argument(help="A run, benchmark, evaluation, synthesis or prepared directory (QC pages per subject)."),
    ],
    out: Annotated[Path | None, typer.Option("--out", help="HTML file (default: PATH/report.html).")] = None,
    synthesis: Annotated[
        list[Path] | None,
        typer.Option(
            "--synthesis", metavar="DIR", help="A run report also shows this synthesis directory (repeatable)."
        ),
    ] = None,
) -> None:
    """A self-contained HTML report (images embedded; opens offline).

    Example: pds report bench
    Example: pds report prepared   (index + one QC page per subject in prepared/report_subjects/)
    """
    from pds_mri.workflows.report import run_report

    run_report(path, out, syntheses=synthesis or ())


@app.command(cls=_Command)
def demo(
    out_dir: Annotated[Path, typer.Argument(help="Where the demo writes everything.")] = Path("demo_output"),
    subjects: Annotated[int, typer.Option("--subjects", min=3, help="Simulated subjects.")] = 12,
    seed: SeedOption = 0,
) -> None:
    """Run the whole pipeline end to end on a small simulated cohort (a few minutes on 2 CPU cores)."""
    from pds_mri.workflows.demo import run_demo

    run_demo(out_dir, subjects, seed)


def main(argv: list[str] | None = None) -> int:
    """Entry point, callable from tests: returns the exit status instead of exiting."""
    args = bids_app_argv(sys.argv[1:] if argv is None else list(argv))
    _state["debug"] = "--debug" in args
    if "--quiet" in args and "--verbose" in args:
        typer.secho("pds: error: --quiet and --verbose contradict each other; choose one", err=True, fg="red")
        return 2
    configure_logging(_state["debug"], ("--verbose" in args) - ("--quiet" in args))
    previous = _raise_on_sigterm()
    try:
        # with standalone_mode=False Typer *returns* 130 for Ctrl-C (it raises Exit(130) and click hands back
        # its code), so the return value is the exit status whenever it is a non-zero int
        result = app(args, standalone_mode=False, prog_name="pds")
        if isinstance(result, int) and not isinstance(result, bool) and result != 0:
            if result == 130:
                typer.echo("Interrupted.", err=True)
            return result
    except StoppedBySignal as exc:  # not an error: checkpointed, to be resumed (e.g. requeued by SLURM)
        typer.secho(f"pds: {exc}", err=True, fg=typer.colors.YELLOW)
        return exc.exit_code
    except PdsError as exc:
        if _state["debug"]:
            raise
        typer.secho(f"pds: error: {exc}", err=True, fg=typer.colors.RED)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        return 130
    except Terminated as exc:
        typer.echo("Terminated.", err=True)
        return 128 + exc.signum
    except Exception as exc:  # usage errors (bad option values) arrive here with standalone_mode=False
        if hasattr(exc, "show") and isinstance(code := getattr(exc, "exit_code", None), int):
            exc.show()
            return code
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


#: Flags of the whole tool that may be typed anywhere, also after the subcommand (moved before it).
ANYWHERE_FLAGS = ("--debug", "--verbose", "--quiet")
#: Options that take several space-separated values, as BIDS Apps (argparse nargs="+") do.
MULTI_VALUE_OPTIONS = ("--participant-label", "--session-label")


def bids_app_argv(args: list[str]) -> list[str]:
    """The BIDS-App habits Typer has no syntax for: `--participant-label 01 02` becomes one option per value
    (values run until the next token starting with '-'; put positional arguments first, as in BIDS Apps), and
    `--debug`, `--verbose` and `--quiet` are accepted anywhere, also after the subcommand."""
    end = args.index("--") if "--" in args else len(args)
    out: list[str] = [flag for flag in ANYWHERE_FLAGS if flag in args[:end]]
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            out += args[i:]
            break
        if token in MULTI_VALUE_OPTIONS:
            i += 1
            values = []
            while i < len(args) and not args[i].startswith("-"):
                values.append(args[i])
                i += 1
            out += [x for v in values for x in (token, v)] or [token]
            continue
        if token not in ANYWHERE_FLAGS:
            out.append(token)
        i += 1
    return out


def _raise_on_sigterm() -> Any:
    """SIGTERM raises `Terminated` (the default action would kill the process before any cleanup); returns
    the previous handler, or None where handlers cannot be set (not the main thread)."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated(signum)

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # signal only works in the main thread
        return None


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
