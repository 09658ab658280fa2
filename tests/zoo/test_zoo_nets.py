"""Nets: slab output conv exactness, shapes in 2D and 3D, init_weights, the seeded image pool."""

import pytest
import torch
from torch import nn

from mrisynth.zoo.nets import (
    DCGANDiscriminator,
    DCGANGenerator,
    ImagePool,
    PatchGAN,
    ResnetGenerator,
    SlabConv,
    UnetGenerator,
    init_weights,
)


@pytest.mark.parametrize("dims, cout", [(2, 1), (3, 1), (3, 2)])
def test_slab_conv_equals_conv_forward_and_backward(dims, cout):
    torch.manual_seed(0)
    ref = (nn.Conv2d if dims == 2 else nn.Conv3d)(6, cout, 7)
    slab = SlabConv.from_conv(ref)
    x = torch.randn((2, 6) + (11, 12, 13)[:dims], requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    y_ref, y = ref(x), slab(x2)
    assert y.shape == y_ref.shape
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=0)
    g = torch.randn_like(y)
    y_ref.backward(g)
    y.backward(g)
    torch.testing.assert_close(x2.grad, x.grad, atol=1e-5, rtol=0)
    torch.testing.assert_close(slab.weight.grad, ref.weight.grad, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(slab.bias.grad, ref.bias.grad, atol=1e-4, rtol=1e-5)


def test_resnet_generator_slab_matches_naive_output_conv():
    torch.manual_seed(0)
    fast = ResnetGenerator(1, 1, ngf=4, n_blocks=1, spatial_dims=3)
    naive = ResnetGenerator(1, 1, ngf=4, n_blocks=1, spatial_dims=3, slab_output=False)
    naive.load_state_dict(fast.state_dict())  # same parameter names and shapes
    x = torch.randn(1, 1, 16, 16, 16)
    torch.testing.assert_close(fast(x), naive(x), atol=1e-5, rtol=0)
    assert isinstance(fast.model[-2], SlabConv)


@pytest.mark.parametrize("dims", [2, 3])
def test_shapes(dims):
    size = (16,) * dims
    x = torch.randn((2, 1) + size)
    assert ResnetGenerator(1, 2, ngf=4, n_blocks=2, spatial_dims=dims)(x).shape == (2, 2) + size
    assert UnetGenerator(1, 1, num_downs=4, ngf=4, spatial_dims=dims)(x).shape == (2, 1) + size
    assert PatchGAN(1, ndf=4, n_layers=2, spatial_dims=dims)(x).shape == (2, 1) + (2,) * dims
    g = DCGANGenerator(latent_dim=8, out_channels=1, image_size=16, ngf=4, spatial_dims=dims, n_classes=10)
    labels = torch.tensor([3, 7])
    out = g(torch.randn(2, 8), labels)
    assert out.shape == (2, 1) + size and out.abs().max() <= 1
    assert DCGANDiscriminator(1, 16, ndf=4, spatial_dims=dims, n_classes=10)(out, labels).shape == (2, 1)


def test_patchgan_is_pix2pix_70x70_for_three_layers():
    d = PatchGAN(3, ndf=64, n_layers=3, norm="batch")
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (3, 64, 2), (64, 128, 2), (128, 256, 2), (256, 512, 1), (512, 1, 1)
    ]
    assert d(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)


def test_bad_arguments():
    with pytest.raises(ValueError, match="spatial_dims"):
        ResnetGenerator(spatial_dims=1)
    with pytest.raises(ValueError, match="image_size"):
        DCGANGenerator(image_size=20)
    with pytest.raises(ValueError, match="norm"):
        UnetGenerator(norm="layer")


@pytest.mark.parametrize("init_type", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_weights(init_type):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 64, 3), nn.BatchNorm2d(64), nn.Linear(64, 32))
    init_weights(net, init_type, gain=0.02)
    w = net[0].weight
    assert torch.all(net[0].bias == 0) and torch.all(net[1].bias == 0)
    expected_std = {"normal": 0.02, "xavier": 0.02 * (2 / (2 * 64 * 9)) ** 0.5, "kaiming": (2 / (64 * 9)) ** 0.5}
    if init_type in expected_std:
        assert w.std().item() == pytest.approx(expected_std[init_type], rel=0.05)
    else:
        flat = net[2].weight  # 32 x 64: orthonormal rows scaled by the gain
        torch.testing.assert_close(flat @ flat.T, 0.02**2 * torch.eye(32), atol=1e-6, rtol=0)
    assert net[1].weight.mean().item() == pytest.approx(1.0, abs=0.01)


def test_image_pool_seeded_and_restorable():
    batches = [torch.full((2, 1, 2, 2), float(i)) for i in range(12)]
    a, b = ImagePool(size=4, seed=3), ImagePool(size=4, seed=3)
    out_a = [a.query(x) for x in batches[:6]]
    b.load_state_dict(a.state_dict())  # b continues where a stopped
    c = ImagePool(size=4, seed=3)
    out_c = [c.query(x) for x in batches]
    out_b = [b.query(x) for x in batches[6:]]
    for x, y in zip(out_a + out_b, out_c):
        assert torch.equal(x, y)
    returned = torch.cat(out_c[2:]).flatten(1)[:, 0]
    fresh = torch.cat(batches[2:]).flatten(1)[:, 0]
    assert (returned != fresh).any() and (returned == fresh).any()  # both swaps and pass-throughs
    assert torch.equal(ImagePool(size=0).query(batches[1]), batches[1])
