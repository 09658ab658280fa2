"""RBM / DBM partition functions: AIS against brute-force enumeration; free energies against the energy."""

import math

import torch
import torch.nn.functional as F

from mrisynth.metrics.likelihood import (
    ais_log_partition,
    dbm_log_likelihood_lower_bound,
    dbn_log_likelihood_lower_bound,
    rbm_log_likelihood_ais,
)
from mrisynth.zoo.models.dbm import DBMNet
from mrisynth.zoo.models.rbm import RBMNet, all_binary_states


def _random_rbm(visible, n_v=12, n_h=8, std=0.3, seed=0):
    torch.manual_seed(seed)
    net = RBMNet(n_v, n_h, visible=visible, init_std=std).double().requires_grad_(False)
    net.a.normal_(0, 0.5), net.b.normal_(0, 0.5)
    return net


def test_bernoulli_free_energy_and_log_z_match_the_energy_summed_over_all_states():
    net = _random_rbm("bernoulli", 6, 4)
    v, h = all_binary_states(6, torch.float64), all_binary_states(4, torch.float64)
    neg_energy = (v @ net.a)[:, None] + (h @ net.b)[None] + v @ net.W @ h.T  # (64, 16)
    assert torch.allclose(net.free_energy(v), -torch.logsumexp(neg_energy, 1), atol=1e-12)
    assert math.isclose(float(net.log_partition_exact()), float(torch.logsumexp(neg_energy.flatten(), 0)), abs_tol=1e-12)


def test_gaussian_log_z_matches_numerical_integration():
    net = _random_rbm("gaussian", 2, 3, std=0.5)
    net.sigma.fill_(0.7)
    grid = torch.linspace(-9, 9, 1201, dtype=torch.float64)
    vv = torch.cartesian_prod(grid, grid)
    step = float(grid[1] - grid[0])
    numeric = torch.logsumexp(-net.free_energy(vv), 0) + 2 * math.log(step)
    assert math.isclose(float(net.log_partition_exact()), float(numeric), abs_tol=1e-6)


def test_ais_log_z_of_a_12x8_bernoulli_rbm_is_exact_to_1e_3():
    net = _random_rbm("bernoulli").float()
    exact = float(net.double().log_partition_exact())
    net.float()
    result = ais_log_partition(**net.annealing_path(net.a.clone()), n_chains=5000, n_betas=1000, generator=torch.Generator().manual_seed(1))
    assert abs(result.log_z - exact) < 1e-3
    assert result.log_z_low < exact < result.log_z_high
    # the AIS log-likelihood uses it: log p(v) = -F(v) - log Z sums to ~1 over all 2^12 images
    total = torch.logsumexp(rbm_log_likelihood_ais(net, all_binary_states(12), result.log_z), 0)
    assert abs(float(total)) < 1e-3


def test_ais_log_z_of_a_gaussian_bernoulli_rbm():
    net = _random_rbm("gaussian", std=0.2).float()
    exact = float(net.double().log_partition_exact())
    net.float()
    result = ais_log_partition(**net.annealing_path(), n_chains=2000, n_betas=500, generator=torch.Generator().manual_seed(2))
    assert abs(result.log_z - exact) < 3e-3
    # too few intermediate distributions are visibly worse: the check above can fail
    crude = ais_log_partition(**net.annealing_path(), n_chains=20, n_betas=3, generator=torch.Generator().manual_seed(2))
    assert abs(crude.log_z - exact) > 10 * abs(result.log_z - exact)


def _random_dbm(seed=0):
    torch.manual_seed(seed)
    net = DBMNet(8, 6, 4, n_chains=2, init_std=0.5).double().requires_grad_(False)
    for p in (net.a, net.b1, net.b2):
        p.normal_(0, 0.5)
    return net


def test_dbm_exact_log_z_matches_full_enumeration_and_ais():
    net = _random_dbm()
    v, h1, h2 = all_binary_states(8, torch.float64), all_binary_states(6, torch.float64), all_binary_states(4, torch.float64)
    states = torch.cartesian_prod(torch.arange(256), torch.arange(64), torch.arange(16))
    brute = torch.logsumexp(-net.energy(v[states[:, 0]], h1[states[:, 1]], h2[states[:, 2]]), 0)
    exact = float(net.log_partition_exact())
    assert math.isclose(exact, float(brute), abs_tol=1e-10)
    result = ais_log_partition(**net.annealing_path(), n_chains=2000, n_betas=500, generator=torch.Generator().manual_seed(3))
    assert abs(result.log_z - exact) < 1e-2


def test_dbm_mean_field_bound_is_below_the_exact_log_likelihood():
    net = _random_dbm(1)
    v = all_binary_states(8, torch.float64)[::17]
    exact_ll = net.log_prob_exact(v)
    bound = dbm_log_likelihood_lower_bound(net, v, float(net.log_partition_exact()), mean_field_steps=50)
    assert (bound <= exact_ll + 1e-9).all()
    assert float((exact_ll - bound).mean()) < 1.0  # and not vacuous
    assert abs(float(torch.logsumexp(net.log_prob_exact(all_binary_states(8, torch.float64)), 0))) < 1e-10


def test_dbn_bound_is_below_the_exact_log_likelihood_of_a_tiny_dbn():
    rbm1, top = _random_rbm("bernoulli", 6, 4, std=0.8, seed=2), _random_rbm("bernoulli", 4, 3, std=0.8, seed=3)
    v, h1 = all_binary_states(6, torch.float64), all_binary_states(4, torch.float64)
    log_ph1 = -top.free_energy(h1) - top.log_partition_exact()
    logits = rbm1.a + h1 @ rbm1.W.T  # (16, 6): p(v | h1)
    log_pv_h1 = v @ F.logsigmoid(logits).T + (1 - v) @ F.logsigmoid(-logits).T  # (64, 16)
    exact = torch.logsumexp(log_pv_h1 + log_ph1, 1)
    assert abs(float(torch.logsumexp(exact, 0))) < 1e-10
    bound = dbn_log_likelihood_lower_bound(rbm1, top, v, float(top.log_partition_exact()), n_samples=400, generator=torch.Generator().manual_seed(0))
    assert float((bound - exact).max()) < 0.05 and float((exact - bound).mean()) > 0.01
