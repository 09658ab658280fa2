"""3D MRI -> FDG-PET synthesis on the template grid: per-fold training of the zoo's Pix2Pix and CycleGAN
(``train``), imputation of every missing PET (``impute``), evaluation against baselines (``evaluate``).
File names live in ``paths``; which subjects serve what in ``subjects``."""
