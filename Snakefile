# mrisynth: MRI -> PET imputation and MCI conversion prediction.
# Run `snakemake --cores 2` (default config: the offline phantom cohort) or pass --configfile.
from snakemake.utils import min_version, validate

from mrisynth.config import check_layout

min_version("9.0")


configfile: "configs/demo.yaml"


check_layout(
    config
)  # an old-layout config: an error naming the new keys, before the schema's
validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/synthesis.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/zoo.smk"


rule all:
    default_target: True
    input:
        all_targets(),
