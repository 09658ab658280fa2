# Diagnosis stage: subject-level folds, landmarks per fold, classifiers per scenario, the scenario table.
from mrisynth.classify.scenarios import IMPUTED_PREFIX, scenario_names
from mrisynth.preprocess.outputs import subject_paths
from mrisynth.synthesis.paths import imputation_done

FOLDS = list(range(config["split"]["k"]))
SCENARIOS = scenario_names(config)
CLASSIFIERS = config["classify"]["classifiers"]
PREPROCESSED = [
    subject_paths(
        RESULTS,
        r["participant_id"],
        r["session_id"],
        config["preprocess"]["resolution_mm"],
    )
    for r in ROWS
]
HAS_PET = [bool((r.get("pet") or "").strip()) for r in ROWS]


wildcard_constraints:
    fold=r"\d+",
    classifier="landmark|regional",
    scenario=r"mri[a-z0-9_+]*",


def scenario_inputs(wildcards):
    """Images a scenario reads besides the T1: real PET, hidden true PET or a model's imputed PET."""
    if wildcards.scenario == "mri_only":
        return []
    files = [str(p.pet) for p, has in zip(PREPROCESSED, HAS_PET) if has]
    if wildcards.scenario == "mri+true_pet":
        files += [str(p.truth_pet) for p, has in zip(PREPROCESSED, HAS_PET) if not has]
    if wildcards.scenario.startswith(IMPUTED_PREFIX):
        model = wildcards.scenario[len(IMPUTED_PREFIX) :]
        files.append(str(imputation_done(RESULTS, model, int(wildcards.fold))))
    return files


def landmark_input(wildcards):
    if wildcards.classifier != "landmark":
        return []
    return f"{RESULTS}/classify/landmarks/fold-{wildcards.fold}/landmarks.csv"


def all_predictions():
    return expand(
        f"{RESULTS}/classify/{{classifier}}/{{scenario}}/fold-{{fold}}/predictions.csv",
        classifier=CLASSIFIERS,
        scenario=SCENARIOS,
        fold=FOLDS,
    )


rule split:
    """Subject-level, diagnosis-stratified k folds (train / val / test), one JSON per fold."""
    input:
        manifest=f"{RESULTS}/manifest/manifest.csv",
        config=CONFIGFILES,
    output:
        expand(f"{RESULTS}/splits/fold-{{fold}}.json", fold=FOLDS),
    log:
        f"{RESULTS}/logs/split.log",
    benchmark:
        f"{RESULTS}/benchmarks/split/split.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "mrisynth split --manifest {input.manifest} --out-dir {RESULTS}/splits {CONFIG_ARGS} > {log} 2>&1"


rule landmarks:
    """Landmarks of one fold: voxel-wise t-test on the fold's training subjects' T1, local extrema."""
    input:
        split=f"{RESULTS}/splits/fold-{{fold}}.json",
        manifest=f"{RESULTS}/manifest/manifest.csv",
        t1=[str(p.t1) for p in PREPROCESSED],
        mask=[str(p.mask) for p in PREPROCESSED],
    output:
        csv=f"{RESULTS}/classify/landmarks/fold-{{fold}}/landmarks.csv",
        tmap=f"{RESULTS}/classify/landmarks/fold-{{fold}}/tmap.nii.gz",
        png=report(
            f"{RESULTS}/classify/landmarks/fold-{{fold}}/landmarks.png",
            caption="../report/landmarks.rst",
            category="Classification",
            subcategory="Landmarks",
        ),
    log:
        f"{RESULTS}/logs/landmarks/fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/landmarks/fold-{{fold}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "mrisynth landmarks --fold {wildcards.fold} --split {input.split} --manifest {input.manifest} "
        "--results {RESULTS} --out-dir $(dirname {output.csv}) {CONFIG_ARGS} > {log} 2>&1"


rule classify:
    """One classifier, one scenario, one fold: train on the fold's training population, predict its test subjects."""
    input:
        split=f"{RESULTS}/splits/fold-{{fold}}.json",
        manifest=f"{RESULTS}/manifest/manifest.csv",
        t1=[str(p.t1) for p in PREPROCESSED],
        mask=[str(p.mask) for p in PREPROCESSED],
        pet=scenario_inputs,
        landmarks=landmark_input,
    output:
        f"{RESULTS}/classify/{{classifier}}/{{scenario}}/fold-{{fold}}/predictions.csv",
    log:
        f"{RESULTS}/logs/classify/{{classifier}}/{{scenario}}/fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/classify/{{classifier}}_{{scenario}}_fold-{{fold}}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "mrisynth classify --fold {wildcards.fold} --scenario '{wildcards.scenario}' "
        "--classifier {wildcards.classifier} --split {input.split} --manifest {input.manifest} "
        "--results {RESULTS} --out-dir $(dirname {output}) --threads {threads} {CONFIG_ARGS} > {log} 2>&1"


rule summarize:
    """The scenario table over all folds (mean +- sd, pooled bootstrap CIs, paired p vs mri_only) and ROC curves."""
    input:
        all_predictions(),
    output:
        csv=f"{RESULTS}/summary/scenarios.csv",
        md=f"{RESULTS}/summary/scenarios.md",
        predictions=f"{RESULTS}/summary/predictions.csv",
        roc=report(
            f"{RESULTS}/summary/roc.png",
            caption="../report/roc.rst",
            category="Classification",
            subcategory="Scenarios",
        ),
    log:
        f"{RESULTS}/logs/summarize.log",
    benchmark:
        f"{RESULTS}/benchmarks/summarize/summarize.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "mrisynth summarize --predictions {input} --out-dir $(dirname {output.csv}) {CONFIG_ARGS} > {log} 2>&1"
