# The cohort: build the phantom (demo only), validate the manifest, and show the cohort.


if config["cohort"] == "phantom":

    rule phantom:
        """Materialise the phantom cohort listed in the manifest (deterministic from the seed)."""
        output:
            t1w=manifest_files("t1w"),
            pet=manifest_files("pet"),
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
        shell:
            "mrisynth phantom {CONFIG_ARGS} --manifest {MANIFEST} --threads {threads} > {log} 2>&1"


rule validate:
    """Check the manifest and every file it names; write the normalised table."""
    input:
        manifest=MANIFEST,
        t1w=manifest_files("t1w"),
        pet=manifest_files("pet"),
    output:
        f"{RESULTS}/manifest/manifest.csv",
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
        f"{RESULTS}/manifest/manifest.csv",
    output:
        html=f"{RESULTS}/report/cohort.html",
        mosaic=report(
            f"{RESULTS}/report/cohort_mosaic.png",
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
