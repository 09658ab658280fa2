# Diagnosis stage: subject-level folds, landmarks per fold, classifiers per scenario, the scenario table.

FOLDS = list(range(config["split"]["k"]))


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
