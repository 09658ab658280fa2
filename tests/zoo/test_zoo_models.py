"""Every model of zoo part 1: builds by name, trains a few steps in 2D and 3D (losses finite, every
parameter of every net changes, sample shapes right), resumes bit-exactly with its extra state."""

import math

import pytest
import torch

from mrisynth.zoo import registry
from mrisynth.zoo.train import Trainer, TrainConfig

UNCONDITIONAL = ["gan", "lsgan", "wgan", "wgan-gp", "dragan", "began", "cgan", "progressive"]
PAIRED = ["pix2pix", "cyclegan"]
MODELS = UNCONDITIONAL + PAIRED


def tiny_config(name, dims, size):
    cfg = {"spatial_dims": dims, "seed": 0}
    if name in PAIRED:
        return cfg | {"ngf": 4, "ndf": 4, "n_layers": 1, "n_blocks": 1, "num_downs": 3}
    if name == "began":
        return cfg | {"image_size": size, "nf": 4, "hidden": 8, "latent_dim": 8}
    if name == "progressive":
        return cfg | {"image_size": size, "nf": 4, "latent_dim": 8, "stage_steps": 1}
    cfg |= {"image_size": size, "ngf": 4, "ndf": 4, "latent_dim": 8}
    return cfg | ({"n_critic": 2} if name.startswith("wgan") else {})


def batch(dims, size, n=4):
    g = torch.Generator().manual_seed(1)
    shape = (n, 1) + (size,) * dims
    return torch.rand(shape, generator=g) * 2 - 1, torch.rand(shape, generator=g) * 2 - 1, torch.arange(n) % 10


def test_registry_lists_every_model():
    assert set(MODELS) <= set(registry.names())
    with pytest.raises(KeyError, match="unknown model"):
        registry.build("no-such-gan")
    with pytest.raises(ValueError, match="unknown adversarial loss"):
        registry.build("gan", loss="vanilla")


@pytest.mark.parametrize("dims, size", [(2, 16), (3, 8)])
@pytest.mark.parametrize("name", MODELS)
def test_smoke(name, dims, size):
    model = registry.build(name, **tiny_config(name, dims, size)).configure()
    a, b, labels = batch(dims, size)
    data = (a, b) if name in PAIRED else (a.tanh(), labels)
    before = {k: {n: p.detach().clone() for n, p in net.named_parameters()} for k, net in model.nets.items()}
    steps = 6 if name == "progressive" else 2  # progressive: go through every stage and fade-in
    for _ in range(steps):
        logs = model.train_step(data)
        model.end_step()
        assert logs and all(math.isfinite(v) for v in logs.values()), logs
    for k, net in model.nets.items():
        unchanged = {n for n, p in net.named_parameters() if torch.equal(before[k][n], p)}
        if name.startswith("wgan"):  # E D(fake) - E D(real) has zero gradient w.r.t. the output bias
            unchanged.discard("fc.bias")
        if name == "progressive":  # all stages were used; the last to_rgb/from_rgb at least changed
            assert len(unchanged) < len(before[k]), k
        else:
            assert not unchanged, f"{name}: parameters {unchanged} of {k} did not change"
    model.eval()
    if name in PAIRED:
        out = model.sample(4, a=a)
        assert model.preview(4).shape == (12, 1) + (size,) * dims
    else:
        out = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert out.shape == ((4,) if name in PAIRED else (5,)) + (1,) + (size,) * dims
    assert torch.isfinite(out).all() and out.abs().max() <= 1


@pytest.mark.parametrize("name", PAIRED)
def test_3d_fast_path_bf16_channels_last(name):
    model = registry.build(name, generator="resnet", **tiny_config(name, 3, 8))
    model.configure(amp=True, channels_last_3d=True)
    assert all(p.is_contiguous(memory_format=torch.channels_last_3d) for net in model.nets.values() for p in net.parameters() if p.dim() == 5)
    a, b, _ = batch(3, 8, n=2)
    logs = model.train_step((a, b))
    assert all(math.isfinite(v) for v in logs.values())
    assert all(p.dtype == torch.float32 for net in model.nets.values() for p in net.parameters())


def test_wgan_clips_critic_and_began_tracks_k():
    wgan = registry.build("wgan", **tiny_config("wgan", 2, 16), clip=0.005).configure()
    a, _, labels = batch(2, 16)
    wgan.train_step((a, labels))
    assert max(p.abs().max().item() for p in wgan.nets["D"].parameters()) <= 0.005
    began = registry.build("began", **tiny_config("began", 2, 16)).configure()
    logs = began.train_step((a, labels))
    assert logs["k"] == pytest.approx(min(max(0.0, 1e-3 * (0.5 * logs["l_real"] - logs["l_fake"])), 1.0))
    assert logs["convergence"] == pytest.approx(logs["l_real"] + abs(0.5 * logs["l_real"] - logs["l_fake"]))


def test_progressive_schedule():
    m = registry.build("progressive", image_size=16, nf=4, stage_steps=10)
    assert m.n_stages == 3
    assert [m.schedule(t) for t in (0, 9, 10, 14, 19, 20, 29, 30, 39, 40, 10_000)] == [
        (0, 1.0), (0, 1.0), (1, 0.1), (1, 0.5), (1, 1.0), (1, 1.0), (1, 1.0), (2, 0.1), (2, 1.0), (2, 1.0), (2, 1.0)
    ]


@pytest.mark.parametrize("name", ["cyclegan", "began"])
def test_resume_bit_exact_with_extra_state(tmp_path, name):
    """Image pools (CycleGAN) and k_t (BEGAN) come back from the checkpoint."""
    a, b, labels = batch(2, 16, n=16)
    data = torch.utils.data.TensorDataset(a, b) if name == "cyclegan" else torch.utils.data.TensorDataset(a.tanh(), labels)
    extra = {"pool_size": 3} if name == "cyclegan" else {}

    def run(out, steps):
        model = registry.build(name, **tiny_config(name, 2, 16), **extra)
        Trainer(model, data, TrainConfig(steps=steps, batch_size=4, seed=1, out_dir=str(out), progress=False)).fit()
        return model

    straight = run(tmp_path / "a", 6)
    run(tmp_path / "b", 3)
    resumed = run(tmp_path / "b", 6)
    for k in straight.nets:
        for p, q in zip(straight.nets[k].parameters(), resumed.nets[k].parameters()):
            assert torch.equal(p, q)
    if name == "cyclegan":
        assert len(straight.pools["A"].images) == 3
        assert all(torch.equal(x, y) for x, y in zip(straight.pools["B"].images, resumed.pools["B"].images))
    else:
        assert straight.k == resumed.k > 0
