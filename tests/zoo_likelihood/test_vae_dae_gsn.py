"""VAE bounds against the exact likelihood of a 1-D latent VAE; DAE / GSN corruption and chains; Parzen."""

import itertools
import math

import pytest
import torch

from mrisynth.metrics.likelihood import elbo, iwae_bound, parzen_log_likelihood, parzen_select_bandwidth
from mrisynth.zoo.models.dae import corrupt
from mrisynth.zoo.models.vae import VAENet
from mrisynth.zoo.registry import build

ALL_BINARY_4 = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)))


def _exact_log_px(net, x):
    """log integral p(x | z) N(z; 0, 1) dz on a fine grid (1-D latent)."""
    z = torch.linspace(-10, 10, 4001, dtype=torch.float64)[:, None]
    dz = float(z[1] - z[0])
    with torch.no_grad():
        log_joint = torch.stack([net.log_px(xi.expand(len(z), -1), z) for xi in x]) - 0.5 * (z.T**2 + math.log(2 * math.pi))
    return torch.logsumexp(log_joint, 1) + math.log(dz)


def test_elbo_below_iwae_below_exact_and_iwae_converges():
    torch.manual_seed(0)
    net = VAENet(4, 1, 8, "bernoulli").double()
    exact = _exact_log_px(net, ALL_BINARY_4)
    assert abs(float(torch.logsumexp(exact, 0))) < 1e-6  # p(x | z) is a distribution over {0, 1}^4
    g = torch.Generator().manual_seed(0)
    x = ALL_BINARY_4.double().repeat(200, 1)  # average out the Monte-Carlo noise of the bounds
    e1 = float(elbo(net, x, generator=g).mean())
    i10 = float(iwae_bound(net, x, k=10, generator=g).mean())
    i2000 = iwae_bound(net, ALL_BINARY_4.double().repeat(20, 1), k=2000, generator=g).view(20, 16).mean(0)
    assert e1 < i10 - 0.01 and i10 < float(exact.mean())
    assert torch.allclose(i2000, exact, atol=0.01)


def test_beta_weights_the_kl_and_conditional_vae_samples_per_label():
    model = build("vae", image_shape=(1, 2, 2), n_latent=2, n_hidden=8, beta=4.0, n_classes=3, seed=0)
    x = (ALL_BINARY_4[:6] * 2 - 1).view(6, 1, 2, 2)
    loss, logs = model.loss(model.data_vectors(x), torch.arange(6) % 3)
    assert math.isclose(float(loss.detach() - logs["neg_elbo"]), 3.0 * float(logs["kl"]), rel_tol=1e-5)
    logs = model.train_step((x, torch.arange(6) % 3))
    assert set(logs) == {"loss", "neg_elbo", "kl"}
    with pytest.raises(ValueError, match="needs labels"):
        model.net.encode(model.data_vectors(x))
    assert model.sample(5, torch.Generator().manual_seed(0)).shape == (5, 1, 2, 2)
    gauss = build("vae", image_shape=(1, 2, 2), n_latent=2, n_hidden=8, decoder="gaussian", seed=0)
    assert math.isfinite(gauss.train_step(x)["neg_elbo"])


def test_corruptions_have_the_stated_rates():
    g = torch.Generator().manual_seed(0)
    ones = torch.ones(200, 500)
    assert abs(float((corrupt(ones, "masking", 0.25, g) == 0).float().mean()) - 0.25) < 0.005
    salt = corrupt(ones, "salt_pepper", 0.4, g)  # half the touched values become 0
    assert abs(float((salt == 0).float().mean()) - 0.2) < 0.005 and set(salt.unique().tolist()) == {0.0, 1.0}
    assert abs(float((corrupt(ones, "gaussian", 0.3, g) - 1).std()) - 0.3) < 0.005
    with pytest.raises(ValueError, match="corruption"):
        corrupt(ones, "blur", 0.1)


def test_parzen_bernoulli_kernel_is_a_distribution_and_gaussian_matches_the_density():
    samples = torch.rand(7, 4, generator=torch.Generator().manual_seed(1))
    log_p = parzen_log_likelihood(samples, ALL_BINARY_4, 0.1, "bernoulli")
    assert abs(float(torch.logsumexp(log_p, 0))) < 1e-10
    one = torch.tensor([[0.5, -1.0]])
    x = torch.tensor([[1.0, 0.0]])
    expected = -((0.5**2 + 1.0) / (2 * 0.3**2)) - math.log(2 * math.pi * 0.3**2)
    assert math.isclose(float(parzen_log_likelihood(one, x, 0.3)), expected, rel_tol=1e-12)
    best, scores = parzen_select_bandwidth(ALL_BINARY_4[:3], ALL_BINARY_4[:3], [0.01, 0.2, 0.45], "bernoulli")
    assert best == 0.01 and scores[0.01] > scores[0.45]  # the samples are the data: narrowest wins


@pytest.mark.parametrize("name", ["dae", "gsn"])
def test_dae_and_gsn_learn_and_their_chains_give_images(name):
    model = build(name, image_shape=(1, 3, 3), n_hidden=32, lr=1e-2, sample_steps=20, seed=0, **({"walkback": 3} if name == "dae" else {}))
    g = torch.Generator().manual_seed(0)
    patterns = torch.tensor([[1, 0, 1, 0, 1, 0, 1, 0, 1], [0, 1, 0, 1, 1, 1, 0, 1, 0]], dtype=torch.float32)
    data = (patterns[torch.randint(0, 2, (32,), generator=g)] * 2 - 1).view(32, 1, 3, 3)
    first = model.test_loss(data, torch.Generator().manual_seed(5))
    for _ in range(60):
        model.train_step(data)
        model.end_step()
    assert model.test_loss(data, torch.Generator().manual_seed(5)) < 0.5 * first
    s = model.sample(8, torch.Generator().manual_seed(2))
    assert s.shape == (8, 1, 3, 3) and float(s.min()) >= -1 and float(s.max()) <= 1
    # the chain has learned the two patterns: most samples are close to one of them
    dist = torch.cdist((s.flatten(1) + 1) / 2, patterns).min(1).values
    assert float((dist < 1.0).float().mean()) >= 0.75
