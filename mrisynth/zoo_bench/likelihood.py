"""The seed's comparison, measured: energy-based, autoencoder, latent-variable and autoregressive models
on binarised 8x8 scikit-learn digits (pixel > 8 of 16 -> 1), each trained with a fixed step budget
through the one trainer, then

1. table 1 (``likelihood_table``): each model's test loss in its own training criterion (the seed's
   "Test_loss" column) next to the comparable numbers: a log-likelihood or bound in nats per image and
   the NLL in bits per pixel, each labelled with its kind (exact / AIS / bound / ELBO / IWAE), and a
   Parzen-window estimate from samples for every model (Bernoulli kernels, bandwidth chosen on held-out
   training digits);
2. table 2 (``quality_table``): sample quality (precision, FID, KID) and diversity (recall, coverage) in
   the feature space of the digits classifier (:mod:`mrisynth.zoo_bench.features`), against the binarised
   test digits, with a sentence per model on whether the seed's "Comparisons among DGMs" claim held;
3. per model: a 10x10 grid of the scored samples and the training curve (PNG).

Samples: Bernoulli models return pixel probabilities (chain end / decoder means); the scored samples are
binary draws from them, like the data. The step budgets below are per run at batch size 64 (the
training split has 1347 digits, so 1000 steps is ~48 epochs); ``steps_scale`` multiplies all of them.

All nine runs (PixelRNN in both variants) take a few minutes on 2 CPU cores at ``steps_scale=1``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from mrisynth.io.atomic import atomic_path, write_text
from mrisynth.metrics import likelihood as L
from mrisynth.zoo import registry
from mrisynth.zoo.train import CHECKPOINT, LOSSES, Trainer, TrainConfig, load_model_state, read_losses

log = logging.getLogger(__name__)

SHAPE = (1, 8, 8)
N_DIMS = 64
RUN_INFO = "run.json"

# run name -> (registry name, trainer steps at steps_scale=1, model config). Batch size 64 everywhere.
RUNS: dict[str, tuple[str, int, dict]] = {
    "rbm": ("rbm", 3000, {"n_hidden": 100, "persistent": True, "n_chains": 100, "lr": 0.02, "momentum": 0.5}),
    "dbn": ("dbn", 4000, {"hidden": (100, 100), "steps_per_layer": 2000, "k": 1, "lr": 0.05}),
    "dbm": ("dbm", 4000, {"hidden": (100, 100), "pretrain_steps": 1000, "n_chains": 100, "lr": 0.05, "joint_lr": 0.005}),
    "dae": ("dae", 3000, {"n_hidden": 256, "corruption": "salt_pepper", "noise": 0.3, "loss": "mse"}),
    "gsn": ("gsn", 3000, {"n_hidden": 256, "corruption": "salt_pepper", "noise": 0.3, "walkback": 4}),
    "vae": ("vae", 3000, {"n_latent": 8, "n_hidden": 256}),
    "pixelcnn": ("pixelcnn", 1500, {"n_levels": 2, "gated": True, "channels": 16, "n_layers": 4, "lr": 2e-3}),
    "pixelrnn-row": ("pixelrnn", 1000, {"n_levels": 2, "variant": "row", "channels": 16, "n_layers": 2, "lr": 2e-3}),
    "pixelrnn-diagonal": ("pixelrnn", 600, {"n_levels": 2, "variant": "diagonal", "channels": 16, "n_layers": 2, "lr": 2e-3}),
}

# The seed's numbers ("Training & Validation Loss" and "Comparisons among DGMs"), for the side-by-side.
SEED_TEST_LOSS = {"rbm": 0.025985, "dbn": 0.064641, "dae": 0.010321, "gsn": 0.599898, "pixelcnn": 2.370674}
SEED_CLAIMS = {  # family: (quality, diversity)
    "dbn": ("Moderate", "Moderate"),
    "dbm": ("High", "High"),
    "dae": ("Moderate", "Low"),
    "gsn": ("High", "High"),
    "pixelcnn": ("Very High", "Low"),
    "pixelrnn-row": ("Very High", "Low"),
    "pixelrnn-diagonal": ("Very High", "Low"),
    "vae": ("Moderate", "High"),
}


def binary_digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Binarised 8x8 digits in {-1, 1} (N, 1, 8, 8) and labels, on the zoo's fixed split."""
    from mrisynth.zoo_bench.datasets import digits

    x, y = digits(8, split)
    return torch.where(x > 0, 1.0, -1.0), y


def train_run(run: str, out_dir: str | Path, steps_scale: float = 1.0, seed: int = 0, progress: bool = True) -> dict:
    """Train (or resume) one run; writes checkpoint.pt, losses.csv, run.json and curve.png (training curve)."""
    from torch.utils.data import TensorDataset

    name, steps, cfg = RUNS[run]
    steps = max(1, round(steps * steps_scale))
    cfg = {**cfg, "image_shape": SHAPE, "seed": seed}
    for key in ("steps_per_layer", "pretrain_steps"):  # greedy phases scale with the budget
        if key in cfg:
            cfg[key] = max(1, round(cfg[key] * steps_scale))
    out_dir = Path(out_dir)
    model = registry.build(name, **cfg)
    x, y = binary_digits("train")
    trainer = Trainer(model, TensorDataset(x, y), TrainConfig(steps=steps, batch_size=64, seed=seed, out_dir=str(out_dir), progress=progress))
    t0 = time.perf_counter()
    trainer.fit()
    info = {"run": run, "model": name, "config": cfg, "steps": steps, "wall_s": time.perf_counter() - t0}
    write_text(out_dir / RUN_INFO, json.dumps(info, indent=2))
    save_curve(out_dir / LOSSES, out_dir / "curve.png", run)
    return info


def load_run(run_dir: str | Path):
    info = json.loads((Path(run_dir) / RUN_INFO).read_text())
    model = registry.build(info["model"], **info["config"])
    load_model_state(model, Path(run_dir) / CHECKPOINT)
    return model.eval(), info


# ----------------------------------------------------------------------------------- table 1
def own_criterion(run: str, model, x: torch.Tensor) -> tuple[str, float]:
    """The test loss in the criterion the model trains on (name, value)."""
    g = torch.Generator().manual_seed(0)
    if run in ("rbm", "dbn", "dbm"):
        v = (x.flatten(1) + 1) / 2
        value = float(model.reconstruction_mse(v)) if run == "rbm" else model.reconstruction_mse(x)
        return "reconstruction MSE per pixel", value
    if run == "dae":
        return "denoising MSE per pixel", model.test_loss(x, g)
    if run == "gsn":
        return "walkback BCE per pixel (nats)", model.test_loss(x, g)
    if run == "vae":
        return "negative ELBO (nats per image)", -float(L.elbo(model.net, model.data_vectors(x), generator=g).mean())
    return "NLL (nats per pixel)", -float(L.exact_log_likelihood(model, x).mean()) / N_DIMS


def log_likelihood(
    run: str, model, x: torch.Tensor, train: torch.Tensor, ais_chains: int, ais_betas: int, iwae_k: int = 1000
) -> list[tuple[str, torch.Tensor]]:
    """[(kind, per-image log-likelihood or bound in nats)] for the models that have one."""
    g = torch.Generator().manual_seed(0)
    v, v_train = (x.flatten(1) + 1) / 2, (train.flatten(1) + 1) / 2
    base = L.base_visible_bias(v_train)
    if run == "rbm":
        z = L.ais_log_partition(**model.net.annealing_path(base), n_chains=ais_chains, n_betas=ais_betas, generator=g)
        return [(f"AIS estimate (log Z {z.log_z:.2f}, 3-SE [{z.log_z_low:.2f}, {z.log_z_high:.2f}])", L.rbm_log_likelihood_ais(model.net, v, z.log_z))]
    if run == "dbn":
        rbm1, top = model.rbms
        base_h1 = L.base_visible_bias(rbm1.hidden_probs(v_train))
        z = L.ais_log_partition(**top.annealing_path(base_h1), n_chains=ais_chains, n_betas=ais_betas, generator=g)
        return [("variational bound, top-RBM log Z by AIS", L.dbn_log_likelihood_lower_bound(rbm1, top, v, z.log_z, 20, g))]
    if run == "dbm":
        z = L.ais_log_partition(**model.net.annealing_path(base), n_chains=ais_chains, n_betas=ais_betas, generator=g)
        return [("mean-field bound, log Z by AIS", L.dbm_log_likelihood_lower_bound(model.net, v, z.log_z, 30))]
    if run == "vae":
        return [("ELBO", L.elbo(model.net, v, generator=g)), (f"IWAE bound k={iwae_k}", L.iwae_bound(model.net, v, k=iwae_k, generator=g))]
    if run.startswith("pixel"):
        return [("exact", L.exact_log_likelihood(model, x))]
    return []


def parzen(samples: torch.Tensor, validation: torch.Tensor, test: torch.Tensor) -> tuple[float, float]:
    """(mean Parzen log-likelihood of the test digits in nats, bandwidth chosen on ``validation``)."""
    s, val, t = ((a.flatten(1) + 1) / 2 for a in (samples, validation, test))
    bw, _ = L.parzen_select_bandwidth(s, val, [0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3], kernel="bernoulli")
    return float(L.parzen_log_likelihood(s, t, bw, kernel="bernoulli").mean()), bw


# ----------------------------------------------------------------------------------- table 2
def quality(classifier, fake: torch.Tensor, real: torch.Tensor) -> dict:
    """Precision / recall (k=3), density / coverage (k=5), FID, KID in the classifier's feature space.
    8x8 images are upsampled bilinearly to the classifier's input size."""
    from mrisynth.metrics.distribution import density_coverage, fid, kid, precision_recall
    from mrisynth.zoo_bench.features import embed

    size = classifier.config["size"]
    up = lambda t: F.interpolate(t.float(), size=(size, size), mode="bilinear", align_corners=False)  # noqa: E731
    f_fake, f_real = embed(classifier, up(fake))[0], embed(classifier, up(real))[0]
    precision, recall = precision_recall(f_real, f_fake, k=3)
    density, coverage = density_coverage(f_real, f_fake, k=5)
    kid_mean, _ = kid(f_real, f_fake, n_subsets=50, subset_size=min(200, len(f_real), len(f_fake)), seed=0)
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage, "fid": fid(f_real, f_fake), "kid": kid_mean}


TIERS = ("Low", "Moderate", "High")


def tier(value: float, values: list[float]) -> str:
    """Low / Moderate / High by the value's tertile among the compared models (higher is better).

    A relative verdict only: with 1000 samples against 450 test digits, precision / recall differences
    of a few hundredths are within sampling noise, so neighbouring tiers can swap between seeds."""
    rank = sorted(values).index(value) / max(1, len(values) - 1)
    return TIERS[min(2, int(rank * 3))]


def claim_sentence(run: str, precision_tier: str, recall_tier: str) -> str:
    if run not in SEED_CLAIMS:
        return "no claim in the seed"
    q, d = SEED_CLAIMS[run]
    q_ok = precision_tier == ("High" if q == "Very High" else q)
    d_ok = recall_tier == d
    verdict = {(True, True): "held", (False, False): "did not hold"}.get((q_ok, d_ok), "held for " + ("quality" if q_ok else "diversity") + " only")
    return f"seed: quality {q}, diversity {d}; measured: quality {precision_tier} (precision tertile), diversity {recall_tier} (recall tertile) -> {verdict}"


# ----------------------------------------------------------------------------------- driver
def evaluate(
    run_dirs: dict[str, Path],
    classifier,
    grid_dir: Path,
    n_samples: int = 1000,
    ais_chains: int = 200,
    ais_betas: int = 10000,
    iwae_k: int = 1000,
) -> tuple[list[dict], list[dict]]:
    """Table 1 and table 2 rows for the trained runs; writes ``grid_dir/<run>.png`` (10x10 samples)."""
    test, _ = binary_digits("test")
    train, _ = binary_digits("train")
    fit_part, validation = train[:-200], train[-200:]
    t1, t2 = [], [{"model": "real (binarised train split)", **quality(classifier, train, test)}]
    for run, run_dir in run_dirs.items():
        model, info = load_run(run_dir)
        criterion, value = own_criterion(run, model, test)
        g = torch.Generator().manual_seed(1)
        t0 = time.perf_counter()
        with torch.no_grad():
            samples = torch.cat([model.sample(min(250, n_samples - i), generator=g) for i in range(0, n_samples, 250)]).clamp(-1, 1)
            if not run.startswith("pixel"):  # the Bernoulli models return p(x = 1 | ...): draw the binary images
                samples = torch.bernoulli((samples + 1) / 2, generator=g) * 2 - 1
        sample_s = time.perf_counter() - t0
        from mrisynth.zoo.viz import save_grid

        save_grid(samples[:100], Path(grid_dir) / f"{run}.png", nrow=10)
        parzen_ll, bw = parzen(samples, validation, test)
        row = {"model": run, "steps": info["steps"], "train_s": info["wall_s"], "criterion": criterion, "test_loss": value, "seed_test_loss": SEED_TEST_LOSS.get(run, "")}
        for kind, ll in log_likelihood(run, model, test, fit_part, ais_chains, ais_betas, iwae_k) or [("none (no tractable likelihood)", None)]:
            if ll is None:
                t1.append(row | {"likelihood_kind": kind})
                continue
            s = L.summarize(ll, N_DIMS)
            t1.append(row | {"likelihood_kind": kind, "log_likelihood_nats": s["log_likelihood_nats"], "stderr_nats": s["stderr_nats"], "nll_bits_per_dim": s["nll_bits_per_dim"]})
        for r in t1:
            if r["model"] == run:
                r |= {"parzen_nats": parzen_ll, "parzen_bandwidth": bw}
        t2.append({"model": run, "sample_s_per_1000": sample_s * 1000 / n_samples, **quality(classifier, samples, test)})
        log.info("%s: %s | %s", run, t1[-1], t2[-1])
    models = [r for r in t2 if r["model"] in run_dirs]
    for r in models:
        pt = tier(r["precision"], [m["precision"] for m in models])
        rt = tier(r["recall"], [m["recall"] for m in models])
        r["seed_claim"] = claim_sentence(r["model"], pt, rt)
    return t1, t2


TABLE1 = ["model", "steps", "train_s", "criterion", "seed_test_loss", "test_loss", "likelihood_kind", "log_likelihood_nats", "stderr_nats", "nll_bits_per_dim", "parzen_nats", "parzen_bandwidth"]
TABLE2 = ["model", "precision", "recall", "density", "coverage", "fid", "kid", "sample_s_per_1000", "seed_claim"]


def write_table(rows: list[dict], columns: list[str], stem: Path) -> None:
    with atomic_path(stem.with_suffix(".csv")) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")


def save_curve(losses_csv: Path, png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_losses(losses_csv)
    keys = [k for k in rows[0] if k not in ("step", "layer", "phase")] if rows else []
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(4 * max(1, len(keys)), 3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=0.6)
        ax.set_title(f"{title}: {key}", fontsize=8)
        ax.set_xlabel("step")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def run_benchmark(out: str | Path, runs: list[str] | None = None, steps_scale: float = 1.0, seed: int = 0, classifier_path: str | None = None,
                  n_samples: int = 1000, ais_chains: int = 200, ais_betas: int = 10000, progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Train every run (resuming finished ones), evaluate, write ``likelihood_table`` and ``quality_table``."""
    from mrisynth.seeding import seed_everything
    from mrisynth.zoo_bench.datasets import digits
    from mrisynth.zoo_bench.features import load_classifier, train_classifier

    out = Path(out)
    runs = runs or list(RUNS)
    unknown = sorted(set(runs) - set(RUNS))
    if unknown:
        raise ValueError(f"unknown runs {unknown}; known: {', '.join(RUNS)}")
    for run in runs:
        train_run(run, out / run, steps_scale, seed, progress)
    seed_everything(seed)
    classifier = load_classifier(classifier_path) if classifier_path else train_classifier(*digits(16, "train"), seed=seed)
    t1, t2 = evaluate({r: out / r for r in runs}, classifier, out / "samples", n_samples, ais_chains, ais_betas)
    write_table(t1, TABLE1, out / "likelihood_table")
    write_table(t2, TABLE2, out / "quality_table")
    return t1, t2


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (one sub-folder per run, plus the two tables)")
    p.add_argument("--runs", nargs="*", default=None, help=f"subset of runs (default all: {' '.join(RUNS)})")
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every run's documented step budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classifier", default=None, help="digits feature classifier checkpoint (default: train one here)")
    p.add_argument("--n-samples", type=int, default=1000, help="samples per model for the quality metrics and Parzen")
    p.add_argument("--ais-chains", type=int, default=200)
    p.add_argument("--ais-betas", type=int, default=10000)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for these small nets)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    run_benchmark(args.out, args.runs, args.steps_scale, args.seed, args.classifier, args.n_samples, args.ais_chains, args.ais_betas)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
