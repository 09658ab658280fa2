"""`mrisynth zoo likelihood-train` / `likelihood-evaluate` end to end on a tiny budget: both tables, grids,
curves; a folder that is not a run is an input error (exit 2) and writes nothing."""

import csv
import math

import yaml

from mrisynth.cli import main
from mrisynth.zoo_bench.datasets import digits
from mrisynth.zoo_bench.features import save_classifier, train_classifier


def test_train_and_evaluate_two_runs(tmp_path):
    config = tmp_path / "config.yaml"
    zoo = {"likelihood_steps_scale": 0.004, "likelihood_n_samples": 30, "likelihood_ais_betas": 30, "likelihood_iwae_k": 5}
    config.write_text(yaml.safe_dump({"zoo": zoo}))
    for run in ("rbm", "vae"):
        assert main(["zoo", "likelihood-train", "--run", run, "--out", str(tmp_path / run), "--config", str(config), "--no-progress"]) == 0
        assert (tmp_path / run / "curve.png").stat().st_size > 0
    x, y = digits(16, "train")
    save_classifier(train_classifier(x[:256], y[:256], epochs=1), tmp_path / "clf.pt")
    out = tmp_path / "tables"
    args = ["zoo", "likelihood-evaluate", "--classifier", str(tmp_path / "clf.pt"), "--out-dir", str(out), "--config", str(config)]
    assert main([*args, "--runs", str(tmp_path / "rbm"), str(tmp_path)]) == 2  # tmp_path has no run.json
    assert not out.exists()
    assert main([*args, "--runs", str(tmp_path / "rbm"), str(tmp_path / "vae")]) == 0
    rows = list(csv.DictReader(open(out / "likelihood_table.csv")))
    kinds = {(r["model"], r["likelihood_kind"].split(" ")[0]) for r in rows}
    assert kinds == {("rbm", "AIS"), ("vae", "ELBO"), ("vae", "IWAE")}
    for r in rows:
        assert math.isfinite(float(r["log_likelihood_nats"])) and float(r["log_likelihood_nats"]) < 0
        assert math.isclose(float(r["nll_bits_per_dim"]), -float(r["log_likelihood_nats"]) / (64 * math.log(2)), rel_tol=1e-9)
    quality = {r["model"]: r for r in csv.DictReader(open(out / "quality_table.csv"))}
    assert set(quality) == {"real (binarised train split)", "rbm", "vae"}
    assert 0 <= float(quality["vae"]["precision"]) <= 1 and "measured" in quality["vae"]["seed_claim"]
    assert (out / "samples" / "rbm.png").exists() and (out / "likelihood_table.md").read_text().startswith("| model")
