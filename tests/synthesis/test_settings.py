"""One config section per synthesis model, read once into ModelSettings with the CLI overrides merged there;
an old-layout config fails with the new key named."""

import pytest

from mrisynth.config import load_config, validate_config
from mrisynth.errors import InputError
from mrisynth.synthesis.settings import configured_models, model_names, model_settings, sampled_models


def test_sections_defaults_overrides_and_model_list():
    cfg = load_config(None, overrides={"synthesis": {"models": {"cyclegan": {"steps": 9}, "pix2pix": {"samples": 4}}}})
    assert configured_models(cfg) == ["pix2pix", "cyclegan"]  # the schema's order, not the mapping's
    assert sampled_models(cfg) == ["pix2pix"]
    p2p = model_settings(cfg, "pix2pix")
    assert (p2p.steps, p2p.patch_size, p2p.select_by, p2p.samples, p2p.family) == (2000, 64, "ssim", 4, "pix2pix")
    assert p2p.kwargs(7) == {"lr": 0.0002, **p2p.net, "spatial_dims": 3, "seed": 7} and p2p.net["num_downs"] == 4
    # the command line's --steps / --samples win over the section
    assert model_settings(cfg, "cyclegan", steps=3).steps == 3 and model_settings(cfg, "pix2pix", samples=0).samples == 0
    # a model not configured still has its schema defaults (e.g. `mrisynth train-synthesis --model fgan`)
    fgan = model_settings(cfg, "fgan")
    assert (fgan.patch_size, fgan.net["feature_weight"]) == (0, 10.0)
    assert model_names() == ("pix2pix", "cyclegan", "fgan", "fgan_nofc")
    with pytest.raises(InputError, match="unknown synthesis model 'unet'"):
        model_settings(cfg, "unet")


def test_per_model_training_keys_override_the_synthesis_section():
    cfg = load_config(None, overrides={"synthesis": {"lr": 2e-4, "ema_decay": 0.0, "validate_every": 25, "models": {
        "pix2pix": {"lr": 1e-3, "ema_decay": 0.995, "validate_every": 250}, "fgan": {}, "fgan_nofc": {}}}})
    p2p, fgan, nofc = (model_settings(cfg, m) for m in ("pix2pix", "fgan", "fgan_nofc"))
    assert (p2p.lr, p2p.ema_decay, p2p.validate_every) == (1e-3, 0.995, 250)
    assert (fgan.lr, fgan.ema_decay, fgan.validate_every) == (2e-4, 0.0, 25)
    assert p2p.kwargs(0)["lr"] == 1e-3 and nofc.lr == 2e-4
    with pytest.raises(InputError, match="ema_decay"):
        validate_config({"synthesis": {"models": {"pix2pix": {"ema_decay": 1.0}}}})


def test_default_models_and_empty_sections():
    assert configured_models(load_config(None)) == ["pix2pix", "cyclegan"]
    with pytest.raises(InputError, match="synthesis.models.pix2pix.steps"):
        validate_config({"synthesis": {"models": {"pix2pix": {"steps": 0}}}})
    with pytest.raises(InputError, match="synthesis.models"):
        validate_config({"synthesis": {"models": {"unet": {}}}})


def test_old_layout_names_the_new_keys():
    old = {"synthesis": {"models": ["pix2pix"], "steps": {"pix2pix": 5}, "patch_size": {"pix2pix": 0},
                         "select_by": "crps", "samples": {"pix2pix": 3}, "pix2pix": {"ngf": 4}}}
    with pytest.raises(InputError) as err:
        validate_config(old, "old.yaml")
    text = str(err.value)
    assert text.startswith("old.yaml: synthesis settings in the old layout")
    for line in ("synthesis.models is now a mapping, one section per model: {pix2pix: {...}}",
                 "synthesis.steps is now synthesis.models.<model>.steps",
                 "synthesis.patch_size is now synthesis.models.<model>.patch_size",
                 "synthesis.select_by is now synthesis.models.<model>.select_by",
                 "synthesis.samples is now synthesis.models.<model>.samples",
                 "synthesis.pix2pix is now synthesis.models.pix2pix.net"):
        assert f"  - {line}" in text, text
