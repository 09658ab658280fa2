# Preprocessing: each subject's T1 (and PET) to template space with QC, one job per subject; the cohort
# QC table; for the phantom, the hidden true PET of PET-less subjects with the subject's T1 transform.
# File names come from mrisynth.preprocess.outputs, inputs and targets from mrisynth.preprocess.dag.
from mrisynth.preprocess import dag as preprocess_dag
from mrisynth.preprocess.outputs import qc_summary_paths, subject_paths, templates_path

PP_CFG = config["preprocess"]
PP_WITH_PET = [s for s in SUBJECTS if s.has_pet]
PP_T1_ONLY = [s for s in SUBJECTS if not s.has_pet]
# output patterns with {sub} and {ses} wildcards
PP = subject_paths(RESULTS, "{sub}", "{ses}", PP_CFG["resolution_mm"])
PP_LOG = f"{RESULTS}/logs/preprocess/sub-{{sub}}_ses-{{ses}}"
QC_SUMMARY = qc_summary_paths(RESULTS)
# Later stages read every subject's preprocessed images but depend on the QC table, whose job waits for all
# of them (one path instead of ~1,000 on the benchmark cohort: Snakemake stats every input of every ready job
# in each scheduling round, several rounds a second while jobs run).
PREPROCESSED = str(QC_SUMMARY["tsv"])
# the templates on the grid, made once and read by every preprocessing job
PP_TEMPLATES = str(templates_path(RESULTS, PP_CFG["resolution_mm"]))
TRUTH_DIR = str(MANIFEST_DIR / config["phantom"]["truth_dir"])


rule preprocess_templates:
    """The MNI152 T1 template and brain mask at the working resolution and on the grid, for every job."""
    output:
        PP_TEMPLATES,
    log:
        f"{RESULTS}/logs/preprocess/templates.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        preprocess=PP_CFG,
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth preprocess-templates --out {output} {params.config_args} > {log} 2>&1"


rule preprocess_t1_pet:
    """T1 and PET of one subject to template space: N4, affine + rigid MI registration, SUVR, QC."""
    input:
        t1=preprocess_dag.manifest_input(ROWS, MANIFEST_DIR, "t1w"),
        pet=preprocess_dag.manifest_input(ROWS, MANIFEST_DIR, "pet"),
        templates=PP_TEMPLATES,
    output:
        [str(p) for p in PP.t1_outputs + PP.pet_outputs],
    log:
        f"{PP_LOG}.log",
    benchmark:
        f"{PP_LOG}.benchmark.tsv"
    wildcard_constraints:
        sub=preprocess_dag.subjects_regex(PP_WITH_PET),
    threads: 1  # registration runs single-threaded (bitwise repeatable); 2 jobs share 2 cores
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=15,
    params:
        preprocess=PP_CFG,
        seed=config["seed"],
        out_dir=str(PP.dir),
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth preprocess --t1 {input.t1} --pet {input.pet} --out-dir {params.out_dir} "
        "--participant {wildcards.sub} --session {wildcards.ses} --threads {threads} "
        "--templates {input.templates} {params.config_args} > {log} 2>&1"


rule preprocess_t1:
    """T1 of a subject without PET to template space: N4, affine MI registration, QC."""
    input:
        t1=preprocess_dag.manifest_input(ROWS, MANIFEST_DIR, "t1w"),
        templates=PP_TEMPLATES,
    output:
        [str(p) for p in PP.t1_outputs],
    log:
        f"{PP_LOG}.log",
    benchmark:
        f"{PP_LOG}.benchmark.tsv"
    wildcard_constraints:
        sub=preprocess_dag.subjects_regex(PP_T1_ONLY),
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=15,
    params:
        preprocess=PP_CFG,
        seed=config["seed"],
        out_dir=str(PP.dir),
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth preprocess --t1 {input.t1} --out-dir {params.out_dir} "
        "--participant {wildcards.sub} --session {wildcards.ses} --threads {threads} "
        "--templates {input.templates} {params.config_args} > {log} 2>&1"


rule qc_summary:
    """Cohort QC table: failures below the config thresholds and outliers, reported loudly. It stands for the
    whole preprocessed cohort (PREPROCESSED): it runs once every subject's images exist.
    """
    input:
        qc=[str(s.paths.qc_json) for s in SUBJECTS],
        images=[str(s.paths.t1) for s in SUBJECTS]
        + [str(s.paths.mask) for s in SUBJECTS]
        + [str(s.paths.pet) for s in PP_WITH_PET],
        truth=(
            [str(s.paths.truth_pet) for s in PP_T1_ONLY]
            if config["cohort"] == "phantom"
            else []
        ),
    output:
        tsv=str(QC_SUMMARY["tsv"]),
        json=str(QC_SUMMARY["json"]),
        mosaic=report(
            str(QC_SUMMARY["mosaic"]),
            caption="../report/preprocess_qc.rst",
            category="Preprocessing",
        ),
    log:
        f"{RESULTS}/logs/preprocess/qc_summary.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        qc=PP_CFG["qc"],
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth qc-summary --qc {input.qc} --tsv {output.tsv} --json {output.json} "
        "--mosaic {output.mosaic} {params.config_args} > {log} 2>&1"


if config["cohort"] == "phantom":

    rule preprocess_truth:
        """Phantom only: the hidden true PET of a PET-less subject, with the subject's saved T1 transform.

        Read by synthesis evaluation (and the mri+true_pet upper-bound scenario) only.
        """
        input:
            t1=preprocess_dag.manifest_input(ROWS, MANIFEST_DIR, "t1w"),
            t1_xfm=str(PP.t1_xfm),
            truth=TRUTH_DIR,
            templates=PP_TEMPLATES,
        output:
            [str(p) for p in PP.truth_outputs],
        log:
            f"{PP_LOG}_truth.log",
        wildcard_constraints:
            sub=preprocess_dag.subjects_regex(PP_T1_ONLY),
        threads: 1
        resources:
            mem_mb=lambda wildcards, attempt: 3000 * attempt,
            runtime=15,
        params:
            pet=preprocess_dag.truth_pet_input(TRUTH_DIR),
            preprocess=PP_CFG,
            seed=config["seed"],
            out_dir=str(PP.truth_dir),
            config_args=CONFIG_ARGS,
        shell:
            "mrisynth preprocess --t1 {input.t1} --pet {params.pet} --t1-transform {input.t1_xfm} "
            "--out-dir {params.out_dir} --participant {wildcards.sub} --session {wildcards.ses} "
            "--threads {threads} --templates {input.templates} {params.config_args} > {log} 2>&1"
