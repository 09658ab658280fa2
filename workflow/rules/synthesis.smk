# Synthesis stage: per fold and model, train the 3D generator, impute PET, then evaluate all folds at once.
from mrisynth.preprocess.outputs import subject_paths
from mrisynth.synthesis.paths import calibration_dir, evaluation_dir, imputation_done

SYNTH_MODELS = list(config["synthesis"]["models"])
SYNTH_FOLDS = list(range(config["split"]["k"]))
SYNTH_SUBJECTS = [
    (
        subject_paths(
            RESULTS,
            r["participant_id"],
            r["session_id"],
            config["preprocess"]["resolution_mm"],
        ),
        bool((r.get("pet") or "").strip()),
    )
    for r in ROWS
]
SYNTH_EVAL = evaluation_dir(RESULTS)
# multiple imputation: models imputed with K >= 2 draws (mean, sd, draws), whose calibration is measured
SYNTH_SAMPLED = [
    m for m in SYNTH_MODELS if int(config["synthesis"]["samples"].get(m, 0)) >= 2
]
SYNTH_CALIB = calibration_dir(RESULTS)
# more than one GPU per training job: torchrun starts one data-parallel (DDP) process per GPU
SYNTH_GPUS = int(config["synthesis"]["gpus_per_job"])
SYNTH_TRAIN = (
    f"torchrun --standalone --nproc_per_node {SYNTH_GPUS} --no-python mrisynth"
    if SYNTH_GPUS > 1
    else "mrisynth"
)


def synthesis_inputs(kind):
    """Preprocessed files of every subject (``t1``, ``mask``), with real PET (``pet``), or the hidden
    true PET of the PET-less ones (``truth``, phantom only)."""
    if kind == "pet":
        return [str(p.pet) for p, has in SYNTH_SUBJECTS if has]
    if kind == "truth":
        if config["cohort"] != "phantom":
            return []
        return [str(p.truth_pet) for p, has in SYNTH_SUBJECTS if not has]
    return [str(getattr(p, kind)) for p, _ in SYNTH_SUBJECTS]


wildcard_constraints:
    synth_model="|".join(SYNTH_MODELS) or "none",


rule train_synthesis:
    """Train one 3D generator on one fold's training subjects with T1 and PET (resumes from train/)."""
    input:
        split=f"{RESULTS}/splits/fold-{{fold}}.json",
        manifest=f"{RESULTS}/manifest/manifest.csv",
        t1=synthesis_inputs("t1"),
        mask=synthesis_inputs("mask"),
        pet=synthesis_inputs("pet"),
        config=CONFIGFILES,
    output:
        f"{RESULTS}/synthesis/{{synth_model}}/fold-{{fold}}/best.pt",
    log:
        f"{RESULTS}/logs/synthesis/train_{{synth_model}}_fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesis/train_{{synth_model}}_fold-{{fold}}.tsv"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=60,
        gpu=SYNTH_GPUS if config["device"] == "cuda" else 0,  # the SLURM plugin's --gpus
    shell:
        "{SYNTH_TRAIN} train-synthesis --model {wildcards.synth_model} --fold {wildcards.fold} --results {RESULTS} "
        "--threads {threads} --no-progress {CONFIG_ARGS} > {log} 2>&1"


rule impute:
    """Synthetic PET for every PET-less subject of the fold and every test subject (K draws: recalibrated on
    the fold's validation subjects' real PET when synthesis.calibration.recalibrate)."""
    input:
        checkpoint=f"{RESULTS}/synthesis/{{synth_model}}/fold-{{fold}}/best.pt",
        split=f"{RESULTS}/splits/fold-{{fold}}.json",
        manifest=f"{RESULTS}/manifest/manifest.csv",
        t1=synthesis_inputs("t1"),
        mask=synthesis_inputs("mask"),
        pet=synthesis_inputs("pet"),
    output:
        table=f"{RESULTS}/synthesis/{{synth_model}}/fold-{{fold}}/imputed.tsv",
        folder=directory(f"{RESULTS}/synthesis/{{synth_model}}/fold-{{fold}}/imputed"),
    log:
        f"{RESULTS}/logs/synthesis/impute_{{synth_model}}_fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesis/impute_{{synth_model}}_fold-{{fold}}.tsv"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=20,
    shell:
        "mrisynth impute --model {wildcards.synth_model} --fold {wildcards.fold} --results {RESULTS} "
        "--threads {threads} --no-progress {CONFIG_ARGS} > {log} 2>&1"


rule evaluate_synthesis:
    """MAE / PSNR / SSIM, FID / KID and Wilcoxon tests of every model vs the baselines, all folds."""
    input:
        imputed=[
            str(imputation_done(RESULTS, m, f))
            for m in SYNTH_MODELS
            for f in SYNTH_FOLDS
        ],
        splits=expand(f"{RESULTS}/splits/fold-{{fold}}.json", fold=SYNTH_FOLDS),
        manifest=f"{RESULTS}/manifest/manifest.csv",
        t1=synthesis_inputs("t1"),
        mask=synthesis_inputs("mask"),
        pet=synthesis_inputs("pet"),
        truth=synthesis_inputs("truth"),
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
    shell:
        "mrisynth evaluate-synthesis --results {RESULTS} --threads {threads} --no-progress "
        "{CONFIG_ARGS} > {log} 2>&1"


rule calibrate_synthesis:
    """Coverage of the 90% predictive interval and sd-|error| correlation of the K imputations (test subjects)."""
    input:
        imputed=[
            str(imputation_done(RESULTS, m, f))
            for m in SYNTH_SAMPLED
            for f in SYNTH_FOLDS
        ],
        splits=expand(f"{RESULTS}/splits/fold-{{fold}}.json", fold=SYNTH_FOLDS),
        manifest=f"{RESULTS}/manifest/manifest.csv",
        t1=synthesis_inputs("t1"),
        mask=synthesis_inputs("mask"),
        pet=synthesis_inputs("pet"),
        truth=synthesis_inputs("truth"),
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
    shell:
        "mrisynth calibrate-synthesis --results {RESULTS} --no-progress {CONFIG_ARGS} > {log} 2>&1"


def synthesis_targets():
    """The synthesis table (which needs every model's imputation on every fold), if models are configured,
    and the calibration table of the models imputed with K >= 2 draws."""
    calibration = [str(SYNTH_CALIB / "summary.csv")] if SYNTH_SAMPLED else []
    return ([str(SYNTH_EVAL / "summary.csv")] if SYNTH_MODELS else []) + calibration
