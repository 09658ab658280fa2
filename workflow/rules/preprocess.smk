# Preprocessing: each subject's T1 (and PET) to template space with QC, one job per subject; the cohort
# QC table; for the phantom, the hidden true PET of PET-less subjects with the subject's T1 transform.
# File names come from mrisynth.preprocess.outputs.subject_paths, shared with every later stage.
import re

from mrisynth.preprocess.outputs import qc_summary_paths, strip_prefix, subject_paths

PP_CFG = config["preprocess"]
PP_ROWS = {
    (strip_prefix(r["participant_id"], "sub"), strip_prefix(r["session_id"], "ses")): r
    for r in ROWS
}
PP_WITH_PET = [k for k, r in PP_ROWS.items() if (r.get("pet") or "").strip()]
PP_T1_ONLY = [k for k in PP_ROWS if k not in PP_WITH_PET]
PP_PATHS = [subject_paths(RESULTS, *k, PP_CFG["resolution_mm"]) for k in PP_ROWS]
# output patterns with {sub} and {ses} wildcards
PP = subject_paths(RESULTS, "{sub}", "{ses}", PP_CFG["resolution_mm"])
PP_LOG = f"{RESULTS}/logs/preprocess/sub-{{sub}}_ses-{{ses}}"
QC_SUMMARY = qc_summary_paths(RESULTS)
# the templates on the grid, made once and read by every preprocessing job
PP_TEMPLATES = f"{RESULTS}/preprocess/templates_res-{PP_CFG['resolution_mm']}mm.npz"


def subjects_regex(keys):
    """Regex for the {sub} wildcard that matches only these (participant, session) pairs.

    The first {sub} of every output path is the folder sub-<id>/ses-<s>/, so a lookahead on the
    session there tells subjects with and without PET apart even when one participant has both.
    """
    alternatives = [f"{re.escape(s)}(?=/ses-{re.escape(t)}/)" for s, t in keys]
    return "|".join(alternatives) or "(?!)"


def manifest_input(column):
    def get(wildcards):
        value = PP_ROWS[(wildcards.sub, wildcards.ses)][column].strip()
        return value if Path(value).is_absolute() else str(MANIFEST_DIR / value)

    return get


TRUTH_DIR = str(MANIFEST_DIR / config["phantom"]["truth_dir"])


def truth_pet_input(wildcards):
    """The hidden true PET, where mrisynth.phantom.build writes it (same layout as the raw PET)."""
    from types import SimpleNamespace

    from mrisynth.phantom.build import image_path

    row = PP_ROWS[(wildcards.sub, wildcards.ses)]
    ids = SimpleNamespace(
        participant_id=row["participant_id"], session_id=row["session_id"]
    )
    return str(image_path(TRUTH_DIR, ids, "pet"))


def preprocess_targets():
    """Cohort QC outputs (which need every subject) and, for the phantom, the preprocessed true PETs."""
    targets = [str(p) for p in QC_SUMMARY.values()]
    if config["cohort"] == "phantom":
        targets += [
            str(p.truth_pet) for p, k in zip(PP_PATHS, PP_ROWS) if k in PP_T1_ONLY
        ]
    return targets


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
    shell:
        "mrisynth preprocess-templates --out {output} {CONFIG_ARGS} > {log} 2>&1"


rule preprocess_t1_pet:
    """T1 and PET of one subject to template space: N4, affine + rigid MI registration, SUVR, QC."""
    input:
        t1=manifest_input("t1w"),
        pet=manifest_input("pet"),
        templates=PP_TEMPLATES,
    output:
        [str(p) for p in PP.t1_outputs + PP.pet_outputs],
    log:
        f"{PP_LOG}.log",
    benchmark:
        f"{PP_LOG}.benchmark.tsv"
    wildcard_constraints:
        sub=subjects_regex(PP_WITH_PET),
    threads: 1  # registration runs single-threaded (bitwise repeatable); 2 jobs share 2 cores
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=15,
    params:
        preprocess=PP_CFG,
        seed=config["seed"],
        out_dir=str(PP.dir),
    shell:
        "mrisynth preprocess --t1 {input.t1} --pet {input.pet} --out-dir {params.out_dir} "
        "--participant {wildcards.sub} --session {wildcards.ses} --threads {threads} "
        "--templates {input.templates} {CONFIG_ARGS} > {log} 2>&1"


rule preprocess_t1:
    """T1 of a subject without PET to template space: N4, affine MI registration, QC."""
    input:
        t1=manifest_input("t1w"),
        templates=PP_TEMPLATES,
    output:
        [str(p) for p in PP.t1_outputs],
    log:
        f"{PP_LOG}.log",
    benchmark:
        f"{PP_LOG}.benchmark.tsv"
    wildcard_constraints:
        sub=subjects_regex(PP_T1_ONLY),
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=15,
    params:
        preprocess=PP_CFG,
        seed=config["seed"],
        out_dir=str(PP.dir),
    shell:
        "mrisynth preprocess --t1 {input.t1} --out-dir {params.out_dir} "
        "--participant {wildcards.sub} --session {wildcards.ses} --threads {threads} "
        "--templates {input.templates} {CONFIG_ARGS} > {log} 2>&1"


rule qc_summary:
    """Cohort QC table: failures below the config thresholds and outliers, reported loudly."""
    input:
        qc=[str(p.qc_json) for p in PP_PATHS],
        images=[str(p.t1) for p in PP_PATHS]
        + [str(PP_PATHS[i].pet) for i, k in enumerate(PP_ROWS) if k in PP_WITH_PET],
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
    shell:
        "mrisynth qc-summary --qc {input.qc} --tsv {output.tsv} --json {output.json} "
        "--mosaic {output.mosaic} {CONFIG_ARGS} > {log} 2>&1"


if config["cohort"] == "phantom":

    rule preprocess_truth:
        """Phantom only: the hidden true PET of a PET-less subject, with the subject's saved T1 transform.

        Read by synthesis evaluation (and the mri+true_pet upper-bound scenario) only.
        """
        input:
            t1=manifest_input("t1w"),
            t1_xfm=str(PP.t1_xfm),
            truth=TRUTH_DIR,
            templates=PP_TEMPLATES,
        output:
            [str(p) for p in PP.truth_outputs],
        log:
            f"{PP_LOG}_truth.log",
        wildcard_constraints:
            sub=subjects_regex(PP_T1_ONLY),
        threads: 1
        resources:
            mem_mb=lambda wildcards, attempt: 3000 * attempt,
            runtime=15,
        params:
            pet=truth_pet_input,
            preprocess=PP_CFG,
            seed=config["seed"],
            out_dir=str(PP.truth_dir),
        shell:
            "mrisynth preprocess --t1 {input.t1} --pet {params.pet} --t1-transform {input.t1_xfm} "
            "--out-dir {params.out_dir} --participant {wildcards.sub} --session {wildcards.ses} "
            "--threads {threads} --templates {input.templates} {CONFIG_ARGS} > {log} 2>&1"
