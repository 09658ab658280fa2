"""Configuration: YAML files validated by the JSON schema in ``workflow/schemas/`` (shared with Snakemake).

The schema is the one source of truth for keys, types and defaults: the Snakefile validates the same file
with ``snakemake.utils.validate`` and the CLI fills defaults from it here, so a key means the same thing
on both paths.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mrisynth.errors import InputError

# libyaml's loader parses the (large) schema ~10x faster than the pure-Python one on every command
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "workflow" / "schemas"


def load_schema(name: str) -> dict:
    path = SCHEMA_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"schema {path} not found: mrisynth must run from a source checkout (pip install -e)")
    return yaml.load(path.read_text(), Loader=_YAML_LOADER)


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


#: keys of the config layout before one section per model, and where each now lives
LEGACY_KEYS = {
    "steps": "synthesis.models.<model>.steps",
    "patch_size": "synthesis.models.<model>.patch_size",
    "select_by": "synthesis.models.<model>.select_by",
    "samples": "synthesis.models.<model>.samples",
    "pix2pix": "synthesis.models.pix2pix.net",
    "cyclegan": "synthesis.models.cyclegan.net",
    "fgan": "synthesis.models.fgan.net",
}


def check_layout(config: dict, source: str = "config") -> None:
    """InputError naming the new key for each key of the old per-key-map layout (``synthesis.steps: {...}``,
    ``synthesis.models: [...]``), so an old config fails with what to change instead of a schema message."""
    sc = config.get("synthesis") or {}
    problems = [f"synthesis.{old} is now {new}" for old, new in LEGACY_KEYS.items() if old in sc]
    if isinstance(sc.get("models"), list):
        problems.insert(0, "synthesis.models is now a mapping, one section per model: "
                           f"{{{', '.join(f'{m}: {{...}}' for m in sc['models'])}}}")
    if problems:
        raise InputError(f"{source}: synthesis settings in the old layout (see configs/demo.yaml for the new one)", problems)


def validate_config(config: dict, source: str = "config") -> dict:
    """Validate ``config`` in place against the config schema, filling defaults; return it."""
    check_layout(config, source)
    schema = load_schema("config.schema.yaml")
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        problems = [f"{'.'.join(map(str, e.path)) or '<top>'}: {e.message}" for e in errors]
        raise InputError(f"{source}: invalid configuration", problems)
    return config


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict:
    """Read a YAML config (default: an empty one, i.e. all schema defaults) and validate it."""
    config: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise InputError(f"config file {path} does not exist")
        try:
            config = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(config, dict):
            raise InputError(f"config file {path}: top level must be a mapping of keys")
    for key, value in (overrides or {}).items():
        config[key] = value
    return validate_config(config, source=str(path or "default config"))
