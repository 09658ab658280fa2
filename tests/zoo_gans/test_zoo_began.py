"""BEGAN's starting point and equilibrium dynamics (the digits benchmark collapsed with FID 1066, k_t ~ 0)."""

import torch

from mrisynth.zoo import registry
from mrisynth.zoo_bench.tables import model_config
from mrisynth.zoo_bench.datasets import digits_dataset
from mrisynth.zoo.train import Trainer, TrainConfig


def test_generator_output_depends_on_the_noise_at_init():
    """With torch's default conv init the eight conv + ELU layers shrank G(z) to one image for every z
    (per-pixel sd over z below 0.01 at the benchmark's sizes, 0.13 with Xavier); BEGAN's loss has no
    term that spreads it again."""
    model = registry.build("began", **model_config("began", 16, 1000, 0))
    with torch.no_grad():
        out = model.nets["G"](model.noise(256))
    assert out.std(0).mean() > 0.05


def test_k_leaves_zero_and_the_convergence_measure_falls():
    """A tiny run (8x8 digits, lambda_k 0.05): G starts easy to reconstruct (L(G(z)) < gamma L(x)), so k_t
    rises from 0 and D starts to push the fakes away (L(G(z)) rises); the convergence measure
    M = L(x) + |gamma L(x) - L(G(z))| falls."""
    torch.manual_seed(0)
    model = registry.build("began", image_size=8, nf=8, hidden=16, latent_dim=8, lambda_k=0.05, lr=5e-4, seed=0)
    history = Trainer(model, digits_dataset("images", 8), TrainConfig(steps=120, batch_size=32, seed=0, progress=False)).fit()
    m = [row["convergence"] for row in history]
    k = [row["k"] for row in history]
    l_fake = [row["l_fake"] for row in history]
    assert k[0] < k[10] < k[20] and max(k) > 0.1
    assert max(l_fake[20:60]) > 2 * l_fake[10]  # k > 0: D reconstructs the fakes worse
    assert sum(m[-20:]) / 20 < 0.6 * sum(m[:20]) / 20
