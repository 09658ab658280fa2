"""Preprocessing speed and quality: mrisynth's SimpleITK recipe against the same Clinica recipe in antspyx.

Both sides run, subject by subject in the same process (so machine load hits both alike), the Clinica
t1-linear / pet-linear recipe on the same phantom subjects:

- mrisynth: ``mrisynth.preprocess`` as ``mrisynth preprocess`` runs it (N4, rigid+affine Mattes MI, PET rigid
  to T1, composed, resampled once), everything estimated at the working resolution.
- antspyx: ``ants.n4_bias_field_correction`` (Clinica's spline distance 600 mm) on the native T1,
  ``ants.registration(type_of_transform="Affine")`` to the 1 mm template (as Clinica registers to the 1 mm
  MNI template), ``ants.registration(type_of_transform="Rigid")`` PET -> N4 T1, and one
  ``ants.apply_transforms`` of each image onto the same output grid.

Printed per subject and as medians: wall and CPU seconds for T1 + PET, the ratio, NCC of the T1 to the
template inside the brain mask for both, and the correlation of the two PET SUVR results.

antspyx is the ``bench`` extra. antspyx 0.6.3 pins numpy<2.4 and scipy<1.16, which the pipeline's own
environment does not keep (the SLURM executor plugin needs numpy>=2.4.5), so install it into a separate
environment, e.g.::

    python3.11 -m venv .venv-bench && .venv-bench/bin/pip install -e '.[bench]'
    .venv-bench/bin/python benchmarks/preprocess_vs_ants.py --n-subjects 10 --resolutions 2 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

THREADS = 2
os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", str(THREADS))  # antspyx reads it at import


def phantom_subjects(manifest: Path | None, n: int) -> list[dict]:
    """T1 and PET paths of ``n`` phantom subjects (PET from the manifest, or the hidden truth folder)."""
    import csv
    from types import SimpleNamespace

    from mrisynth.config import load_config
    from mrisynth.phantom.build import build_cohort, image_path

    config = load_config()
    if manifest is None:
        manifest = Path(tempfile.mkdtemp(prefix="bench_phantom_")) / "data_manifest.csv"
        build_cohort(config, manifest, n_subjects=n)
    root = manifest.parent
    truth = root / config["phantom"]["truth_dir"]
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))[:n]
    subjects = []
    for row in rows:
        pet = row["pet"] or image_path(truth, SimpleNamespace(**row), "pet")
        subjects.append({"id": row["participant_id"], "t1": root / row["t1w"], "pet": root / pet})
    return subjects


def run_mrisynth(subject: dict, cfg: dict, grid, seed: int):
    from mrisynth.preprocess.pet import preprocess_pet
    from mrisynth.preprocess.t1 import prepare_t1, register_t1, t1_to_template

    t1 = prepare_t1(subject["t1"], cfg)
    reg = register_t1(t1, cfg, seed)
    out = t1_to_template(t1, reg.transform, grid, cfg)
    pet = preprocess_pet(subject["pet"], t1, reg.transform, grid, cfg, seed)
    return out.raw, pet.image


def run_ants(subject: dict, template_1mm, references: dict, seed: int) -> dict:
    """The antspyx recipe once per subject; its results resampled onto every output grid."""
    import ants
    import numpy as np
    from scipy.stats import trim_mean

    from mrisynth import anatomy
    from mrisynth.preprocess.pet import REFERENCE_REGIONS

    t1 = ants.image_read(str(subject["t1"]))
    n4 = ants.n4_bias_field_correction(t1, spline_param=600)
    t1_reg = ants.registration(template_1mm, n4, type_of_transform="Affine", random_seed=seed)
    pet = ants.image_read(str(subject["pet"]))
    pet = pet.new_image_like(np.maximum(pet.numpy(), 0))  # clip negatives, as mrisynth does
    pet_reg = ants.registration(n4, pet, type_of_transform="Rigid", random_seed=seed)
    out = {}
    for res, (cfg, grid, reference) in references.items():
        t1_out = ants.apply_transforms(reference, n4, t1_reg["fwdtransforms"], interpolator="linear")
        # antsApplyTransforms order: the last listed transform is applied first (template -> T1 -> PET)
        pet_out = ants.apply_transforms(reference, pet, pet_reg["fwdtransforms"] + t1_reg["fwdtransforms"], interpolator="linear")
        pet_arr = pet_out.numpy()
        region = anatomy.region_mask(REFERENCE_REGIONS[cfg["reference_region"]], grid.affine, grid.shape)
        out[res] = (t1_out.numpy(), pet_arr / trim_mean(pet_arr[region], cfg["suvr_trim"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, help="an existing phantom manifest (default: build a new cohort)")
    parser.add_argument("--n-subjects", type=int, default=10)
    parser.add_argument("--resolutions", type=float, nargs="+", default=[2.0], help="mrisynth working resolutions (mm)")
    args = parser.parse_args()

    import ants
    import nibabel as nib
    import numpy as np
    import SimpleITK as sitk

    from mrisynth import anatomy
    from mrisynth.config import load_config
    from mrisynth.preprocess.images import OutputGrid
    from mrisynth.preprocess.qc import ncc
    from mrisynth.preprocess.t1 import brain_mask_on_grid, template_on_grid

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(THREADS)
    config = load_config()
    seed = int(config["seed"])
    subjects = phantom_subjects(args.manifest, args.n_subjects)
    tpl_path = Path(tempfile.mkdtemp(prefix="bench_tpl_")) / "t1.nii.gz"
    nib.save(anatomy.template("t1"), str(tpl_path))
    template_1mm = ants.image_read(str(tpl_path))

    setups = {}
    for res in args.resolutions:
        cfg = load_config(overrides={"preprocess": {"resolution_mm": res}})["preprocess"]
        grid = OutputGrid.from_config(cfg)
        ref_path = tpl_path.with_name(f"grid_{res:g}.nii.gz")
        nib.save(nib.Nifti1Image(np.zeros(grid.shape, np.float32), grid.affine), str(ref_path))
        setups[res] = (cfg, grid, ants.image_read(str(ref_path)), template_on_grid("t1", grid), brain_mask_on_grid(grid))
        run_mrisynth(subjects[0], cfg, grid, seed)  # warm the template caches outside the clock

    rows = []
    print(f"{'subject':10s} {'res':>4s} {'mrisynth s':>10s} {'(cpu)':>7s} {'ants s':>8s} {'(cpu)':>7s} {'ratio':>6s} "
          f"{'NCC mrisynth':>12s} {'NCC ants':>9s} {'PET r':>6s}", flush=True)
    for subject in subjects:
        w, c = time.perf_counter(), time.process_time()
        ants_out = run_ants(subject, template_1mm, {r: s[:3] for r, s in setups.items()}, seed)
        a_wall, a_cpu = time.perf_counter() - w, time.process_time() - c  # includes every grid's resampling
        for res, (cfg, grid, reference, tpl, mask) in setups.items():
            w, c = time.perf_counter(), time.process_time()
            t1_m, pet_m = run_mrisynth(subject, cfg, grid, seed)
            m_wall, m_cpu = time.perf_counter() - w, time.process_time() - c
            t1_a, pet_a = ants_out[res]
            row = dict(subject=subject["id"], res=res, m_wall=m_wall, m_cpu=m_cpu, a_wall=a_wall, a_cpu=a_cpu,
                       ncc_m=ncc(t1_m, tpl, mask), ncc_a=ncc(t1_a, tpl, mask), pet_r=ncc(pet_m, pet_a, mask))
            rows.append(row)
            print(f"{row['subject']:10s} {res:4g} {m_wall:10.1f} {m_cpu:7.1f} {a_wall:8.1f} {a_cpu:7.1f} "
                  f"{a_wall / m_wall:6.1f} {row['ncc_m']:12.4f} {row['ncc_a']:9.4f} {row['pet_r']:6.3f}", flush=True)
    print("\nmedians over subjects (T1 + PET per subject, %d threads)" % THREADS)
    for res in setups:
        sel = [r for r in rows if r["res"] == res]
        med = {k: statistics.median(r[k] for r in sel) for k in ("m_wall", "m_cpu", "a_wall", "a_cpu", "ncc_m", "ncc_a", "pet_r")}
        ratio = statistics.median(r["a_wall"] / r["m_wall"] for r in sel)
        print(f"res {res:g} mm: mrisynth {med['m_wall']:.1f} s wall ({med['m_cpu']:.1f} s CPU), antspyx "
              f"{med['a_wall']:.1f} s wall ({med['a_cpu']:.1f} s CPU), speed-up x{ratio:.1f}; NCC to template "
              f"{med['ncc_m']:.4f} vs {med['ncc_a']:.4f} (diff {med['ncc_m'] - med['ncc_a']:+.4f}); "
              f"PET SUVR correlation between the two {med['pet_r']:.3f}")


if __name__ == "__main__":
    main()
