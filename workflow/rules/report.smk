# The pipeline's one-page HTML report: cohort, QC, synthesis, scenario table, ROC curves, landmarks, time.
from mrisynth.preprocess.outputs import qc_summary_paths
from mrisynth.synthesis.paths import calibration_dir, evaluation_dir


rule report:
    """results/report/index.html, self-contained: every stage's tables and figures on one page."""
    input:
        manifest=f"{RESULTS}/manifest/manifest.csv",
        cohort_mosaic=f"{RESULTS}/report/cohort_mosaic.png",
        qc=str(qc_summary_paths(RESULTS)["tsv"]),
        synthesis=(
            [str(evaluation_dir(RESULTS) / "summary.csv")]
            if config["synthesis"]["models"]
            else []
        ),
        calibration=(
            [str(calibration_dir(RESULTS) / "summary.csv")] if SYNTH_SAMPLED else []
        ),
        scenarios=f"{RESULTS}/summary/scenarios.csv",
        roc=f"{RESULTS}/summary/roc.png",
        landmarks=expand(
            f"{RESULTS}/classify/landmarks/fold-{{fold}}/landmarks.png", fold=FOLDS
        ),
    output:
        report(
            f"{RESULTS}/report/index.html",
            caption="../report/index.rst",
            category="Report",
        ),
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/report.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        results=RESULTS,
        config=CONFIG_ARGS,
    shell:
        "mrisynth report --results {params.results} --out {output} {params.config} > {log} 2>&1"
