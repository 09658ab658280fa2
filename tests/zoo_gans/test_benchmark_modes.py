"""The mode-collapse benchmark: exact metrics on constructed samples, the verdict logic, and one seed of
a few models at a tiny budget end to end (table, PNG, resumable run log)."""

import json
import math

import numpy as np
import pytest

from mrisynth.zoo_bench import modes as B


def test_mixtures():
    ring, grid = B.ring(), B.grid()
    assert ring.k == 8 and grid.k == 25
    np.testing.assert_allclose(np.linalg.norm(ring.centers, axis=1), 2.0)
    assert sorted(set(grid.centers[:, 0])) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_mode_metrics_exact():
    ring = B.ring()
    three = np.repeat(ring.centers[:3], 100, axis=0)  # all samples on 3 of the 8 centres, equally
    m = B.mode_metrics(three, ring)
    assert m["modes"] == 3 and m["hq_share"] == 1.0
    assert m["reverse_kl"] == pytest.approx(math.log(8 / 3))
    off = three + 3.5 * ring.sd  # every sample just outside 3 sd: nothing is high quality ...
    assert B.mode_metrics(off, ring) == {"modes": 0, "hq_share": 0.0, "reverse_kl": pytest.approx(math.log(8))}
    # ... but the 3 modes are still covered (within a quarter of the spacing 4 sin(pi / 8))
    assert B.coverage_radius(ring) == pytest.approx(math.sin(math.pi / 8))
    assert B.mode_metrics(off, ring, loose=True)["modes"] == 3
    real = B.mode_metrics(ring.sample(B.N_EVAL, np.random.default_rng(0)), ring)
    assert real["modes"] == 8 and real["reverse_kl"] < 0.01
    assert real["hq_share"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # P(chi_2 < 3) = 0.989
    assert B.converged(real, 8) and not B.converged(m, 8)
    nan = B.mode_metrics(np.full((10, 2), np.nan), ring)
    assert nan["modes"] == 0 and nan["hq_share"] == 0.0


def test_digit_modes_are_classes_read_by_a_classifier():
    """Held-out real digits: all 10 classes, ~83% HQ (the 90% confidence cut; 99% pass the distance cut);
    training digits of 3 classes: exactly 3 modes (91% HQ); uniform noise: nothing digit-like."""
    from mrisynth.zoo_bench.datasets import digits

    ds = B.DigitSet()
    x, y = digits(8, "test")
    real = B.mode_metrics(x.reshape(-1, 64).numpy(), ds)
    assert real["modes"] == 10 and 0.75 < real["hq_share"] < 0.95 and real["reverse_kl"] < 0.05
    assert B.mode_metrics(x.reshape(-1, 64).numpy(), ds, loose=True)["hq_share"] == pytest.approx(0.99, abs=0.01)
    train, labels = digits(8, "train")
    three = train.reshape(-1, 64).numpy()[np.isin(labels.numpy(), [0, 3, 7])]
    m = B.mode_metrics(three, ds)
    assert m["modes"] == 3 and m["hq_share"] > 0.85 and m["reverse_kl"] == pytest.approx(math.log(10 / 3), abs=0.02)
    noise = np.random.default_rng(0).uniform(-1, 1, (200, 64))
    assert B.mode_metrics(noise, ds, loose=True) == {"modes": 0, "hq_share": 0.0, "reverse_kl": pytest.approx(math.log(10))}
    assert ds.sample(5, np.random.default_rng(0)).shape == (5, 64)


def _row(model, covered, hq, conv, covered_sd=0.0):
    return {"model": model, "dataset": "ring8", "k": 8, "seeds": 5, "covered_mean": covered, "covered_sd": covered_sd, "hq_mean": hq, "hq_sd": 0.0, "converged": conv}


def test_verdicts_compare_with_the_gan_baseline():
    rows = [_row("GAN (NS)", 3, 0.4, 0, covered_sd=2.0), _row("WGAN", 8, 0.2, 4), _row("GAN (minimax)", 8, 0.9, 5)]
    v = B.verdict(rows, "WGAN")
    assert "held: more stable than GAN, less mode collapse than GAN, converges more often than GAN" in v
    assert "did not hold: better samples than GAN" in v
    assert "spread 0.00 vs 0.25" in v and "modes covered 1.00 vs 0.38 of K" in v  # the numbers it was decided on
    assert B.verdict(rows, "GAN (minimax)") == (
        "Seed's claim did not hold: mode collapse is high, convergence is unstable. "
        "Measured: modes covered 1.00 of K (high collapse: < 0.9), converged 1.00 of seeds (unstable: < 0.8)."
    )
    assert B.verdict(rows, "LSGAN") == "Not measured."
    # the seed's remedies claim less mode collapse; rows the seed does not discuss get no claim
    rows += [_row("Feature matching", 2, 0.5, 0), _row("Unrolled GAN (k=5)", 6, 0.1, 0), _row("PacGAN (pack=4)", 8, 0.5, 0)]
    rows += [_row("Minibatch discrimination", 3.01, 0.5, 0)]  # 0.376 vs 0.375: prints as 0.38 vs 0.38, a tie
    assert B.verdict(rows, "Feature matching").startswith("Seed's claim did not hold: less mode collapse than GAN.")
    assert B.verdict(rows, "Minibatch discrimination").startswith("Seed's claim did not hold: less mode collapse than GAN. Measured vs GAN (NS): modes covered 0.38 vs 0.38")
    assert B.verdict(rows, "Unrolled GAN (k=5)").startswith("Seed's claim held: less mode collapse than GAN.")
    assert B.verdict(rows, "PacGAN (pack=4)").startswith("No claim in the seed. Measured vs GAN (NS)")


def test_one_seed_tiny_budget_end_to_end(tmp_path):
    models = ["GAN (NS)", "BEGAN", "cGAN (mode label)"]  # a part-1 model on MLPs, the AE one, the conditional one
    setup = B.Setup(g_updates=8, hidden=16, batch_size=64)
    datasets = ["ring8", "digits"]
    rows = B.benchmark(tmp_path, seeds=1, setup=setup, workers=1, models=models, datasets=datasets, progress=False)
    assert [(r["model"], r["dataset"]) for r in rows] == [(m, d) for m in models for d in datasets]
    assert all(0 <= r["modes_mean"] <= r["k"] and 0 <= r["hq_mean"] <= 1 for r in rows)
    table = (tmp_path / "table.md").read_text()
    assert all(f"| {m} |" in table for m in models) and "Low / High / Unstable / Medium" in table
    assert "| digits modes |" in table and "grid25" not in table  # columns for the datasets run
    mode_table, cpu_table = table.split("CPU seconds per seed")
    assert all(len(line.split("|")) == 2 + 2 + 5 * 2 + 1 for line in mode_table.splitlines() if line.startswith("|"))
    assert "| 0 | " in cpu_table and "(3) |" in cpu_table  # seed 0: 3 runs per dataset
    for d in datasets:
        assert (tmp_path / f"samples_{d}.png").stat().st_size > 1000
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert len(lines) == len(rows) and json.loads(lines[0])["setup"]["g_updates"] == 8
    assert len(json.loads(lines[-1])["samples"][0]) == (64 if json.loads(lines[-1])["dataset"] == "digits" else 2)
    assert all(round(v, 3) == v for v in json.loads(lines[-1])["samples"][0])  # 3 decimals, not float32 noise
    # a rerun with the same set-up trains nothing and gives the same table
    B.benchmark(tmp_path, seeds=1, setup=setup, workers=1, models=models, datasets=datasets, progress=False)
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == len(rows)
    assert json.loads((tmp_path / "table.json").read_text())["rows"] == json.loads(json.dumps(rows))
    # table only: a second seed is asked for but nothing is trained; the table says 1 seed per row
    partial = B.benchmark(tmp_path, seeds=2, setup=setup, workers=1, models=models, datasets=datasets, progress=False, table_only=True)
    assert [r["seeds"] for r in partial] == [1] * len(rows)
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == len(rows)


def test_cli_budget_from_config_section(tmp_path):
    """`mrisynth zoo modes --config`: zoo.modes sets a small version (seeds, updates, datasets, rows); flags override."""
    from mrisynth.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text('zoo:\n  modes: {seeds: 1, g_updates: 4, datasets: [grid25], models: ["GAN (NS)"]}\n')
    out = tmp_path / "modes"
    assert main(["zoo", "modes", "--out", str(out), "--config", str(cfg), "--workers", "1", "--no-progress", "--g-updates", "3"]) == 0
    table = json.loads((out / "table.json").read_text())
    assert table["meta"]["seeds"] == 1 and table["meta"]["g_updates"] == 3  # the flag beat the config's 4
    assert [(r["model"], r["dataset"]) for r in table["rows"]] == [("GAN (NS)", "grid25")]
    assert table["rows"][0]["cpu_seconds"] > 0 and table["meta"]["cpu_timed_runs"] == 1
    assert (out / "samples_grid25.png").exists() and not (out / "samples_ring8.png").exists()
    cfg.write_text('zoo:\n  modes: {models: ["no such row"]}\n')
    assert main(["zoo", "modes", "--out", str(tmp_path / "bad"), "--config", str(cfg), "--no-progress"]) == 2


def test_cpu_table_sums_per_seed_and_dataset_and_estimates_untimed_runs():
    runs = [
        {"model": "GAN (NS)", "dataset": "ring8", "seed": 0},  # logged before CPU time was recorded
        {"model": "GAN (NS)", "dataset": "ring8", "seed": 1, "cpu_seconds": 3.0},
        {"model": "GAN (NS)", "dataset": "ring8", "seed": 2, "cpu_seconds": 5.0},
        {"model": "WGAN", "dataset": "ring8", "seed": 0, "cpu_seconds": 10.0},
        {"model": "WGAN", "dataset": "digits", "seed": 0, "cpu_seconds": 20.0},
    ]
    text = B.cpu_markdown(runs)
    assert "| 0 | 14* (2) | 20 (1) | 34 |" in text  # 10 + the mean of seeds 1-2 (4)
    assert "| 1 | 3 (1) | - | 3 |" in text and "| all | 22 | 20 | 42 |" in text
    assert "0.7 CPU-minutes over 5 runs = 0.3 minutes on 2 free cores" in text
