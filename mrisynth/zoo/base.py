"""Base classes of the zoo. Every model is a :class:`ZooModel` and trains with the one trainer
(:mod:`mrisynth.zoo.train`).

Contract (what a model must provide)
------------------------------------
A model owns everything it trains: its networks ``self.nets`` (name -> ``nn.Module``), optimizers
``self.optimizers`` (name -> optimizer), LR schedulers ``self.schedulers`` (name -> scheduler) and any
other state (BEGAN's k_t, image pools, the progressive stage). It implements

* ``train_step(batch) -> dict[str, float]``: ONE call = ONE batch from the trainer = one update of
  whatever the model updates per batch. It returns the numbers to log (floats, no tensors).
* ``sample(n, generator=None, **condition) -> Tensor``: ``n`` samples in the data range ([-1, 1] for
  images), without gradients. ``generator`` (a ``torch.Generator``) makes previews use fixed noise
  without touching the global RNG, so sampling previews never changes a training run.
* ``extra_state() / load_extra_state(d)``: anything not in nets/optimizers/schedulers (k_t, pools,
  counters), as tensors / numbers / strings / lists / dicts so that ``torch.load(weights_only=True)``
  can read it. ``state_dict()`` / ``load_state_dict()`` of the base class then hold ALL state.

The trainer calls ``configure(...)`` (device, AMP, channels_last_3d, gradient accumulation, EMA), then
per batch ``train_step(batch)`` followed by ``end_step()`` (counts the iteration, steps every scheduler
once, updates the EMA copies of the nets named in ``ema_targets``).

Helpers a model should use so that the trainer's switches apply to it:

* ``prepare(batch)``: moves a tensor / tuple of tensors to the device (5D tensors to channels_last_3d
  when that switch is on) and returns a tuple.
* ``optimize(name, loss_fn, *inputs)``: zero_grad, ``loss_fn(*chunk) -> (loss, logs)`` under autocast
  for each of ``accumulation`` micro-batches (inputs are split along dim 0), backward (with a
  GradScaler for fp16 on CUDA), optimizer step. Parameters that the optimizer does not own are frozen
  while it runs, so a generator step computes no discriminator weight gradients (and vice versa).
  Loss functions should compute the loss in fp32 (``mrisynth.zoo.losses`` upcast their inputs).

n_critic is handled by the model (:class:`AdversarialModel`): each ``train_step`` call updates the
discriminator/critic once and the generator on every ``n_critic``-th call, so the trainer's step count
is the number of critic updates (= batches).

Non-GAN models (RBM, VAE, PixelCNN, ...) subclass :class:`ZooModel` directly and register by name::

    @register("vae")
    class VAE(ZooModel):
        def __init__(self, latent_dim=8, lr=1e-3, **kw):
            super().__init__(**kw)
            self.nets["vae"] = VAENet(latent_dim)
            self.optimizers["vae"] = torch.optim.Adam(self.nets["vae"].parameters(), lr)

        def train_step(self, batch):
            x, *_ = self.prepare(batch)
            return self.optimize("vae", self.negative_elbo, x)   # negative_elbo(x) -> (loss, {"nelbo": loss})

        @torch.no_grad()
        def sample(self, n, generator=None):
            z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
            return self.nets["vae"].decode(z)

A model whose update is not a gradient step (RBM trained by CD-k) keeps its weights in ``nets``
(parameters or buffers, so they are checkpointed) and updates them under ``torch.no_grad()`` in
``train_step``; it needs no optimizer. Sampling chains that must continue across a resume (persistent
CD) go in ``extra_state``.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable

import torch
from torch import nn

from .distributed import gradient_sync
from .nets.bf16_guard import guard_bf16_convs

LossFn = Callable[..., tuple[torch.Tensor, dict[str, torch.Tensor | float]]]


@torch.no_grad()
def ema_update(shadow: nn.Module, live: nn.Module, decay: float) -> None:
    """One step of an exponential moving average of ``live``'s parameters into ``shadow`` (buffers copied)."""
    for ps, pl in zip(shadow.parameters(), live.parameters()):
        ps.lerp_(pl.detach(), 1.0 - decay)
    for bs, bl in zip(shadow.buffers(), live.buffers()):
        bs.copy_(bl)


class ZooModel:
    """Owns nets, optimizers, schedulers and extra state; see the module docstring for the contract."""

    ema_targets: tuple[str, ...] = ()
    preview_nrow: int | None = None  # images per row of the sample grid (None: square grid)

    def __init__(self, seed: int | None = None):
        if seed is not None:
            torch.manual_seed(seed)
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.ema: dict[str, nn.Module] = {}
        self.ema_decay = 0.0
        self.iteration = 0
        self.device = torch.device("cpu")
        self.amp = False
        self.channels_last_3d = False
        self.accumulation = 1

    # ----------------------------------------------------------------- set-up by the trainer
    def configure(
        self,
        device: str | torch.device = "cpu",
        amp: bool = False,
        channels_last_3d: bool = False,
        accumulation: int = 1,
        ema_decay: float = 0.0,
    ) -> ZooModel:
        """Move to ``device``; AMP = bf16 autocast on CPU (convs whose kernel overhangs the volume stay fp32,
        see :mod:`.nets.bf16_guard`), fp16 autocast + GradScaler on CUDA."""
        if accumulation < 1:
            raise ValueError(f"accumulation must be >= 1, got {accumulation}")
        self.device = torch.device(device)
        self.amp = amp
        self.channels_last_3d = channels_last_3d
        self.accumulation = accumulation
        for net in self.nets.values():
            net.to(self.device)
            if channels_last_3d:
                _to_channels_last_3d(net)
            if amp and self.device.type == "cpu":
                guard_bf16_convs(net)
        if amp and self.device.type == "cuda":
            self.scalers = {name: torch.amp.GradScaler("cuda") for name in self.optimizers}
        else:
            self.scalers = {}
        self.ema_decay = ema_decay
        self.ema = {}
        if ema_decay > 0:
            for name in self.ema_targets:
                shadow = copy.deepcopy(self.nets[name]).eval()
                shadow.requires_grad_(False)
                self.ema[name] = shadow
        return self

    @property
    def amp_dtype(self) -> torch.dtype:
        return torch.float16 if self.device.type == "cuda" else torch.bfloat16

    def autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def prepare(self, batch) -> tuple[torch.Tensor, ...]:
        items = batch if isinstance(batch, (tuple, list)) else (batch,)
        out = []
        for t in items:
            t = t.to(self.device, non_blocking=True)
            if self.channels_last_3d and t.dim() == 5:
                t = t.contiguous(memory_format=torch.channels_last_3d)
            out.append(t)
        return tuple(out)

    # ----------------------------------------------------------------- one optimizer update
    def before_step(self, name: str) -> None:
        """Called between the backward passes and the step of optimizer ``name`` (e.g. to clip gradients)."""

    def optimize(self, name: str, loss_fn: LossFn, *inputs: torch.Tensor) -> dict[str, float]:
        """One update of optimizer ``name`` on ``inputs`` split into ``accumulation`` micro-batches."""
        opt = self.optimizers[name]
        owned = {id(p) for group in opt.param_groups for p in group["params"]}
        frozen = [p for net in self.nets.values() for p in net.parameters() if id(p) not in owned and p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        scaler = self.scalers.get(name)
        k = self.accumulation
        chunks = [torch.tensor_split(x, k) if torch.is_tensor(x) else [x] * k for x in inputs]
        sums: dict[str, float] = {}
        try:
            opt.zero_grad(set_to_none=True)
            for i, parts in enumerate(zip(*chunks)):
                # under torchrun: average this optimizer's gradients over processes, on the last micro-batch
                with gradient_sync(self.nets, owned, sync=i == k - 1), self.autocast():
                    loss, logs = loss_fn(*parts)
                loss = loss.float() / k
                (scaler.scale(loss) if scaler else loss).backward()
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + float(value) / k
            if scaler:
                scaler.unscale_(opt)  # before_step sees the true gradients
            self.before_step(name)
            if scaler:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
        finally:
            for p in frozen:
                p.requires_grad_(True)
        return sums

    def end_step(self) -> None:
        """Called by the trainer after every ``train_step``: count, step schedulers, update EMA."""
        self.iteration += 1
        with warnings.catch_warnings():
            # schedulers count iterations; with n_critic > 1 G's first one comes before G's first step
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
            for sched in self.schedulers.values():
                sched.step()
        if self.ema:
            self.update_ema()

    def update_ema(self) -> None:
        for name, shadow in self.ema.items():
            ema_update(shadow, self.nets[name], self.ema_decay)

    def net_for_sampling(self, name: str) -> nn.Module:
        """The EMA copy of ``name`` when the trainer keeps one, else the live net."""
        return self.ema.get(name, self.nets[name])

    # ----------------------------------------------------------------- to implement
    def train_step(self, batch) -> dict[str, float]:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None, **condition) -> torch.Tensor:
        raise NotImplementedError

    def preview(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images for the periodic sample grid (default: ``sample``)."""
        return self.sample(n, generator=generator)

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} has no extra state but the checkpoint holds {sorted(state)}")

    # ----------------------------------------------------------------- all state
    def train(self, mode: bool = True) -> ZooModel:
        for net in self.nets.values():
            net.train(mode)
        return self

    def eval(self) -> ZooModel:
        return self.train(False)

    def num_parameters(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in net.parameters()) for name, net in self.nets.items()}

    def state_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "scalers": {k: v.state_dict() for k, v in self.scalers.items()},
            "ema_decay": self.ema_decay,
            "ema": {k: v.state_dict() for k, v in self.ema.items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.iteration = int(state["iteration"])
        for group in ("nets", "optimizers", "schedulers"):
            mine, theirs = getattr(self, group), state[group]
            if set(mine) != set(theirs):
                raise ValueError(f"checkpoint {group} {sorted(theirs)} do not match the model's {sorted(mine)}")
            for k, v in theirs.items():
                mine[k].load_state_dict(v)
        for k, v in state["scalers"].items():
            if k in self.scalers:
                self.scalers[k].load_state_dict(v)
        if state["ema"]:
            if not self.ema:  # a model built for sampling: keep the EMA weights too
                self.ema_decay = float(state["ema_decay"])
                self.ema = {k: copy.deepcopy(self.nets[k]).eval().requires_grad_(False) for k in state["ema"]}
            for k, v in state["ema"].items():
                self.ema[k].load_state_dict(v)
        self.load_extra_state(state["extra"])


class AdversarialModel(ZooModel):
    """A generator ``nets['G']`` against a discriminator/critic ``nets['D']``.

    Subclasses implement ``d_loss(*batch)`` and ``g_loss(*batch)`` returning ``(loss, logs)``; ``batch``
    is the tuple from ``prepare`` (e.g. ``(images, labels)``). Each ``train_step`` updates D once and G
    on every ``n_critic``-th call. ``after_d_step`` runs after each D update (WGAN weight clipping).
    """

    ema_targets = ("G",)

    def __init__(self, n_critic: int = 1, seed: int | None = None):
        super().__init__(seed=seed)
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        self.n_critic = n_critic

    def d_loss(self, *batch) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def g_loss(self, *batch) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def after_d_step(self) -> None:
        pass

    def train_step(self, batch) -> dict[str, float]:
        batch = self.prepare(batch)
        self.train()
        logs = self.optimize("D", self.d_loss, *batch)
        self.after_d_step()
        if (self.iteration + 1) % self.n_critic == 0:
            logs.update(self.optimize("G", self.g_loss, *batch))
        return logs


def _to_channels_last_3d(net: nn.Module) -> None:
    """channels_last_3d for the 5D weights of a 3D net (Module.to(memory_format) rejects 4D/2D ones)."""
    for p in net.parameters():
        if p.dim() == 5:
            p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
