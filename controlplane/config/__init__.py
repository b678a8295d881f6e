"""The typed configuration: its schema, value grammar, environment layer and runtime.

``settings.py`` parses the environment once at start and fails fast; code reads the
effective values through ``get_config()`` or ``aget_config()``.
"""

from controlplane.config.environment import BaseConfig, parse_environment
from controlplane.config.keys import area_names, area_of
from controlplane.config.runtime import (
    EffectiveValue,
    aget_config,
    effective_values,
    get_config,
    invalidate,
)
from controlplane.config.schema import (
    DEFAULT_SECRET_KEY,
    FIELDS,
    MIB,
    Config,
    Source,
    Spec,
    default_of,
    describe_rule,
    overridable_keys,
    setting,
    spec_of,
)
from controlplane.config.values import (
    human_value,
    is_size,
    mask_secret,
    parse_value,
    render_value,
)

__all__ = [
    "DEFAULT_SECRET_KEY",
    "FIELDS",
    "MIB",
    "BaseConfig",
    "Config",
    "EffectiveValue",
    "Source",
    "Spec",
    "aget_config",
    "area_names",
    "area_of",
    "default_of",
    "describe_rule",
    "effective_values",
    "get_config",
    "human_value",
    "invalidate",
    "is_size",
    "mask_secret",
    "overridable_keys",
    "parse_environment",
    "parse_value",
    "render_value",
    "setting",
    "spec_of",
]
