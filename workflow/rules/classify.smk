# Diagnosis stage: landmarks per fold, classifiers per (classifier, fold) over every scenario, the scenario
# table. Inputs and targets come from mrisynth.classify.dag.
from mrisynth.classify.scenarios import scenario_names
from mrisynth.cohort.splits import split_path

FOLDS = list(range(config["split"]["k"]))
SCENARIOS = scenario_names(config)
CLASSIFIERS = config["classify"]["classifiers"]
SUMMARY_DIR = classify_dag.summary_dir(RESULTS)


wildcard_constraints:
    fold=r"\d+",
    classifier="landmark|regional|dsnet",
    scenario=r"mri[a-z0-9_+]*",


rule landmarks:
    """Landmarks of one fold: voxel-wise t-test on the fold's training subjects' T1, local extrema."""
    input:
        split=str(split_path(RESULTS, "{fold}")),
        manifest=MANIFEST_OUT,
        preprocessed=PREPROCESSED,
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
        results=lambda wildcards, input: cohort_dag.results_root(input.manifest),
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth landmarks --fold {wildcards.fold} --split {input.split} --manifest {input.manifest} "
        "--results {params.results} --out-dir $(dirname {output.csv}) {params.config_args} > {log} 2>&1"


rule classify:
    """One neural classifier, one fold, every scenario in one process (torch starts once): train on the fold's
    training population, predict its test subjects."""
    input:
        split=str(split_path(RESULTS, "{fold}")),
        manifest=MANIFEST_OUT,
        preprocessed=PREPROCESSED,
        imputed=lambda w: classify_dag.fold_inputs(
            w.classifier, SCENARIOS, int(w.fold), RESULTS
        ),
        landmarks=lambda w: (
            f"{RESULTS}/classify/landmarks/fold-{w.fold}/landmarks.csv"
            if w.classifier == "landmark"
            else []
        ),
    output:
        expand(
            f"{RESULTS}/classify/{{{{classifier}}}}/{{scenario}}/fold-{{{{fold}}}}/predictions.csv",
            scenario=classify_dag.classifier_scenarios("landmark", SCENARIOS),
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
        results=lambda wildcards, input: cohort_dag.results_root(input.manifest),
        config_args=CONFIG_ARGS,
        scenarios=" ".join(
            f"'{s}'" for s in classify_dag.classifier_scenarios("landmark", SCENARIOS)
        ),
    shell:
        "mrisynth classify --fold {wildcards.fold} --scenario {params.scenarios} "
        "--classifier {wildcards.classifier} --split {input.split} --manifest {input.manifest} "
        "--results {params.results} --threads {threads} {params.config_args} > {log} 2>&1"


rule classify_regional:
    """The regional baseline, one fold, every scenario (multiple imputation included) in one process."""
    input:
        split=str(split_path(RESULTS, "{fold}")),
        manifest=MANIFEST_OUT,
        preprocessed=PREPROCESSED,
        imputed=lambda w: classify_dag.fold_inputs(
            "regional", SCENARIOS, int(w.fold), RESULTS
        ),
    output:
        expand(
            f"{RESULTS}/classify/regional/{{scenario}}/fold-{{{{fold}}}}/predictions.csv",
            scenario=classify_dag.classifier_scenarios("regional", SCENARIOS),
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
        results=lambda wildcards, input: cohort_dag.results_root(input.manifest),
        config_args=CONFIG_ARGS,
        scenarios=" ".join(
            f"'{s}'" for s in classify_dag.classifier_scenarios("regional", SCENARIOS)
        ),
    shell:
        "mrisynth classify --fold {wildcards.fold} --scenario {params.scenarios} "
        "--classifier regional --split {input.split} --manifest {input.manifest} "
        "--results {params.results} --threads {threads} {params.config_args} > {log} 2>&1"


rule summarize:
    """The scenario table over all folds (mean +- sd, pooled bootstrap CIs, paired p vs mri_only) and ROC curves."""
    input:
        classify_dag.prediction_files(RESULTS, CLASSIFIERS, SCENARIOS, FOLDS),
    output:
        csv=str(SUMMARY_DIR / "scenarios.csv"),
        md=str(SUMMARY_DIR / "scenarios.md"),
        predictions=str(SUMMARY_DIR / "predictions.csv"),
        roc=report(
            str(SUMMARY_DIR / "roc.png"),
            caption="../report/roc.rst",
            category="Classification",
            subcategory="Scenarios",
        ),
        forest=str(SUMMARY_DIR / "forest.png"),
    log:
        f"{RESULTS}/logs/summarize.log",
    benchmark:
        f"{RESULTS}/benchmarks/summarize/summarize.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth summarize --predictions {input} --out-dir $(dirname {output.csv}) {params.config_args} > {log} 2>&1"
