"""Each synthesis model's settings, read once from the config section ``synthesis.models.<name>`` into a
:class:`ModelSettings`, with the command line's overrides merged here and nowhere else.

The model names are the schema's (``workflow/schemas/config.schema.yaml``, ``synthesis.models``): the one
list of synthesis models, which the CLI's ``--model`` choices and the Snakemake rules read too. This
module imports no torch, so command-line parsing stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from mrisynth.errors import InputError

#: ablations: model name -> (the model whose section it starts from, net keywords it forces)
ABLATIONS = {"fgan_nofc": ("fgan", {"feature_weight": 0.0})}

@lru_cache(maxsize=1)
def model_names() -> tuple[str, ...]:
    """Every synthesis model the schema knows, in schema order."""
    from mrisynth.config import load_schema

    return tuple(load_schema("config.schema.yaml")["properties"]["synthesis"]["properties"]["models"]["properties"])


@dataclass(frozen=True)
class ModelSettings:
    """Everything that is per model. ``family`` is the model class it builds (pix2pix, cyclegan, fgan)."""

    name: str
    family: str
    steps: int
    patch_size: int
    select_by: str
    samples: int
    lr: float
    ema_decay: float = 0.0
    validate_every: int = 0
    severity_gain: str = "none"
    net: dict = field(default_factory=dict)

    @property
    def uses_labels(self) -> bool:
        """Whether training batches carry the diagnosis label (FGAN's DSNet)."""
        return self.family == "fgan"

    def kwargs(self, seed: int) -> dict:
        """Constructor keywords of the model (3D)."""
        return {"lr": self.lr, **self.net, "spatial_dims": 3, "seed": int(seed)}


def _section(cfg: dict, name: str) -> dict:
    """The model's section with defaults filled; an ablation's from its base model's section."""
    from mrisynth.config import validate_config

    models = cfg["synthesis"]["models"]
    if name not in ABLATIONS:
        if name in models:
            return models[name]
        return validate_config({"synthesis": {"models": {name: {}}}})["synthesis"]["models"][name]
    base, forced = ABLATIONS[name]
    own = models.get(name, {})
    section = {**_section(cfg, base), **{k: v for k, v in own.items() if k != "net"}}
    section["net"] = {**_section(cfg, base)["net"], **own.get("net", {}), **forced}
    return section


def model_settings(cfg: dict, name: str, steps: int | None = None, samples: int | None = None) -> ModelSettings:
    """The settings of model ``name`` from the (validated) config, with the CLI's ``--steps`` / ``--samples``."""
    if name not in model_names():
        raise InputError(f"unknown synthesis model {name!r}; known: {', '.join(model_names())}")
    section, sc = _section(cfg, name), cfg["synthesis"]
    return ModelSettings(
        name=name,
        family=ABLATIONS[name][0] if name in ABLATIONS else name,
        steps=int(steps if steps is not None else section["steps"]),
        patch_size=int(section["patch_size"]),
        select_by=str(section["select_by"]),
        samples=int(samples if samples is not None else section["samples"]),
        lr=float(section.get("lr", sc["lr"])),  # per model, else the synthesis section's
        ema_decay=float(section.get("ema_decay", sc["ema_decay"])),
        validate_every=int(section.get("validate_every", sc["validate_every"])),
        severity_gain=str(section.get("severity_gain", "none")),
        net=dict(section["net"]),
    )


def configured_models(cfg: dict) -> list[str]:
    """The models the config trains, in the schema's order (pix2pix, cyclegan, fgan, fgan_nofc): the order of
    every table's rows, which must not depend on how a YAML writer orders the keys of a mapping (the effective
    config that Snakemake hands to every command is written with sorted keys)."""
    return [m for m in model_names() if m in cfg["synthesis"]["models"]]


def sampled_models(cfg: dict) -> list[str]:
    """The configured models imputed with K >= 2 draws (multiple imputation)."""
    return [m for m in configured_models(cfg) if model_settings(cfg, m).samples >= 2]
