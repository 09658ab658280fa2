# The pipeline's one-page HTML report: cohort, QC, synthesis, scenario table, ROC curves, landmarks, time.


rule report:
    """results/report/index.html, self-contained: every stage's tables and figures on one page."""
    input:
        manifest=MANIFEST_OUT,
        cohort_mosaic=str(report_dag.cohort_mosaic(RESULTS)),
        qc=str(QC_SUMMARY["tsv"]),
        synthesis=synthesis_dag.evaluation_targets(config, RESULTS),
        calibration=synthesis_dag.calibration_targets(config, RESULTS),
        scenarios=str(SUMMARY_DIR / "scenarios.csv"),
        roc=str(SUMMARY_DIR / "roc.png"),
        landmarks=expand(
            f"{RESULTS}/classify/landmarks/fold-{{fold}}/landmarks.png", fold=FOLDS
        ),
    output:
        report(
            str(report_dag.index_html(RESULTS)),
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
        results=lambda wildcards, input: cohort_dag.results_root(input.manifest),
        config=CONFIG_ARGS,
    shell:
        "mrisynth report --results {params.results} --out {output} {params.config} > {log} 2>&1"
