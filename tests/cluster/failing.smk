# A job that fails inside its SLURM allocation: the cluster test expects Snakemake to report it as
# failed after one retry, the retry asking for twice the memory (the attempt-scaling convention).


rule all:
    input:
        "never.txt",


rule fail_on_purpose:
    output:
        "never.txt",
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 300 * attempt,
        runtime=5,
    shell:
        'echo "SLURM_JOB_ID=$SLURM_JOB_ID mem_mb={resources.mem_mb}" >> jobs.txt; exit 3'
