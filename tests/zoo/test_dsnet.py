"""DSNet: the spatial cosine module against hand-computed values, the exposed features and maps."""

import math

import pytest
import torch

from mrisynth.zoo.nets.dsnet import DSNet, SpatialCosine


def test_spatial_cosine_matches_hand_computed_values():
    module = SpatialCosine(channels=2, n_classes=2, temperature=10.0)
    with torch.no_grad():
        module.prototypes.copy_(torch.tensor([[2.0, 0.0], [0.0, 5.0]]))  # normalised: e_x, e_y
    # two locations (1D spatial axis): (3, 4) -> unit (0.6, 0.8); (1, 0) -> (1, 0)
    features = torch.tensor([[[3.0, 1.0], [4.0, 0.0]]])  # (N=1, C=2, S=2)
    similarity, specificity = module(features)
    assert similarity.shape == (1, 2, 2) and specificity.shape == (1, 1, 2)
    torch.testing.assert_close(similarity[0], torch.tensor([[0.6, 1.0], [0.8, 0.0]]))
    # contrast max_k - min_k = (0.2, 1.0); softmax(10 * contrast) = (e^2, e^10) / (e^2 + e^10)
    z = math.exp(2.0) + math.exp(10.0)
    torch.testing.assert_close(specificity[0, 0], torch.tensor([math.exp(2.0) / z, math.exp(10.0) / z]))


def test_spatial_cosine_needs_two_classes():
    with pytest.raises(ValueError, match="n_classes"):
        SpatialCosine(4, n_classes=1)


def test_dsnet_exposes_layer_features_and_specificity_maps():
    torch.manual_seed(0)
    net = DSNet(n_branches=2, channels=4, n_stages=2, spatial_dims=3)
    mri, pet = torch.randn(2, 1, 16, 16, 16), torch.randn(2, 1, 16, 16, 16)
    logits, branches = net.explain(mri, pet)
    assert logits.shape == (2, 2) and net.n_layers == 3
    feats = branches[1].features
    assert [tuple(f.shape) for f in feats] == [(2, 4, 8, 8, 8), (2, 8, 4, 4, 4), (2, 16, 2, 2, 2)]
    torch.testing.assert_close(branches[1].specificity.sum((2, 3, 4)), torch.ones(2, 1))
    # the pooled vector is the specificity-weighted sum of the last feature map
    torch.testing.assert_close(branches[0].pooled, (branches[0].features[-1] * branches[0].specificity).sum((2, 3, 4)))
    # the prototypes learn through the pooling
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    assert net.cosine[1].prototypes.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="2 branch"):
        net(mri)


def test_dsnet_single_branch_2d_with_input_pooling():
    net = DSNet(n_branches=1, channels=2, n_stages=1, spatial_dims=2, input_pool=2)
    logits, (branch,) = net.explain(torch.randn(3, 1, 16, 16))
    assert logits.shape == (3, 2) and [tuple(f.shape[2:]) for f in branch.features] == [(4, 4), (2, 2)]


def test_spatial_cosine_mask_keeps_the_specificity_inside():
    module = SpatialCosine(channels=2, n_classes=2, temperature=10.0)
    with torch.no_grad():
        module.prototypes.copy_(torch.tensor([[2.0, 0.0], [0.0, 5.0]]))
    features = torch.tensor([[[3.0, 1.0], [4.0, 0.0]]])  # the unmasked map puts e^10 / (e^2 + e^10) on location 1
    _, specificity = module(features, allowed=torch.tensor([[[True, False]]]))
    torch.testing.assert_close(specificity[0, 0], torch.tensor([1.0, 0.0]))


def test_dsnet_mask_restricts_the_maps_to_cells_mostly_inside():
    torch.manual_seed(0)
    net = DSNet(n_branches=1, channels=4, n_stages=2, spatial_dims=3)
    x = torch.randn(2, 1, 16, 16, 16)
    mask = torch.zeros(2, 1, 16, 16, 16)
    mask[:, :, :8] = 1.0  # first half along x: the final 2^3 map's cells with i = 0
    mask[1, :, 8:12, :4, :4] = 1.0  # a quarter of one cell with i = 1: under half, stays out
    _, (branch,) = net.explain(x, mask=mask)
    spec = branch.specificity
    torch.testing.assert_close(spec.sum((2, 3, 4)), torch.ones(2, 1))
    assert spec[:, :, 1].abs().max() == 0 and spec[:, :, 0].min() > 0
    torch.testing.assert_close(DSNet.mask_fraction(mask, (2, 2, 2))[1, 0, 1, 0, 0], torch.tensor(0.125))
    assert not torch.equal(net(x, mask=mask), net(x))  # the pooled features follow the mask


def test_a_mask_no_cell_reaches_falls_back_to_the_most_inside_cells():
    """A brain that fills no cell of the last map to the threshold: the most-inside cells, never NaN."""
    net = DSNet(n_branches=1, channels=2, n_stages=2, spatial_dims=3, mask_threshold=0.9)
    fraction = torch.zeros(2, 1, 2, 2, 2)
    fraction[0, 0, 0, 0, 0], fraction[0, 0, 1, 1, 1] = 0.5, 0.3  # subject 0: one cell is the most inside
    fraction[1, 0, 1, 0, 1] = 0.95  # subject 1: one cell passes the threshold
    allowed = net.allowed_cells(fraction)
    assert allowed[0].sum() == 1 and allowed[0, 0, 0, 0, 0]
    assert allowed[1].sum() == 1 and allowed[1, 0, 1, 0, 1]
    x, mask = torch.randn(2, 1, 16, 16, 16), torch.zeros(2, 1, 16, 16, 16)
    mask[:, :, 6:9, 6:9, 6:9] = 1  # a small brain: no cell of the coarse map is 90% inside it
    assert torch.isfinite(net(x, mask=mask)).all()
