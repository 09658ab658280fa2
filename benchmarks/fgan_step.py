"""Cost of one FGAN training step relative to one Pix2Pix step at the same size (not a test).

Both models are built from a config (default ``configs/demo.yaml``): Pix2Pix from ``synthesis.models.pix2pix.net``,
FGAN with the same generator and discriminator plus the DSNet settings of ``synthesis.models.fgan.net`` and
``pretrain_steps=0``, ``feature_start=0`` so every timed step is a full joint step: D, G with the
feature-consistency loss, and the DSNet update) and configured as the pipeline trains them (bf16 autocast
+ channels_last_3d when ``synthesis.fast``). Inputs: one random (MRI, PET, label) volume of ``--size``^3
(the demo's whole 3 mm volume pads to 64^3). The two models' steps are timed alternately in one process
so that load from other processes hits both alike. Printed: wall and process-CPU ms/step and their
ratios (on a loaded machine the CPU-time ratio and the minimum wall times are the meaningful ones; the
OpenMP threads wait passively so that waiting burns no CPU time). Goal
(issue 9): FGAN / Pix2Pix <= 1.5.

    .venv/bin/python benchmarks/fgan_step.py [--config configs/demo.yaml] [--size 64] [--steps 10] [--warmup 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts OpenMP: no busy-waiting in CPU time
import torch  # noqa: E402


def build(cfg: dict, name: str):
    """Pix2Pix from ``synthesis.models.pix2pix.net``; FGAN with the SAME generator / discriminator / L1 settings and
    the FGAN-only keywords (DSNet, feature loss) of ``synthesis.models.fgan.net``."""
    import inspect

    from mrisynth.synthesis import models
    from mrisynth.zoo.models.pix2pix import Pix2Pix

    from mrisynth.synthesis.settings import model_settings

    kwargs = model_settings(cfg, "pix2pix").kwargs(cfg["seed"])
    if name == "fgan":
        shared = set(inspect.signature(Pix2Pix).parameters)
        kwargs.update({k: v for k, v in model_settings(cfg, "fgan").kwargs(cfg["seed"]).items() if k not in shared}, pretrain_steps=0,
                      feature_start=0)
    fast = bool(cfg["synthesis"]["fast"])
    return models.build(name, kwargs).configure(amp=fast, channels_last_3d=fast)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/demo.yaml", help="config whose synthesis.models.pix2pix / fgan nets are used")
    p.add_argument("--size", type=int, default=64, help="cubic input side in voxels (a multiple of the U-Net's 2**num_downs)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per model (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per model first")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    args = p.parse_args()
    from mrisynth.config import load_config

    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    g = torch.Generator().manual_seed(0)
    a, b = (torch.rand(1, 1, *(args.size,) * 3, generator=g) * 2 - 1 for _ in range(2))
    batches = {"pix2pix": (a, b), "fgan": (a, b, torch.tensor([1]))}
    models = {name: build(cfg, name) for name in batches}
    wall, cpu = {name: [] for name in models}, {name: [] for name in models}
    for i in range(args.warmup + args.steps):
        for name, model in models.items():
            t, c = time.perf_counter(), time.process_time()
            model.train_step(batches[name])
            model.end_step()
            if i >= args.warmup:
                wall[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.size}^3, fast={cfg['synthesis']['fast']}, "
          f"median of {args.steps} after {args.warmup} warm-up")
    for name in models:
        print(f"{name:<8} wall {statistics.median(wall[name]) * 1000:8.0f} ms/step (min {min(wall[name]) * 1000:.0f})"
              f"   process CPU {statistics.median(cpu[name]) * 1000:8.0f} ms/step (min {min(cpu[name]) * 1000:.0f})")
    for what, t in (("wall (min)", {k: min(v) for k, v in wall.items()}), ("process CPU (median)", {k: statistics.median(v) for k, v in cpu.items()})):
        ratio = t["fgan"] / t["pix2pix"]
        print(f"FGAN / Pix2Pix step time, {what}: {ratio:.2f}x (goal <= 1.5x): {'met' if ratio <= 1.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
