# The 2D generative model zoo benchmark on scikit-learn's digits: `snakemake zoo` (not part of `all`).
ZOO = f"{RESULTS}/zoo"
ZOO_MODELS = list(config["zoo"]["models"])
ZOO_LIKELIHOOD = f"{ZOO}/likelihood"
ZOO_LIKELIHOOD_RUNS = list(config["zoo"]["likelihood_runs"])


wildcard_constraints:
    zoo_model="|".join(ZOO_MODELS) or "none",
    zoo_lrun="|".join(ZOO_LIKELIHOOD_RUNS) or "none",


rule zoo:
    """Benchmark table (FID/KID/precision/recall/IS per model) and one sample grid per model; for the
    likelihood models (binarised 8x8 digits) the test-loss/likelihood table, the quality/diversity table,
    sample grids and training curves."""
    input:
        f"{ZOO}/benchmark.csv",
        f"{ZOO}/benchmark.md",
        expand(f"{ZOO}/runs/{{zoo_model}}/samples.png", zoo_model=ZOO_MODELS),
        f"{ZOO_LIKELIHOOD}/likelihood_table.md",
        f"{ZOO_LIKELIHOOD}/quality_table.md",
        expand(
            f"{ZOO_LIKELIHOOD}/runs/{{zoo_lrun}}/curve.png",
            zoo_lrun=ZOO_LIKELIHOOD_RUNS,
        ),
        f"{ZOO}/modes/table.md",


rule zoo_modes:
    """Mode-collapse benchmark on 2D Gaussian mixtures (ring of 8, grid of 25), 5 seeds per model: the
    seed's "Different GANs" table measured, with a verdict per row, and sample panels per model.
    """
    output:
        table=f"{ZOO}/modes/table.md",
        json=f"{ZOO}/modes/table.json",
        ring=f"{ZOO}/modes/samples_ring8.png",
        grid=f"{ZOO}/modes/samples_grid25.png",
    log:
        f"{RESULTS}/logs/zoo/modes.log",
    threads: 2
    resources:
        mem_mb=3000,
        runtime=240,
    shell:
        "mrisynth zoo modes --out {ZOO}/modes --workers {threads} --no-progress > {log} 2>&1"


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
    shell:
        "mrisynth zoo classifier --out {output} --threads {threads} {CONFIG_ARGS} > {log} 2>&1"


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
    shell:
        "mrisynth zoo train --model {wildcards.zoo_model} --out {ZOO}/runs/{wildcards.zoo_model} "
        "--threads {threads} --no-progress {CONFIG_ARGS} > {log} 2>&1"


rule zoo_evaluate:
    """Score every run in the classifier's feature space; CSV and Markdown table."""
    input:
        classifier=f"{ZOO}/classifier.pt",
        runs=expand(f"{ZOO}/runs/{{zoo_model}}/run.json", zoo_model=ZOO_MODELS),
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
    shell:
        "mrisynth zoo evaluate --runs {params.runs} --classifier {input.classifier} --table {output.table} "
        "--markdown {output.markdown} --threads {threads} {CONFIG_ARGS} > {log} 2>&1"


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
    shell:
        "mrisynth zoo likelihood-train --run {wildcards.zoo_lrun} --out {ZOO_LIKELIHOOD}/runs/{wildcards.zoo_lrun} "
        "--threads {threads} --no-progress {CONFIG_ARGS} > {log} 2>&1"


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
    shell:
        "mrisynth zoo likelihood-evaluate --runs {params.runs} --classifier {input.classifier} "
        "--out-dir {ZOO_LIKELIHOOD} --threads {threads} {CONFIG_ARGS} > {log} 2>&1"
