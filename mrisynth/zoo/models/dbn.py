"""Deep belief network: RBMs stacked greedily, sampled top-down.

p(v, h1, ..., hL) = p(h_{L-1}, h_L) prod_k p(h_{k-1} | h_k): the top two layers form an RBM (an
undirected associative memory), the layers below are sigmoid belief nets with the RBMs' generative
weights. Training is greedy (Hinton, Osindero & Teh 2006): ``steps_per_layer`` trainer steps fit RBM 1
on the data, the next ``steps_per_layer`` fit RBM 2 on RBM 1's hidden probabilities, and so on; the last
layer keeps training after its share. No fine-tuning (up-down / wake-sleep) is done.
"""

from __future__ import annotations

import math

import torch

from mrisynth.zoo.base import ZooModel
from mrisynth.zoo.models._pixels import from_unit, image_shape_of, split_batch, to_unit
from mrisynth.zoo.models.rbm import RBMNet, cd_free_energy_gap
from mrisynth.zoo.registry import register


@register("dbn")
class DBN(ZooModel):
    def __init__(
        self,
        image_shape: tuple[int, ...] = (1, 8, 8),
        image_size: int | None = None,
        hidden: tuple[int, ...] = (64, 64),
        k: int = 1,
        steps_per_layer: int = 1000,
        lr: float = 0.05,
        momentum: float = 0.5,
        weight_decay: float = 1e-4,
        sample_steps: int = 1000,
        seed: int | None = None,
    ):
        super().__init__(seed=seed)
        self.image_shape = image_shape_of(image_shape, image_size)
        self.k, self.steps_per_layer, self.sample_steps = k, steps_per_layer, sample_steps
        sizes = [math.prod(self.image_shape), *hidden]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            name = f"rbm{i + 1}"
            self.nets[name] = RBMNet(n_in, n_out)
            self.optimizers[name] = torch.optim.SGD(
                self.nets[name].parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
            )

    @property
    def rbms(self) -> list[RBMNet]:
        return [self.nets[f"rbm{i + 1}"] for i in range(len(self.nets))]

    def layer_in_training(self) -> int:
        return min(self.iteration // self.steps_per_layer, len(self.rbms) - 1)

    def train_step(self, batch) -> dict[str, float]:
        x, _ = split_batch(self.prepare(batch))
        self.train()
        layer = self.layer_in_training()
        with torch.no_grad():
            v = to_unit(x)
            for rbm in self.rbms[:layer]:
                v = rbm.hidden_probs(v)  # the layer below's posterior means are the data of this layer
        logs = self.optimize(f"rbm{layer + 1}", lambda d: self._layer_loss(layer, d), v)
        return {"layer": float(layer + 1), **logs}

    def _layer_loss(self, layer: int, v: torch.Tensor):
        rbm = self.rbms[layer]
        with torch.no_grad():
            negatives, _ = rbm.gibbs(v, self.k)
        gap = cd_free_energy_gap(rbm, v, negatives)
        return gap, {"free_energy_gap": gap.detach()}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic up pass to the top layer and down pass back (means), as [-1, 1] images."""
        v = to_unit(x)
        for rbm in self.rbms:
            v = rbm.hidden_probs(v)
        for rbm in reversed(self.rbms):
            v = rbm.visible_mean(v)
        return from_unit(v, self.image_shape)

    @torch.no_grad()
    def reconstruction_mse(self, x: torch.Tensor) -> float:
        """Mean squared error of :meth:`reconstruct` in [0, 1] pixel units."""
        return float((((self.reconstruct(x) - x) / 2) ** 2).mean())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, steps: int | None = None) -> torch.Tensor:
        """Gibbs chain in the top RBM, then one ancestral pass down (sampled hiddens, mean visibles)."""
        top = self.rbms[-1]
        h, mean = top.gibbs(top.random_visible(n, generator), steps or self.sample_steps, generator)
        for rbm in reversed(self.rbms[:-1]):
            h, mean = rbm.sample_visible(h, generator=generator)
        return from_unit(mean, self.image_shape)
