"""Data-parallel zoo training (torchrun, DDP, gloo on CPU) equals single-process training with the same
global batch: a tiny 2D Pix2Pix (U-Net + PatchGAN, instance norm) trained for a few steps on 2 processes
(tests/zoo/distributed_worker.py) and on one.

Tolerance: parameters within 1e-5 (absolute) of the single-process run. The two differ only in float
summation order: each rank's loss is the mean over its half of the batch and DDP averages the two
gradients, against one mean over the whole batch. Observed after 4 SGD steps: max difference 1.5e-7 (G)
and 1.1e-7 (D); with the gradient all-reduce switched off it is 4.7e-2, so the test catches a missing sync.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from mrisynth.zoo.models.pix2pix import Pix2Pix
from mrisynth.zoo.train import CHECKPOINT, LOSSES, Trainer, TrainConfig, read_losses

STEPS = 4
BATCH = 4  # the global batch: 2 per process
TOLERANCE = 1e-5
WORKER = Path(__file__).with_name("distributed_worker.py")


def dataset() -> TensorDataset:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(8, 1, 16, 16, generator=gen) * 2 - 1
    return TensorDataset(a, torch.tanh(2 * a.flip(-1)))


def pix2pix(dropout: bool) -> Pix2Pix:
    model = Pix2Pix(ngf=4, ndf=4, num_downs=2, n_layers=1, g_norm="instance", d_norm="instance", use_dropout=dropout,
                    lambda_l1=10.0, seed=3)
    # SGD, not the model's Adam: Adam's first steps are ~lr * sign(gradient), which turns rounding noise on
    # gradients that are zero in exact arithmetic (conv biases before instance norm) into lr-sized steps
    model.optimizers = {k: torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.5) for k, net in model.nets.items()}
    return model


def train(model: Pix2Pix, data: TensorDataset, out: Path, steps: int, on_sample=None) -> None:
    config = TrainConfig(steps=steps, batch_size=BATCH, seed=7, out_dir=str(out), checkpoint_every=2,
                         sample_every=2 if on_sample else 0, progress=False)
    Trainer(model, data, config, on_sample=on_sample).fit()


def checkpoint(folder: Path) -> dict:
    return torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=True)


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER), str(out)]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    torch.set_num_threads(1)
    train(pix2pix(dropout=False), dataset(), out / "single", STEPS)
    return out


def test_two_processes_equal_one_with_the_same_global_batch(runs):
    ddp, single = checkpoint(runs / "ddp"), checkpoint(runs / "single")
    assert ddp["step"] == single["step"] == STEPS
    start = pix2pix(dropout=False)
    for net in ("G", "D"):
        moved = max_difference({k: v for k, v in start.nets[net].state_dict().items()}, single["model"]["nets"][net])
        diff = max_difference(ddp["model"]["nets"][net], single["model"]["nets"][net])
        print(f"{net}: max |DDP - single| = {diff:.2e} (training moved the weights by up to {moved:.2e})")
        assert diff < TOLERANCE
        assert moved > 1000 * TOLERANCE  # the comparison is not between two untrained nets
    # the optimizers' moments too, and the logged losses are the global batch's (averaged over ranks)
    for opt in ("G", "D"):
        for a, b in zip(ddp["model"]["optimizers"][opt]["state"].values(), single["model"]["optimizers"][opt]["state"].values()):
            assert max_difference(a, b) < TOLERANCE
    for a, b in zip(read_losses(runs / "ddp" / LOSSES), read_losses(runs / "single" / LOSSES), strict=True):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-4 for k in a)


def test_only_rank_0_writes_and_every_rank_has_its_own_rng(runs):
    assert sorted(p.name for p in (runs / "samples-by-rank").iterdir()) == ["rank-0"]
    rngs = checkpoint(runs / "straight")["rng_ranks"]
    assert len(rngs) == 2 and not torch.equal(rngs[0]["torch"], rngs[1]["torch"])


def test_distributed_resume_equals_an_uninterrupted_run(runs):
    straight, resumed = checkpoint(runs / "straight"), checkpoint(runs / "resumed")
    for net in ("G", "D"):
        assert max_difference(straight["model"]["nets"][net], resumed["model"]["nets"][net]) == 0.0
    assert [torch.equal(a["torch"], b["torch"]) for a, b in zip(straight["rng_ranks"], resumed["rng_ranks"])] == [True, True]
