# Diagnosis stage: subject-level folds, landmarks per fold, classifiers per scenario, the scenario table.
from mrisynth.classify.dag import (
    classifier_scenarios,
    fold_inputs,
    image_inputs,
    prediction_files,
    preprocessed,
)
from mrisynth.classify.scenarios import scenario_names
from mrisynth.preprocess.outputs import qc_summary_paths

FOLDS = list(range(config["split"]["k"]))
SCENARIOS = scenario_names(config)
CLASSIFIERS = config["classify"]["classifiers"]
CLASSIFY_SUBJECTS = preprocessed(RESULTS, ROWS, config["preprocess"]["resolution_mm"])


wildcard_constraints:
    fold=r"\d+",
    classifier="landmark|regional|dsnet",
    scenario=r"mri[a-z0-9_+]*",


rule split:
    """Subject-level, diagnosis-stratified k folds (train / val / test), one JSON per fold."""
    input:
        manifest=f"{RESULTS}/manifest/manifest.csv",
        qc=str(qc_summary_paths(RESULTS)["json"]),
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
    params:
        out_dir=f"{RESULTS}/splits",
        config=CONFIG_ARGS,
    shell:
        "mrisynth split --manifest {input.manifest} --qc-summary {input.qc} --out-dir {params.out_dir} "
        "{params.config} > {log} 2>&1"


rule landmarks:
    """Landmarks of one fold: voxel-wise t-test on the fold's training subjects' T1, local extrema."""
    input:
        split=f"{RESULTS}/splits/fold-{{fold}}.json",
        manifest=f"{RESULTS}/manifest/manifest.csv",
        t1=image_inputs(CLASSIFY_SUBJECTS, "t1"),
        mask=image_inputs(CLASSIFY_SUBJECTS, "mask"),
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
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=10,
    params:
        results=RESULTS,
        config=CONFIG_ARGS,
    shell:
        "mrisynth landmarks --fold {wildcards.fold} --split {input.split} --manifest {input.manifest} "
        "--results {params.results} --out-dir $(dirname {output.csv}) {params.config} > {log} 2>&1"


rule classify:
    """One neural classifier, one fold, every scenario in one process (torch starts once): train on the fold's
    training population, predict its test subjects."""
    input:
        split=f"{RESULTS}/splits/fold-{{fold}}.json",
        manifest=f"{RESULTS}/manifest/manifest.csv",
        t1=image_inputs(CLASSIFY_SUBJECTS, "t1"),
        mask=image_inputs(CLASSIFY_SUBJECTS, "mask"),
        pet=lambda w: fold_inputs(
            w.classifier, SCENARIOS, int(w.fold), RESULTS, CLASSIFY_SUBJECTS
        ),
        landmarks=lambda w: (
            f"{RESULTS}/classify/landmarks/fold-{w.fold}/landmarks.csv"
            if w.classifier == "landmark"
            else []
        ),
    output:
        expand(
            f"{RESULTS}/classify/{{{{classifier}}}}/{{scenario}}/fold-{{{{fold}}}}/predictions.csv",
            scenario=classifier_scenarios("landmark", SCENARIOS),
        ),
    log:
        f"{RESULTS}/logs/classify/{{classifier}}/fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/classify/{{classifier}}_fold-{{fold}}.tsv"
    wildcard_constraints:
        classifier="landmark|dsnet",
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=120,
    params:
        results=RESULTS,
        config=CONFIG_ARGS,
        scenarios=" ".join(
            f"'{s}'" for s in classifier_scenarios("landmark", SCENARIOS)
        ),
    shell:
        "mrisynth classify --fold {wildcards.fold} --scenario {params.scenarios} "
        "--classifier {wildcards.classifier} --split {input.split} --manifest {input.manifest} "
        "--results {params.results} --threads {threads} {params.config} > {log} 2>&1"


rule classify_regional:
    """The regional baseline, one fold, every scenario (multiple imputation included) in one process."""
    input:
        split=f"{RESULTS}/splits/fold-{{fold}}.json",
        manifest=f"{RESULTS}/manifest/manifest.csv",
        t1=image_inputs(CLASSIFY_SUBJECTS, "t1"),
        mask=image_inputs(CLASSIFY_SUBJECTS, "mask"),
        pet=lambda w: fold_inputs(
            "regional", SCENARIOS, int(w.fold), RESULTS, CLASSIFY_SUBJECTS
        ),
    output:
        expand(
            f"{RESULTS}/classify/regional/{{scenario}}/fold-{{{{fold}}}}/predictions.csv",
            scenario=classifier_scenarios("regional", SCENARIOS),
        ),
    log:
        f"{RESULTS}/logs/classify/regional/fold-{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/classify/regional_fold-{{fold}}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=30,
    params:
        results=RESULTS,
        config=CONFIG_ARGS,
        scenarios=" ".join(
            f"'{s}'" for s in classifier_scenarios("regional", SCENARIOS)
        ),
    shell:
        "mrisynth classify --fold {wildcards.fold} --scenario {params.scenarios} "
        "--classifier regional --split {input.split} --manifest {input.manifest} "
        "--results {params.results} --threads {threads} {params.config} > {log} 2>&1"


rule summarize:
    """The scenario table over all folds (mean +- sd, pooled bootstrap CIs, paired p vs mri_only) and ROC curves."""
    input:
        prediction_files(RESULTS, CLASSIFIERS, SCENARIOS, FOLDS),
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
        forest=f"{RESULTS}/summary/forest.png",
    log:
        f"{RESULTS}/logs/summarize.log",
    benchmark:
        f"{RESULTS}/benchmarks/summarize/summarize.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=CONFIG_ARGS,
    shell:
        "mrisynth summarize --predictions {input} --out-dir $(dirname {output.csv}) {params.config} > {log} 2>&1"
