"""Stochastic generators (noise outsourcing): injected noise in the U-Net / ResNet generators, test-time
dropout, and Pix2Pix's energy-score objective (exact values; it learns the true spread, L1 does not)."""

import pytest
import torch

from mrisynth.zoo.models.pix2pix import Pix2Pix, energy_score
from mrisynth.zoo.nets import ResnetGenerator, UnetGenerator
from mrisynth.zoo.nets.noise import MeanPlusOddNoise, NoiseConcat, enable_dropout, has_dropout, is_stochastic


def _x():
    return torch.rand(1, 1, 16, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1


def _forward(net, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        return net(_x())


@pytest.mark.parametrize("kind", ["unet", "resnet"])
@pytest.mark.parametrize("noise", ["channels", "layers"])
def test_noise_is_seeded_and_changes_the_output(kind, noise):
    torch.manual_seed(0)
    kw = dict(ngf=4, norm="instance", spatial_dims=3, noise=noise, noise_channels=2)
    net = (UnetGenerator(num_downs=3, use_dropout=False, **kw) if kind == "unet" else ResnetGenerator(n_blocks=2, **kw)).eval()
    assert is_stochastic(net)
    a, b, c = _forward(net, 1), _forward(net, 1), _forward(net, 2)
    assert a.shape == (1, 1, 16, 16, 16)
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert (a - c).abs().mean() > 1e-4
    n_inject = sum(m.__class__.__name__ == "NoiseConcat" for m in net.modules())
    assert n_inject == (1 if noise == "channels" else {"unet": 3, "resnet": 3}[kind])


def test_default_generators_are_deterministic_and_unchanged():
    for net in (UnetGenerator(num_downs=3, ngf=4, norm="instance", use_dropout=False, spatial_dims=3),
                ResnetGenerator(ngf=4, n_blocks=1, spatial_dims=3)):
        assert not is_stochastic(net)
        torch.testing.assert_close(_forward(net.eval(), 1), _forward(net, 2), atol=0, rtol=0)
    with pytest.raises(ValueError, match="noise must be"):
        UnetGenerator(noise="dropout")
    with pytest.raises(ValueError, match="noise_channels"):
        ResnetGenerator(noise="layers", noise_channels=0)


def test_test_time_dropout():
    torch.manual_seed(0)
    net = UnetGenerator(num_downs=3, ngf=4, norm="instance", use_dropout=True, spatial_dims=3).eval()
    assert has_dropout(net) and not is_stochastic(net)
    torch.testing.assert_close(_forward(net, 1), _forward(net, 2), atol=0, rtol=0)  # eval: dropout off
    enable_dropout(net)
    assert (_forward(net, 1) - _forward(net, 2)).abs().mean() > 1e-4
    assert not any(m.training for m in net.modules() if not isinstance(m, torch.nn.Dropout))


def test_energy_score_exact():
    f1, f2, b = torch.tensor([0.0, 2.0]), torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0])
    # |f1-b| = (1, 2) -> 1.5; |f2-b| = (0, 1) -> 0.5; |f1-f2| = (1, 1) -> 1
    assert energy_score(f1, f2, b).item() == pytest.approx(0.5 * (1.5 + 0.5) - 0.5 * 1.0)
    assert energy_score(f1, f2, b, lambda_div=0.0).item() == pytest.approx(1.0)


def test_energy_score_learns_the_conditional_spread():
    """y ~ N(0, 1) whatever the input: G(eta) = mu + s * eta fit by the energy score finds s ~ 1 (proper
    scoring rule), the L1 of one draw drives s to 0 (every draw at the median)."""
    gen = torch.Generator().manual_seed(0)
    y, e1, e2 = (torch.randn(4000, generator=gen) for _ in range(3))
    spreads = {}
    for name in ("energy", "l1"):
        mu, log_s = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
        opt = torch.optim.Adam([mu, log_s], lr=0.05)
        for _ in range(300):
            f1, f2 = mu + log_s.exp() * e1, mu + log_s.exp() * e2
            loss = energy_score(f1, f2, y) if name == "energy" else (f1 - y).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        spreads[name] = log_s.exp().item()
    assert spreads["energy"] == pytest.approx(1.0, abs=0.1)
    assert spreads["l1"] < 0.3


def test_pix2pix_energy_objective_3d():
    torch.manual_seed(0)
    kw = dict(spatial_dims=3, ngf=4, ndf=4, n_layers=1, num_downs=3, g_norm="instance", d_norm="instance", seed=0)
    model = Pix2Pix(noise="layers", noise_channels=1, diversity="energy", **kw)
    a, b = _x(), _x().flip(2)
    loss, logs = model.g_loss(a, b)
    assert torch.isfinite(loss) and logs["g_spread"] > 0
    loss.backward()
    assert all(p.grad is not None for p in model.nets["G"].parameters())
    with pytest.raises(ValueError, match="stochastic generator"):
        Pix2Pix(diversity="energy", use_dropout=False, **kw)
    plain_a, plain_b = Pix2Pix(**kw), Pix2Pix(noise="none", diversity="none", **kw)
    for (k, v), (k2, v2) in zip(plain_a.nets["G"].state_dict().items(), plain_b.nets["G"].state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_antithetic_noise_concat():
    torch.manual_seed(0)
    out = NoiseConcat(2, antithetic=True)(torch.zeros(4, 1, 3, 3))
    z = out[:, 1:]
    assert torch.equal(z[2:], -z[:2]) and not torch.equal(z[0], z[1])  # halves opposite, samples independent
    with pytest.raises(ValueError, match="even batch"):
        NoiseConcat(1, antithetic=True)(torch.zeros(3, 1, 2, 2))


def test_additive_sampler_draws_scatter_around_the_mean_net():
    """y = M(x) + (S(x, eta) - S(x, -eta)) / 2: draws differ, and for a draw and its antithetic partner (same
    eta, sign flipped: the batch halves) the mean is M(x) exactly, whatever S is."""
    torch.manual_seed(0)
    kw = dict(in_channels=1, out_channels=1, num_downs=3, ngf=4, norm="instance", use_dropout=False, spatial_dims=3)
    net = MeanPlusOddNoise(UnetGenerator(**kw), UnetGenerator(noise="layers", **kw)).eval()
    x = _x()
    with torch.no_grad():
        y1, y2 = _forward(net, 1), _forward(net, 2)
        torch.manual_seed(1)
        plus, minus = net.noise_net(torch.cat([x, x])).chunk(2)
        mean = net.mean_net(x)
    assert torch.equal(y1, _forward(net, 1)) and (y1 - y2).abs().mean() > 1e-3
    torch.testing.assert_close(y1, mean + 0.5 * (plus - minus))
    partner = mean + 0.5 * (minus - plus)  # the draw with -eta
    torch.testing.assert_close(0.5 * (y1 + partner), mean)
    assert not torch.allclose(plus, minus)
    with pytest.raises(ValueError, match="deterministic mean_net"):
        MeanPlusOddNoise(UnetGenerator(noise="layers", **kw), UnetGenerator(noise="layers", **kw))


def test_pix2pix_additive_sampler():
    kw = dict(spatial_dims=3, ngf=4, ndf=4, n_layers=1, num_downs=3, g_norm="instance", d_norm="instance", seed=0)
    model = Pix2Pix(noise="layers", noise_channels=1, diversity="energy", sampler="additive", noise_ngf=2, **kw)
    g = model.nets["G"]
    assert isinstance(g, MeanPlusOddNoise) and not is_stochastic(g.mean_net) and is_stochastic(g.noise_net)
    assert g.noise_net.model.model[1].out_channels == 2  # noise_ngf
    loss, logs = model.g_loss(_x(), _x().flip(2))
    loss.backward()
    assert torch.isfinite(loss) and logs["g_spread"] > 0
    assert all(p.grad is not None for p in g.parameters())
    # mean_l1: the energy score plus exactly mean_l1 * |mean - b|, on the same draws (same seed)
    a, b = _x(), _x().flip(2)
    with_mean = Pix2Pix(noise="layers", noise_channels=1, diversity="energy", sampler="additive", noise_ngf=2, mean_l1=2.0,
                        **{**kw, "use_dropout": False})
    torch.manual_seed(3)
    _, term, logs = with_mean.reconstruction(a, b)
    with_mean.mean_l1 = 0.0
    torch.manual_seed(3)
    _, plain_term, _ = with_mean.reconstruction(a, b)
    mean_l1 = (with_mean.nets["G"].mean_net(a) - b).abs().mean()
    torch.testing.assert_close(term, plain_term + 2.0 * mean_l1)
    torch.testing.assert_close(logs["g_mean_l1"], mean_l1.detach())
    with pytest.raises(ValueError, match="sampler must be"):
        Pix2Pix(noise="layers", sampler="other", **kw)
    with pytest.raises(ValueError, match="needs noise"):
        Pix2Pix(sampler="additive", **kw)


def test_pix2pix_mean_warmup_trains_the_mean_alone():
    """mean_steps: the first steps update the mean network only, by lambda_l1 * |mean - b| exactly (no
    discriminator, no noise term); full training (D included) follows."""
    kw = dict(spatial_dims=3, ngf=4, ndf=4, n_layers=1, num_downs=3, g_norm="instance", d_norm="instance", seed=0,
              noise="layers", noise_channels=1, diversity="energy", sampler="additive", noise_ngf=2, use_dropout=False)
    model = Pix2Pix(mean_steps=2, lambda_l1=3.0, **kw)
    g, d = model.nets["G"], model.nets["D"]
    assert model.warmup_end == 2
    snap = lambda net: [p.detach().clone() for p in net.parameters()]  # noqa: E731
    a, b = _x(), _x().flip(2)
    for step in range(2):
        with torch.no_grad():
            expected = (g.mean_net(a) - b).abs().mean()
        mean0, noise0, d0 = snap(g.mean_net), snap(g.noise_net), snap(d)
        logs = model.train_step((a, b))
        model.end_step()
        assert set(logs) == {"g_mean_l1"}
        assert logs["g_mean_l1"] == pytest.approx(float(expected), rel=1e-5)
        assert all(torch.equal(p, q) for p, q in zip(snap(g.noise_net), noise0))
        assert all(torch.equal(p, q) for p, q in zip(snap(d), d0))
        assert any(not torch.equal(p, q) for p, q in zip(snap(g.mean_net), mean0))
    d0, noise0 = snap(d), snap(g.noise_net)
    logs = model.train_step((a, b))
    assert "d_loss" in logs and "g_spread" in logs
    assert any(not torch.equal(p, q) for p, q in zip(snap(d), d0))
    assert any(not torch.equal(p, q) for p, q in zip(snap(g.noise_net), noise0))
    # a joint stochastic generator would learn to ignore its noise under L1: refused
    with pytest.raises(ValueError, match="mean_steps needs"):
        Pix2Pix(mean_steps=2, **{**kw, "sampler": "joint", "noise_ngf": None})
    Pix2Pix(mean_steps=2, spatial_dims=3, ngf=4, ndf=4, n_layers=1, num_downs=3, use_dropout=False)  # deterministic: fine
