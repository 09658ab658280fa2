"""The zoo's experiments, apart from the library (:mod:`mrisynth.zoo`: models, nets, losses, trainer,
registry): the 2D datasets (digits, mode-collapse toys, phantom slices), the feature extractors the sample
metrics use, the benchmark tables (GAN family, mode collapse, likelihood) and the ``mrisynth zoo`` CLI.
The library never imports this package."""
