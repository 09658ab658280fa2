"""Shared test set-up: small thread counts (the CI machine has 2 cores) and a fixed seed."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def phantom_cohort(tmp_path_factory):
    """Manifest path of an 8-subject phantom cohort built once per session (schema-default config, seed 42).

    NC 2, sMCI 3, pMCI 2, AD 1; three of them (one NC, sMCI, pMCI) have no PET in the manifest, their
    true PET is under ``data/phantom_truth/`` next to the manifest (with ``latents.csv``). Read-only:
    copy it before changing anything.
    """
    from mrisynth.config import load_config
    from mrisynth.phantom.build import build_cohort

    manifest = tmp_path_factory.mktemp("phantom") / "data_manifest.csv"
    build_cohort(load_config(None), manifest, n_subjects=8)
    return manifest
