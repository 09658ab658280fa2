"""The one trainer: bit-exact resume, full-state weights_only checkpoints, accumulation, AMP, EMA, CSV."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from mrisynth.zoo.base import AdversarialModel
from mrisynth.zoo.train import CHECKPOINT, LOSSES, Trainer, TrainConfig, load_model_state, read_losses


class TinyGAN(AdversarialModel):
    """Linear G/D (dropout in G so the global RNG matters), non-saturating loss, LR schedule."""

    def __init__(self, n_critic=1, seed=0):
        super().__init__(n_critic=n_critic, seed=seed)
        self.nets["G"] = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 8))
        self.nets["D"] = nn.Sequential(nn.Linear(8, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
        self.optimizers = {k: torch.optim.Adam(n.parameters(), 1e-2, betas=(0.5, 0.9)) for k, n in self.nets.items()}
        self.schedulers = {k: torch.optim.lr_scheduler.StepLR(o, 3, 0.5) for k, o in self.optimizers.items()}

    def sample(self, n, generator=None, **_):
        return self.net_for_sampling("G")(torch.randn(n, 4, generator=generator))

    def preview(self, n, generator=None):
        return self.sample(n, generator).view(n, 1, 2, 4)

    def d_loss(self, real, *_):
        fake = self.nets["G"](torch.randn(real.shape[0], 4))
        loss = F.softplus(-self.nets["D"](real)).mean() + F.softplus(self.nets["D"](fake)).mean()
        return loss, {"d_loss": loss.detach()}

    def g_loss(self, real, *_):
        loss = F.softplus(-self.nets["D"](self.nets["G"](torch.randn(real.shape[0], 4)))).mean()
        return loss, {"g_loss": loss.detach()}


def _data():
    g = torch.Generator().manual_seed(3)
    return TensorDataset(torch.randn(40, 8, generator=g) * 0.5 + 1.0, torch.arange(40))


def _run(tmp, steps, **kw):
    model = TinyGAN(n_critic=2)
    cfg = TrainConfig(steps=steps, batch_size=8, seed=5, out_dir=str(tmp), progress=False, **kw)
    Trainer(model, _data(), cfg).fit()
    return model


def _flat(model):
    return torch.cat([p.detach().flatten() for net in model.nets.values() for p in net.parameters()])


def test_resume_is_bit_exact(tmp_path):
    straight = _run(tmp_path / "a", 14, ema_decay=0.9)
    _run(tmp_path / "b", 7, ema_decay=0.9)  # "killed" after 7 steps (checkpoint written)
    torch.manual_seed(999)  # the resumed process starts with another RNG state
    resumed = _run(tmp_path / "b", 14, ema_decay=0.9)
    assert torch.equal(_flat(straight), _flat(resumed))
    for k in ("G",):
        for p, q in zip(straight.ema[k].parameters(), resumed.ema[k].parameters()):
            assert torch.equal(p, q)
    s_opt, r_opt = straight.optimizers["D"].state_dict(), resumed.optimizers["D"].state_dict()
    assert torch.equal(s_opt["state"][0]["exp_avg"], r_opt["state"][0]["exp_avg"])
    assert straight.schedulers["G"].get_last_lr() == resumed.schedulers["G"].get_last_lr()
    assert read_losses(tmp_path / "a" / LOSSES) == read_losses(tmp_path / "b" / LOSSES)
    # and the trajectory does depend on the seed, i.e. the comparison above can fail
    other = TinyGAN(n_critic=2)
    Trainer(other, _data(), TrainConfig(steps=14, batch_size=8, seed=6, progress=False)).fit()
    assert not torch.equal(_flat(straight), _flat(other))


def test_checkpoint_loads_weights_only_and_holds_all_state(tmp_path):
    model = _run(tmp_path, 4, ema_decay=0.5)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert state["step"] == 4 and state["model"]["iteration"] == 4 and state["wall_s"] > 0
    assert set(state["model"]["nets"]) == {"G", "D"} and set(state["model"]["ema"]) == {"G"}
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda"}
    fresh = TinyGAN()
    assert load_model_state(fresh, tmp_path / CHECKPOINT) == 4
    assert torch.equal(_flat(fresh), _flat(model))
    assert fresh.ema and fresh.ema_decay == 0.5


def test_n_critic_in_model_and_loss_csv(tmp_path):
    _run(tmp_path, 6)
    rows = read_losses(tmp_path / LOSSES)
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert all("d_loss" in r for r in rows)
    assert [("g_loss" in r) for r in rows] == [False, True] * 3  # G every 2nd critic step


def test_accumulation_matches_full_batch():
    """Two micro-batches of 4 give the same gradients as one batch of 8 (no batch-coupled layers)."""
    torch.manual_seed(0)
    results = []
    for k in (1, 2):
        model = TinyGAN()
        model.nets["G"][2].p = 0.0
        model.configure(accumulation=k)
        real = _data().tensors[0][:8]
        torch.manual_seed(1)
        model.optimize("D", lambda x: (F.softplus(-model.nets["D"](x)).mean(), {}), real)
        results.append(_flat(model))
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_generator_step_leaves_discriminator_untouched():
    model = TinyGAN().configure()
    d_before = copy.deepcopy(model.nets["D"].state_dict())
    model.optimize("G", model.g_loss, _data().tensors[0][:8])
    assert all(torch.equal(v, model.nets["D"].state_dict()[k]) for k, v in d_before.items())
    assert all(p.grad is None for p in model.nets["D"].parameters())
    assert all(p.requires_grad for p in model.nets["D"].parameters())


def test_bf16_autocast_trains_and_samples(tmp_path):
    model = _run(tmp_path, 4, amp=True, sample_every=2, sample_n=9)
    assert model.autocast() is not None and model.amp_dtype == torch.bfloat16
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step-0000002.png", "step-0000004.png"]
    assert torch.isfinite(_flat(model)).all()


def test_dataset_smaller_than_batch_is_an_error():
    with pytest.raises(ValueError, match="fewer than batch_size"):
        Trainer(TinyGAN(), _data(), TrainConfig(batch_size=64))
