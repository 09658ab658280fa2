"""Training improves sample quality on digits (GAN-NS, WGAN-GP, Pix2Pix), the digits data and
classifier features, and the `mrisynth zoo` commands."""

import json

import pytest
import torch

from mrisynth.cli import main
from mrisynth.metrics.distribution import fid
from mrisynth.zoo import registry
from mrisynth.zoo_bench.datasets import digits, digits_dataset, low_resolution
from mrisynth.zoo_bench.features import accuracy, embed, train_classifier
from mrisynth.zoo.train import Trainer, TrainConfig


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    x, y = digits(16, "train")
    xt, yt = digits(16, "test")
    clf = train_classifier(x, y, epochs=3, width=8)
    return clf, xt, yt, embed(clf, xt)[0]


def test_digits_data_and_classifier(setup):
    clf, xt, yt, _ = setup
    x, y = digits(16, "train")
    assert x.shape == (1347, 1, 16, 16) and xt.shape == (450, 1, 16, 16)
    assert x.min() == -1 and x.max() == 1 and torch.bincount(yt).min() >= 43  # stratified: 43-46 per class
    assert accuracy(clf, xt, yt) > 0.6  # 3 tiny epochs; the benchmark trains 15 (~0.98)
    a, b, _ = digits_dataset("paired", 16)[:4]
    torch.testing.assert_close(a, low_resolution(b))
    a, b, _ = digits_dataset("unpaired", 16).tensors
    assert len(a) == len(b) == 673


def _fid(model, name, setup):
    clf, xt, _, real = setup
    model.eval()
    with torch.no_grad():
        out = model.sample(0, a=low_resolution(xt)) if name == "pix2pix" else model.sample(450, generator=torch.Generator().manual_seed(0))
    model.train()
    return fid(real, embed(clf, out.float())[0])


@pytest.mark.parametrize(
    "name, steps, cfg",
    [
        ("gan", 80, {"ngf": 16, "ndf": 16, "latent_dim": 16}),
        ("wgan-gp", 150, {"ngf": 16, "ndf": 16, "latent_dim": 16}),
        ("pix2pix", 50, {"ngf": 8, "ndf": 8, "n_layers": 2}),
    ],
)
def test_training_improves_fid_on_digits(setup, name, steps, cfg):
    model = registry.build(name, seed=0, **cfg)
    data = digits_dataset("paired" if name == "pix2pix" else "images", 16)
    trainer = Trainer(model, data, TrainConfig(steps=steps, batch_size=32, seed=0, progress=False))
    before = _fid(model, name, setup)
    mae_before = _translation_mae(model, setup) if name == "pix2pix" else None
    trainer.fit()
    after = _fid(model, name, setup)
    if name == "pix2pix":  # the paired task: held-out error of the translations, and their realism
        mae_after = _translation_mae(model, setup)
        assert mae_after < 0.85 * mae_before and after < 0.7 * before, (mae_before, mae_after, before, after)
    else:
        assert after < 0.6 * before, (before, after)


def _translation_mae(model, setup):
    xt = setup[1]
    model.eval()
    with torch.no_grad():
        err = (model.sample(0, a=low_resolution(xt)) - xt).abs().mean().item()
    model.train()
    return err


def test_cli_list_train_evaluate(tmp_path, capsys, setup):
    assert main(["zoo", "list"]) == 0
    listed = capsys.readouterr().out.split()
    assert {"gan", "wgan-gp", "pix2pix", "cyclegan", "progressive"} <= set(listed) and listed == sorted(listed)
    run = tmp_path / "gan"
    assert main(["zoo", "train", "--model", "gan", "--out", str(run), "--steps", "3", "--no-progress", "--set", "ngf=4", "--set", "ndf=4", "--set", 'loss="hinge"']) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["config"]["loss"] == "hinge" and info["steps"] == 3
    assert (run / "samples.png").exists() and (run / "losses.csv").exists() and (run / "checkpoint.pt").exists()
    from mrisynth.zoo_bench.features import save_classifier

    save_classifier(setup[0], tmp_path / "clf.pt")
    table = tmp_path / "table.csv"
    assert main(["zoo", "evaluate", "--runs", str(run), "--classifier", str(tmp_path / "clf.pt"), "--table", str(table), "--markdown", str(tmp_path / "t.md")]) == 0
    lines = table.read_text().splitlines()
    assert lines[0].startswith("data,model,steps,wall_s,s_per_step,cpu_s") and len(lines) == 3 and lines[2].startswith("digits,gan,3,")  # header, real, gan (no input row: no translation run)


def test_cli_bad_input_exits_2(tmp_path, capsys):
    assert main(["zoo", "train", "--model", "no-such", "--out", str(tmp_path / "x")]) == 2
    assert main(["zoo", "train", "--model", "gan", "--out", str(tmp_path / "y"), "--set", "bogus=1", "--steps", "1"]) == 2
    assert main(["zoo", "evaluate", "--runs", str(tmp_path), "--classifier", "c.pt", "--table", str(tmp_path / "t.csv")]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def test_cli_rejects_options_of_models_that_forward_kwargs(tmp_path):
    assert main(["zoo", "train", "--model", "lsgan", "--out", str(tmp_path / "z"), "--set", "bogus=1", "--steps", "1"]) == 2
    assert main(["zoo", "train", "--model", "wgan", "--out", str(tmp_path / "z"), "--set", "n_critic=0", "--steps", "1"]) == 2
    assert not (tmp_path / "z").exists()
