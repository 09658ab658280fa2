"""Speed and memory of the 3D synthesis training steps and of whole-volume imputation (not a test).

Compares, each variant in its own process (so peak RSS = that variant's ``ru_maxrss``):

- CycleGAN step, 64^3 patches, batch 1, ngf = ndf = 16, 6 residual blocks:
  (a) ``ref``: a faithful fp32 eager port of the reference design (notes/performance-baseline.md,
      variant (a): plain nn.Conv3d everywhere incl. the 1-output-channel 7^3 conv, contiguous layout,
      LSGAN + cycle L1 (10) + identity L1 (0.5 x 10), Adam 2e-4 / (0.5, 0.999), image pools as junyanz);
  (b) ``fast``: the zoo's CycleGAN step as the pipeline runs it (bf16 autocast + channels_last_3d + slab).
- Pix2Pix step, 64^3, U-Net (num_downs 4) + conditional PatchGAN, ngf = ndf = 16: fp32 eager vs fast path.
- Imputation of a 91x109x91 volume by the ResNet generator (ngf 16): fp32 sliding windows (MONAI,
  roi 64^3, overlap 0.25, 4 windows per batch) with the reference generator vs the project's
  whole-volume fast path.

A step is one generator update + one discriminator update on random inputs in [-1, 1]. Reported: median
ms/step over ``--steps`` timed steps after ``--warmup`` steps, speed-up, useful GFLOP/s (conv FLOPs of the
fp32 model counted once by ``torch.utils.flop_counter``), peak RSS. Goals (issue 7): CycleGAN >= 3.4x at
<= 1.5 GiB, Pix2Pix likewise, whole-volume imputation >= 6x.

    .venv/bin/python benchmarks/synthesis_step.py [--steps 10] [--warmup 2] [--threads 2] [--clock wall|cpu] [--only cyclegan,pix2pix,impute]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

SIZE, NGF, BLOCKS = 64, 16, 6
VOLUME = (91, 109, 91)


# ------------------------------------------------------------------ reference port, fp32 eager
class RefResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block = nn.Sequential(nn.ReflectionPad3d(1), nn.Conv3d(c, c, 3), nn.InstanceNorm3d(c), nn.ReLU(True),
                                   nn.ReflectionPad3d(1), nn.Conv3d(c, c, 3), nn.InstanceNorm3d(c))

    def forward(self, x):
        return x + self.block(x)


def ref_generator(ngf=NGF, n_blocks=BLOCKS):
    layers = [nn.ReflectionPad3d(3), nn.Conv3d(1, ngf, 7), nn.InstanceNorm3d(ngf), nn.ReLU(True)]
    for c in (ngf, 2 * ngf):
        layers += [nn.Conv3d(c, 2 * c, 3, stride=2, padding=1), nn.InstanceNorm3d(2 * c), nn.ReLU(True)]
    layers += [RefResBlock(4 * ngf) for _ in range(n_blocks)]
    for c in (4 * ngf, 2 * ngf):
        layers += [nn.ConvTranspose3d(c, c // 2, 3, stride=2, padding=1, output_padding=1), nn.InstanceNorm3d(c // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad3d(3), nn.Conv3d(ngf, 1, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def ref_discriminator(in_c=1, ndf=NGF):
    layers = [nn.Conv3d(in_c, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    c = ndf
    for stride in (2, 2, 1):
        layers += [nn.Conv3d(c, 2 * c, 4, stride, 1), nn.InstanceNorm3d(2 * c), nn.LeakyReLU(0.2, True)]
        c *= 2
    layers += [nn.Conv3d(c, 1, 4, 1, 1)]
    return nn.Sequential(*layers)


class RefCycleGAN:
    """junyanz's optimize_parameters: G_A, G_B step (D frozen), then D_A, D_B on pooled fakes (pool of 50)."""

    def __init__(self):
        torch.manual_seed(0)
        self.g_ab, self.g_ba, self.d_a, self.d_b = ref_generator(), ref_generator(), ref_discriminator(), ref_discriminator()
        self.opt_g = torch.optim.Adam(itertools.chain(self.g_ab.parameters(), self.g_ba.parameters()), 2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(itertools.chain(self.d_a.parameters(), self.d_b.parameters()), 2e-4, betas=(0.5, 0.999))
        self.pool_a, self.pool_b = [], []

    @staticmethod
    def _query(pool, x):
        if len(pool) < 50:
            pool.append(x.clone())
        return x

    def step(self, a, b):
        for d in (self.d_a, self.d_b):
            d.requires_grad_(False)
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        pred_b, pred_a = self.d_b(fake_b), self.d_a(fake_a)
        loss_g = (F.mse_loss(pred_b, torch.ones_like(pred_b)) + F.mse_loss(pred_a, torch.ones_like(pred_a))
                  + 10 * F.l1_loss(self.g_ba(fake_b), a) + 10 * F.l1_loss(self.g_ab(fake_a), b)
                  + 5 * F.l1_loss(self.g_ab(b), b) + 5 * F.l1_loss(self.g_ba(a), a))
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        for d in (self.d_a, self.d_b):
            d.requires_grad_(True)
        fa, fb = self._query(self.pool_a, fake_a.detach()), self._query(self.pool_b, fake_b.detach())
        loss_d = 0.0
        for d, real, fake in ((self.d_a, a, fa), (self.d_b, b, fb)):
            pr, pf = d(real), d(fake)
            loss_d = loss_d + 0.5 * (F.mse_loss(pr, torch.ones_like(pr)) + F.mse_loss(pf, torch.zeros_like(pf)))
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()


# ------------------------------------------------------------------ variants
def _inputs(shape=(SIZE,) * 3):
    g = torch.Generator().manual_seed(1)
    return (torch.rand(1, 1, *shape, generator=g) * 2 - 1, torch.rand(1, 1, *shape, generator=g) * 2 - 1)


def _zoo(name, fast):
    from mrisynth.synthesis.models import build

    kw = {"ngf": NGF, "ndf": NGF, "spatial_dims": 3, "seed": 0}
    kw.update({"n_blocks": BLOCKS} if name == "cyclegan" else {"num_downs": 4, "g_norm": "instance", "d_norm": "instance"})
    model = build(name, kw)
    model.configure(amp=fast, channels_last_3d=fast)
    a, b = _inputs()
    def step():
        model.train_step((a, b))
        model.end_step()
    return step, model


def make_step(variant):
    """(step function, fp32 model callable for FLOP counting)."""
    if variant == "cyclegan_ref":
        model, (a, b) = RefCycleGAN(), _inputs()
        return lambda: model.step(a, b)
    if variant in ("cyclegan_fast", "pix2pix_ref", "pix2pix_fast"):
        name, kind = variant.split("_")
        return _zoo(name, kind == "fast")[0]
    if variant in ("impute_ref", "impute_fast"):
        from monai.inferers import sliding_window_inference

        from mrisynth.synthesis.inference import InferenceConfig, predict
        from mrisynth.synthesis.models import to_fast_layout
        from mrisynth.zoo.nets import ResnetGenerator

        torch.manual_seed(0)
        x = torch.rand(1, 1, *VOLUME) * 2 - 1
        if variant == "impute_ref":
            g = ref_generator().eval()

            def run():
                with torch.inference_mode():
                    sliding_window_inference(x, (64,) * 3, 4, g, overlap=0.25, mode="constant")
            return run
        g = to_fast_layout(ResnetGenerator(ngf=NGF, n_blocks=BLOCKS, norm="instance", spatial_dims=3).eval())
        cfg = InferenceConfig(multiple=4, fast=True)
        return lambda: predict(g, x, cfg)
    raise ValueError(variant)


def count_gflop(variant) -> float:
    """Conv/matmul GFLOP of one step (or one imputation) of the fp32 reference of the same design."""
    from torch.utils.flop_counter import FlopCounterMode

    ref = {"cyclegan_fast": "cyclegan_ref", "pix2pix_fast": "pix2pix_ref", "impute_fast": "impute_ref"}.get(variant, variant)
    if ref == "impute_ref" and variant == "impute_fast":
        ref = "impute_fast_fp32"
    if ref == "impute_fast_fp32":  # the whole-volume work itself (fewer FLOPs than overlapping windows)
        from mrisynth.synthesis.inference import InferenceConfig, predict
        from mrisynth.zoo.nets import ResnetGenerator

        g = ResnetGenerator(ngf=NGF, n_blocks=BLOCKS, norm="instance", spatial_dims=3).eval()
        step = lambda: predict(g, torch.zeros(1, 1, *VOLUME), InferenceConfig(multiple=4, fast=False))  # noqa: E731
    else:
        step = make_step(ref)
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops() / 1e9


def run_variant(variant, steps, warmup, threads, clock) -> dict:
    torch.set_num_threads(threads)
    now = time.process_time if clock == "cpu" else time.perf_counter
    gflop = count_gflop(variant)
    step = make_step(variant)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t = now()
        step()
        times.append(now() - t)
    ms = statistics.median(times) * 1000
    return {"variant": variant, "ms": ms, "min_ms": min(times) * 1000, "max_ms": max(times) * 1000, "gflop": gflop,
            "gflops": gflop / (ms / 1000), "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10, help="timed steps per variant (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: elapsed time (needs a quiet machine); cpu: process CPU time, robust to other load "
                        "but counts every thread's time (use with --threads 1 to compare kernels on a busy machine)")
    p.add_argument("--only", default="cyclegan,pix2pix,impute", help="comma-separated groups")
    p.add_argument("--variant", help=argparse.SUPPRESS)  # internal: run one variant in this process
    args = p.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.steps, args.warmup, args.threads, args.clock)))
        return 0
    goals = {"cyclegan": 3.4, "pix2pix": 3.4, "impute": 6.0}
    print(f"torch {torch.__version__}, {args.threads} threads, {args.clock} clock, median of {args.steps} after {args.warmup} warm-up\n")
    print(f"{'variant':<15}{'ms':>10}{'min-max':>18}{'GFLOP':>9}{'GFLOP/s':>9}{'peak RSS MiB':>14}")
    for group in args.only.split(","):
        res = {}
        for kind in ("ref", "fast"):
            v = f"{group}_{kind}"
            out = subprocess.run([sys.executable, __file__, "--variant", v, "--steps", str(args.steps), "--warmup",
                                  str(args.warmup), "--threads", str(args.threads), "--clock", args.clock], capture_output=True, text=True, check=True)
            r = res[kind] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{v:<15}{r['ms']:>10.0f}{r['min_ms']:>9.0f}-{r['max_ms']:<8.0f}{r['gflop']:>9.1f}{r['gflops']:>9.1f}{r['peak_rss_mib']:>14.0f}", flush=True)
        ratio = res["ref"]["ms"] / res["fast"]["ms"]
        ok = ratio >= goals[group] and res["fast"]["peak_rss_mib"] <= 1536
        print(f"{group}: speed-up {ratio:.2f}x (goal >= {goals[group]}x, peak RSS <= 1.5 GiB): {'met' if ok else 'NOT met'}\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
