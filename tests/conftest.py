"""Shared test set-up: every test starts from the same global state, whatever ran before it and however
the suite was started (``OMP_NUM_THREADS=1`` or 2, any test order): torch threads per test package, float32
default dtype, python / numpy / torch RNGs seeded, the working directory restored afterwards."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets it: no spinning threads on shared cores


import pytest  # noqa: E402

# torch threads per test package: tiny zoo nets are fastest on one thread (oversubscribing the 2-core CI
# machine turns a 4 ms step into 100+ ms); synthesis runs as the pipeline's rules do (threads: 2); the rest 2.
TORCH_THREADS = {"zoo": 1, "zoo_gans": 1, "zoo_likelihood": 1, "synthesis": 2}
DEFAULT_THREADS = 2
SEED = 0


def _threads(request) -> int:
    package = request.path.relative_to(request.config.rootpath / "tests").parts[0]
    return TORCH_THREADS.get(package, DEFAULT_THREADS)


def _reset(threads: int) -> None:
    import random

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    torch.set_default_dtype(torch.float32)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)


@pytest.fixture(autouse=True, scope="module")
def module_state(request):
    """Module-scoped fixtures (a model trained once per module) see the same state as the tests do."""
    _reset(_threads(request))


@pytest.fixture(autouse=True)
def test_state(request):
    cwd = os.getcwd()
    _reset(_threads(request))
    yield
    os.chdir(cwd)


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
