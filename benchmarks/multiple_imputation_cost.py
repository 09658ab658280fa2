"""Cost of multiple imputation (issue 12) at the demo's size (not a test).

1. Training: one Pix2Pix step of the config's deterministic generator vs the same generator with noise in
   every block and the energy-score objective (two generator draws per G step), timed alternately in one
   process so that load from other processes hits both alike.
2. Imputation: one whole-volume forward of the stochastic generator (the fast path when
   ``synthesis.fast``); K draws cost K forwards with the network loaded once.

Printed: wall (min) and process-CPU (median) ms, the training-step ratio and the K-draw imputation cost
per subject. On a loaded machine the CPU-time figures are the meaningful ones.

    .venv/bin/python benchmarks/multiple_imputation_cost.py [--config configs/demo.yaml] [--size 64] [--k 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no busy-waiting in CPU time
import torch  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/demo.yaml", help="config whose synthesis.models.pix2pix.net is used")
    p.add_argument("--size", type=int, default=64, help="cubic input side (the demo's 3 mm volume pads to 64^3)")
    p.add_argument("--steps", type=int, default=6, help="timed training steps per variant")
    p.add_argument("--k", type=int, default=10, help="draws per subject")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    args = p.parse_args()
    from mrisynth.config import load_config
    from mrisynth.synthesis import models
    from mrisynth.synthesis.inference import InferenceConfig, whole_volume

    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    fast = bool(cfg["synthesis"]["fast"])
    from mrisynth.synthesis.settings import model_settings

    base = {**model_settings(cfg, "pix2pix").kwargs(cfg["seed"]), "noise": "none", "diversity": "none"}
    variants = {"deterministic": base, "noise+energy": {**base, "noise": "layers", "noise_channels": 1, "diversity": "energy",
                                                        "use_dropout": False}}
    nets = {k: models.build("pix2pix", kw).configure(amp=fast, channels_last_3d=fast) for k, kw in variants.items()}
    g = torch.Generator().manual_seed(0)
    batch = tuple(torch.rand(1, 1, *(args.size,) * 3, generator=g) * 2 - 1 for _ in range(2))
    wall, cpu = {k: [] for k in nets}, {k: [] for k in nets}
    for i in range(2 + args.steps):
        for name, model in nets.items():
            t, c = time.perf_counter(), time.process_time()
            model.train_step(batch)
            model.end_step()
            if i >= 2:
                wall[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.size}^3, fast={fast}")
    for name in nets:
        print(f"train step {name:<14} wall min {min(wall[name]) * 1000:7.0f} ms   CPU median {statistics.median(cpu[name]) * 1000:7.0f} ms")
    print(f"training step ratio noise+energy / deterministic: CPU {statistics.median(cpu['noise+energy']) / statistics.median(cpu['deterministic']):.2f}x, "
          f"wall {min(wall['noise+energy']) / min(wall['deterministic']):.2f}x")
    net = models.generator(nets["noise+energy"], ema=False).eval()
    icfg = InferenceConfig(multiple=models.input_multiple("pix2pix", variants["noise+energy"]), fast=fast)
    fw, fc = [], []
    for i in range(2 + args.k):
        t, c = time.perf_counter(), time.process_time()
        whole_volume(net, batch[0], icfg)
        if i >= 2:
            fw.append(time.perf_counter() - t)
            fc.append(time.process_time() - c)
    print(f"one draw (whole-volume forward): wall min {min(fw) * 1000:.0f} ms, CPU median {statistics.median(fc) * 1000:.0f} ms; "
          f"K={args.k} draws per subject: ~{args.k * min(fw):.1f} s wall, {args.k * statistics.median(fc):.1f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
