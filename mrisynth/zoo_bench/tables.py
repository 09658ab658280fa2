"""The 2D zoo benchmark on two datasets: scikit-learn's digits and axial slices of 3D volumes (the
phantom T1s, ``zoo_bench.slices``). Train each model with a fixed step budget, then score samples with FID /
KID / precision / recall / Inception Score in the feature space of a classifier trained here per dataset
(``zoo_bench.features``: digit class, or slice level), and sample grids.

Unconditional models are scored on ``n_samples`` samples against the real test images. The translation
models (Pix2Pix paired, CycleGAN unpaired) map domain A to domain B and are scored on their translations of
the test A images against the real test B images, plus paired PSNR / MAE / SSIM against each image's own B
(which Pix2Pix is trained to reproduce and CycleGAN never sees paired). On digits A is the low-resolution
digit and B the digit (same feature space as the unconditional models); on the phantom, A and B are the
images and targets of a paired slices file (``zoo_bench.slices``, e.g. T1 -> PET slices of the same plane), and B
has its own feature space: the ``phantom-target`` classifier, trained on the training targets.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch

from mrisynth.io.atomic import atomic_path, write_text
from mrisynth.zoo import registry
from mrisynth.zoo_bench.datasets import N_CLASSES, digits, image_dataset, low_resolution
from mrisynth.zoo.train import CHECKPOINT, Trainer, TrainConfig, load_model_state

log = logging.getLogger(__name__)

TRANSLATION = ("pix2pix", "cyclegan")
RUN_INFO = "run.json"
GRID = "samples.png"
DATASETS = ("digits", "phantom")  # phantom = a slices file written by zoo.slices (``slices`` argument)
# feature spaces (one classifier each): the datasets, and the phantom translations' targets
DOMAINS = ("digits", "phantom", "phantom-target")

# Per-model settings for 16x16 digits (1 channel); everything else is the model's own default.
DEFAULTS: dict[str, dict] = {
    "gan": {"ngf": 32, "ndf": 32, "latent_dim": 32},
    "lsgan": {"ngf": 32, "ndf": 32, "latent_dim": 32},
    "wgan": {"ngf": 32, "ndf": 32, "latent_dim": 32},
    "wgan-gp": {"ngf": 32, "ndf": 32, "latent_dim": 32},
    "dragan": {"ngf": 32, "ndf": 32, "latent_dim": 32},
    "cgan": {"ngf": 32, "ndf": 32, "latent_dim": 32, "n_classes": N_CLASSES},
    # BEGAN at this budget (measured, 500 steps on digits): with nf 16 / the paper's gamma 0.5, lambda_k 1e-3,
    # lr 1e-4, k_t stayed ~0 and G collapsed to one blob (FID 1015); nf 32, hidden 64, gamma 0.75 (more
    # diversity), lambda_k 0.05 (k_t reaches its equilibrium within the budget), lr 5e-4: FID 510.
    "began": {"nf": 32, "hidden": 64, "latent_dim": 32, "gamma": 0.75, "lambda_k": 0.05, "lr": 5e-4},
    "progressive": {"nf": 32, "latent_dim": 32},
    "pix2pix": {"ngf": 32, "ndf": 32, "num_downs": 4, "n_layers": 2},
    "cyclegan": {"ngf": 8, "ndf": 16, "n_blocks": 3, "n_layers": 2},
}


def model_config(name: str, image_size: int, steps: int, seed: int, overrides: dict | None = None, n_classes: int = N_CLASSES) -> dict:
    cfg = {"seed": seed, **DEFAULTS.get(name, {})}
    if name not in TRANSLATION:
        cfg["image_size"] = image_size
    if name == "cgan":
        cfg["n_classes"] = n_classes
    if name == "progressive":  # 4x4, then fade + stable per doubling: 16x16 -> steps // 5, 32x32 -> steps // 7
        cfg["stage_steps"] = max(1, steps // (2 * int(round(math.log2(image_size / 4))) + 1))
    if name == "pix2pix" and image_size == 32:
        cfg["num_downs"] = 5
    return cfg | (overrides or {})


def images(data: str, image_size: int, split: str = "train", slices: str | Path | None = None, part: str = "images") -> tuple[torch.Tensor, torch.Tensor]:
    """(images in [-1, 1], labels) of one split of ``digits`` or of the ``phantom`` slices file
    (``part="targets"``: the target images of a paired slices file)."""
    if data == "digits":
        return digits(image_size, split)
    if data == "phantom":
        from mrisynth.zoo_bench.slices import load_slices

        if slices is None:
            raise ValueError("the phantom dataset needs its slices file (mrisynth zoo slices)")
        return load_slices(slices, split, image_size, part)
    raise ValueError(f"data must be one of {DATASETS}, got {data!r}")


def pairs(data: str, image_size: int, split: str = "train", slices: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A, B, labels) of the translation task: digits: (low-res digit, digit); phantom: (images, targets)."""
    if data == "phantom":
        from mrisynth.zoo_bench.slices import load_pairs

        if slices is None:
            raise ValueError("the phantom translations need a paired slices file (mrisynth zoo slices --targets)")
        return load_pairs(slices, split, image_size)
    b, y = images(data, image_size, split, slices)
    return low_resolution(b), b, y


def domain(data: str, name: str) -> str:
    """The feature space (classifier) a run is scored in: its dataset, or phantom-target for translations."""
    return f"{data}-target" if data == "phantom" and name in TRANSLATION else data


def domain_images(key: str, image_size: int, split: str, slices: str | Path | None) -> torch.Tensor:
    """The real images of a feature space (what its runs' outputs are compared with)."""
    data, _, target = key.partition("-")
    return images(data, image_size, split, slices, "targets" if target else "images")[0]


def n_classes_of(data: str, slices: str | Path | None = None) -> int:
    return N_CLASSES if data == "digits" else int(images(data, 8, "all", slices)[1].max()) + 1


def dataset_for(name: str, image_size: int, split: str = "train", data: str = "digits", slices: str | Path | None = None):
    if name in TRANSLATION:
        a, b, y = pairs(data, image_size, split, slices)
        return image_dataset("paired" if name == "pix2pix" else "unpaired", b, y, a=a)
    return image_dataset("images", *images(data, image_size, split, slices))


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
    data: str = "digits",
    slices: str | Path | None = None,
) -> dict:
    """Train (or resume) one model on ``data``; writes checkpoint.pt, losses.csv, samples/, samples.png, run.json."""
    import time

    from mrisynth.seeding import seed_everything

    out_dir = Path(out_dir)
    slices = str(Path(slices).resolve()) if slices is not None else None
    seed_everything(seed)
    cfg = model_config(name, image_size, steps, seed, overrides, n_classes_of(data, slices))
    model = registry.build(name, **cfg)
    cpu0 = time.process_time()
    trainer = Trainer(
        model,
        dataset_for(name, image_size, "train", data, slices),
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
        "data": data,
        "slices": slices,
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
        "cpu_s": time.process_time() - cpu0,  # this session's process CPU time (all threads; shared cores)
    }
    save_final_grid(model, name, image_size, out_dir / GRID, data, slices)
    write_text(out_dir / RUN_INFO, json.dumps(info, indent=2))
    return info


def generate(model, name: str, image_size: int, n: int, seed: int = 0, data: str = "digits", slices=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(samples, matching truth or None): n samples, or translations of the test A images (and their B)."""
    model.eval()
    if name in TRANSLATION:
        a, truth, _ = pairs(data, image_size, "test", slices)
        with torch.no_grad():
            out = torch.cat([model.sample(len(x), a=x) for x in a.split(256)])
        return out.float().cpu().clamp(-1, 1), truth
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        out = torch.cat([model.sample(min(256, n - i), generator=gen) for i in range(0, n, 256)])
    return out.float().cpu().clamp(-1, 1), None


def save_final_grid(model, name: str, image_size: int, path: Path, data: str = "digits", slices=None) -> None:
    from mrisynth.zoo.viz import save_grid

    if name in TRANSLATION:
        a, truth, _ = pairs(data, image_size, "test", slices)
        a, truth = a[:32], truth[:32]
        model.eval()
        with torch.no_grad():
            fake = model.sample(32, a=a).float().cpu()
        grid = torch.stack([a, fake, truth[:32]], 1).flatten(0, 1)  # rows: input, output, truth
        save_grid(grid, path, nrow=12)
    else:
        save_grid(generate(model, name, image_size, 100, 1, data, slices)[0], path, nrow=10)


def load_run(run_dir: str | Path):
    run_dir = Path(run_dir)
    info = json.loads((run_dir / RUN_INFO).read_text())
    model = registry.build(info["model"], **info["config"])
    load_model_state(model, run_dir / CHECKPOINT)
    return model, info


def score(classifier, fake: torch.Tensor, real: torch.Tensor, truth: torch.Tensor | None = None, kid_subset: int = 200) -> dict:
    """FID / KID / precision / recall / IS of ``fake`` against ``real`` in the classifier's feature space."""
    from mrisynth.metrics.distribution import fid, inception_score, kid, precision_recall
    from mrisynth.zoo_bench.features import embed

    f_fake, p_fake = embed(classifier, fake)
    f_real, _ = embed(classifier, real)
    # subsets of at most half of the smaller set, so they differ and kid_std is a spread (the 120 PET test
    # slices would otherwise be one subset drawn 50 times: std 0)
    size = min(kid_subset, len(f_real) // 2, len(f_fake) // 2)
    kid_mean, kid_std = kid(f_real, f_fake, n_subsets=50, subset_size=size, seed=0)
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
        from mrisynth.metrics.image import mae, psnr, ssim

        # PSNR / MAE over all test pixels at once (the (N, H, W) stack is one array to them); SSIM per 2D
        # image (a 3D window would mix neighbouring images), then averaged
        row["psnr"] = psnr(fake[:, 0], truth[:, 0], data_range=2.0)
        row["mae"] = mae(fake[:, 0], truth[:, 0])
        row["ssim"] = sum(ssim(f, t, data_range=2.0) for f, t in zip(fake[:, 0], truth[:, 0])) / len(fake)
    return row


def evaluate_runs(run_dirs: list[str | Path], classifiers: dict, n_samples: int = 1000) -> list[dict]:
    """One row per run, scored against the real test images of its feature space (``domain``) with that
    space's classifier (``classifiers``: domain -> classifier). Reference rows first, per space: the real
    training images, and where translations are scored, their test inputs A (scored as if translations)."""
    runs = [load_run(r) for r in run_dirs]
    missing = sorted({domain(info.get("data", "digits"), info["model"]) for _, info in runs} - set(classifiers))
    if missing:
        raise ValueError(f"no classifier for the {missing} runs")
    rows, reals, inputs_scored = [], {}, set()
    for model, info in runs:
        data, name, size, slices = info.get("data", "digits"), info["model"], info["image_size"], info.get("slices")
        key = domain(data, name)
        clf = classifiers[key]
        if (key, size, slices) not in reals:
            real = reals[key, size, slices] = domain_images(key, size, "test", slices)
            rows.append({"data": key, "model": "real (train split)", **score(clf, domain_images(key, size, "train", slices), real)})
        real = reals[key, size, slices]
        if name in TRANSLATION and (key, size, slices) not in inputs_scored:
            inputs_scored.add((key, size, slices))
            a, truth, _ = pairs(data, size, "test", slices)
            rows.append({"data": key, "model": "input (A)", **score(clf, a, real, truth=truth)})
        fake, truth = generate(model, name, size, n_samples, 0, data, slices)
        row = {"data": key, "model": name, "steps": info["steps"], "wall_s": info["wall_s"], "s_per_step": info["s_per_step"], "cpu_s": info.get("cpu_s")}
        rows.append(row | score(clf, fake, real, truth))
        log.info("%s: %s", name, rows[-1])
    order = {d: i for i, d in enumerate(dict.fromkeys(r["data"] for r in rows))}
    reference = {"real (train split)": 0, "input (A)": 1}
    return sorted(rows, key=lambda r: (order[r["data"]], reference.get(r["model"], 2)))  # stable otherwise


COLUMNS = ["data", "model", "steps", "wall_s", "s_per_step", "cpu_s", "fid", "kid", "kid_std", "precision", "recall", "inception_score", "psnr", "mae", "ssim"]


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
