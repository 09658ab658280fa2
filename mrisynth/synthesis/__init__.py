"""3D MRI -> FDG-PET synthesis on the template grid: per-fold training of the zoo's Pix2Pix and CycleGAN,
imputation of every missing PET, and evaluation against baselines (see ``mrisynth/synthesis/README``
sections in the module docstrings)."""
