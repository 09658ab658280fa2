"""Every likelihood model trains through the one trainer and resumes bit-exactly (persistent chains,
greedy / pre-training phase switches and walkback noise included); samples have the image shape."""

import pytest
import torch
from torch.utils.data import TensorDataset

from mrisynth.zoo import registry
from mrisynth.zoo.train import Trainer, TrainConfig

SHAPE = (1, 4, 4)
TINY = {
    "rbm": {"n_hidden": 6, "persistent": True, "n_chains": 5, "sample_steps": 5},
    "dbn": {"hidden": (6, 5), "steps_per_layer": 3, "sample_steps": 5},
    "dbm": {"hidden": (6, 5), "pretrain_steps": 2, "n_chains": 5, "sample_steps": 5},
    "dae": {"n_hidden": 8, "walkback": 2, "sample_steps": 5},
    "gsn": {"n_hidden": 8, "walkback": 2, "sample_steps": 5},
    "vae": {"n_latent": 2, "n_hidden": 8, "n_classes": 3},
    "pixelcnn": {"n_levels": 2, "channels": 4, "n_layers": 1, "gated": True},
    "pixelrnn": {"n_levels": 2, "channels": 4, "n_layers": 1, "variant": "diagonal"},
}


def _data():
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(24, *SHAPE, generator=g) < 0.4).float() * 2 - 1
    return TensorDataset(images, torch.arange(24) % 3)


def _fit(name, out, steps):
    model = registry.build(name, image_shape=SHAPE, seed=0, **TINY[name])
    Trainer(model, _data(), TrainConfig(steps=steps, batch_size=8, seed=1, out_dir=str(out), progress=False)).fit()
    return model


def _state(model):
    return [t.detach().clone() for net in model.nets.values() for t in [*net.parameters(), *net.buffers()]]


def test_every_model_is_registered():
    assert set(TINY) <= set(registry.names())


@pytest.mark.parametrize("name", sorted(TINY))
def test_fit_resume_bit_exact_and_sample(name, tmp_path):
    straight = _fit(name, tmp_path / "a", 8)
    _fit(name, tmp_path / "b", 5)
    torch.manual_seed(123)
    resumed = _fit(name, tmp_path / "b", 8)
    a, b = _state(straight), _state(resumed)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    initial = _state(registry.build(name, image_shape=SHAPE, seed=0, **TINY[name]))
    assert any(not torch.equal(x, y) for x, y in zip(a, initial))  # training changed something
    s = straight.sample(3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, *SHAPE) and torch.isfinite(s).all() and s.min() >= -1 and s.max() <= 1


@pytest.mark.parametrize("name", sorted(TINY))
def test_image_size_convention_of_the_gan_family(name):
    """`mrisynth zoo train --model <name>` builds models with image_size (square, one channel)."""
    cfg = {k: v for k, v in TINY[name].items()}
    model = registry.build(name, image_size=4, seed=0, **cfg)
    assert model.image_shape == SHAPE and model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, *SHAPE)
