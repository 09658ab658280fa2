"""``impute``: synthetic SUVR PET for every subject of a fold without a real PET and for every test
subject, from the fold's best generator, on the grid and with the affine of the subject's preprocessed T1.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch

from mrisynth.errors import InputError
from mrisynth.synthesis import models as zoo_models
from mrisynth.synthesis.inference import predict
from mrisynth.synthesis.intensity import IntensityMapping
from mrisynth.synthesis.paths import imputed_pet_path


def read_best(path: Path) -> dict:
    if not Path(path).exists():
        raise InputError(f"generator checkpoint {path} does not exist (run `mrisynth train-synthesis` first)")
    return torch.load(path, map_location="cpu", weights_only=True)


def impute_fold(cfg: dict, model_name: str, results: Path, manifest: Path, split_path: Path, checkpoint: Path,
                out_dir: Path, table: Path, progress: bool = True) -> list[dict]:
    """Write ``..._desc-synth<model>_pet.nii.gz`` (+ JSON sidecar) for each subject to impute, all at once
    (``out_dir`` is replaced atomically), and a TSV listing them."""
    from tqdm.auto import tqdm

    from mrisynth.io.atomic import atomic_dir, atomic_path
    from mrisynth.io.nifti import load_nifti, save_nifti
    from mrisynth.synthesis.subjects import fold_subjects, require_files
    from mrisynth.synthesis.train import inference_config

    res_mm = cfg["preprocess"]["resolution_mm"]
    fs = fold_subjects(results, manifest, split_path, res_mm)
    require_files(fs.impute, "t1")
    best = read_best(checkpoint)
    if best["model"] != model_name:
        raise InputError(f"{checkpoint} holds a {best['model']} generator, not {model_name}")
    net, _ = zoo_models.load_generator(best)
    mapping = IntensityMapping.from_dict(best["mapping"])
    icfg = inference_config(cfg, int(best["multiple"]))
    if icfg.fast:
        zoo_models.to_fast_layout(net)
    rows = []
    with atomic_dir(out_dir) as tmp:
        for s in tqdm(fs.impute, desc=f"impute {model_name} fold {fs.fold}", disable=not progress):
            img = load_nifti(s.paths.t1)
            t1 = mapping.t1_to_net(np.asarray(img.dataobj, dtype=np.float32))[None, None]
            y, method = predict(net, t1, icfg)
            pet = mapping.net_to_pet(y[0, 0]).numpy()
            final = imputed_pet_path(results, model_name, fs.fold, s.participant_id, s.session_id, res_mm)
            save_nifti(pet, img.affine, tmp / final.name, dtype=np.float32)
            sidecar = {"modality": "pet", "tracer": "FDG", "units": "SUVR", "synthetic": True, "model": model_name,
                       "fold": fs.fold, "source_t1": str(s.paths.t1), "generator_step": int(best["step"]),
                       "inference": method, "intensity_mapping": mapping.describe(),
                       "inverse": ("suvr = template + generator_output * residual_scale (template: mean training SUVR)"
                                   if mapping.template is not None else "suvr = (generator_output + 1) / 2 * pet_high")}
            (tmp / final.name.replace(".nii.gz", ".json")).write_text(json.dumps(sidecar, indent=1) + "\n")
            rows.append({"participant_id": s.participant_id, "session_id": s.session_id, "split": s.split,
                         "has_real_pet": s.has_pet, "inference": method, "path": str(final)})
    with atomic_path(table) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["participant_id"], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return rows
