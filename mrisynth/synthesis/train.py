"""``train-synthesis``: one synthesis model (Pix2Pix, CycleGAN, FGAN or its ablation), one fold, with the
zoo's one trainer.

The trainer owns the loop, checkpoints, bit-exact resume, AMP / channels_last_3d, loss CSV and progress.
This module adds, through the trainer's periodic sample callback: a validation PSNR / SSIM / CRPS curve on
the fold's validation subjects (whole-volume inference, SUVR, brain mask), PNGs of mid-slices (MRI, real
PET, synthetic PET) and ``best.pt``: the generator of the validation step best by the model's
``select_by``, together with the intensity mapping and what is needed to rebuild it. Every file name comes
from :mod:`mrisynth.synthesis.paths`.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import torch

from mrisynth.errors import InputError
from mrisynth.io.atomic import atomic_path, save_figure
from mrisynth.io.nifti import load_array
from mrisynth.synthesis import models as zoo_models
from mrisynth.synthesis import paths
from mrisynth.synthesis.inference import InferenceConfig, predict
from mrisynth.synthesis.intensity import IntensityMapping
from mrisynth.synthesis.settings import ModelSettings
from mrisynth.zoo.nets.noise import is_stochastic, seeded_draw

log = logging.getLogger(__name__)
VALIDATION = "validation.csv"
VALIDATION_DRAWS = 4  # draws averaged per validation subject for a stochastic (noise-injecting) generator
METRICS = ("psnr", "ssim", "crps", "metaroi")  # validation.csv columns; select_by picks one (CRPS of one draw = MAE)
LOWER_IS_BETTER = ("crps", "metaroi")  # metaroi: RMSE over validation subjects of the meta-ROI mean SUVR


class Validator:
    """Trainer sample callback: validation metrics, a PNG, and best-checkpoint selection (by ``select_by``)."""

    def __init__(self, name: str, kwargs: dict, mapping: IntensityMapping, val: list[dict], train_dir: Path,
                 best_path: Path, inference: InferenceConfig, select_by: str = "ssim", meta_roi: np.ndarray | None = None,
                 select_from: int = 0):
        self.name, self.kwargs, self.mapping = name, kwargs, mapping
        self.val = val  # [{"id", "t1" (net range tensor 1,1,X,Y,Z), "pet" (SUVR array), "mask"}]
        self.meta_roi = meta_roi  # AD-signature voxels (synthesis.regional) of the grid, for the metaroi score
        self.train_dir, self.best_path = Path(train_dir), Path(best_path)
        self.inference = inference
        self.select_by = select_by
        self.select_from = select_from  # steps 1 .. select_from - 1 are validated and plotted but never chosen

    @property
    def csv_path(self) -> Path:
        return self.train_dir / VALIDATION

    def rows(self) -> list[dict]:
        if not self.csv_path.exists():
            return []
        with open(self.csv_path, newline="") as fh:
            return [{"step": int(r["step"]), **{k: float(r.get(k) or "nan") for k in METRICS}} for r in csv.DictReader(fh)]

    def __call__(self, model, step: int, folder: Path, n: int) -> None:
        from mrisynth.metrics.image import psnr, ssim
        from mrisynth.metrics.calibration import crps

        net = zoo_models.generator(model)
        n_draws = VALIDATION_DRAWS if is_stochastic(net) else 1
        scores, preview = [], None
        for v in self.val:
            # a stochastic generator is scored by the mean of a few seeded draws (what imputation writes),
            # drawn on a forked RNG so that validating does not change the training's random stream
            with torch.random.fork_rng(devices=[]):
                outs = []
                for k in range(n_draws):  # antithetic pairs where the generator has them (as impute)
                    with seeded_draw(net, k):
                        outs.append(predict(net, v["t1"].to(model.device), self.inference)[0])
            suvr = np.stack([self.mapping.net_to_pet(y[0, 0].cpu(), v["t1"][0, 0]).numpy() for y in outs])
            pet = suvr.mean(0)  # as impute: the mean of the draws in SUVR
            rng = float(v["pet"][v["mask"]].max() - v["pet"][v["mask"]].min())
            roi = self.meta_roi  # as evaluation: the grid's meta-ROI (cortex), the same voxels for every subject
            roi_err = float(pet[roi].mean() - v["pet"][roi].mean()) ** 2 if roi is not None and roi.any() else float("nan")
            scores.append((psnr(pet, v["pet"], v["mask"], data_range=rng), ssim(pet, v["pet"], v["mask"], data_range=rng),
                           crps(suvr[:, v["mask"]], v["pet"][v["mask"]]), roi_err))
            preview = preview or (v, pet)
        # a resumed run replays the steps after its checkpoint: drop their rows, then append this one
        rows = [r for r in self.rows() if r["step"] < step]
        if scores:
            row = {"step": step, **{k: float(np.mean([s[i] for s in scores])) for i, k in enumerate(METRICS)}}
            row["metaroi"] = float(np.sqrt(row["metaroi"]))  # RMSE of the meta-ROI mean over the subjects
            sign = -1.0 if self.select_by in LOWER_IS_BETTER else 1.0
            best_before = max((sign * r[self.select_by] for r in rows if self.selectable(r["step"])), default=-np.inf)
            rows.append(row)
            with atomic_path(self.csv_path) as tmp, open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=["step", *METRICS])
                writer.writeheader()
                writer.writerows({k: repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows)
            plot_curve(rows, self.train_dir / "validation.png", f"{self.name}: validation on {len(self.val)} subject(s)")
            if self.selectable(step) and (sign * row[self.select_by] > best_before or not self.best_path.exists()):
                self.save_best(model, step, row)
            save_slices(preview[0], preview[1], folder / f"step-{step:07d}.png", f"{self.name} step {step}: "
                        f"val PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.3f}")
        else:  # no validation subject with PET: the latest generator is the one used
            self.save_best(model, step, {"step": step, **{k: float("nan") for k in METRICS}})

    def selectable(self, step: int) -> bool:
        """Step 0 (the untrained start, the baseline a trained step must beat) or a step after the warm-up."""
        return step == 0 or step >= self.select_from

    def save_best(self, model, step: int, row: dict) -> None:
        net = zoo_models.generator(model)
        state = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
        ckpt = {"model": self.name, "kwargs": self.kwargs, "generator": state, "mapping": self.mapping.to_dict(),
                "multiple": self.inference.multiple, "step": step, "val_psnr": row["psnr"], "val_ssim": row["ssim"],
                "val_crps": row["crps"], "val_metaroi": row["metaroi"]}
        with atomic_path(self.best_path) as tmp:
            torch.save(ckpt, tmp)


def plot_curve(rows: list[dict], path: Path, title: str) -> None:
    """Validation PSNR and SSIM against the training step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3))
    a.plot(steps, [r["psnr"] for r in rows], "o-")
    a.set(xlabel="step", ylabel="PSNR (dB)")
    b.plot(steps, [r["ssim"] for r in rows], "o-")
    b.set(xlabel="step", ylabel="SSIM")
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)


def save_slices(v: dict, pet: np.ndarray, path: Path, title: str) -> None:
    """Mid axial slices: MRI (net range), real PET and synthetic PET (SUVR, same colour scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = pet.shape[2] // 2
    vmax = float(np.percentile(v["pet"][v["mask"]], 99.5))
    fig, axes = plt.subplots(1, 3, figsize=(8, 3))
    for ax, img, cmap, hi, label in zip(axes, (v["t1"][0, 0].numpy(), v["pet"], pet), ("gray", "hot", "hot"),
                                        (1.0, vmax, vmax), ("MRI", "real PET", "synthetic PET")):
        ax.imshow(np.rot90(img[:, :, z]), cmap=cmap, vmin=-1.0 if cmap == "gray" else 0.0, vmax=hi)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"sub-{v['id']}: {title}", fontsize=9)
    save_figure(fig, path)


def start_at_template(generator: torch.nn.Module) -> None:
    """Zero the generator's output layer (its last conv), so the untrained generator outputs exactly 0: in
    residual mode that is the population template, and training starts from the baseline it must beat
    instead of from the template plus random-weight noise (tanh(0) = 0; the layer still gets gradients)."""
    generator = getattr(generator, "mean_net", generator)  # additive sampler: its noise term keeps its init (spread from step 0)
    generator = getattr(generator, "maps", generator)  # severity path: both maps start at 0, its encoder keeps its init
    convs = [m for m in generator.modules() if getattr(m, "weight", None) is not None and m.weight.dim() >= 4]
    if not convs:
        raise ValueError(f"{type(generator).__name__} has no convolution to zero")
    with torch.no_grad():
        convs[-1].weight.zero_()
        if getattr(convs[-1], "bias", None) is not None:
            convs[-1].bias.zero_()


def staged(pairs, fs, mapping: IntensityMapping, multiple: int, train_t1: list[np.ndarray]):
    """``pairs`` with labelled MRIs for the severity path: every training-split subject, PET or not, with the
    disease stage of its diagnosis (never a validation or test subject). ``train_t1``: the T1s of ``fs.train``,
    already loaded; those without PET are read here."""
    from mrisynth.cohort.table import DISEASE_STAGE
    from mrisynth.synthesis.data import StagedPairs, pad_to_multiple
    from mrisynth.synthesis.subjects import require_files

    labelled = fs.labelled
    no_pet = labelled[len(fs.train):]
    require_files(no_pet, "t1")
    t1s = train_t1 + [load_array(s.paths.t1)[0] for s in no_pet]
    images = [pad_to_multiple(mapping.t1_to_net(t1)[None, None], multiple)[0][0] for t1 in t1s]
    return StagedPairs(pairs, images, [DISEASE_STAGE[s.diagnosis] for s in labelled])


def resolve_device(name: str) -> str:
    """The config's ``device``: ``auto`` = CUDA when available, else CPU."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def inference_config(cfg: dict, multiple: int) -> InferenceConfig:
    ic = cfg["synthesis"]["inference"]
    return InferenceConfig(multiple=multiple, max_whole_voxels=int(ic["max_whole_voxels"]), roi_size=int(ic["roi_size"]),
                           overlap=float(ic["overlap"]), sw_batch_size=int(ic["sw_batch_size"]), fast=bool(cfg["synthesis"]["fast"]))


def train_fold(cfg: dict, settings: ModelSettings, results: Path, manifest: Path, fold: int,
               progress: bool = True) -> dict | None:
    """Train one model on the fold's training subjects with both modalities; returns the best.pt dict.

    Under ``torchrun --nproc_per_node N`` the N processes train data-parallel (see
    :mod:`mrisynth.zoo.distributed`; ``synthesis.batch_size`` is the global batch); ranks > 0 return None.
    """
    from mrisynth.cohort.splits import split_path
    from mrisynth.synthesis.data import VolumePairs, load_dataset
    from mrisynth.synthesis.subjects import fold_subjects, require_files
    from mrisynth.zoo import distributed
    from mrisynth.zoo.train import CHECKPOINT, Trainer, TrainConfig

    sc, name = cfg["synthesis"], settings.name
    train_dir, best_path = paths.train_dir(results, name, fold), paths.best_checkpoint(results, name, fold)
    # the best step so far lives in train/ with the trainer's checkpoint, and is copied to best.pt at the end:
    # a killed run's incomplete best.pt is deleted by Snakemake, while train/ survives for the resume, so a
    # resumed run still knows the best step before its checkpoint (whose weights are gone by then)
    running_best = paths.running_best(results, name, fold)
    fs = fold_subjects(results, manifest, split_path(results, fold), cfg["preprocess"]["resolution_mm"])
    require_files(fs.train + fs.val, "t1", "mask", "pet")
    train_arrays = [(load_array(s.paths.t1)[0], load_array(s.paths.pet)[0], load_array(s.paths.mask)[0] > 0) for s in fs.train]
    mapping = IntensityMapping.fit(*zip(*train_arrays), percentile=sc["intensity_percentile"], residual=sc["residual"],
                                   base=sc["residual_base"])
    kwargs = settings.kwargs(cfg["seed"])
    multiple = zoo_models.input_multiple(name, kwargs)
    base = load_dataset([(s.paths.t1, s.paths.pet) for s in fs.train], mapping, sc["cache"], paths.cache_dir(results, name, fold))
    pairs = VolumePairs(base, patch_size=settings.patch_size, multiple=multiple,
                        unpaired=settings.family == "cyclegan" and sc["cyclegan_unpaired"],
                        intensity_scale=sc["augment"]["intensity_scale"], intensity_shift=sc["augment"]["intensity_shift"])
    if settings.uses_labels:  # FGAN: (MRI, PET, diagnosis label) for its DSNet
        from mrisynth.cohort.table import POSITIVE
        from mrisynth.synthesis.fgan import LabelledPairs

        pairs = LabelledPairs(pairs, [int(s.diagnosis in POSITIVE) for s in fs.train])
    if float(settings.net.get("severity_weight", 0.0)):  # the generator's severity path: labelled MRIs in every batch
        if settings.patch_size:
            raise InputError(f"synthesis.models.{name}: net.severity_weight needs whole volumes (patch_size 0): the "
                             f"severity encoder reads the whole brain, got patch_size {settings.patch_size}")
        pairs = staged(pairs, fs, mapping, multiple, [t1 for t1, _, _ in train_arrays])
    val = []
    for s in fs.val[: sc["val_subjects"]]:
        pet, mask = load_array(s.paths.pet)[0], load_array(s.paths.mask)[0] > 0
        val.append({"id": s.participant_id, "t1": mapping.t1_to_net(load_array(s.paths.t1)[0])[None, None], "pet": pet, "mask": mask})
    meta_roi = None
    if val:
        from mrisynth.synthesis.regional import Regions

        meta_roi = Regions.on_grid(load_array(fs.val[0].paths.pet)[1], val[0]["pet"].shape).meta_roi
        if settings.select_by == "metaroi" and not meta_roi.any():
            raise InputError(f"select_by metaroi: the preprocessing grid of {fs.val[0].paths.pet} holds no meta-ROI voxel")
    n_steps = settings.steps
    every = settings.validate_every or n_steps
    device = distributed.init_from_env(resolve_device(cfg["device"]))  # joins the torchrun group, if any
    tc = TrainConfig(steps=n_steps, batch_size=int(sc["batch_size"]), seed=int(cfg["seed"]), device=device,
                     amp=bool(sc["fast"]), channels_last_3d=bool(sc["fast"]), out_dir=str(train_dir),
                     checkpoint_every=int(sc["checkpoint_every"]), sample_every=every, sample_n=1, progress=progress,
                     ema_decay=settings.ema_decay)
    model = zoo_models.build(name, kwargs)
    if mapping.template is not None:
        start_at_template(zoo_models.generator(model, ema=False))
    # with a mean warm-up (Pix2Pix mean_steps) the checkpoint is chosen after it: a warm-up step has neither the
    # adversarial (or feature-consistency) training that names the model nor, when stochastic, a trained noise term
    warmup_end = model.warmup_end if getattr(model, "mean_steps", 0) else 0
    if warmup_end and n_steps <= warmup_end:
        raise InputError(f"synthesis.models.{name}: steps ({n_steps}) must exceed the warm-up that ends at step {warmup_end} "
                         "(net.mean_steps, after FGAN's net.pretrain_steps): no step would be left to choose")
    validator = Validator(name, kwargs, mapping, val, train_dir, running_best, inference_config(cfg, multiple),
                          settings.select_by, meta_roi, warmup_end)
    trainer = Trainer(model, pairs, tc, on_sample=validator)
    fresh = not (train_dir / CHECKPOINT).exists()
    # a stochastic generator is selected among trained steps only: at step 0 (zeroed output layer) all its draws
    # are the template, so multiple imputation would get K identical draws (sd 0)
    stochastic = is_stochastic(zoo_models.generator(model))
    if fresh and sc["validate_start"] and not stochastic and distributed.world()[0] == 0:
        validator(model, 0, train_dir / "samples", 1)  # the starting point (residual mode: the template)
    trainer.fit()
    rank = distributed.world()[0]
    distributed.shutdown()
    if rank != 0:  # under torchrun rank 0 alone validates and writes best.pt
        return None
    if not any(r["step"] == n_steps for r in validator.rows()) and (val or not running_best.exists()):
        validator(model, n_steps, train_dir / "samples", 1)  # the final step is always validated
    with atomic_path(best_path) as tmp:
        tmp.write_bytes(running_best.read_bytes())
    best = torch.load(best_path, map_location="cpu", weights_only=True)
    log.info("%s fold %d: best step %d (val PSNR %.2f, SSIM %.4f)", name, fs.fold, best["step"], best["val_psnr"], best["val_ssim"])
    return best
