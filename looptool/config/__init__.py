"""Run configuration: TOML in, typed objects out, one clear error otherwise."""

from looptool.config.load import LoadedConfig, load_config, load_config_data, read_toml
from looptool.config.models import ROLES, EndpointConfig, RetryConfig, RunConfig

__all__ = [
    "ROLES",
    "EndpointConfig",
    "LoadedConfig",
    "RetryConfig",
    "RunConfig",
    "load_config",
    "load_config_data",
    "read_toml",
]
