"""``impute``: synthetic SUVR PET for every subject of a fold without a real PET and for every test
subject, from the fold's best generator, on the grid and with the affine of the subject's preprocessed T1.

Multiple imputation (``--samples K``, K >= 2): the network is loaded once and run K times per subject, draw
k with torch seeded by (config seed, subject, k) so every draw is reproducible and independent of the
order of the subjects. The randomness is the generator's injected noise (``source='noise'``; the model
needs ``noise: channels|layers``) or test-time dropout (``source='dropout'``, the MC-dropout baseline).
Per subject (:mod:`mrisynth.synthesis.paths`):

- ``..._desc-synth<model>_pet.nii.gz``: the voxelwise mean of the K draws (SUVR, float32): the file every
  downstream step reads as "the" imputed PET;
- ``..._desc-synth<model>sd_pet.nii.gz``: the voxelwise sd of the K draws (ddof 1, float32);
- ``..._desc-synth<model>samples_pet.nii.gz``: the K draws, 4D (X, Y, Z, K), draw k = volume k, stored
  int16 with the NIfTI scaling (scl_slope / scl_inter; nibabel applies it on read; < 1e-4 SUVR rounding).

Recalibration (``synthesis.calibration.recalibrate``): before imputing, the same K draws are made for the
fold's VALIDATION subjects with real PET, and a factor c on the draws' deviations from their mean, with a
shared error field tau * g_k of one FWHM (:mod:`mrisynth.synthesis.error_field`), is fit so that ``level`` of
their brain voxels and of their regional means lie in the predictive intervals; every imputed subject's draws
are then ``mean + c (draw - mean) + tau g_k`` (mean unchanged: the fields are centred over the K draws). c, tau
and the FWHM are in the JSON sidecar (``spread_scale``, ``field_scale``, ``field_fwhm_mm``; 1, 0 and null
without recalibration), so the raw draws' calibration can still be reported.
"""

from __future__ import annotations

import csv
import json
import zlib
from pathlib import Path

import numpy as np
import torch

from mrisynth.cohort.table import DISEASE_STAGE
from mrisynth.errors import InputError
from mrisynth.io.nifti import load_array
from mrisynth.synthesis import models as zoo_models
from mrisynth.synthesis.inference import predict
from mrisynth.synthesis.intensity import IntensityMapping
from mrisynth.synthesis.paths import imputed_pet_path, imputed_samples_path, imputed_sd_path
from mrisynth.synthesis.settings import ModelSettings
from mrisynth.synthesis.severity_gain import fit_severity_gain

SOURCES = ("noise", "dropout")


def draw_seed(seed: int, participant: str, k: int) -> int:
    """Torch seed of draw ``k`` for one subject (crc32: stable across runs and subject orders)."""
    return zlib.crc32(f"{seed}:{participant}:{k}".encode())


def check_sampler(net: torch.nn.Module, source: str, model_name: str) -> None:
    """InputError when the generator has no randomness of the requested kind."""
    from mrisynth.zoo.nets.noise import has_dropout, is_stochastic

    if source not in SOURCES:
        raise InputError(f"sample source must be one of {SOURCES}, got {source!r}")
    if source == "noise" and not is_stochastic(net):
        raise InputError(f"{model_name}: the generator has no injected noise, so K draws would be identical; train it "
                         f"with synthesis.{model_name}.noise: channels|layers, or use synthesis.sample_source: dropout")
    if source == "dropout" and not has_dropout(net):
        raise InputError(f"{model_name}: the generator has no dropout layer for test-time dropout (use_dropout: true)")


def draw(net, t1: torch.Tensor, icfg, mapping: IntensityMapping, seed: int, participant: str, k: int,
         source: str = "noise") -> tuple[np.ndarray, str]:
    """One imputation (SUVR array) of one subject, draw ``k``. A generator with a mean + odd noise term
    (``sampler: additive``) draws in antithetic pairs: draws 2j and 2j + 1 share the noise with opposite
    signs, so each pair averages to the mean network's output."""
    from mrisynth.zoo.nets.noise import seeded_draw

    with seeded_draw(net, k, lambda j: draw_seed(seed, participant, j), antithetic=source == "noise"):
        y, method = predict(net, t1, icfg, mc_dropout=source == "dropout")
    return mapping.net_to_pet(y[0, 0], t1[0, 0].cpu()).numpy(), method


def field_amplitude(train, mapping: IntensityMapping) -> np.ndarray:
    """The error field's amplitude a(v) from the fold's training subjects with real PET: their PET minus the
    residual base (the generator's zero output: the linear T1 map)."""
    from mrisynth.synthesis import error_field
    from mrisynth.synthesis.subjects import require_files

    train = [s for s in train if s.has_pet]
    require_files(train, "t1", "mask", "pet")

    def pairs():
        for s in train:
            t1 = mapping.t1_to_net(load_array(s.paths.t1)[0])
            base = mapping.net_to_pet(torch.zeros_like(t1), t1).numpy()
            yield load_array(s.paths.pet)[0] - base, load_array(s.paths.mask)[0] > 0

    return error_field.amplitude_map(pairs())


def fit_recalibration(subjects, net, icfg, mapping: IntensityMapping, seed: int, samples: int, source: str,
                      calibration: dict, amplitude: np.ndarray | None = None) -> dict:
    """Recalibration of the draws (c, and the shared error field's tau and FWHM: :mod:`.error_field`, of
    ``amplitude``), fit on ``subjects`` (the fold's validation subjects with real PET)."""
    from mrisynth.synthesis import error_field
    from mrisynth.synthesis.subjects import require_files

    subjects = [s for s in subjects if s.has_pet]
    if not subjects:
        raise InputError("recalibration needs validation subjects with real PET; the fold has none "
                         "(set synthesis.calibration.recalibrate: false)")
    require_files(subjects, "t1", "mask", "pet")
    fit_on = []
    for s in subjects:
        t1 = mapping.t1_to_net(load_array(s.paths.t1)[0])[None, None]
        stack = np.stack([draw(net, t1, icfg, mapping, seed, s.participant_id, k, source)[0] for k in range(samples)], -1)
        reference, affine = load_array(s.paths.pet)
        fit_on.append({"id": s.participant_id, "stack": stack, "reference": reference, "affine": affine,
                       "mask": load_array(s.paths.mask)[0] > 0})
    fitted = error_field.fit(fit_on, seed, samples, float(calibration["level"]), list(calibration["field_fwhm_mm"]),
                             amplitude)
    return fitted | {"fit_subjects": [s.participant_id for s in subjects], "level": float(calibration["level"])}


def inverse_formula(mapping: IntensityMapping) -> str:
    if mapping.template is None:
        return "suvr = (generator_output + 1) / 2 * pet_high"
    if mapping.slope is not None:
        return ("suvr = template + slope * (t1_net - t1_mean) + generator_output * residual_scale (voxelwise linear "
                "T1 map fit on the training subjects)")
    return "suvr = template + generator_output * residual_scale (template: mean training SUVR)"


def read_best(path: Path) -> dict:
    if not Path(path).exists():
        raise InputError(f"generator checkpoint {path} does not exist (run `mrisynth train-synthesis` first)")
    return torch.load(path, map_location="cpu", weights_only=True)


def impute_fold(cfg: dict, settings: ModelSettings, results: Path, manifest: Path, fold: int,
                checkpoint: Path | None = None, progress: bool = True, source: str = "noise") -> list[dict]:
    """Write ``..._desc-synth<model>_pet.nii.gz`` (+ JSON sidecar) for each subject to impute, all at once
    (the fold's ``imputed/`` folder is replaced atomically), and ``imputed.tsv`` listing them; with
    ``settings.samples`` = K >= 2 also the sd and the K draws (module docstring). ``checkpoint``: default
    the fold's ``best.pt``."""
    from tqdm.auto import tqdm

    from mrisynth.cohort.splits import split_path
    from mrisynth.io.atomic import atomic_dir, atomic_path
    from mrisynth.io.nifti import load_nifti, save_nifti
    from mrisynth.synthesis import error_field, paths
    from mrisynth.synthesis.subjects import fold_subjects, require_files
    from mrisynth.synthesis.train import inference_config

    model_name, samples = settings.name, settings.samples
    checkpoint = Path(checkpoint or paths.best_checkpoint(results, model_name, fold))
    out_dir, table = paths.imputed_dir(results, model_name, fold), paths.imputation_done(results, model_name, fold)
    res_mm = cfg["preprocess"]["resolution_mm"]
    fs = fold_subjects(results, manifest, split_path(results, fold), res_mm)
    require_files(fs.impute, "t1")
    best = read_best(checkpoint)
    if best["model"] != model_name:
        raise InputError(f"{checkpoint} holds a {best['model']} generator, not {model_name}")
    net, _ = zoo_models.load_generator(best)
    if samples == 1 or samples < 0:
        raise InputError(f"--samples must be 0 (one imputation) or >= 2 (multiple imputation), got {samples}")
    if samples:
        check_sampler(net, source, model_name)
    mapping = IntensityMapping.from_dict(best["mapping"])
    icfg = inference_config(cfg, int(best["multiple"]))
    if icfg.fast:
        zoo_models.to_fast_layout(net)
    labelled = (fs.labelled, [DISEASE_STAGE[s.diagnosis] for s in fs.labelled])  # for metaroi_regional's reader
    gain = fit_severity_gain(net, fs.val, mapping, icfg, settings.severity_gain, labelled)  # before the draws: they use it
    recalibration, amplitude = None, None
    if samples and cfg["synthesis"]["calibration"]["recalibrate"]:
        amplitude = field_amplitude(fs.train, mapping) if cfg["synthesis"]["calibration"]["field_fwhm_mm"] else None
        recalibration = fit_recalibration(fs.val, net, icfg, mapping, int(cfg["seed"]), samples, source,
                                          cfg["synthesis"]["calibration"], amplitude)
    scale = recalibration["spread_scale"] if recalibration else 1.0
    tau, fwhm = (recalibration["field_scale"], recalibration["fwhm_mm"]) if recalibration else (0.0, None)
    rows = []
    with atomic_dir(out_dir) as tmp:
        for s in tqdm(fs.impute, desc=f"impute {model_name} fold {fs.fold}", disable=not progress):
            img = load_nifti(s.paths.t1)
            t1 = mapping.t1_to_net(np.asarray(img.dataobj, dtype=np.float32))[None, None]
            where = (results, model_name, fs.fold, s.participant_id, s.session_id, res_mm)
            final = imputed_pet_path(*where)
            if samples:
                draws = [draw(net, t1, icfg, mapping, int(cfg["seed"]), s.participant_id, k, source) for k in range(samples)]
                method = draws[0][1]
                stack = np.stack([d[0] for d in draws], -1)
                pet = stack.mean(-1)
                fields = None if not tau else error_field.error_fields(
                    int(cfg["seed"]), s.participant_id, samples, stack.shape[:3], error_field.voxel_spacing(img.affine),
                    fwhm, amplitude)
                stack = error_field.apply(stack, scale, tau, fields)
                save_nifti(stack.std(-1, ddof=1), img.affine, tmp / imputed_sd_path(*where).name, dtype=np.float32)
                save_nifti(stack, img.affine, tmp / imputed_samples_path(*where).name, dtype=np.int16)
            else:
                pet, method = draw(net, t1, icfg, mapping, int(cfg["seed"]), s.participant_id, 0)
            save_nifti(pet, img.affine, tmp / final.name, dtype=np.float32)
            sidecar = {"modality": "pet", "tracer": "FDG", "units": "SUVR", "synthetic": True, "model": model_name,
                       "fold": fs.fold, "source_t1": str(s.paths.t1), "generator_step": int(best["step"]),
                       "inference": method, "intensity_mapping": mapping.describe(),
                       "samples": samples, "sample_source": source if samples else None,
                       "summary": "mean of the samples" if samples else "one draw",
                       "spread_scale": scale, "field_scale": tau, "field_fwhm_mm": fwhm, "recalibration": recalibration,
                       "severity_gain": gain,
                       "inverse": inverse_formula(mapping)}
            (tmp / final.name.replace(".nii.gz", ".json")).write_text(json.dumps(sidecar, indent=1) + "\n")
            rows.append({"participant_id": s.participant_id, "session_id": s.session_id, "split": s.split,
                         "has_real_pet": s.has_pet, "inference": method, "samples": samples, "spread_scale": scale,
                         "path": str(final)})
        if tau and rows:  # calibrate-synthesis regenerates the fields with it
            save_nifti(amplitude, img.affine, tmp / paths.error_field_amplitude_path(results, model_name, fs.fold).name,
                       dtype=np.float32)
    with atomic_path(table) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["participant_id"], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return rows
