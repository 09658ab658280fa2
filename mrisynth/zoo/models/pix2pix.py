"""Pix2Pix (Isola et al. 2017): paired translation A -> B with a U-Net (or ResNet) generator, a
conditional PatchGAN on cat(A, B) and lambda * L1. 2D or 3D; the 3D synthesis stage builds on it.

Stochastic variant (noise outsourcing, as :mod:`mrisynth.zoo.models.conditional_sampler`): the generator
takes injected noise (``noise='channels'|'layers'``, :mod:`mrisynth.zoo.nets.noise`) so that G(eta, a) for
independent eta can draw from B | A. The L1 term alone pulls every draw to the conditional median (the
noise gets ignored, Isola et al. 2017), so ``diversity='energy'`` replaces it by the two-sample energy
score: with two draws f1, f2 for the same a,

    0.5 |f1 - b| + 0.5 |f2 - b| - lambda_div * 0.5 |f1 - f2|      (voxelwise means)

At ``lambda_div = 1`` this is the sample form of the CRPS, a strictly proper scoring rule: in expectation it
is minimised exactly when the draws follow the true conditional law of each voxel, so it rewards spread
where B is not predictable from A and none where it is (the diversity-sensitive term of DSGAN, Yang et
al. 2019, with the weight that makes it proper; > 1 pushes harder for diversity). The adversarial term
sees f1. Defaults (``noise='none'``, ``diversity='none'``) are the deterministic Pix2Pix, bit for bit.

``sampler='additive'`` splits the generator in two (:class:`mrisynth.zoo.nets.noise.MeanPlusOddNoise`): a
deterministic generator for the mean plus an odd-in-the-noise term from a second generator (width
``noise_ngf``, noise mode ``noise``), so the spread the energy score teaches cannot shift the mean, and the
adversarial term acts on the noise term only (the mean is learned by the energy score: its gradient on the
mean is that of L1 on the two draws); ``'joint'`` (default) injects the noise into the one generator.
``mean_l1 > 0`` adds that weight times |mean - b| for the additive sampler: the draws' spread weakens the
energy score's gradient on the mean (the mean of two signs), while for a symmetric conditional law the
median that L1 seeks is the centre the energy score seeks, so the optimum stays and the mean learns faster.

``severity_weight > 0`` gives the (mean) generator a subject-level path
(:class:`mrisynth.zoo.nets.severity.SeverityPath`: map0 + s(x) * map1) and adds ``severity_weight`` times the
MSE of s against the disease stage of labelled images that each batch carries as its last two items
(images (N, k, C, *spatial), stages (N, k)); weigh it like the reconstruction term (``lambda_l1``).
The encoder's gradient norm is clipped to ``severity_clip`` x ``severity_weight`` (0: no clipping): its
wide last layer under Adam at lr 1e-3 can jump, one step's stage MSE reaching ~40 with a gradient norm ~1e4
times the usual, and Adam's second moment then keeps the encoder still for thousands of steps (on a
benchmark fold the subject-level path never learned; ``benchmarks/results/generator-learning.md``).

``mean_steps > 0``: a warm-up of that many steps in which the (mean) generator alone learns, by ``lambda_l1`` x
L1 (+ the stage term): no discriminator, no noise term. The additive sampler's mean is what carries the
subject's signal; on the demo it learned it sooner this way than under the full objective
(``benchmarks/results/generator-learning.md``), at about a quarter of a full step's CPU (one mean pass instead
of the mean, two noise passes, the discriminator and their backward passes).
"""

from __future__ import annotations

import torch

from mrisynth.zoo.base import AdversarialModel
from mrisynth.zoo.losses import discriminator_loss, generator_loss, l1_loss
from mrisynth.zoo.nets import PatchGAN, ResnetGenerator, UnetGenerator, init_weights
from mrisynth.zoo.nets.noise import MeanPlusOddNoise, check_noise
from mrisynth.zoo.nets.severity import SeverityPath, severity_path
from mrisynth.zoo.registry import register
from mrisynth.zoo.schedules import linear_decay


DIVERSITY = ("none", "energy")
SAMPLERS = ("joint", "additive")


def energy_score(fake: torch.Tensor, other: torch.Tensor, target: torch.Tensor, lambda_div: float = 1.0) -> torch.Tensor:
    """Two-draw energy score 0.5 |f1 - b| + 0.5 |f2 - b| - lambda_div * 0.5 |f1 - f2| (voxelwise means)."""
    return 0.5 * (l1_loss(fake, target) + l1_loss(other, target)) - lambda_div * 0.5 * l1_loss(fake, other)


def build_generator(kind: str, in_channels: int, out_channels: int, ngf: int, norm: str, spatial_dims: int, use_dropout: bool, n_blocks: int, num_downs: int,
                    noise: str = "none", noise_channels: int = 1, sampler: str = "joint", noise_ngf: int | None = None,
                    severity_width: int = 0):
    """``severity_width > 0``: the (mean) generator gets a SeverityPath with an encoder of that width."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if sampler == "additive":
        if not check_noise(noise, noise_channels):
            raise ValueError("sampler='additive' needs noise='channels' or 'layers' for its noise generator")
        args = (kind, in_channels, out_channels)
        rest = (norm, spatial_dims, use_dropout, n_blocks, num_downs)
        return MeanPlusOddNoise(build_generator(*args, ngf, *rest, severity_width=severity_width),
                                build_generator(*args, noise_ngf or ngf, *rest, noise, noise_channels))
    if severity_width:
        maps = build_generator(kind, in_channels, 2 * out_channels, ngf, norm, spatial_dims, use_dropout, n_blocks, num_downs,
                               noise, noise_channels)
        return SeverityPath(maps, in_channels, severity_width, spatial_dims)
    noise_kw = {"noise": noise, "noise_channels": noise_channels}
    if kind == "unet":
        return UnetGenerator(in_channels, out_channels, num_downs, ngf, norm, use_dropout, spatial_dims, **noise_kw)
    if kind == "resnet":
        return ResnetGenerator(in_channels, out_channels, ngf, n_blocks, norm, use_dropout, spatial_dims, **noise_kw)
    raise ValueError(f"generator must be 'unet' or 'resnet', got {kind!r}")


@register("pix2pix")
class Pix2Pix(AdversarialModel):
    """Batches are ``(a, b)`` (extra items, e.g. labels, are ignored). G loss = gan_weight * adversarial
    + lambda_l1 * |G(a) - b|_1; D sees cat(a, b) vs cat(a, G(a)). LR constant for ``decay_start`` steps,
    then linearly to 0 over ``decay_steps`` (0: no decay). Fast path: the trainer's ``amp`` and
    ``channels_last_3d`` switches; the ResNet generator's output conv is the exact slab rewrite."""

    preview_nrow = 3  # one (input, output, target / reconstruction) triple per row

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        spatial_dims: int = 2,
        generator: str = "unet",
        ngf: int = 64,
        ndf: int = 64,
        g_norm: str = "batch",
        d_norm: str = "batch",
        num_downs: int = 4,
        n_blocks: int = 9,
        n_layers: int = 3,
        use_dropout: bool = True,
        loss: str = "non_saturating",
        gan_weight: float = 1.0,
        lambda_l1: float = 100.0,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        decay_start: int = 0,
        decay_steps: int = 0,
        init: str = "normal",
        init_gain: float = 0.02,
        noise: str = "none",
        noise_channels: int = 1,
        diversity: str = "none",
        lambda_div: float = 1.0,
        sampler: str = "joint",
        noise_ngf: int | None = None,
        severity_weight: float = 0.0,
        severity_width: int = 8,
        severity_clip: float = 1.0,
        mean_l1: float = 0.0,
        mean_steps: int = 0,
        seed: int | None = None,
    ):
        super().__init__(n_critic=1, seed=seed)
        generator_loss(loss, torch.zeros(1))  # fail early on an unknown name
        if diversity not in DIVERSITY:
            raise ValueError(f"diversity must be one of {DIVERSITY}, got {diversity!r}")
        if diversity != "none" and not check_noise(noise, noise_channels) and not use_dropout:
            raise ValueError("diversity='energy' needs a stochastic generator: set noise (or use_dropout)")
        self.loss, self.gan_weight, self.lambda_l1 = loss, gan_weight, lambda_l1
        self.diversity, self.lambda_div = diversity, lambda_div
        if severity_weight < 0:
            raise ValueError(f"severity_weight must be >= 0, got {severity_weight}")
        if severity_clip < 0:
            raise ValueError(f"severity_clip must be >= 0, got {severity_clip}")
        self.severity_weight, self.severity_clip, self.mean_l1 = float(severity_weight), float(severity_clip), float(mean_l1)
        if mean_steps < 0:
            raise ValueError(f"mean_steps must be >= 0, got {mean_steps}")
        if mean_steps and sampler != "additive" and (check_noise(noise, noise_channels) or use_dropout):
            raise ValueError("mean_steps needs a deterministic generator or sampler='additive': L1 on the draws of a "
                             "joint stochastic generator teaches it to ignore its noise")
        self.mean_steps = int(mean_steps)
        g = build_generator(generator, in_channels, out_channels, ngf, g_norm, spatial_dims, use_dropout, n_blocks, num_downs,
                            noise, noise_channels, sampler, noise_ngf, severity_width if severity_weight else 0)
        self.nets["G"] = init_weights(g, init, init_gain)
        if (path := severity_path(g)) is not None:
            path.reset_encoder()
        self.nets["D"] = init_weights(PatchGAN(in_channels + out_channels, ndf, n_layers, d_norm, spatial_dims), init, init_gain)
        self.optimizers = {k: torch.optim.Adam(net.parameters(), lr=lr, betas=tuple(betas)) for k, net in self.nets.items()}
        if decay_steps:
            self.schedulers = {k: linear_decay(opt, decay_start, decay_steps) for k, opt in self.optimizers.items()}
        self._preview: tuple[torch.Tensor, torch.Tensor] | None = None

    def translate(self, a: torch.Tensor) -> torch.Tensor:
        return self.nets["G"](a)

    def d_loss(self, a, b, *_):
        fake = self.nets["G"](a)
        loss = discriminator_loss(self.loss, self.nets["D"](torch.cat([a, b], 1)), self.nets["D"](torch.cat([a, fake], 1)))
        return loss, {"d_loss": loss.detach()}

    def reconstruction(self, a, b) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """(fake, reconstruction term, logs): |G(a) - b|_1, or the energy score of two draws (``diversity``).
        Additive sampler: the mean network runs once for both draws, and the returned fake (what the
        adversarial term sees) carries the mean detached: the adversarial term shapes the noise term only,
        the mean is learned by the reconstruction term alone."""
        g = self.nets["G"]
        if isinstance(g, MeanPlusOddNoise) and self.diversity != "none":
            mean, odd = g.mean_net(a), g.odd(a)
            fake, other = mean + odd, mean + g.odd(a)
            term = energy_score(fake, other, b, self.lambda_div)
            logs = {"g_l1": l1_loss(fake, b).detach(), "g_spread": l1_loss(fake, other).detach()}
            if self.mean_l1:  # the mean's own L1: full-strength gradient however wide the spread (same optimum)
                mean_term = l1_loss(mean, b)
                term, logs["g_mean_l1"] = term + self.mean_l1 * mean_term, mean_term.detach()
            return mean.detach() + odd, term, logs
        fake = self.nets["G"](a)
        l1 = l1_loss(fake, b)
        if self.diversity == "none":
            return fake, l1, {"g_l1": l1.detach()}
        other = self.nets["G"](a)
        term = energy_score(fake, other, b, self.lambda_div)
        return fake, term, {"g_l1": l1.detach(), "g_spread": l1_loss(fake, other).detach()}

    def g_loss(self, a, b, *extra):
        fake, rec, logs = self.reconstruction(a, b)
        adv = generator_loss(self.loss, self.nets["D"](torch.cat([a, fake], 1)))
        loss, logs = self.gan_weight * adv + self.lambda_l1 * rec, {"g_adv": adv.detach(), **logs}
        return self.add_stage_loss(loss, logs, extra)

    def add_stage_loss(self, loss: torch.Tensor, logs: dict, extra: tuple) -> tuple[torch.Tensor, dict]:
        """With ``severity_weight``: + weight * the severity path's stage MSE on the batch's last two items."""
        if not self.severity_weight:
            return loss, logs
        if len(extra) < 2:
            raise ValueError("severity_weight > 0 needs batches ending in (labelled images, disease stages)")
        stage = severity_path(self.nets["G"]).stage_loss(*extra[-2:])
        return loss + self.severity_weight * stage, {**logs, "g_stage": stage.detach()}

    def before_step(self, name: str) -> None:
        """Clip the severity encoder's gradient norm (``severity_clip`` x ``severity_weight``)."""
        if name == "G" and self.severity_weight and self.severity_clip:
            encoder = severity_path(self.nets["G"]).encoder
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), self.severity_clip * self.severity_weight)

    def mean_loss(self, a, b, *extra):
        """The warm-up's loss (``mean_steps``): lambda_l1 x |mean(a) - b| (+ the stage term)."""
        g = self.nets["G"]
        l1 = l1_loss(g.mean_net(a) if isinstance(g, MeanPlusOddNoise) else g(a), b)
        return self.add_stage_loss(self.lambda_l1 * l1, {"g_mean_l1": l1.detach()}, extra)

    @property
    def warmup_end(self) -> int:
        """The first step of full training (after the mean's warm-up)."""
        return self.mean_steps

    def train_step(self, batch):
        if self._preview is None:
            a, b = self.prepare(batch)[:2]
            self._preview = (a[:8].detach().clone(), b[:8].detach().clone())
        if self.iteration < self.mean_steps:
            batch = self.prepare(batch)
            self.train()
            return self.optimize("G", self.mean_loss, *batch)
        return super().train_step(batch)

    @torch.no_grad()
    def sample(self, n, generator=None, a: torch.Tensor | None = None, **_):
        """Translations of ``a`` (required: Pix2Pix is conditional); ``n`` is ignored when ``a`` is given."""
        if a is None:
            raise ValueError("pix2pix samples are translations: pass a=<batch of domain-A images>")
        return self.net_for_sampling("G")(a.to(self.device))

    @torch.no_grad()
    def preview(self, n, generator=None):
        """Rows of (a, G(a), b) for the first training images."""
        if self._preview is None:
            raise RuntimeError("no training batch seen yet")
        a, b = self._preview
        return torch.stack([a, self.sample(len(a), a=a), b], 1).flatten(0, 1)
