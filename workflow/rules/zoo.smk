# The 2D generative model zoo benchmark on scikit-learn's digits and on axial slices of the manifest's T1
# volumes (the phantom): `snakemake zoo` (not part of `all`). On the phantom the translation models
# (Pix2Pix, CycleGAN) map preprocessed T1 slices to the same planes of the subject's real PET (subjects with
# PET only; both on the template grid), scored in the feature space of a PET-slice classifier.
ZOO = f"{RESULTS}/zoo"
ZOO_MODELS = list(config["zoo"]["models"])
ZOO_DATASETS = list(config["zoo"]["datasets"])
ZOO_PHANTOM = f"{ZOO}/phantom"
# run folders per dataset: digits in {ZOO}/runs/<model> (as before), phantom in {ZOO}/phantom/runs/<model>
ZOO_RUNS = {"digits": f"{ZOO}/runs", "phantom": f"{ZOO_PHANTOM}/runs"}
ZOO_CLASSIFIERS = {
    "digits": f"{ZOO}/classifier.pt",
    "phantom": f"{ZOO_PHANTOM}/classifier.pt",
    "phantom-target": f"{ZOO_PHANTOM}/target_classifier.pt",
}
ZOO_TRANSLATION = ("pix2pix", "cyclegan")
# feature spaces (classifiers) the table needs: phantom translations are scored in the PET-slice space
ZOO_DOMAINS = list(ZOO_DATASETS)
if "phantom" in ZOO_DATASETS and set(ZOO_MODELS) & set(ZOO_TRANSLATION):
    ZOO_DOMAINS.append("phantom-target")
# preprocessed (T1, real PET) pairs on the template grid: the phantom translation data
ZOO_PAIRS = [(str(s.paths.t1), str(s.paths.pet)) for s in SUBJECTS if s.has_pet]
ZOO_LIKELIHOOD = f"{ZOO}/likelihood"
ZOO_LIKELIHOOD_RUNS = list(config["zoo"]["likelihood_runs"])


wildcard_constraints:
    zoo_model="|".join(ZOO_MODELS) or "none",
    zoo_lrun="|".join(ZOO_LIKELIHOOD_RUNS) or "none",


rule zoo:
    """Benchmark table (FID/KID/precision/recall/IS per model and dataset) and one sample grid per model
    and dataset; for the likelihood models (binarised 8x8 digits) the test-loss/likelihood table, the
    quality/diversity table, sample grids and training curves; the mode-collapse table.
    """
    input:
        f"{ZOO}/benchmark.csv",
        f"{ZOO}/benchmark.md",
        [f"{ZOO_RUNS[d]}/{m}/samples.png" for d in ZOO_DATASETS for m in ZOO_MODELS],
        f"{ZOO_LIKELIHOOD}/likelihood_table.md",
        f"{ZOO_LIKELIHOOD}/quality_table.md",
        expand(
            f"{ZOO_LIKELIHOOD}/runs/{{zoo_lrun}}/curve.png",
            zoo_lrun=ZOO_LIKELIHOOD_RUNS,
        ),
        f"{ZOO}/modes/table.md",


rule zoo_modes:
    """Mode-collapse benchmark on 2D Gaussian mixtures (ring of 8, grid of 25): the seed's "Different GANs"
    table measured, with a verdict per row, and sample panels per model. Budget (seeds, generator updates,
    datasets, rows) from config zoo.modes; runs.jsonl in the output folder makes a rerun resume.
    """
    input:
        CONFIGFILES,
    output:
        table=f"{ZOO}/modes/table.md",
        json=f"{ZOO}/modes/table.json",
        panels=expand(
            f"{ZOO}/modes/samples_{{mixture}}.png",
            mixture=config["zoo"]["modes"]["datasets"],
        ),
    log:
        f"{RESULTS}/logs/zoo/modes.log",
    threads: 2
    resources:
        mem_mb=3000,
        runtime=240,
    params:
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth zoo modes --out $(dirname {output.table}) --workers {threads} --no-progress {params.config_args} > {log} 2>&1"


rule zoo_classifier:
    """Digits classifier whose penultimate features define the sample-quality metrics."""
    input:
        CONFIGFILES,
    output:
        f"{ZOO}/classifier.pt",
    log:
        f"{RESULTS}/logs/zoo/classifier.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth zoo classifier --out {output} --threads {threads} {params.config_args} > {log} 2>&1"


rule zoo_train:
    """Train one model on digits (resumes from the run folder's checkpoint.pt after an interruption)."""
    input:
        CONFIGFILES,
    output:
        info=f"{ZOO}/runs/{{zoo_model}}/run.json",
        grid=f"{ZOO}/runs/{{zoo_model}}/samples.png",
    log:
        f"{RESULTS}/logs/zoo/train_{{zoo_model}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth zoo train --model {wildcards.zoo_model} --out $(dirname {output.info}) "
        "--threads {threads} --no-progress {params.config_args} > {log} 2>&1"


rule zoo_slices:
    """Axial slices of every T1 volume of the manifest: the 2D phantom dataset of the benchmark."""
    input:
        CONFIGFILES,
        volumes=cohort_dag.manifest_files(ROWS, MANIFEST_DIR, "t1w"),
    output:
        f"{ZOO_PHANTOM}/slices.npz",
    log:
        f"{RESULTS}/logs/zoo/slices.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth zoo slices --volumes {input.volumes} --out {output} {params.config_args} > {log} 2>&1"


rule zoo_pairs:
    """Axial slices of each preprocessed T1 with the same planes of its subject's real PET (template grid):
    the paired phantom data of Pix2Pix and CycleGAN (images = T1, targets = PET).
    """
    input:
        CONFIGFILES,
        t1=[t1 for t1, _ in ZOO_PAIRS],
        pet=[pet for _, pet in ZOO_PAIRS],
    output:
        f"{ZOO_PHANTOM}/pairs.npz",
    log:
        f"{RESULTS}/logs/zoo/pairs.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth zoo slices --volumes {input.t1} --targets {input.pet} --out {output} {params.config_args} > {log} 2>&1"


rule zoo_phantom_target_classifier:
    """Slice-level classifier of the PET slices: the feature space of the phantom translations."""
    input:
        CONFIGFILES,
        slices=f"{ZOO_PHANTOM}/pairs.npz",
    output:
        f"{ZOO_PHANTOM}/target_classifier.pt",
    log:
        f"{RESULTS}/logs/zoo/phantom_target_classifier.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth zoo classifier --data phantom --targets --slices {input.slices} --out {output} "
        "--threads {threads} {params.config_args} > {log} 2>&1"


rule zoo_phantom_classifier:
    """Slice-level classifier whose penultimate features define the metrics on the phantom slices."""
    input:
        CONFIGFILES,
        slices=f"{ZOO_PHANTOM}/slices.npz",
    output:
        f"{ZOO_PHANTOM}/classifier.pt",
    log:
        f"{RESULTS}/logs/zoo/phantom_classifier.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth zoo classifier --data phantom --slices {input.slices} --out {output} --threads {threads} "
        "{params.config_args} > {log} 2>&1"


rule zoo_phantom_train:
    """Train one model on the phantom slices (resumes from the run folder's checkpoint.pt); Pix2Pix and
    CycleGAN on the T1 -> PET pairs.
    """
    input:
        CONFIGFILES,
        # translations train on the (T1, PET) pairs, the other models on the T1 slices of every subject
        slices=lambda w: f"{ZOO_PHANTOM}/{'pairs' if w.zoo_model in ZOO_TRANSLATION else 'slices'}.npz",
    output:
        info=f"{ZOO_PHANTOM}/runs/{{zoo_model}}/run.json",
        grid=f"{ZOO_PHANTOM}/runs/{{zoo_model}}/samples.png",
    log:
        f"{RESULTS}/logs/zoo/phantom_train_{{zoo_model}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth zoo train --data phantom --slices {input.slices} --model {wildcards.zoo_model} "
        "--out $(dirname {output.info}) --threads {threads} --no-progress {params.config_args} > {log} 2>&1"


rule zoo_evaluate:
    """Score every run in its dataset's classifier feature space; CSV and Markdown table."""
    input:
        classifiers=[ZOO_CLASSIFIERS[d] for d in ZOO_DOMAINS],
        runs=[f"{ZOO_RUNS[d]}/{m}/run.json" for d in ZOO_DATASETS for m in ZOO_MODELS],
    output:
        table=f"{ZOO}/benchmark.csv",
        markdown=f"{ZOO}/benchmark.md",
    log:
        f"{RESULTS}/logs/zoo/evaluate.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        runs=lambda wildcards, input: " ".join(str(Path(p).parent) for p in input.runs),
        classifiers=" ".join(f"{d}={ZOO_CLASSIFIERS[d]}" for d in ZOO_DOMAINS),
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth zoo evaluate --runs {params.runs} --classifier {params.classifiers} --table {output.table} "
        "--markdown {output.markdown} --threads {threads} {params.config_args} > {log} 2>&1"


rule zoo_likelihood_train:
    """Train one likelihood-model run (RBM, DBN, DBM, DAE, GSN, VAE, PixelCNN, PixelRNN) on binarised digits."""
    input:
        CONFIGFILES,
    output:
        info=f"{ZOO_LIKELIHOOD}/runs/{{zoo_lrun}}/run.json",
        curve=f"{ZOO_LIKELIHOOD}/runs/{{zoo_lrun}}/curve.png",
    log:
        f"{RESULTS}/logs/zoo/likelihood_train_{{zoo_lrun}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth zoo likelihood-train --run {wildcards.zoo_lrun} --out $(dirname {output.info}) "
        "--threads {threads} --no-progress {params.config_args} > {log} 2>&1"


rule zoo_likelihood_evaluate:
    """Table 1 (own test loss, exact NLL / AIS / bounds / Parzen) and table 2 (precision, recall, FID)."""
    input:
        classifier=f"{ZOO}/classifier.pt",
        runs=expand(
            f"{ZOO_LIKELIHOOD}/runs/{{zoo_lrun}}/run.json",
            zoo_lrun=ZOO_LIKELIHOOD_RUNS,
        ),
    output:
        table1=f"{ZOO_LIKELIHOOD}/likelihood_table.csv",
        table1_md=f"{ZOO_LIKELIHOOD}/likelihood_table.md",
        table2=f"{ZOO_LIKELIHOOD}/quality_table.csv",
        table2_md=f"{ZOO_LIKELIHOOD}/quality_table.md",
        grids=expand(
            f"{ZOO_LIKELIHOOD}/samples/{{zoo_lrun}}.png", zoo_lrun=ZOO_LIKELIHOOD_RUNS
        ),
    log:
        f"{RESULTS}/logs/zoo/likelihood_evaluate.log",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        runs=lambda wildcards, input: " ".join(str(Path(p).parent) for p in input.runs),
        config_args=CONFIG_ARGS,
    shell:
        "mrisynth zoo likelihood-evaluate --runs {params.runs} --classifier {input.classifier} "
        "--out-dir $(dirname {output.table1}) --threads {threads} {params.config_args} > {log} 2>&1"
