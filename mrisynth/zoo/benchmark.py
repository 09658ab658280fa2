"""The 2D zoo benchmark on scikit-learn's digits: train each model with a fixed step budget, then score
samples with FID / KID / precision / recall / Inception Score in the feature space of a digits
classifier trained here (``zoo.features``), and sample grids.

Unconditional models are scored on ``n_samples`` samples against the real test digits; the translation
models (Pix2Pix, CycleGAN) on their translations of the low-resolution test digits (plus PSNR / MAE
against the true digits, which Pix2Pix is trained to reproduce and CycleGAN never sees paired).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from mrisynth.io.atomic import atomic_path, write_text
from mrisynth.zoo import registry
from mrisynth.zoo.data import N_CLASSES, digits, digits_dataset, low_resolution
from mrisynth.zoo.train import CHECKPOINT, Trainer, TrainConfig, load_model_state

log = logging.getLogger(__name__)

TRANSLATION = ("pix2pix", "cyclegan")
RUN_INFO = "run.json"
GRID = "samples.png"

# Per-model settings for 16x16 digits (1 channel); everything else is the model's own default.
DEFAULTS: dict[str, dict] = {
    "gan": {"ngf": 32, "ndf": 32, "latent_dim": 32},
    "lsgan": {"ngf": 32, "ndf": 32, "latent_dim": 32},
    "wgan": {"ngf": 32, "ndf": 32, "latent_dim": 32},
    "wgan-gp": {"ngf": 32, "ndf": 32, "latent_dim": 32},
    "dragan": {"ngf": 32, "ndf": 32, "latent_dim": 32},
    "cgan": {"ngf": 32, "ndf": 32, "latent_dim": 32, "n_classes": N_CLASSES},
    "began": {"nf": 16, "hidden": 32, "latent_dim": 32},
    "progressive": {"nf": 32, "latent_dim": 32},
    "pix2pix": {"ngf": 32, "ndf": 32, "num_downs": 4, "n_layers": 2},
    "cyclegan": {"ngf": 8, "ndf": 16, "n_blocks": 3, "n_layers": 2},
}


def model_config(name: str, image_size: int, steps: int, seed: int, overrides: dict | None = None) -> dict:
    cfg = {"seed": seed, **DEFAULTS.get(name, {})}
    if name not in TRANSLATION:
        cfg["image_size"] = image_size
    if name == "progressive":
        cfg["stage_steps"] = max(1, steps // 5)  # 4x4, fade+stable 8x8, fade+stable 16x16
    if name == "pix2pix" and image_size == 32:
        cfg["num_downs"] = 5
    return cfg | (overrides or {})


def dataset_for(name: str, image_size: int, split: str = "train"):
    kind = {"pix2pix": "paired", "cyclegan": "unpaired"}.get(name, "images")
    return digits_dataset(kind, image_size, split)


def train_model(
    name: str,
    out_dir: str | Path,
    steps: int,
    batch_size: int = 64,
    image_size: int = 16,
    seed: int = 0,
    overrides: dict | None = None,
    amp: bool = False,
    ema_decay: float = 0.0,
    device: str = "cpu",
    checkpoint_every: int = 0,
    sample_every: int = 0,
    progress: bool = True,
) -> dict:
    """Train (or resume) one model on digits; writes checkpoint.pt, losses.csv, samples/, samples.png, run.json."""
    from mrisynth.seeding import seed_everything

    out_dir = Path(out_dir)
    seed_everything(seed)
    cfg = model_config(name, image_size, steps, seed, overrides)
    model = registry.build(name, **cfg)
    trainer = Trainer(
        model,
        dataset_for(name, image_size),
        TrainConfig(
            steps=steps,
            batch_size=batch_size,
            seed=seed,
            device=device,
            amp=amp,
            ema_decay=ema_decay,
            out_dir=str(out_dir),
            checkpoint_every=checkpoint_every,
            sample_every=sample_every,
            progress=progress,
        ),
    )
    trainer.fit()
    info = {
        "model": name,
        "config": cfg,
        "steps": steps,
        "batch_size": batch_size,
        "image_size": image_size,
        "seed": seed,
        "amp": amp,
        "ema_decay": ema_decay,
        "parameters": model.num_parameters(),
        "wall_s": trainer.wall_s,  # train_step time over all sessions (kept in the checkpoint)
        "s_per_step": trainer.wall_s / steps,
    }
    save_final_grid(model, name, image_size, out_dir / GRID)
    write_text(out_dir / RUN_INFO, json.dumps(info, indent=2))
    return info


def generate(model, name: str, image_size: int, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(samples, matching truth or None): n samples, or translations of the low-res test digits."""
    model.eval()
    if name in TRANSLATION:
        truth, _ = digits(image_size, "test")
        a = low_resolution(truth)
        with torch.no_grad():
            out = torch.cat([model.sample(len(x), a=x) for x in a.split(256)])
        return out.float().cpu().clamp(-1, 1), truth
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        out = torch.cat([model.sample(min(256, n - i), generator=gen) for i in range(0, n, 256)])
    return out.float().cpu().clamp(-1, 1), None


def save_final_grid(model, name: str, image_size: int, path: Path) -> None:
    from mrisynth.zoo.viz import save_grid

    if name in TRANSLATION:
        truth, _ = digits(image_size, "test")
        a = low_resolution(truth[:32])
        model.eval()
        with torch.no_grad():
            fake = model.sample(32, a=a).float().cpu()
        images = torch.stack([a, fake, truth[:32]], 1).flatten(0, 1)  # rows: input, output, truth
        save_grid(images, path, nrow=12)
    else:
        save_grid(generate(model, name, image_size, 100, seed=1)[0], path, nrow=10)


def load_run(run_dir: str | Path):
    run_dir = Path(run_dir)
    info = json.loads((run_dir / RUN_INFO).read_text())
    model = registry.build(info["model"], **info["config"])
    load_model_state(model, run_dir / CHECKPOINT)
    return model, info


def score(classifier, fake: torch.Tensor, real: torch.Tensor, truth: torch.Tensor | None = None, kid_subset: int = 200) -> dict:
    """FID / KID / precision / recall / IS of ``fake`` against ``real`` in the classifier's feature space."""
    from mrisynth.metrics.distribution import fid, inception_score, kid, precision_recall
    from mrisynth.zoo.features import embed

    f_fake, p_fake = embed(classifier, fake)
    f_real, _ = embed(classifier, real)
    kid_mean, kid_std = kid(f_real, f_fake, n_subsets=50, subset_size=kid_subset, seed=0)
    precision, recall = precision_recall(f_real, f_fake, k=3)
    row = {
        "fid": fid(f_real, f_fake),
        "kid": kid_mean,
        "kid_std": kid_std,
        "precision": precision,
        "recall": recall,
        "inception_score": inception_score(p_fake)[0],
    }
    if truth is not None:
        from mrisynth.metrics.image import mae, psnr

        # over all test pixels at once: the (N, H, W) stack is one array to these 2D/3D metrics
        row["psnr"] = psnr(fake[:, 0], truth[:, 0], data_range=2.0)
        row["mae"] = mae(fake[:, 0], truth[:, 0])
    return row


def evaluate_runs(run_dirs: list[str | Path], classifier, n_samples: int = 1000, image_size: int = 16) -> list[dict]:
    """One row per run, plus two reference rows: real training digits and the low-resolution inputs."""
    real, _ = digits(image_size, "test")
    train, _ = digits(image_size, "train")
    rows = [
        {"model": "real (train split)", **score(classifier, train, real)},
        {"model": "low-res input (A)", **score(classifier, low_resolution(real), real, truth=real)},
    ]
    for run_dir in run_dirs:
        model, info = load_run(run_dir)
        fake, truth = generate(model, info["model"], info["image_size"], n_samples)
        row = {"model": info["model"], "steps": info["steps"], "wall_s": info["wall_s"], "s_per_step": info["s_per_step"]}
        rows.append(row | score(classifier, fake, real, truth))
        log.info("%s: %s", info["model"], row)
    return rows


COLUMNS = ["model", "steps", "wall_s", "s_per_step", "fid", "kid", "kid_std", "precision", "recall", "inception_score", "psnr", "mae"]


def write_table(rows: list[dict], csv_path: str | Path, markdown_path: str | Path | None = None) -> None:
    import csv

    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    if markdown_path is not None:
        write_text(markdown_path, markdown_table(rows))


def markdown_table(rows: list[dict]) -> str:
    def fmt(v):
        if v is None or v == "":
            return ""
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"
