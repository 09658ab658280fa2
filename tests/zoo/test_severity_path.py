"""The generator's subject-level severity path: exact composition, its zeroed start, the stage loss in
Pix2Pix's objective, the labelled-MRI batches, and a known-signal case that a plain U-Net cannot learn
(a per-subject amplitude readable only from the whole image) and the severity path does."""

from __future__ import annotations

import pytest
import torch

from mrisynth.synthesis.data import StagedPairs
from mrisynth.synthesis.train import start_at_template
from mrisynth.zoo.models.pix2pix import Pix2Pix
from mrisynth.zoo.nets import UnetGenerator
from mrisynth.zoo.nets.severity import SeverityPath, severity_path

KW = dict(in_channels=1, out_channels=1, spatial_dims=3, ngf=4, ndf=4, num_downs=2, n_layers=1, g_norm="instance",
          d_norm="instance", use_dropout=False, seed=0)


def test_output_is_map0_plus_severity_times_map1_and_starts_at_zero():
    torch.manual_seed(0)
    net = SeverityPath(UnetGenerator(1, 2, 2, 4, "instance", False, 3), 1, 4, 3).eval()
    x = torch.randn(2, 1, 16, 16, 16)
    maps, s = net.maps(x), net.severity(x)
    expected = maps[:, :1] + s.view(2, 1, 1, 1, 1) * maps[:, 1:]
    assert torch.equal(net(x), expected)
    start_at_template(net)  # the maps' output layer is zeroed, the encoder keeps its weights
    assert torch.equal(net(x), torch.zeros(2, 1, 16, 16, 16))
    assert net.severity(x).abs().min() > 0


def test_stage_loss_joins_the_generator_objective():
    torch.manual_seed(0)
    model = Pix2Pix(severity_weight=2.0, severity_width=4, gan_weight=0.0, **KW)
    path = severity_path(model.nets["G"])
    assert isinstance(path, SeverityPath)
    a, b = torch.randn(1, 1, 16, 16, 16), torch.randn(1, 1, 16, 16, 16)
    images, stages = torch.randn(1, 3, 1, 16, 16, 16), torch.tensor([[0.0, 0.5, 1.0]])
    model.eval()
    loss, logs = model.g_loss(a, b, images, stages)
    stage = (path.severity(images[0]) - stages[0]).square().mean().detach()
    assert float(logs["g_stage"]) == pytest.approx(float(stage), rel=1e-6)
    assert float(loss) == pytest.approx(100.0 * float(logs["g_l1"]) + 2.0 * float(stage), rel=1e-5)
    with pytest.raises(ValueError, match="labelled images"):
        model.g_loss(a, b)
    assert severity_path(Pix2Pix(**KW).nets["G"]) is None  # off by default: the plain generator


def test_staged_pairs_draw_labelled_images_with_their_own_stage():
    pairs = [(torch.zeros(1, 4, 4, 4), torch.ones(1, 4, 4, 4))] * 3
    images = [torch.full((1, 4, 4, 4), float(i)) for i in range(5)]
    staged = StagedPairs(pairs, images, [i / 10 for i in range(5)], k=4)
    torch.manual_seed(0)
    a, b, imgs, stages = staged[1]
    assert imgs.shape == (4, 1, 4, 4, 4) and stages.shape == (4,)
    assert torch.allclose(imgs[:, 0, 0, 0, 0] / 10, stages)  # image i carries stage i / 10
    with pytest.raises(ValueError, match="labelled images"):
        StagedPairs(pairs, images, [0.0])


def known_signal(n: int, seed: int, size: int = 24):
    """MRI: one texture for all, plus a corner marker of intensity c (per subject, out of the U-Net's reach
    from the far corner); PET: c times a blob in the far corner."""
    g = torch.Generator().manual_seed(seed)
    texture = torch.rand(1, size, size, size, generator=torch.Generator().manual_seed(99)) - 0.5
    grid = torch.stack(torch.meshgrid(*[torch.arange(float(size))] * 3, indexing="ij"))
    blob = torch.exp(-((grid - (size - 7)) ** 2).sum(0) / 12)[None]
    c = torch.rand(n, generator=g)
    mri = texture.repeat(n, 1, 1, 1, 1)
    mri[:, :, :5, :5, :5] = c.view(-1, 1, 1, 1, 1)
    return mri, torch.stack([ci * blob for ci in c]), c


def fit(model: Pix2Pix, mri, pet, stages, steps: int) -> float:
    torch.manual_seed(1)
    staged = StagedPairs(list(zip(mri, pet)), list(mri), stages.tolist(), k=4)
    for _ in range(steps):
        i = int(torch.randint(len(staged), ()))
        a, b, imgs, st = staged[i]
        batch = (a[None], b[None], imgs[None], st[None]) if model.severity_weight else (a[None], b[None])
        model.train_step(batch)
    test_mri, test_pet, _ = known_signal(8, seed=5)
    model.eval()
    with torch.no_grad():
        return float((model.translate(test_mri) - test_pet).abs().mean())


def test_known_signal_needs_the_severity_path():
    """A subject-level amplitude the U-Net cannot see from where it acts: the plain generator learns about the
    best constant map (0.0060 against 0.0096 for zero), the severity path the amplitude, on held-out subjects."""
    mri, pet, c = known_signal(12, seed=0)
    kw = {**KW, "gan_weight": 0.0, "lr": 1e-3}
    plain = Pix2Pix(**kw)
    staged = Pix2Pix(severity_weight=100.0, severity_width=4, **kw)
    for m in (plain, staged):
        start_at_template(m.nets["G"])
    err_plain, err_staged = fit(plain, mri, pet, c, 200), fit(staged, mri, pet, c, 200)
    assert err_staged < 0.6 * err_plain, (err_plain, err_staged)


def test_encoder_gradient_is_clipped_to_clip_times_weight_and_the_maps_are_not():
    torch.manual_seed(0)
    model = Pix2Pix(severity_weight=2.0, severity_width=4, severity_clip=0.5, gan_weight=0.0, **KW)
    path = severity_path(model.nets["G"])
    a, b = torch.randn(1, 1, 16, 16, 16), torch.randn(1, 1, 16, 16, 16)
    images, stages = torch.randn(1, 3, 1, 16, 16, 16), torch.tensor([[50.0, -50.0, 50.0]])  # far off: a huge gradient
    loss, _ = model.g_loss(a, b, images, stages)
    loss.backward()
    norm = lambda ps: float(torch.sqrt(sum((p.grad**2).sum() for p in ps if p.grad is not None)))  # noqa: E731
    maps_before = norm(path.maps.parameters())
    assert norm(path.encoder.parameters()) > 10.0
    model.before_step("G")
    assert norm(path.encoder.parameters()) == pytest.approx(0.5 * 2.0, rel=1e-4)
    assert norm(path.maps.parameters()) == maps_before
    with pytest.raises(ValueError, match="severity_clip"):
        Pix2Pix(severity_weight=1.0, severity_clip=-1.0, **KW)
