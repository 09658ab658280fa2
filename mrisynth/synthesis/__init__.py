"""3D MRI -> FDG-PET synthesis on the template grid: per-fold training of Pix2Pix, CycleGAN (the zoo's) and
the feature-consistent FGAN with its ablation (``train``), imputation of every missing PET, once or as K
draws (``impute``), evaluation against baselines (``evaluate``) and calibration of the draws
(``calibration``). Each model's settings are read in ``settings``; file names live in ``paths``, the rules'
inputs and targets in ``dag``; which subjects serve what in ``subjects``."""
