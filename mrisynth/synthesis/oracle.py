"""The phantom's achievable PET: the ``oracle`` row of the synthesis evaluation (phantom cohorts only).

For a test subject the phantom is run again from the same seed with the parts of the PET that no MRI can
show at their expectation (``simulate_subject(..., expectation=True)``: regional hypometabolism noise 0,
uptake variability field 1, scanner noise 0) and everything else unchanged: anatomy, atrophy, ventricles,
deformation, head pose, site, PSF. That PET goes through the subject's own saved preprocessing transforms
(PET -> T1 rigid, T1 -> template affine) and SUVR scaling, exactly as its real or hidden true PET did. No
MRI-based synthesis can be expected to do better, so it bounds the gain a model can reach over the linear
map (``metrics.regional.oracle_share``). Like the truth folder, this is read by evaluation only.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mrisynth.errors import InputError


class PhantomOracle:
    """Achievable PET of the subjects of the phantom cohort defined by ``cfg`` (its seed and ``phantom`` section)."""

    def __init__(self, cfg: dict, manifest: str | Path):
        from mrisynth.phantom.cohort import cohort_specs
        from mrisynth.phantom.template_space import template_space
        from mrisynth.preprocess.images import OutputGrid

        with open(manifest, newline="") as fh:
            rows = list(csv.DictReader(fh))
        self.cfg, self.phantom, self.seed = cfg, cfg["phantom"], int(cfg["seed"])
        specs = cohort_specs(self.phantom, self.seed, len(rows))
        self.specs = {s.participant_id.removeprefix("sub-"): s for s in specs}
        for r in rows:  # the manifest must be this config's phantom, else the oracle would be another cohort's
            spec = self.specs.get(str(r["participant_id"]).removeprefix("sub-"))
            if spec is None or spec.diagnosis != r["diagnosis"] or abs(spec.age - float(r["age"])) > 0.051:
                raise InputError(f"evaluate-synthesis: manifest {manifest}, participant {r['participant_id']}: not the "
                                 "phantom cohort of this config (seed and phantom section), so no oracle can be simulated")
        self.work = template_space(self.phantom["work_spacing_mm"])
        self.grid = OutputGrid.from_config(cfg["preprocess"])

    def pet(self, participant_id: str, t1_xfm: Path, pet_xfm: Path) -> np.ndarray:
        """The subject's achievable SUVR PET on the template grid (through its saved transforms)."""
        import nibabel as nib
        import SimpleITK as sitk

        from mrisynth.phantom.simulate import simulate_subject
        from mrisynth.preprocess.images import antialias, nifti_to_sitk
        from mrisynth.preprocess.pet import pet_to_template

        for path in (t1_xfm, pet_xfm):
            if not Path(path).exists():
                raise InputError(f"evaluate-synthesis: oracle of sub-{participant_id} needs the saved transform {path}")
        spec = self.specs[str(participant_id).removeprefix("sub-")]
        subject = simulate_subject(spec, self.phantom, self.seed, self.work, expectation=True)
        img = nib.as_closest_canonical(subject.pet)  # as preprocessing reads the stored int16 PET
        raw = nifti_to_sitk(np.asarray(img.dataobj, dtype=np.float32), img.affine, f"oracle PET of sub-{participant_id}")
        smoothed = antialias(sitk.Maximum(raw, 0.0), float(self.cfg["preprocess"]["resolution_mm"]))
        suvr, _ = pet_to_template(smoothed, sitk.ReadTransform(str(t1_xfm)), sitk.ReadTransform(str(pet_xfm)), self.grid,
                                  self.cfg["preprocess"], f"oracle PET of sub-{participant_id}")
        return suvr
