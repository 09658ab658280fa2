"""Mode-collapse benchmark: the seed's "Different GANs" table, measured on 2D Gaussian mixtures and digits.

Data: a ring of 8 Gaussians (radius 2, sd 0.02) and a 5 x 5 grid of 25 Gaussians (spacing 2, sd 0.05),
the standard benchmarks of the unrolled GAN, VEEGAN and PacGAN papers, and scikit-learn's 8 x 8 digits as
64-vectors (10 modes = the classes). Every model uses the same small MLPs (``Setup``: G latent 2 -> 3 x 64
ReLU -> data dim, D data dim -> 3 x 64 LeakyReLU -> 1), the same learning rate
(1e-3) and batch (256), the same number of GENERATOR updates (a model with n_critic = 5 gets 5 x as many
critic steps) and the one trainer; otherwise each model keeps its own defaults (optimiser, n_critic,
clipping, penalty weight).

Per run, from 2500 samples of the final generator (and, for convergence, also at 75% of training):

* high-quality (HQ) sample: within 3 sd (Euclidean) of its nearest mode centre (98.9% of real samples);
* modes captured: modes holding at least 20% of their expected share (0.2 N / K) of HQ samples;
* modes covered: the same with a quarter of the mode spacing in place of 3 sd (from the 500 final samples
  kept per run). It separates mode collapse (modes never visited) from imprecise samples near every mode,
  which the 3 sd criterion also counts as lost;
* reverse KL of the mode histogram: KL(q || uniform) with q the modes of the HQ samples (0 = all modes
  equally covered; log K = one mode);
* converged: all modes captured and HQ share >= 0.5 both at 75% and at 100% of training.

On digits a sample's mode is the class a logistic-regression classifier (fitted on the training digits)
gives it; it is HQ when it lies within the 99th percentile of held-out real digits' distance to their
nearest training digit AND the classifier is >= 90% sure (about 83% of held-out real digits pass); it
counts as covering its class with the distance criterion alone.

Over seeds: the mean of each and its sd (stability). ``python -m mrisynth.zoo_bench.modes --help``.
The part-1 models (GAN, LSGAN, WGAN, WGAN-GP, DRAGAN, BEGAN) are built by name from the registry and
given the same MLPs (``on_mlps``); the f-GANs and remedies are :mod:`mrisynth.zoo.models.f_gan` and friends.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

N_EVAL = 2500
HQ_SIGMAS = 3.0
CAPTURE_SHARE = 0.2


# ----------------------------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True)
class Mixture:
    name: str
    centers: np.ndarray  # (K, 2)
    sd: float

    @property
    def k(self) -> int:
        return len(self.centers)

    dim = 2

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        idx = rng.integers(self.k, size=n)
        return (self.centers[idx] + self.sd * rng.standard_normal((n, 2))).astype(np.float32)

    def assign(self, samples: np.ndarray, loose: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(nearest mode, whether the sample is that close to it: 3 sd, or ``coverage_radius`` if loose)."""
        d = np.linalg.norm(samples[:, None, :] - self.centers[None], axis=2)
        return d.argmin(1), d.min(1) < (coverage_radius(self) if loose else HQ_SIGMAS * self.sd)


def ring(k: int = 8, radius: float = 2.0, sd: float = 0.02) -> Mixture:
    angles = 2 * np.pi * np.arange(k) / k
    return Mixture("ring8", radius * np.stack([np.cos(angles), np.sin(angles)], 1), sd)


def grid(side: int = 5, spacing: float = 2.0, sd: float = 0.05) -> Mixture:
    axis = spacing * (np.arange(side) - (side - 1) / 2)
    return Mixture("grid25", np.array([(a, b) for a in axis for b in axis]), sd)


DIGIT_CONFIDENCE = 0.9


@functools.lru_cache(maxsize=1)
def _digit_reference():
    """(training digits (N, 64), classifier, k-d tree of the training digits, HQ distance radius)."""
    from scipy.spatial import cKDTree
    from sklearn.linear_model import LogisticRegression

    from mrisynth.zoo_bench.datasets import digits

    x, y = digits(8, "train")
    x, y = x.reshape(len(x), -1).numpy(), y.numpy()
    held_out = digits(8, "test")[0].reshape(-1, 64).numpy()
    tree = cKDTree(x)
    radius = float(np.quantile(tree.query(held_out)[0], 0.99))
    return x.astype(np.float32), LogisticRegression(max_iter=2000).fit(x, y), tree, radius


@dataclasses.dataclass(frozen=True)
class DigitSet:
    """scikit-learn's 8 x 8 digits (the zoo's training split) as 64-vectors in [-1, 1]; 10 modes (classes)."""

    name: str = "digits"
    k: int = 10
    dim: int = 64

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        x = _digit_reference()[0]
        return x[rng.integers(len(x), size=n)]

    def assign(self, samples: np.ndarray, loose: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(class, whether the sample is digit-like: near a training digit [and confidently classified])."""
        _, classifier, tree, radius = _digit_reference()
        prob = classifier.predict_proba(samples)
        ok = tree.query(samples)[0] <= radius
        return prob.argmax(1), ok if loose else ok & (prob.max(1) >= DIGIT_CONFIDENCE)


DATASETS = {"ring8": ring, "grid25": grid, "digits": DigitSet}
DATASET_NAMES = {"ring8": "ring of 8 Gaussians", "grid25": "grid of 25 Gaussians", "digits": "8 x 8 digits"}


# ----------------------------------------------------------------------------------------- metrics
def coverage_radius(mixture: Mixture) -> float:
    """A quarter of the smallest distance between mode centres."""
    d = np.linalg.norm(mixture.centers[:, None] - mixture.centers[None], axis=2)
    return 0.25 * d[d > 0].min()


def mode_metrics(samples: np.ndarray, mixture, loose: bool = False) -> dict[str, float]:
    """Modes captured, HQ share and reverse KL of the HQ mode histogram (see the module docstring); with
    ``loose`` a sample counts with the looser criterion (modes covered)."""
    samples = np.asarray(samples, dtype=np.float64)
    finite = np.isfinite(samples).all(1)
    nearest, hq = mixture.assign(samples[finite], loose) if finite.any() else (np.zeros(0, int), np.zeros(0, bool))
    counts = np.bincount(nearest[hq], minlength=mixture.k)
    captured = int((counts >= CAPTURE_SHARE * len(samples) / mixture.k).sum())
    if counts.sum():
        q = counts / counts.sum()
        rkl = float(np.sum(q[q > 0] * np.log(q[q > 0] * mixture.k)))
    else:
        rkl = math.log(mixture.k)  # nothing near any mode: as bad as one mode
    return {"modes": captured, "hq_share": float(hq.sum() / len(samples)), "reverse_kl": rkl}


def converged(m: dict[str, float], k: int) -> bool:
    return m["modes"] == k and m["hq_share"] >= 0.5


# ----------------------------------------------------------------------------------------- models
@dataclasses.dataclass(frozen=True)
class Spec:
    label: str  # row name in the table
    registry: str  # name in mrisynth.zoo.registry
    cfg: dict  # config for build(); the mixture's K is filled in where a model needs it
    mlp_swap: str = ""  # "gan" or "began": a part-1 model that gets the benchmark's MLPs


@dataclasses.dataclass(frozen=True)
class Setup:
    """What every run shares."""

    g_updates: int = 1000  # the whole 5-seed table (3 datasets) then fits the 30 minutes on 2 cores
    hidden: int = 64
    depth: int = 3
    latent: int = 2
    lr: float = 1e-3
    batch_size: int = 256


SPECS = [
    Spec("GAN (minimax)", "gan", {"loss": "minimax"}, "gan"),
    Spec("GAN (NS)", "gan", {"loss": "non_saturating"}, "gan"),
    Spec("LSGAN", "lsgan", {}, "gan"),
    Spec("WGAN", "wgan", {}, "gan"),
    Spec("WGAN-GP", "wgan-gp", {}, "gan"),
    Spec("DRAGAN", "dragan", {}, "gan"),
    Spec("BEGAN", "began", {}, "began"),
    *[Spec(f"f-GAN {d}", "f-gan", {"divergence": d}) for d in ("kl", "reverse_kl", "js", "pearson", "hellinger", "tv")],
    Spec("Unrolled GAN (k=5)", "unrolled-gan", {"unroll_steps": 5}),
    Spec("Minibatch discrimination", "f-gan", {"divergence": "gan", "minibatch_features": 5}),
    Spec("Minibatch stddev", "f-gan", {"divergence": "gan", "minibatch_stddev": True}),
    Spec("Feature matching", "f-gan", {"divergence": "gan", "feature_matching": True}),
    Spec("PacGAN (pack=4)", "f-gan", {"divergence": "gan", "pack": 4}),
    Spec("InfoGAN (K codes)", "infogan", {"n_categories": None}),
    Spec("cGAN (mode label)", "gcds", {}),
]


def build_model(spec: Spec, mixture: Mixture, seed: int, setup: Setup = Setup()):
    import torch

    from mrisynth.zoo.registry import build

    cfg = dict(spec.cfg)
    if spec.registry == "gcds":  # a class-conditional GAN: x = one-hot mode label, y = the point
        cfg.update(x_dim=mixture.k, y_dim=mixture.dim, noise_dim=setup.latent, hidden=setup.hidden, depth=setup.depth, lr_g=setup.lr, lr_d=setup.lr, divergence="gan")
    elif spec.mlp_swap:
        cfg.update(latent_dim=setup.latent, seed=seed)
        cfg.update({"lr": setup.lr} if spec.mlp_swap == "began" else {"lr_g": setup.lr, "lr_d": setup.lr})
        model = build(spec.registry, **cfg)
        return on_mlps(model, setup, autoencoder=spec.mlp_swap == "began", data_dim=mixture.dim)
    else:
        cfg.update(data_dim=mixture.dim, latent_dim=setup.latent, hidden=setup.hidden, depth=setup.depth, lr_g=setup.lr, lr_d=setup.lr)
        if cfg.get("n_categories", 0) is None:
            cfg["n_categories"] = mixture.k
    torch.manual_seed(seed)
    return build(spec.registry, seed=seed, **cfg)


def on_mlps(model, setup: Setup, autoencoder: bool = False, data_dim: int = 2):
    """Give a registry model the benchmark's MLPs in place of its image nets; its optimizers are rebuilt
    with the same class and hyper-parameters."""
    from mrisynth.zoo.nets.mlp import MLPDiscriminator, mlp

    h, d = setup.hidden, setup.depth
    nets = {"G": mlp(model.latent_dim, data_dim, h, d, slope=0.0)}
    nets["D"] = mlp(data_dim, data_dim, h, d) if autoencoder else MLPDiscriminator(data_dim, h, d)
    for name, net in nets.items():
        opt = model.optimizers[name]
        model.nets[name] = net
        model.optimizers[name] = type(opt)(net.parameters(), **opt.defaults)
    return model


def generate(model, spec: Spec, mixture: Mixture, n: int, seed: int) -> np.ndarray:
    import torch

    gen = torch.Generator().manual_seed(10_000 + seed)
    model.eval()
    if spec.registry == "gcds":
        labels = torch.randint(mixture.k, (n,), generator=gen)
        out = model.sample(n, generator=gen, x=torch.nn.functional.one_hot(labels, mixture.k).float())
    else:
        out = model.sample(n, generator=gen)
    model.train()
    return out.detach().float().numpy()


# ----------------------------------------------------------------------------------------- one run
def run_one(spec: Spec, dataset: str, seed: int, setup: Setup = Setup()) -> dict:
    """Train one model on one dataset with one seed; metrics at 75% and 100% and the final samples."""
    import torch
    from torch.utils.data import TensorDataset

    from mrisynth.zoo.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    mixture = DATASETS[dataset]()
    rng = np.random.default_rng(seed)
    batch_size = setup.batch_size
    data = mixture.sample(max(20 * batch_size, 8192), rng)
    model = build_model(spec, mixture, seed, setup)
    n_critic = getattr(model, "n_critic", 1)
    if spec.registry == "gcds":
        labels = mixture.assign(data)[0]  # the mode label: nearest centre / class
        tensors = (torch.nn.functional.one_hot(torch.tensor(labels), mixture.k).float(), torch.tensor(data))
    else:
        tensors = (torch.tensor(data),)
    trainer = Trainer(model, TensorDataset(*tensors), TrainConfig(steps=0, batch_size=batch_size, seed=seed, progress=False))
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = {"model": spec.label, "dataset": dataset, "seed": seed, "k": mixture.k, "finite": True}
    for tag, frac in (("late", 0.75), ("final", 1.0)):
        trainer.config.steps = int(round(frac * setup.g_updates)) * n_critic
        try:
            trainer.fit()
            samples = generate(model, spec, mixture, N_EVAL, seed)
        except FloatingPointError:
            result["finite"] = False
            samples = np.full((N_EVAL, mixture.dim), np.nan, dtype=np.float32)
        result[tag] = mode_metrics(samples, mixture)
        if not result["finite"]:
            result["final"] = result[tag]
            break
    result["seconds"] = time.perf_counter() - t0
    result["cpu_seconds"] = time.process_time() - cpu0  # one torch thread per run: this is its core time
    result["converged"] = bool(result["finite"] and converged(result["late"], mixture.k) and converged(result["final"], mixture.k))
    result["samples"] = np.round(samples[:500].astype(np.float64), 3).tolist()  # float64: short decimals in the log
    return result


def _run_job(job):
    return run_one(*job)


# ----------------------------------------------------------------------------------------- table
SEED_TABLE = {  # the seed's "Different GANs" table: Stability, Mode Collapse, Convergence, Sample Quality
    "GAN": ("Low", "High", "Unstable", "Medium"),
    "LSGAN": ("Medium", "Medium", "More stable", "Medium"),
    "WGAN": ("High", "Low", "More stable", "High"),
    "WGAN-GP": ("Very High", "Very Low", "Very stable", "Very High"),
    "cGAN": ("Medium", "Medium", "Stable", "High"),
}
SEED_ROW = {"GAN (minimax)": "GAN", "GAN (NS)": "GAN", "LSGAN": "LSGAN", "WGAN": "WGAN", "WGAN-GP": "WGAN-GP", "cGAN (mode label)": "cGAN"}
LEVEL = {"Very Low": 0, "Low": 1, "Medium": 2, "High": 3, "Very High": 4, "Unstable": 0, "More stable": 1, "Stable": 1.5, "Very stable": 2}
SEED_REMEDIES = {  # the seed's "Techniques to Mitigate Mode Collapse" (besides WGAN, a row above)
    "Minibatch discrimination": "minibatch discrimination",
    "Feature matching": "feature matching",
    "Unrolled GAN (k=5)": "unrolled GANs",
    "InfoGAN (K codes)": "mutual information regularization",
}
BASELINE = "GAN (NS)"


def summarize(results: list[dict]) -> list[dict]:
    """One row per (model, dataset): means and sds over seeds."""
    rows = []
    keys = sorted({(r["model"], r["dataset"]) for r in results}, key=lambda t: ([s.label for s in SPECS].index(t[0]), list(DATASETS).index(t[1])))
    for model, dataset in keys:
        rs = [r for r in results if r["model"] == model and r["dataset"] == dataset]
        get = lambda f: np.array([r["final"][f] for r in rs], dtype=float)  # noqa: E731
        mixture = DATASETS[dataset]()
        covered = np.array([mode_metrics(np.array(r["samples"]), mixture, loose=True)["modes"] for r in rs], dtype=float)
        rows.append(
            {
                "model": model,
                "dataset": dataset,
                "k": rs[0]["k"],
                "seeds": len(rs),
                "modes_mean": get("modes").mean(),
                "modes_sd": get("modes").std(ddof=1) if len(rs) > 1 else 0.0,
                "covered_mean": covered.mean(),
                "covered_sd": covered.std(ddof=1) if len(rs) > 1 else 0.0,
                "hq_mean": get("hq_share").mean(),
                "hq_sd": get("hq_share").std(ddof=1) if len(rs) > 1 else 0.0,
                "rkl_mean": get("reverse_kl").mean(),
                "rkl_sd": get("reverse_kl").std(ddof=1) if len(rs) > 1 else 0.0,
                "converged": int(sum(r["converged"] for r in rs)),
                "diverged": int(sum(not r["finite"] for r in rs)),
                "seconds": float(np.mean([r["seconds"] for r in rs])),
                "cpu_seconds": float(np.mean([r["cpu_seconds"] for r in rs if "cpu_seconds" in r] or [np.nan])),
            }
        )
    return rows


def _score(rows: list[dict], model: str) -> dict[str, float] | None:
    """Dataset-averaged measures on the scale of the seed's words (higher = better)."""
    mine = [r for r in rows if r["model"] == model]
    if not mine:
        return None
    return {
        "seeds": min(r["seeds"] for r in mine),
        "stability": -np.mean([r["covered_sd"] / r["k"] + r["hq_sd"] for r in mine]),  # less spread = more stable
        "mode_coverage": np.mean([r["covered_mean"] / r["k"] for r in mine]),  # the opposite of mode collapse
        "convergence": np.mean([r["converged"] / r["seeds"] for r in mine]),
        "quality": np.mean([r["hq_mean"] for r in mine]),
    }


def verdict(rows: list[dict], model: str) -> str:
    """One sentence: does the seed's claim (its table's ordering against GAN, or "mitigates mode collapse"
    for its remedies) hold for ``model``, followed by the dataset-averaged numbers it was decided on."""
    seed_row = SEED_ROW.get(model)
    me, base = _score(rows, model), _score(rows, BASELINE)
    if me is None or base is None:
        return "Not measured."
    # decided on the numbers as printed (2 decimals): a difference that does not show is no difference
    me, base = ({k: round(float(v), 2) for k, v in d.items()} for d in (me, base))
    if seed_row is None:
        claims = [("less mode collapse than GAN", me["mode_coverage"] > base["mode_coverage"])] if model in SEED_REMEDIES else []
    elif seed_row == "GAN":
        claims = [
            ("mode collapse is high", me["mode_coverage"] < 0.9),
            ("convergence is unstable", me["convergence"] < 0.8),
        ]
    else:
        words, gan_words = SEED_TABLE[seed_row], SEED_TABLE["GAN"]
        claims = []
        for i, (name, sign) in enumerate((("stability", 1), ("mode_coverage", -1), ("convergence", 1), ("quality", 1))):
            diff = sign * (LEVEL[words[i]] - LEVEL[gan_words[i]])
            if diff == 0 or (name == "stability" and min(me["seeds"], base["seeds"]) < 2):
                continue  # no claim, or no spread to compare with a single seed
            label = {"stability": "more stable", "mode_coverage": "less mode collapse", "convergence": "converges more often", "quality": "better samples"}[name]
            if diff < 0:
                label = label.replace("more", "less").replace("less mode", "more mode").replace("better", "worse")
            claims.append((f"{label} than GAN", me[name] > base[name] if diff > 0 else me[name] < base[name]))
    held = [c for c, ok in claims if ok]
    failed = [c for c, ok in claims if not ok]
    parts = []
    if held:
        parts.append("held: " + ", ".join(held))
    if failed:
        parts.append("did not hold: " + ", ".join(failed))
    if parts:
        text = "Seed's claim " + "; ".join(parts) + "."
    else:
        text = "No claim in the seed." if seed_row is None else "No claim that differs from GAN."
    if seed_row == "GAN":
        return text + f" Measured: modes covered {me['mode_coverage']:.2f} of K (high collapse: < 0.9), converged {me['convergence']:.2f} of seeds (unstable: < 0.8)."
    vs = f" vs {base['mode_coverage']:.2f}" if model != BASELINE else ""
    measured = f" Measured vs {BASELINE}: modes covered {me['mode_coverage']:.2f}{vs} of K, HQ {me['quality']:.2f} vs {base['quality']:.2f}, "
    measured += f"converged {me['convergence']:.2f} vs {base['convergence']:.2f} of seeds, spread {-me['stability']:.2f} vs {-base['stability']:.2f} (sd/K + sd of HQ)."
    return text + measured


def markdown(rows: list[dict], meta: dict) -> str:
    datasets = [d for d in DATASETS if any(r["dataset"] == d for r in rows)]
    lines = [
        "# Different GANs, measured (" + ", ".join(DATASET_NAMES[d] for d in datasets) + ")",
        "",
        f"Up to {meta['seeds']} seeds per row (conv.: converged / seeds run), {meta['g_updates']} generator updates, batch {meta['batch_size']}, "
        f"MLPs {meta['depth']} x {meta['hidden']}, Adam lr {meta['lr']:g}; "
        f"{meta['run_minutes_total']:.0f} process-minutes (wall) of training in all, "
        f"{meta.get('cpu_minutes_total', float('nan')):.0f} CPU-minutes over the {meta.get('cpu_timed_runs', 0)} runs timed. Modes: captured of K; HQ: share "
        f"within 3 sd of a mode (digits: near a training digit and classified with >= 90% confidence); cov.: modes covered "
        f"within a quarter of the mode spacing (digits: near a training digit); rKL: reverse KL of the HQ mode "
        f"histogram (0 best); conv.: seeds converged. Mode collapse is judged on cov., sample quality on HQ. "
        f"Mean +- sd over seeds (the sd is the stability). Verdicts average cov. / K, HQ, convergence and spread over the "
        f"datasets and compare with {BASELINE}.",
        "",
        "| model | seed's words (stab. / collapse / conv. / quality) | "
        + " | ".join(f"{d} {c}" for d in datasets for c in ("modes", "cov.", "HQ", "rKL", "conv."))
        + " | verdict |",
        "|---|---|" + "---|" * (5 * len(datasets)) + "---|",
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        words = " / ".join(SEED_TABLE[SEED_ROW[model]]) if model in SEED_ROW else f"remedy: {SEED_REMEDIES[model]}" if model in SEED_REMEDIES else "-"
        cells = []
        for ds in datasets:
            r = next((r for r in rows if r["model"] == model and r["dataset"] == ds), None)
            if r is None:
                cells += ["-"] * 5
                continue
            cells += [
                f"{r['modes_mean']:.1f} +- {r['modes_sd']:.1f}",
                f"{r['covered_mean']:.1f} +- {r['covered_sd']:.1f}",
                f"{r['hq_mean']:.2f} +- {r['hq_sd']:.2f}",
                f"{r['rkl_mean']:.2f} +- {r['rkl_sd']:.2f}",
                f"{r['converged']}/{r['seeds']}" + (f" ({r['diverged']} NaN)" if r["diverged"] else ""),
            ]
        lines.append(f"| {model} | {words} | " + " | ".join(cells) + f" | {verdict(rows, model)} |")
    lines += ["", "StyleGAN (in the seed's table) is not measured: it is an image architecture, not a loss."]
    return "\n".join(lines) + "\n"


def cpu_markdown(results: list[dict]) -> str:
    """CPU seconds (one thread per run) per seed and dataset, summed over the rows, and the whole table on 2
    cores. Runs logged before CPU time was recorded count with their row's mean over the timed seeds (*)."""
    datasets = [d for d in DATASETS if any(r["dataset"] == d for r in results)]
    timed: dict[tuple, list[float]] = {}
    for r in results:
        if "cpu_seconds" in r:
            timed.setdefault((r["model"], r["dataset"]), []).append(r["cpu_seconds"])
    cells: dict[tuple, list] = {}
    for r in results:
        cpu = r.get("cpu_seconds", np.mean(timed.get((r["model"], r["dataset"]), [np.nan])))
        cell = cells.setdefault((r["seed"], r["dataset"]), [0.0, 0, False])
        cell[0] += cpu
        cell[1] += 1
        cell[2] |= "cpu_seconds" not in r
    seeds = sorted({r["seed"] for r in results})
    lines = ["CPU seconds per seed and dataset (sum over the runs in it; * = some runs' CPU time estimated from their row's other seeds):", ""]
    lines += ["| seed | " + " | ".join(f"{d} (runs)" for d in datasets) + " | all |", "|---|" + "---|" * (len(datasets) + 1)]
    for seed in seeds:
        row = [cells.get((seed, d)) for d in datasets]
        text = [f"{c[0]:.0f}{'*' if c[2] else ''} ({c[1]})" if c else "-" for c in row]
        lines.append(f"| {seed} | " + " | ".join(text) + f" | {sum(c[0] for c in row if c):.0f} |")
    total = sum(c[0] for c in cells.values())
    per_ds = [sum(c[0] for (_, d), c in cells.items() if d == ds) for ds in datasets]
    lines.append("| all | " + " | ".join(f"{t:.0f}" for t in per_ds) + f" | {total:.0f} |")
    lines += ["", f"Whole table: {total / 60:.1f} CPU-minutes over {len(results)} runs = {total / 120:.1f} minutes on 2 free cores (one run per core)."]
    return "\n".join(lines) + "\n"


def plot_samples(results: list[dict], out_png: Path, dataset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrisynth.io.atomic import atomic_path

    runs = [r for r in results if r["dataset"] == dataset and r["seed"] == min(x["seed"] for x in results)]
    runs.sort(key=lambda r: [s.label for s in SPECS].index(r["model"]))
    cols = 5
    rows = math.ceil(len(runs) / cols)
    mixture = DATASETS[dataset]()
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, r in zip(axes.ravel(), runs):
        s = np.array(r["samples"])
        if isinstance(mixture, Mixture):
            lim = np.abs(mixture.centers).max() + 1
            ax.scatter(mixture.centers[:, 0], mixture.centers[:, 1], s=12, c="tab:red", marker="x")
            ax.scatter(s[:, 0], s[:, 1], s=1, c="tab:blue", alpha=0.5)
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
        else:  # the first 36 samples as a 6 x 6 grid of 8 x 8 images, a grey pixel between them
            tiles = np.pad(np.nan_to_num(s[:36]).reshape(6, 6, 8, 8), ((0, 0), (0, 0), (0, 1), (0, 1)), constant_values=0.0)
            ax.imshow(tiles.transpose(0, 2, 1, 3).reshape(54, 54), cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"{r['model']}\nmodes {r['final']['modes']}/{r['k']}", fontsize=7)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def benchmark(
    out_dir: Path,
    seeds: int = 5,
    setup: Setup = Setup(),
    workers: int = 2,
    models: list[str] | None = None,
    datasets: list[str] | None = None,
    progress: bool = True,
    table_only: bool = False,
) -> list[dict]:
    """Run every (model, dataset, seed) job and write the table. Each finished run is appended to
    ``runs.jsonl`` (a progress log): a rerun with the same set-up skips the runs already there, and
    ``table_only`` writes the table from the runs logged so far without training."""
    from tqdm.auto import tqdm

    specs = [s for s in SPECS if models is None or s.label in models]
    datasets = datasets or list(DATASETS)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "runs.jsonl"
    setup_dict = dataclasses.asdict(setup)
    done = {}
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            r = json.loads(line)
            if r["setup"] == setup_dict:
                done[(r["model"], r["dataset"], r["seed"])] = r
    jobs = [] if table_only else [(s, d, seed, setup) for s in specs for d in datasets for seed in range(seeds) if (s.label, d, seed) not in done]
    jobs.sort(key=lambda j: j[2])  # seed by seed: an interrupted benchmark still has every row
    t0 = time.perf_counter()
    with open(log_path, "a") as log, tqdm(total=len(jobs), disable=not progress, desc="mode benchmark") as bar:

        def record(r):
            r["setup"] = setup_dict
            done[(r["model"], r["dataset"], r["seed"])] = r
            log.write(json.dumps(r) + "\n")
            log.flush()
            bar.update(1)

        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                for fut in as_completed([pool.submit(_run_job, j) for j in jobs]):
                    record(fut.result())
        else:
            for j in jobs:
                record(_run_job(j))
    wanted = {(s.label, d, seed) for s in specs for d in datasets for seed in range(seeds)}
    results = [r for key, r in done.items() if key in wanted]
    meta = {"seeds": seeds, "workers": workers, "minutes_this_call": (time.perf_counter() - t0) / 60, **setup_dict}
    meta["run_minutes_total"] = sum(r["seconds"] for r in results) / 60
    timed = [r["cpu_seconds"] for r in results if "cpu_seconds" in r]
    meta["cpu_minutes_total"] = sum(timed) / 60
    meta["cpu_timed_runs"] = len(timed)
    return write_outputs(out_dir, results, meta)


def write_outputs(out_dir: Path, results: list[dict], meta: dict) -> list[dict]:
    from mrisynth.io.atomic import write_text

    rows = summarize(results)
    datasets = sorted({r["dataset"] for r in results}, key=list(DATASETS).index)
    write_text(out_dir / "table.json", json.dumps({"meta": meta, "rows": rows}, indent=1))
    write_text(out_dir / "table.md", markdown(rows, meta) + "\n" + cpu_markdown(results))
    for d in datasets:
        plot_samples(results, out_dir / f"samples_{d}.png", d)
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="results/zoo/modes", help="output folder: table.md, table.json, runs.jsonl (resumable log), samples_<dataset>.png")
    parser.add_argument("--config", help="YAML config: section zoo.modes gives seeds, g_updates, datasets, models (flags override it)")
    parser.add_argument("--seeds", type=int, help="seeds per model and dataset (the sd over them is the stability; default 5)")
    parser.add_argument("--g-updates", type=int, help=f"generator updates per run (critic steps = n_critic x this; default {Setup.g_updates})")
    parser.add_argument("--hidden", type=int, default=Setup.hidden, help="width of every MLP layer")
    parser.add_argument("--lr", type=float, default=Setup.lr, help="learning rate of both players")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes, one torch thread each")
    parser.add_argument("--models", nargs="*", help=f"subset of rows (default all): {[s.label for s in SPECS]}")
    parser.add_argument("--datasets", nargs="*", choices=list(DATASETS), help="subset of datasets (default all: ring8, grid25, digits)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    parser.add_argument("--table-only", action="store_true", help="train nothing: write the table from the runs already in runs.jsonl")


def run(args: argparse.Namespace) -> int:
    from mrisynth.errors import InputError

    budget = {"seeds": 5, "g_updates": Setup.g_updates, "datasets": None, "models": None}
    if args.config:
        from mrisynth.config import load_config

        budget.update(load_config(args.config)["zoo"]["modes"])
    for key in budget:
        if getattr(args, key) is not None:
            budget[key] = getattr(args, key)
    unknown = sorted(set(budget["models"] or []) - {s.label for s in SPECS})
    if unknown:
        raise InputError(f"unknown benchmark rows {unknown}; known: {[s.label for s in SPECS]}")
    setup = Setup(g_updates=budget["g_updates"], hidden=args.hidden, lr=args.lr)
    benchmark(Path(args.out), budget["seeds"], setup, args.workers, budget["models"], budget["datasets"], not args.no_progress, args.table_only)
    print((Path(args.out) / "table.md").read_text())
    return 0


def add_modes_parser(subparsers) -> None:
    """``mrisynth zoo modes``."""
    p = subparsers.add_parser("modes", help="mode-collapse benchmark (ring of 8 / grid of 25 Gaussians): the seed's GAN table measured", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mrisynth.zoo_bench.modes", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
