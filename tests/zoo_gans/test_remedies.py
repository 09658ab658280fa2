"""Mode-collapse remedies: minibatch layers, PacGAN packing, feature matching, the unrolled GAN's
gradient through k discriminator steps, InfoGAN's mutual-information bound; registry and checkpoints."""

import math

import pytest
import torch
from torch.func import functional_call
from torch.utils.data import TensorDataset

from mrisynth.zoo.losses import fdiv
from mrisynth.zoo.nets.mlp import MinibatchDiscrimination, MLPDiscriminator, pack
from mrisynth.zoo.registry import build, names
from mrisynth.zoo.train import TrainConfig, Trainer, load_model_state


def test_models_are_registered():
    assert {"f-gan", "unrolled-gan", "infogan", "gcds"} <= set(names())
    with pytest.raises(ValueError, match="unknown f-divergence"):
        build("f-gan", divergence="wasserstein")


def test_minibatch_discrimination_counts_close_neighbours():
    layer = MinibatchDiscrimination(3, out_features=4, kernel_dim=2)
    same = torch.ones(5, 3)
    out = layer(same)
    assert out.shape == (5, 7)
    torch.testing.assert_close(out[:, 3:], torch.full((5, 4), 4.0))  # 4 identical others, exp(0) each
    far = torch.arange(5.0)[:, None].repeat(1, 3) * 1e4
    with torch.no_grad():
        layer.T.copy_(torch.ones_like(layer.T))
    torch.testing.assert_close(layer(far)[:, 3:], torch.zeros(5, 4))  # nobody close: exp(-huge) = 0


def test_pack_and_packed_discriminator():
    x = torch.arange(16.0).reshape(8, 2)
    torch.testing.assert_close(pack(x, 4), torch.tensor([[0.0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15]]))
    with pytest.raises(ValueError, match="multiple of pack"):
        pack(x[:6], 4)
    d = MLPDiscriminator(2, hidden=8, depth=2, pack=4, minibatch_features=3, minibatch_stddev=True)
    assert d(x).shape == (2, 1)
    assert d.head.in_features == 8 + 3 + 1


def test_minibatch_stddev_is_the_zoo_one_and_works_on_vectors():
    from mrisynth.zoo.nets.progressive import MinibatchStdDev

    d = MLPDiscriminator(2, hidden=8, depth=2, minibatch_stddev=True)
    assert any(isinstance(m, MinibatchStdDev) for m in d.modules())
    x = torch.randn(6, 8)
    out = MinibatchStdDev()(x)
    torch.testing.assert_close(out[:, -1], x.std(0, unbiased=False).add(1e-8).mean().expand(6))


def test_feature_matching_loss_is_the_distance_of_feature_means():
    model = build("f-gan", feature_matching=True, hidden=8, depth=2, seed=0)
    real = torch.randn(16, 2)
    torch.manual_seed(1)
    loss, _ = model.g_loss(real)
    torch.manual_seed(1)
    fake = model.nets["G"](model.noise(16))
    f = model.nets["D"].features
    assert loss.item() == pytest.approx((f(real).mean(0) - f(fake).mean(0)).pow(2).sum().item(), rel=1e-6)


def _g_grads(model, real, seed=3):
    torch.manual_seed(seed)
    loss, _ = model.g_loss(real)
    return torch.autograd.grad(loss, list(model.nets["G"].parameters()))


def test_unrolled_gan_zero_steps_is_the_plain_gan_and_k_steps_backpropagate_through_d():
    real = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    plain = build("f-gan", divergence="gan", hidden=16, depth=2, seed=0)
    unrolled0 = build("unrolled-gan", unroll_steps=0, hidden=16, depth=2, seed=0)
    for a, b in zip(_g_grads(plain, real), _g_grads(unrolled0, real)):
        torch.testing.assert_close(a, b)

    model = build("unrolled-gan", unroll_steps=3, unroll_lr=0.5, hidden=16, depth=2, seed=0)
    D = model.nets["D"]
    # the same unrolled surrogate written with plain autograd (create_graph) instead of torch.func
    torch.manual_seed(3)
    fake = model.nets["G"](model.noise(32))
    params = {k: p.detach().requires_grad_(True) for k, p in D.named_parameters()}
    for _ in range(3):
        call = lambda x: functional_call(D, params, (x,))  # noqa: E731
        grads = torch.autograd.grad(fdiv.fgan_d_loss("gan", call(real), call(fake)), list(params.values()), create_graph=True)
        params = {k: p - 0.5 * g for (k, p), g in zip(params.items(), grads)}
    manual = fdiv.fgan_g_loss("gan", functional_call(D, params, (fake,)), "alternative")
    expected = torch.autograd.grad(manual, list(model.nets["G"].parameters()))
    got = _g_grads(model, real)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
    # ... and it is not the gradient against the (non-differentiated) unrolled discriminator
    torch.manual_seed(3)
    fake = model.nets["G"](model.noise(32))
    frozen = model.unrolled_parameters(real, fake.detach())
    stop = fdiv.fgan_g_loss("gan", functional_call(D, frozen, (fake,)), "alternative")
    stop_grads = torch.autograd.grad(stop, list(model.nets["G"].parameters()))
    assert max((a - b).abs().max().item() for a, b in zip(got, stop_grads)) > 1e-4


def test_infogan_mutual_information_bound_rises_towards_entropy(tmp_path):
    g = torch.Generator().manual_seed(0)
    angles = 2 * math.pi * torch.randint(8, (2048,), generator=g) / 8
    ring = torch.stack([angles.cos(), angles.sin()], 1) * 2 + 0.02 * torch.randn(2048, 2, generator=g)
    assert build("infogan", n_categories=8, n_continuous=2).code_entropy == pytest.approx(math.log(8) + 2 * math.log(2))
    model = build("infogan", n_categories=8, hidden=32, depth=2, lr_g=1e-3, lr_d=1e-3, seed=0)
    cfg = TrainConfig(steps=300, batch_size=128, seed=0, progress=False, out_dir=str(tmp_path))
    history = Trainer(model, TensorDataset(ring), cfg).fit()
    first = sum(h["mi_bound"] for h in history[:20]) / 20
    last = sum(h["mi_bound"] for h in history[-20:]) / 20
    assert all(h["mi_bound"] <= model.code_entropy for h in history)  # a lower bound on I <= H(c)
    assert last > first + 1.0 and last > 0.7 * math.log(8), (first, last)
    # the Q head is part of the checkpoint
    other = build("infogan", n_categories=8, hidden=32, depth=2, seed=1)
    assert load_model_state(other, tmp_path / "checkpoint.pt") == 300
    torch.testing.assert_close(other.nets["Q"].weight, model.nets["Q"].weight)
    x0 = other.sample(5, generator=torch.Generator().manual_seed(0), category=2)
    assert x0.shape == (5, 2)
    with pytest.raises(ValueError, match="pack must be 1"):
        build("infogan", pack=2)
