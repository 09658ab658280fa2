"""The one training loop for every zoo model (and the 3D synthesis models built on them).

``Trainer(model, dataset, TrainConfig(...)).fit()`` runs ``config.steps`` calls of
``model.train_step(batch)`` (see :mod:`mrisynth.zoo.base` for the contract; n_critic lives in the
model). It owns: the batch order, AMP / channels_last_3d / gradient accumulation / EMA switches (passed
to ``model.configure``), a tqdm bar, the loss CSV, periodic sample PNGs and checkpoints.

Batches are a pure function of (seed, step): epoch ``e`` uses ``randperm(len(dataset))`` from a generator
seeded with ``(seed, e)``, so resuming needs no data-loader state. A checkpoint holds the model's full
state (nets, optimizers, schedulers, scalers, EMA, extra state such as image pools), the step and the
python / numpy / torch (and CUDA) RNG states, in types that ``torch.load(weights_only=True)`` accepts. So
on CPU, ``steps=2N`` equals ``steps=N`` + kill + resume to ``2N``, bit for bit.

Under ``torchrun`` (a process group initialised, see :mod:`mrisynth.zoo.distributed`) the same loop is
data-parallel: ``batch_size`` stays the global batch, each rank takes its contiguous share of it, nets are
DDP-wrapped, each rank has its own seed and RNG states (all checkpointed), and only rank 0 writes files,
logs (losses averaged over ranks) and shows progress.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset, default_collate
from tqdm.auto import tqdm

from mrisynth.io.atomic import atomic_path
from mrisynth.seeding import seed_everything
from mrisynth.zoo import distributed
from mrisynth.zoo.base import ZooModel

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
LOSSES = "losses.csv"


@dataclasses.dataclass
class TrainConfig:
    steps: int = 1000  # train_step calls (= batches = critic updates)
    batch_size: int = 64  # the global batch: under torchrun each of N processes takes batch_size / N
    seed: int = 0
    device: str = "cpu"
    amp: bool = False  # bf16 autocast on CPU, fp16 autocast + GradScaler on CUDA
    channels_last_3d: bool = False  # 3D nets and 5D inputs in channels_last_3d (fast path on CPU)
    accumulation: int = 1  # micro-batches per update (the batch is split; same effective batch)
    ema_decay: float = 0.0  # > 0: keep an EMA of the model's ema_targets (e.g. G), used for sampling
    out_dir: str | None = None  # checkpoint.pt, losses.csv, samples/ (None: keep nothing on disk)
    checkpoint_every: int = 0  # steps between checkpoints (0: only at the end); needs out_dir
    sample_every: int = 0  # steps between sample grids (0: never); needs out_dir
    sample_n: int = 64
    resume: bool = True  # continue from out_dir/checkpoint.pt if it exists
    progress: bool = True


class Trainer:
    def __init__(
        self,
        model: ZooModel,
        dataset: Dataset,
        config: TrainConfig,
        on_sample: Callable[[ZooModel, int, Path, int], None] | None = None,
    ):
        if len(dataset) < config.batch_size:
            raise ValueError(f"dataset has {len(dataset)} items, fewer than batch_size={config.batch_size}")
        self.rank, self.world = distributed.world()
        if config.batch_size % self.world:
            raise ValueError(f"batch_size={config.batch_size} (the global batch) is not divisible by {self.world} processes")
        if self.world > 1 and not model.optimizers:
            raise ValueError(f"{type(model).__name__} updates without an optimizer: no data-parallel training")
        self.model = model
        self.dataset = dataset
        self.config = config
        self.out = Path(config.out_dir) if config.out_dir else None
        self.on_sample = on_sample or save_preview
        self.step = 0
        self.start_step = 0
        self.wall_s = 0.0  # training time over all sessions (checkpointed)
        self.history: list[dict[str, float]] = []
        model.configure(
            device=config.device,
            amp=config.amp,
            channels_last_3d=config.channels_last_3d,
            accumulation=config.accumulation,
            ema_decay=config.ema_decay,
        )

    # ----------------------------------------------------------------- data order
    def batch_at(self, step: int):
        per_epoch = len(self.dataset) // self.config.batch_size
        epoch, i = divmod(step, per_epoch)
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        perm = torch.randperm(len(self.dataset), generator=gen)
        idx = perm[i * self.config.batch_size : (i + 1) * self.config.batch_size]
        idx = idx.tensor_split(self.world)[self.rank]  # this process's share (all of it on one process)
        if isinstance(self.dataset, TensorDataset):
            items = tuple(t[idx] for t in self.dataset.tensors)
            return items if len(items) > 1 else items[0]
        return default_collate([self.dataset[int(j)] for j in idx])

    # ----------------------------------------------------------------- loop
    def fit(self) -> list[dict[str, float]]:
        cfg = self.config
        if self.out is not None and cfg.resume and (self.out / CHECKPOINT).exists():
            self.load_checkpoint(self.out / CHECKPOINT)
            if self.rank == 0:
                log.info("resumed from %s at step %d", self.out / CHECKPOINT, self.step)
        elif self.step == 0:
            seed_everything(distributed.rank_seed(cfg.seed, self.rank))
        self.start_step = self.step
        show = cfg.progress and self.rank == 0
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not show, desc=type(self.model).__name__)
        if self.world > 1:
            distributed.wrap_nets(self.model.nets, self.model.device)
        try:
            while self.step < cfg.steps:
                t0 = time.perf_counter()
                logs = self.model.train_step(self.batch_at(self.step))
                self.model.end_step()
                logs = distributed.mean_over_ranks(logs)
                self.step += 1
                self.wall_s += time.perf_counter() - t0
                bad = [k for k, v in logs.items() if not math.isfinite(v)]
                if bad:
                    raise FloatingPointError(f"non-finite {bad} at step {self.step}: {logs}")
                self.history.append({"step": self.step, **logs})
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in list(logs.items())[:4]}, refresh=False)
                if self.out is not None:
                    if cfg.sample_every and self.step % cfg.sample_every == 0 and self.rank == 0:
                        self.on_sample(self.model, self.step, self.out / "samples", cfg.sample_n)
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                        self.save_checkpoint(self.out / CHECKPOINT)
        finally:
            distributed.unwrap_nets(self.model.nets)
        bar.close()
        if self.out is not None:
            self.save_checkpoint(self.out / CHECKPOINT)
        return self.history

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """All state; under torchrun a collective (every rank calls it) that also holds every rank's RNGs."""
        state = {
            "step": self.step,
            "wall_s": self.wall_s,
            "config": dataclasses.asdict(self.config),
            "model": self.model.state_dict(),
            "rng": _rng_state(),
        }
        if self.world > 1:
            state["rng_ranks"] = distributed.gather_objects(state["rng"])
        return state

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.wall_s = float(state.get("wall_s", 0.0))
        self.model.load_state_dict(state["model"])
        rng = state["rng"]
        if self.world > 1 or "rng_ranks" in state:
            ranks = state.get("rng_ranks", [rng])
            if len(ranks) != self.world:  # resumed on another number of processes: fresh per-rank seeds
                log.warning("checkpoint written by %d process(es), resuming on %d: RNGs reseeded", len(ranks), self.world)
                seed_everything(distributed.rank_seed(self.config.seed + self.step, self.rank))
                return
            rng = ranks[self.rank]
        random.setstate(_py_state_from_list(rng["python"]))
        np_rng = rng["numpy"]
        np.random.set_state(
            ("MT19937", np_rng["keys"].numpy().astype(np.uint32), np_rng["pos"], np_rng["has_gauss"], np_rng["gauss"])
        )
        torch.set_rng_state(rng["torch"].cpu())  # map_location may have moved the states to the GPU
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([t.cpu() for t in rng["cuda"]])

    def save_checkpoint(self, path: Path) -> None:
        state = self.state_dict()
        if self.rank != 0:
            return
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        self._write_losses()

    def load_checkpoint(self, path: Path) -> None:
        self.load_state_dict(torch.load(path, map_location=self.model.device, weights_only=True))
        self.history = [row for row in read_losses(self.out / LOSSES) if row["step"] <= self.step]

    def _write_losses(self) -> None:
        keys = ["step"] + sorted({k for row in self.history for k in row} - {"step"})
        with atomic_path(self.out / LOSSES) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys, restval="")
            writer.writeheader()
            for row in self.history:
                writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})


def read_losses(path: Path) -> list[dict[str, float]]:
    """Rows of a loss CSV (empty cells: the value was not logged at that step) as floats."""
    if not Path(path).exists():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [{"step": int(r["step"]), **{k: float(v) for k, v in r.items() if k != "step" and v != ""}} for r in rows]


def load_model_state(model: ZooModel, checkpoint: str | Path) -> int:
    """Load the model part of a trainer checkpoint (e.g. for sampling); returns its step."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    return int(state["step"])


def save_preview(model: ZooModel, step: int, folder: Path, n: int) -> None:
    """Default sample callback: a grid of ``model.preview(n)`` from fixed noise, ``step-XXXXXXX.png``."""
    from mrisynth.zoo.viz import save_grid

    gen = torch.Generator(device=model.device).manual_seed(1234)
    model.eval()
    with torch.no_grad():
        images = model.preview(n, generator=gen)
    model.train()
    save_grid(images, folder / f"step-{step:07d}.png", nrow=getattr(model, "preview_nrow", None))


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "python": _py_state_to_list(random.getstate()),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _py_state_to_list(state) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _py_state_from_list(state: list):
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
