# The cohort: build the phantom (demo only), validate the manifest, show the cohort, and split it into folds.
# File names and inputs come from mrisynth.cohort.dag (and the cohort page's from mrisynth.report.dag).
from mrisynth.preprocess.outputs import qc_summary_paths

if config["cohort"] == "phantom":

    rule phantom:
        """Materialise the phantom cohort listed in the manifest (deterministic from the seed)."""
        output:
            t1w=cohort_dag.manifest_files(ROWS, MANIFEST_DIR, "t1w"),
            pet=cohort_dag.manifest_files(ROWS, MANIFEST_DIR, "pet"),
            truth=directory(str(MANIFEST_DIR / config["phantom"]["truth_dir"])),
        log:
            f"{RESULTS}/logs/phantom.log",
        threads: 4  # the first job, nothing else can run while it does; capped at --cores
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            # a change of the phantom settings (not of other sections) re-runs the phantom
            settings={"seed": config["seed"], **config["phantom"]},
            config_args=CONFIG_ARGS,
            manifest=MANIFEST,
        shell:
            "mrisynth phantom {params.config_args} --manifest {params.manifest} --threads {threads} > {log} 2>&1"


rule validate:
    """Check the manifest and every file it names; write the normalised table."""
    input:
        manifest=MANIFEST,
        t1w=cohort_dag.manifest_files(ROWS, MANIFEST_DIR, "t1w"),
        pet=cohort_dag.manifest_files(ROWS, MANIFEST_DIR, "pet"),
    output:
        MANIFEST_OUT,
    log:
        f"{RESULTS}/logs/validate.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "mrisynth validate --manifest {input.manifest} --out {output} > {log} 2>&1"


rule cohort_report:
    """HTML page with the cohort table and a mosaic of raw T1 and PET of a few subjects."""
    input:
        MANIFEST_OUT,
    output:
        html=str(report_dag.cohort_html(RESULTS)),
        mosaic=report(
            str(report_dag.cohort_mosaic(RESULTS)),
            caption="../report/cohort_mosaic.rst",
            category="Cohort",
        ),
    log:
        f"{RESULTS}/logs/cohort_report.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "mrisynth cohort-report --manifest {input} --html {output.html} --mosaic {output.mosaic} > {log} 2>&1"


rule split:
    """Subject-level, diagnosis-stratified k folds (train / val / test), one JSON per fold."""
    input:
        manifest=MANIFEST_OUT,
        qc=str(qc_summary_paths(RESULTS)["json"]),
        config=CONFIGFILES,
    output:
        cohort_dag.split_files(RESULTS, config["split"]["k"]),
    log:
        f"{RESULTS}/logs/split.log",
    benchmark:
        f"{RESULTS}/benchmarks/split/split.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        out_dir=lambda wildcards, output: str(Path(output[0]).parent),
        config=CONFIG_ARGS,
    shell:
        "mrisynth split --manifest {input.manifest} --qc-summary {input.qc} --out-dir {params.out_dir} "
        "{params.config} > {log} 2>&1"
