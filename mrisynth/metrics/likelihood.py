"""Log-likelihoods and their bounds, named by what each number is.

Every function returns **nats per example** (natural log, summed over the dimensions of one example)
unless its name says otherwise; :func:`nll_bits_per_dim` converts. Numbers of different kinds are NOT
interchangeable:

* ``exact``      -- autoregressive models (PixelCNN, PixelRNN): log p(x) computed exactly.
* ``ais``        -- RBM: log p(x) = -F(x) - log Z with log Z from annealed importance sampling. AIS is
                    unbiased for Z, so log Z tends to be *under*-estimated and log p(x) *over*-estimated
                    when too few intermediate distributions / chains are used.
* ``dbn bound``  -- two-layer DBN: Monte-Carlo estimate of the variational lower bound with the first
                    RBM's posterior as q and the top RBM's log Z by AIS.
* ``dbm bound``  -- DBM: the mean-field variational lower bound on log p(x), with log Z by AIS (so it is
                    a stochastic estimate of a lower bound, with the same AIS caveat).
* ``elbo``       -- VAE evidence lower bound; ``iwae`` the importance-weighted bound with k samples
                    (ELBO = IWAE_1 <= IWAE_k <= log p(x), tightening as k grows).
* ``parzen``     -- Parzen-window estimate from model samples (DAE, GSN, anything that samples). It is a
                    density of a *kernel smoothing of the samples*, not of the model: strongly biased in
                    high dimensions, sensitive to the bandwidth (chosen on validation data here) and to the
                    number of samples, and known to rank models inconsistently with their true likelihood
                    (Theis, van den Oord & Bethge, ICLR 2016). Use it only for rough comparisons.

The functions take the models' networks duck-typed (no import of the zoo): the RBM and DBM nets provide
``annealing_path`` / ``free_energy``, autoregressive models ``log_prob``, VAE nets ``encode``/``log_px``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch

LN2 = math.log(2.0)


def nll_bits_per_dim(log_likelihood_nats: float, n_dims: int) -> float:
    """Negative log-likelihood in bits per dimension from a log-likelihood in nats per example."""
    return -log_likelihood_nats / (n_dims * LN2)


def logmeanexp(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    return torch.logsumexp(x, dim) - math.log(x.shape[dim])


# --------------------------------------------------------------------------- annealed importance sampling
@dataclasses.dataclass
class AISResult:
    log_z: float  # log of the mean importance weight times Z_0: the AIS estimate of log Z
    log_z_low: float  # log(mean - 3 standard errors) of the weights (-inf if that is <= 0)
    log_z_high: float  # log(mean + 3 standard errors)
    log_weights: torch.Tensor  # per chain


def ais_log_partition(
    log_f: Callable,
    transition: Callable,
    init: Callable,
    log_z0: float,
    n_chains: int = 100,
    n_betas: int = 1000,
    betas: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> AISResult:
    """Annealed importance sampling (Neal 2001; Salakhutdinov & Murray 2008) of log Z.

    ``log_f(x, beta)``: log unnormalised density of the intermediate distribution p_beta (beta=0: the
    tractable base with partition function exp(log_z0); beta=1: the target); ``transition(x, beta,
    generator)``: an MCMC step leaving p_beta invariant; ``init(n, generator)``: exact samples of p_0.
    ``betas`` defaults to ``n_betas`` values linear in [0, 1].
    """
    if betas is None:
        betas = torch.linspace(0.0, 1.0, n_betas, dtype=torch.float64)
    betas = [float(b) for b in betas]
    if betas[0] != 0.0 or betas[-1] != 1.0:
        raise ValueError("betas must run from 0 to 1")
    with torch.no_grad():
        x = init(n_chains, generator)
        log_w = torch.zeros(n_chains, dtype=torch.float64, device=x.device)
        for prev, beta in zip(betas[:-1], betas[1:]):
            log_w += (log_f(x, beta) - log_f(x, prev)).double()
            if beta < 1.0:
                x = transition(x, beta, generator)
    log_mean = float(logmeanexp(log_w))
    # standard error of the mean weight, relative to the mean (computed in a shifted scale)
    w = torch.exp(log_w - log_w.max())
    rel_se = float(w.std() / w.mean() / math.sqrt(n_chains)) if n_chains > 1 else float("inf")
    low = log_z0 + log_mean + (math.log(1 - 3 * rel_se) if 3 * rel_se < 1 else -math.inf)
    return AISResult(log_z0 + log_mean, low, log_z0 + log_mean + math.log1p(3 * rel_se), log_w)


def base_visible_bias(data: torch.Tensor, eps: float = 0.05) -> torch.Tensor:
    """Logits of the (smoothed) mean of binary training data: the usual AIS base-rate RBM's visible biases."""
    p = data.float().mean(0).clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)


def rbm_log_likelihood_ais(net, v: torch.Tensor, log_z: float) -> torch.Tensor:
    """AIS estimate of log p(v) = -F(v) - log Z per row (nats)."""
    with torch.no_grad():
        return -net.free_energy(v).double() - log_z


# --------------------------------------------------------------------------- DBN
def dbn_log_likelihood_lower_bound(rbm1, top, v: torch.Tensor, log_z_top: float, n_samples: int = 10, generator=None) -> torch.Tensor:
    """Monte-Carlo estimate of the variational bound of a two-layer DBN per row (nats):
    E_q[log p(v | h1) + log p(h1) - log q(h1 | v)] with q the first RBM's factorial posterior and
    p(h1) = exp(-F_top(h1)) / Z_top the top RBM's marginal (log Z_top from AIS)."""
    with torch.no_grad():
        q = rbm1.hidden_probs(v).clamp(1e-7, 1 - 1e-7)
        total = torch.zeros(len(v), dtype=torch.float64, device=v.device)
        for _ in range(n_samples):
            h1 = torch.bernoulli(q, generator=generator)
            log_pv = -torch.nn.functional.binary_cross_entropy_with_logits(rbm1.a + h1 @ rbm1.W.T, v, reduction="none").sum(1)
            log_q = (h1 * torch.log(q) + (1 - h1) * torch.log1p(-q)).sum(1)
            total += (log_pv - top.free_energy(h1) - log_q).double() - log_z_top
        return total / n_samples


# --------------------------------------------------------------------------- DBM
def dbm_log_likelihood_lower_bound(net, v: torch.Tensor, log_z: float, mean_field_steps: int = 30) -> torch.Tensor:
    """Variational lower bound per row: E_q[-E(v, h1, h2)] + H(q) - log Z with factorised mean-field q."""
    with torch.no_grad():
        mu1, mu2 = net.mean_field(v, mean_field_steps)
        neg_energy = -net.energy(v, mu1, mu2)  # linear in h1, h2 and bilinear across layers: E_q = at the means
        return (neg_energy + _bernoulli_entropy(mu1) + _bernoulli_entropy(mu2)).double() - log_z


def _bernoulli_entropy(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-7, 1 - 1e-7)
    return -(p * torch.log(p) + (1 - p) * torch.log1p(-p)).sum(1)


# --------------------------------------------------------------------------- autoregressive
def exact_log_likelihood(model, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Exact log p(x) per image (nats) of an autoregressive model with ``log_prob(images)``."""
    with torch.no_grad():
        return torch.cat([model.log_prob(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]).double()


# --------------------------------------------------------------------------- VAE
def elbo(net, x: torch.Tensor, y: torch.Tensor | None = None, generator=None) -> torch.Tensor:
    """Evidence lower bound per row (beta = 1, one reparameterised sample; nats)."""
    return iwae_bound(net, x, y, k=1, generator=generator)


def iwae_bound(net, x: torch.Tensor, y: torch.Tensor | None = None, k: int = 50, generator=None) -> torch.Tensor:
    """Importance-weighted bound log (1/k) sum_i p(x, z_i) / q(z_i | x), z_i ~ q(z | x), per row (nats)."""
    with torch.no_grad():
        mu, logvar = net.encode(x, y)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + std * eps  # (k, N, D)
        log_q = _normal_log_density(z, mu, logvar).sum(-1)
        log_prior = _normal_log_density(z, torch.zeros_like(mu), torch.zeros_like(logvar)).sum(-1)
        log_px = torch.stack([net.log_px(x, z[i], y) for i in range(k)])
        return logmeanexp((log_px + log_prior - log_q).double(), 0)


def _normal_log_density(z, mu, logvar):
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 / torch.exp(logvar))


# --------------------------------------------------------------------------- Parzen window
def parzen_log_likelihood(
    samples: torch.Tensor, x: torch.Tensor, bandwidth: float, kernel: str = "gaussian", batch_size: int = 256
) -> torch.Tensor:
    """Parzen-window estimate of log p(x) per row (nats) from model ``samples`` (both (N, D)).

    ``gaussian``: isotropic Gaussian kernels of std ``bandwidth`` (a density on R^D, for continuous data);
    ``bernoulli``: product of Bernoulli kernels p(x_d = 1) = bandwidth + (1 - 2 bandwidth) s_d around each
    sample s in [0, 1]^D (a probability on {0, 1}^D, comparable with the discrete likelihoods of binarised
    data). See the module docstring for the caveats.
    """
    samples, x = samples.double().flatten(1), x.double().flatten(1)
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        if kernel == "gaussian":
            d2 = torch.cdist(xb, samples) ** 2
            log_k = -d2 / (2 * bandwidth**2) - 0.5 * samples.shape[1] * math.log(2 * math.pi * bandwidth**2)
        elif kernel == "bernoulli":
            if not 0.0 < bandwidth < 0.5:
                raise ValueError(f"the Bernoulli kernel's bandwidth is a flip probability in (0, 0.5), got {bandwidth}")
            p = bandwidth + (1 - 2 * bandwidth) * samples.clamp(0, 1)
            log_k = xb @ torch.log(p).T + (1 - xb) @ torch.log1p(-p).T
        else:
            raise ValueError(f"kernel must be 'gaussian' or 'bernoulli', got {kernel!r}")
        out.append(logmeanexp(log_k, 1))
    return torch.cat(out)


def parzen_select_bandwidth(samples: torch.Tensor, validation: torch.Tensor, candidates, kernel: str = "gaussian"):
    """The candidate bandwidth with the highest mean Parzen log-likelihood on ``validation``; (best, scores)."""
    scores = {float(c): float(parzen_log_likelihood(samples, validation, float(c), kernel).mean()) for c in candidates}
    return max(scores, key=scores.get), scores


def summarize(log_likelihoods: torch.Tensor, n_dims: int) -> dict[str, float]:
    """Mean log-likelihood (nats per example), its standard error, and the NLL in bits per dimension."""
    ll = log_likelihoods.double()
    mean = float(ll.mean())
    return {
        "log_likelihood_nats": mean,
        "stderr_nats": float(ll.std() / math.sqrt(len(ll))) if len(ll) > 1 else float("nan"),
        "nll_bits_per_dim": nll_bits_per_dim(mean, n_dims),
    }

