"""Shared test set-up: small thread counts (the CI machine has 2 cores) and a fixed seed."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


import pytest  # noqa: E402

# torch threads per test package: tiny zoo nets are fastest on one thread (oversubscribing the 2-core CI
# machine turns a 4 ms step into 100+ ms); synthesis runs as the pipeline's rules do (threads: 2).
TORCH_THREADS = {"zoo": 1, "zoo_gans": 1, "zoo_likelihood": 1, "synthesis": 2}


@pytest.fixture(autouse=True)
def torch_threads(request):
    package = request.path.relative_to(request.config.rootpath / "tests").parts[0]
    if package not in TORCH_THREADS:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS[package])
    yield
    torch.set_num_threads(before)


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
