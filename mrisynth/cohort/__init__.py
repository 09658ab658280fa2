"""The cohort and its folds, shared by every stage after preprocessing (below synthesis and classify).

- :mod:`~mrisynth.cohort.table`: one row per participant from the validated manifest, labels and tasks;
- :mod:`~mrisynth.cohort.splits`: the fold files (train / val / test) every stage reads;
- :mod:`~mrisynth.cohort.subjects`: each subject's preprocessed files and whether it has a real PET, for
  the Snakemake rules (from raw manifest rows) and for the commands (from the cohort table).
"""
