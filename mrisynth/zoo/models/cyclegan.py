"""CycleGAN (Zhu et al. 2017): unpaired A <-> B with two ResNet generators, two PatchGANs, cycle and
identity L1, image pools of past fakes and a linear LR decay. 2D or 3D; the 3D synthesis stage builds on it."""

from __future__ import annotations

import itertools

import torch

from mrisynth.zoo.base import ZooModel
from mrisynth.zoo.losses import cycle_loss, discriminator_loss, generator_loss, identity_loss
from mrisynth.zoo.models.pix2pix import build_generator
from mrisynth.zoo.nets import ImagePool, PatchGAN, init_weights
from mrisynth.zoo.registry import register
from mrisynth.zoo.schedules import linear_decay


@register("cyclegan")
class CycleGAN(ZooModel):
    """Batches are ``(a, b)`` (need not be paired). Per step, as junyanz: generators first (D frozen),
    then both discriminators on pooled, detached fakes. Nets: G_AB, G_BA, D_A (judges A), D_B.
    Identity terms need in_channels == out_channels (else set lambda_identity=0).

    With ``loss='least_squares'`` the generator's adversarial term is (D(G(a)) - 1)^2 / 2, half of
    junyanz's MSE; ``gan_weight=2`` reproduces junyanz's balance exactly.

    ``noise``/``noise_channels`` make G_AB (A -> B, the direction that is imputed) stochastic, as in
    :class:`~mrisynth.zoo.models.pix2pix.Pix2Pix`; G_BA stays deterministic. Default: none."""

    ema_targets = ("G_AB", "G_BA")

    preview_nrow = 3  # one (input, output, target / reconstruction) triple per row

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        spatial_dims: int = 2,
        generator: str = "resnet",
        ngf: int = 64,
        ndf: int = 64,
        g_norm: str = "instance",
        d_norm: str = "instance",
        n_blocks: int = 9,
        num_downs: int = 4,
        n_layers: int = 3,
        use_dropout: bool = False,
        loss: str = "least_squares",
        gan_weight: float = 1.0,
        lambda_a: float = 10.0,
        lambda_b: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        decay_start: int = 0,
        decay_steps: int = 0,
        init: str = "normal",
        init_gain: float = 0.02,
        noise: str = "none",
        noise_channels: int = 1,
        seed: int | None = None,
    ):
        super().__init__(seed=seed)
        generator_loss(loss, torch.zeros(1))
        if lambda_identity and in_channels != out_channels:
            raise ValueError("identity loss needs in_channels == out_channels; set lambda_identity=0")
        self.loss, self.gan_weight = loss, gan_weight
        self.lambda_a, self.lambda_b, self.lambda_identity = lambda_a, lambda_b, lambda_identity

        def gen(cin, cout, noise="none"):
            g = build_generator(generator, cin, cout, ngf, g_norm, spatial_dims, use_dropout, n_blocks, num_downs, noise, noise_channels)
            return init_weights(g, init, init_gain)

        def disc(c):
            return init_weights(PatchGAN(c, ndf, n_layers, d_norm, spatial_dims), init, init_gain)

        self.nets = {"G_AB": gen(in_channels, out_channels, noise), "G_BA": gen(out_channels, in_channels), "D_A": disc(in_channels), "D_B": disc(out_channels)}
        g_params = itertools.chain(self.nets["G_AB"].parameters(), self.nets["G_BA"].parameters())
        d_params = itertools.chain(self.nets["D_A"].parameters(), self.nets["D_B"].parameters())
        self.optimizers = {"G": torch.optim.Adam(g_params, lr=lr, betas=tuple(betas)), "D": torch.optim.Adam(d_params, lr=lr, betas=tuple(betas))}
        if decay_steps:
            self.schedulers = {k: linear_decay(opt, decay_start, decay_steps) for k, opt in self.optimizers.items()}
        base = 0 if seed is None else seed
        self.pools = {"A": ImagePool(pool_size, seed=base + 1), "B": ImagePool(pool_size, seed=base + 2)}
        self._fakes: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._preview: torch.Tensor | None = None

    def g_loss(self, a, b):
        g_ab, g_ba, d_a, d_b = (self.nets[k] for k in ("G_AB", "G_BA", "D_A", "D_B"))
        fake_b, fake_a = g_ab(a), g_ba(b)
        adv_ab = generator_loss(self.loss, d_b(fake_b))
        adv_ba = generator_loss(self.loss, d_a(fake_a))
        cyc_a = cycle_loss(a, g_ba(fake_b), self.lambda_a)
        cyc_b = cycle_loss(b, g_ab(fake_a), self.lambda_b)
        loss = self.gan_weight * (adv_ab + adv_ba) + cyc_a + cyc_b
        logs = {"g_adv_ab": adv_ab.detach(), "g_adv_ba": adv_ba.detach(), "cycle_a": cyc_a.detach(), "cycle_b": cyc_b.detach()}
        if self.lambda_identity:
            idt_a = identity_loss(b, g_ab(b), self.lambda_b * self.lambda_identity)
            idt_b = identity_loss(a, g_ba(a), self.lambda_a * self.lambda_identity)
            loss = loss + idt_a + idt_b
            logs.update(identity_a=idt_a.detach(), identity_b=idt_b.detach())
        self._fakes.append((fake_a.detach(), fake_b.detach()))
        return loss, logs

    def d_loss(self, a, b, fake_a, fake_b):
        loss_a = discriminator_loss(self.loss, self.nets["D_A"](a), self.nets["D_A"](fake_a))
        loss_b = discriminator_loss(self.loss, self.nets["D_B"](b), self.nets["D_B"](fake_b))
        return loss_a + loss_b, {"d_a": loss_a.detach(), "d_b": loss_b.detach()}

    def train_step(self, batch):
        a, b = self.prepare(batch)[:2]
        if self._preview is None:
            self._preview = a[:8].detach().clone()
        self.train()
        self._fakes = []
        logs = self.optimize("G", self.g_loss, a, b)
        fake_a = self.pools["A"].query(torch.cat([f[0] for f in self._fakes]))
        fake_b = self.pools["B"].query(torch.cat([f[1] for f in self._fakes]))
        self._fakes = []
        logs.update(self.optimize("D", self.d_loss, a, b, fake_a, fake_b))
        return logs

    @torch.no_grad()
    def sample(self, n, generator=None, a: torch.Tensor | None = None, b: torch.Tensor | None = None, **_):
        """G_AB(a) for ``a``, or G_BA(b) for ``b`` (CycleGAN is conditional: one of them is required)."""
        if (a is None) == (b is None):
            raise ValueError("pass exactly one of a=<domain-A images> or b=<domain-B images>")
        if a is not None:
            return self.net_for_sampling("G_AB")(a.to(self.device))
        return self.net_for_sampling("G_BA")(b.to(self.device))

    @torch.no_grad()
    def preview(self, n, generator=None):
        """Rows of (a, G_AB(a), G_BA(G_AB(a))) for the first training images."""
        if self._preview is None:
            raise RuntimeError("no training batch seen yet")
        a = self._preview
        fake_b = self.sample(len(a), a=a)
        return torch.stack([a, fake_b, self.sample(len(a), b=fake_b)], 1).flatten(0, 1)

    def extra_state(self):
        return {"pools": {k: p.state_dict() for k, p in self.pools.items()}}

    def load_extra_state(self, state):
        for k, p in self.pools.items():
            p.load_state_dict(state["pools"][k])
