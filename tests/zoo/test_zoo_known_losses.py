"""The losses a model logs in a real ``train_step`` at an input where their value is known: a discriminator
whose output layer is zeroed outputs 0 for every input, and a generator whose output layer is zeroed outputs
tanh(0) = 0. Then D(real) = D(fake) = 0 and G(a) = 0, so each objective has a closed form (log 2 from the
sigmoid, 1/2 from least squares, mean |b| from the L1 terms) and a wrong wiring (swapped real / fake, a missing weight, a penalty not
added, a reconstruction against the wrong target) shows up as a wrong number, not just a finite one."""

import math

import pytest
import torch

from mrisynth.zoo import registry

LOG2 = math.log(2.0)


def _zero_output_layer(net: torch.nn.Module) -> None:
    layers = [m for m in net.modules() if getattr(m, "weight", None) is not None and m.weight.dim() >= 2]
    with torch.no_grad():
        layers[-1].weight.zero_()
        if layers[-1].bias is not None:
            layers[-1].bias.zero_()


def _images(n=4, size=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g) * 2 - 1, torch.rand(n, 1, size, size, generator=g) * 2 - 1


# name, options, expected d_loss, g_loss, penalty at D = 0 (table of zoo.losses.adversarial)
UNCONDITIONAL = [
    ("gan", {"loss": "non_saturating"}, 2 * LOG2, LOG2, None),
    ("gan", {"loss": "minimax"}, 2 * LOG2, -LOG2, None),
    ("gan", {"loss": "hinge"}, 2.0, 0.0, None),
    ("lsgan", {}, 0.5, 0.5, None),
    ("wgan", {"n_critic": 1}, 0.0, 0.0, None),
    # the gradient of a constant critic is 0 everywhere: (||0|| - 1)^2 times the weight
    ("wgan-gp", {"n_critic": 1, "gp_weight": 7.0}, 0.0, 0.0, 7.0),
    ("dragan", {"gp_weight": 3.0}, 2 * LOG2, LOG2, 3.0),
    ("cgan", {}, 2 * LOG2, LOG2, None),
]


@pytest.mark.parametrize("name, options, d_expected, g_expected, penalty", UNCONDITIONAL)
def test_unconditional_losses_at_a_constant_discriminator(name, options, d_expected, g_expected, penalty):
    model = registry.build(name, spatial_dims=2, image_size=16, ngf=4, ndf=4, latent_dim=8, seed=0, lr_d=0.0,
                           **options).configure()
    _zero_output_layer(model.nets["D"])  # lr_d = 0 keeps it zero for the generator step
    real, _ = _images()
    logs = model.train_step((real.tanh(), torch.arange(4) % 10))
    assert logs["d_loss"] == pytest.approx(d_expected, abs=1e-6)
    assert logs["g_loss"] == pytest.approx(g_expected, abs=1e-6)
    assert logs.get("penalty") == (None if penalty is None else pytest.approx(penalty, rel=1e-6))


def test_pix2pix_losses_at_zero_generator_and_discriminator():
    a, b = _images()
    model = registry.build("pix2pix", spatial_dims=2, ngf=4, ndf=4, n_layers=1, num_downs=3, lr=0.0, lambda_l1=25.0,
                           gan_weight=2.0, use_dropout=False, seed=0).configure()
    _zero_output_layer(model.nets["D"])
    _zero_output_layer(model.nets["G"])
    logs = model.train_step((a, b))
    l1 = b.abs().mean().item()  # |G(a) - b| with G(a) = 0
    assert logs["d_loss"] == pytest.approx(2 * LOG2, abs=1e-6)
    assert logs["g_adv"] == pytest.approx(LOG2, abs=1e-6) and logs["g_l1"] == pytest.approx(l1, rel=1e-6)
    total, _ = model.g_loss(a, b)  # lr = 0: the nets are still the zeroed ones; the weights combine the terms
    assert total.item() == pytest.approx(2.0 * LOG2 + 25.0 * l1, rel=1e-6)


def test_cyclegan_losses_at_zero_generators_and_discriminators():
    a, b = _images()
    model = registry.build("cyclegan", spatial_dims=2, ngf=4, ndf=4, n_layers=1, n_blocks=1, lambda_a=3.0,
                           lambda_b=5.0, lambda_identity=0.5, seed=0).configure()
    for key in ("G_AB", "G_BA", "D_A", "D_B"):
        _zero_output_layer(model.nets[key])
    logs = model.train_step((a, b))  # G step first (its logs), then D against still-zero discriminators
    ma, mb = a.abs().mean().item(), b.abs().mean().item()
    # least squares (CycleGAN's default): G (0 - 1)^2 / 2, D ((0 - 1)^2 + 0^2) / 2
    assert logs["g_adv_ab"] == pytest.approx(0.5, abs=1e-6) and logs["g_adv_ba"] == pytest.approx(0.5, abs=1e-6)
    assert logs["cycle_a"] == pytest.approx(3.0 * ma, rel=1e-6)  # G_BA(G_AB(a)) = 0
    assert logs["cycle_b"] == pytest.approx(5.0 * mb, rel=1e-6)
    assert logs["identity_a"] == pytest.approx(5.0 * 0.5 * mb, rel=1e-6)  # |G_AB(b) - b|, weight lambda_b / 2
    assert logs["identity_b"] == pytest.approx(3.0 * 0.5 * ma, rel=1e-6)
    assert logs["d_a"] == pytest.approx(0.5, abs=1e-6) and logs["d_b"] == pytest.approx(0.5, abs=1e-6)
