"""The bf16 guard: convolutions whose kernel overhangs the volume get fp32-accurate weight gradients
under CPU bf16 autocast + channels_last_3d (oneDNN returns wrong ones there), the rest stay bf16."""

import copy

import pytest
import torch
from torch import nn

from mrisynth.zoo.nets.bf16_guard import guard_bf16_convs, kernel_overhangs


def test_kernel_overhangs_exact():
    conv = nn.Conv3d(2, 2, 4, padding=1)
    assert kernel_overhangs(conv, torch.zeros(1, 2, 3, 8, 8))
    assert not kernel_overhangs(conv, torch.zeros(1, 2, 4, 4, 4))
    up = nn.ConvTranspose3d(2, 2, 4, stride=1, padding=2)  # output = (4 - 1) - 4 + 3 + 1 = 3 < 4
    assert kernel_overhangs(up, torch.zeros(1, 2, 4, 4, 4))
    assert not kernel_overhangs(nn.ConvTranspose3d(2, 2, 4, stride=2, padding=1), torch.zeros(1, 2, 2, 2, 2))


def grads(conv, x, amp):
    conv = copy.deepcopy(conv)
    if amp:
        conv = conv.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        out = conv(x)
    out.float().backward(torch.randn(out.shape, generator=torch.Generator().manual_seed(1)))
    return out, conv.weight.grad.float()


@pytest.mark.parametrize("cls, kernel, size, padding, stride", [
    (nn.Conv3d, 4, 3, 1, 1),  # PatchGAN's last conv on a 3^3 map: NaN / ~1e36 unguarded
    (nn.Conv3d, 5, 3, 2, 2),
    (nn.Conv3d, 3, 2, 1, 1),
    (nn.ConvTranspose3d, 2, 2, 1, 1),
    (nn.Conv3d, 4, 16, 1, 2),  # not overhanging: stays on the bf16 path
])
def test_guarded_weight_gradient_matches_fp32(cls, kernel, size, padding, stride):
    torch.manual_seed(0)
    conv = cls(8, 4, kernel, stride=stride, padding=padding)
    x = torch.randn(2, 8, size, size, size)
    ref_out, ref_grad = grads(conv, x, amp=False)
    guard_bf16_convs(conv)
    out, grad = grads(conv, x, amp=True)
    assert torch.isfinite(grad).all()
    scale = ref_grad.abs().max()
    assert (grad - ref_grad).abs().max() <= 0.02 * scale
    assert (out.float() - ref_out).abs().max() <= 0.02 * ref_out.abs().max()
    assert out.dtype == (torch.float32 if kernel_overhangs(conv, x) else torch.bfloat16)


def test_guard_is_idempotent_and_survives_deepcopy():
    net = nn.Sequential(nn.Conv3d(1, 2, 3), nn.ConvTranspose3d(2, 1, 2), nn.Conv2d(1, 1, 3))
    assert guard_bf16_convs(net) == 2
    assert guard_bf16_convs(net) == 0
    twin = copy.deepcopy(net)
    assert twin[0].forward.__self__ is twin[0]
