# The 2D generative model zoo benchmark on scikit-learn's digits: `snakemake zoo` (not part of `all`).
ZOO = f"{RESULTS}/zoo"
ZOO_MODELS = list(config["zoo"]["models"])


wildcard_constraints:
    zoo_model="|".join(ZOO_MODELS) or "none",


rule zoo:
    """Benchmark table (FID/KID/precision/recall/IS per model) and one sample grid per model."""
    input:
        f"{ZOO}/benchmark.csv",
        f"{ZOO}/benchmark.md",
        expand(f"{ZOO}/runs/{{zoo_model}}/samples.png", zoo_model=ZOO_MODELS),


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
