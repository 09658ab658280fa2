"""Estimated GPU hours and memory of the synthesis training jobs of a config (not a test; an ESTIMATE).

For each synthesis model of the config, one real training step (generator + discriminator update, the
zoo's own ``train_step``, fp32, CPU) is run on a small cubic patch under ``torch.utils.flop_counter``,
and the tensors autograd saves for backward are summed. Both scale with the number of voxels (the nets
are fully convolutional), so the step at the config's patch (per model) and batch costs ``(P / p)^3 * B`` times as
much. GPU hours = steps x FLOPs per step / an assumed sustained throughput (``--tflops``, default 40
TFLOP/s: bf16 3D convolutions with instance norm on an A100/H100-class GPU reach a small fraction of the
peak; measure on your GPU and pass the number). Memory = parameters with gradients and two Adam moments
+ the saved activations (an upper bound: G's and D's are summed, not overlapped).

    .venv/bin/python benchmarks/full_scale_estimate.py [--config configs/full.yaml] [--probe 32] [--tflops 40]
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from mrisynth.config import load_config
from mrisynth.synthesis import models as zoo_models


def measure_step(name: str, kwargs: dict, probe: int) -> tuple[float, int, int]:
    """FLOPs of one training step on a (1, 1, probe^3) batch, bytes saved for backward, parameter count."""
    torch.manual_seed(0)
    model = zoo_models.build(name, kwargs)
    batch = (torch.rand(1, 1, probe, probe, probe) * 2 - 1, torch.rand(1, 1, probe, probe, probe) * 2 - 1)
    saved = 0

    def pack(t):
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    with FlopCounterMode(display=False) as counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.train_step(batch)
    params = sum(p.numel() for net in model.nets.values() for p in net.parameters())
    return float(counter.get_total_flops()), saved, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/full.yaml", help="config whose synthesis section is estimated")
    parser.add_argument("--probe", type=int, default=32, help="side of the patch actually run (a multiple of 32)")
    parser.add_argument("--tflops", type=float, default=40.0, help="assumed sustained GPU throughput, TFLOP/s")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    sc = cfg["synthesis"]
    k, batch = int(cfg["split"]["k"]), int(sc["batch_size"])
    print(f"{args.config}: batch {batch}, {k} folds; probe {args.probe}^3; assumed {args.tflops:g} TFLOP/s "
          "sustained. ESTIMATES from CPU FLOP counts, not GPU measurements.")
    total = 0.0
    from mrisynth.synthesis.settings import configured_models, model_settings

    for name in configured_models(cfg):
        settings = model_settings(cfg, name)
        side, steps = settings.patch_size, settings.steps
        scale = (side / args.probe) ** 3 * batch
        flops, saved, params = measure_step(name, settings.kwargs(cfg["seed"]), args.probe)
        step_flops = flops * scale
        hours = steps * step_flops / (args.tflops * 1e12) / 3600
        memory_gib = (params * 4 * 4 + saved * scale) / 2**30
        total += hours * k
        print(f"  {name:9s} {side}^3 x {steps} steps: {params / 1e6:6.1f} M params, {step_flops / 1e12:7.2f} TFLOP/step, "
              f"~{hours:6.1f} GPU h per fold ({hours * k:6.1f} h for {k} folds), <= {memory_gib:5.1f} GiB per job")
    print(f"  synthesis training, all models and folds: ~{total:.0f} GPU hours")


if __name__ == "__main__":
    main()
