# Synthesis stage: per fold and model, train the 3D generator, impute PET, then evaluate all folds at once.
# File names come from mrisynth.synthesis.paths, inputs and targets from mrisynth.synthesis.dag.
from mrisynth.cohort.splits import split_path
from mrisynth.synthesis import dag as synthesis_dag
from mrisynth.synthesis import paths as synthesis_paths
from mrisynth.synthesis.settings import configured_models, sampled_models

SYNTH_MODELS = configured_models(config)
SYNTH_FOLDS = list(range(config["split"]["k"]))
SYNTH_SAMPLED = sampled_models(
    config
)  # multiple imputation: models imputed with K >= 2 draws
SYNTH_EVAL = synthesis_paths.evaluation_dir(RESULTS)
SYNTH_CALIB = synthesis_paths.calibration_dir(RESULTS)
SYNTH_GPUS = int(config["synthesis"]["gpus_per_job"])
SYNTH_TRAIN = synthesis_dag.train_command(SYNTH_GPUS)
SYNTH_SPLITS = [str(split_path(RESULTS, k)) for k in SYNTH_FOLDS]
SYNTH_DONE = [
    str(synthesis_paths.imputation_done(RESULTS, m, k))
    for m in SYNTH_MODELS
    for k in SYNTH_FOLDS
]


wildcard_constraints:
    synth_model="|".join(SYNTH_MODELS) or "none",


rule train_synthesis:
    """Train one 3D generator on one fold's training subjects with T1 and PET (resumes from train/)."""
    input:
        split=str(split_path(RESULTS, "{fold}")),
        manifest=MANIFEST_OUT,
        preprocessed=PREPROCESSED,
        config=CONFIGFILES,
    output:
        str(synthesis_paths.best_checkpoint(RESULTS, "{synth_model}", "{fold}")),
    log:
        f"{RESULTS}/logs/synthesis/train_{{synth_model}}_fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesis/train_{{synth_model}}_fold-{{fold}}.tsv"
    # one thread: the demo's Pix2Pix step costs 0.23 CPU-s on 1 thread and 0.39 on 2 (1.19x faster wall for
    # 1.68x the CPU), and the DAG has a training job per model and fold to run side by side
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=60,
        gpu=SYNTH_GPUS if config["device"] == "cuda" else 0,  # the SLURM plugin's --gpus
    params:
        synth_train=SYNTH_TRAIN,
        results=lambda wildcards, input: cohort_dag.results_root(input.manifest),
        config_args=CONFIG_ARGS,
    shell:
        "{params.synth_train} train-synthesis --model {wildcards.synth_model} --fold {wildcards.fold} --results {params.results} "
        "--threads {threads} --no-progress {params.config_args} > {log} 2>&1"


rule impute:
    """Synthetic PET for every PET-less subject of the fold and every test subject (K draws: recalibrated on
    the fold's validation subjects' real PET when synthesis.calibration.recalibrate)."""
    input:
        checkpoint=str(
            synthesis_paths.best_checkpoint(RESULTS, "{synth_model}", "{fold}")
        ),
        split=str(split_path(RESULTS, "{fold}")),
        manifest=MANIFEST_OUT,
        preprocessed=PREPROCESSED,
    output:
        table=str(synthesis_paths.imputation_done(RESULTS, "{synth_model}", "{fold}")),
        folder=directory(
            str(synthesis_paths.imputed_dir(RESULTS, "{synth_model}", "{fold}"))
        ),
    log:
        f"{RESULTS}/logs/synthesis/impute_{{synth_model}}_fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesis/impute_{{synth_model}}_fold-{{fold}}.tsv"
    threads: 1  # as train_synthesis: one job per model and fold, side by side
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=20,
    params:
        results=lambda wildcards, input: cohort_dag.results_root(input.manifest),
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth impute --model {wildcards.synth_model} --fold {wildcards.fold} --results {params.results} "
        "--threads {threads} --no-progress {params.config_args} > {log} 2>&1"


rule evaluate_synthesis:
    """MAE / PSNR / SSIM, FID / KID and Wilcoxon tests of every model vs the baselines, all folds."""
    input:
        imputed=SYNTH_DONE,
        splits=SYNTH_SPLITS,
        manifest=MANIFEST_OUT,
        preprocessed=PREPROCESSED,
    output:
        summary=str(SYNTH_EVAL / "summary.csv"),
        metrics=str(SYNTH_EVAL / "metrics.csv"),
        tests=str(SYNTH_EVAL / "tests.csv"),
        table=str(SYNTH_EVAL / "table.md"),
        figures=[str(SYNTH_EVAL / f"fig-{m}.png") for m in SYNTH_MODELS],
    log:
        f"{RESULTS}/logs/synthesis/evaluate.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesis/evaluate.tsv"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=30,
    params:
        results=lambda wildcards, input: cohort_dag.results_root(input.manifest),
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth evaluate-synthesis --results {params.results} --threads {threads} --no-progress "
        "{params.config_args} > {log} 2>&1"


rule calibrate_synthesis:
    """Coverage of the 90% predictive interval and sd-|error| correlation of the K imputations (test subjects)."""
    input:
        imputed=[
            str(synthesis_paths.imputation_done(RESULTS, m, k))
            for m in SYNTH_SAMPLED
            for k in SYNTH_FOLDS
        ],
        splits=SYNTH_SPLITS,
        manifest=MANIFEST_OUT,
        preprocessed=PREPROCESSED,
    output:
        summary=str(SYNTH_CALIB / "summary.csv"),
        table=str(SYNTH_CALIB / "table.md"),
        figures=[str(SYNTH_CALIB / f"fig-uncertainty-{m}.png") for m in SYNTH_SAMPLED],
    log:
        f"{RESULTS}/logs/synthesis/calibrate.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesis/calibrate.tsv"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=20,
    params:
        results=lambda wildcards, input: cohort_dag.results_root(input.manifest),
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth calibrate-synthesis --results {params.results} --no-progress {params.config_args} > {log} 2>&1"
