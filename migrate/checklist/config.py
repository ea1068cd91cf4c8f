"""The checklist's settings: command-line options over ``webhooks-migrate.toml`` over defaults.

The file holds the same keys as the options (``endpoint = "https://..."``, ``min_coverage =
0.999``, ...), at its top level or under a ``[checklist]`` table. An unknown key is an error
that names the file and the key: a typo must not silently fall back to a default. Secrets
(API tokens, client secrets) never come from this file; they come from the environment.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from migrate.parity.window import DEFAULT_MIN_AGE_S, DEFAULT_TOLERANCE_S, parse_duration

DEFAULT_CONFIG = "webhooks-migrate.toml"
SECTION = "checklist"


class ConfigError(ValueError):
    """A settings file that cannot be used (the CLI exits 2 with this one line)."""


@dataclass(frozen=True)
class ChecklistSettings:
    endpoint: str | None = None
    """The listener's public URL; default: what the listener recorded in the store."""
    min_coverage: float = 0.999
    min_events: int = 100
    window: str = "24h"
    """How recent the newest v3 receipt must be."""
    tolerance: float = DEFAULT_TOLERANCE_S
    min_age: float = DEFAULT_MIN_AGE_S
    strict: bool = False
    exports_dir: str = "exports"
    """Where ``api recover``/``api exports download`` keep export files."""
    base_url: str | None = None
    customer_id: str | None = None
    subscription_id: str | None = None

    @property
    def window_span(self) -> timedelta:
        return parse_duration(self.window)


_TYPES: dict[str, tuple[type, ...]] = {
    "endpoint": (str,),
    "min_coverage": (float, int),
    "min_events": (int,),
    "window": (str,),
    "tolerance": (float, int),
    "min_age": (float, int),
    "strict": (bool,),
    "exports_dir": (str,),
    "base_url": (str,),
    "customer_id": (str,),
    "subscription_id": (str,),
}
assert set(_TYPES) == {f.name for f in fields(ChecklistSettings)}


def _checked(path: Path, key: str, raw: object) -> Any:
    value: Any = raw
    expected = _TYPES.get(key)
    if expected is None:
        known = ", ".join(sorted(_TYPES))
        raise ConfigError(f"{path}: unknown key {key!r} (known keys: {known})")
    if isinstance(raw, bool) and bool not in expected:
        raise ConfigError(f"{path}: {key} must be {expected[0].__name__}, not a boolean")
    if not isinstance(raw, expected):
        raise ConfigError(f"{path}: {key} must be {expected[0].__name__}, not {value!r}")
    if key == "min_coverage" and not 0 <= value <= 1:
        raise ConfigError(f"{path}: min_coverage must be between 0 and 1, not {value}")
    if key in ("min_events", "tolerance", "min_age") and value < 0:
        raise ConfigError(f"{path}: {key} must not be negative")
    if key == "window":
        try:
            parse_duration(value)
        except ValueError as exc:
            raise ConfigError(f"{path}: window: {exc}") from None
    return float(value) if float in expected else value


def read_config(path: Path) -> dict[str, Any]:
    """The settings a TOML file gives (only the keys it names)."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    section = data.pop(SECTION, None)
    if section is not None:
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [{SECTION}] must be a table")
        for key in section:
            if key in data:
                raise ConfigError(f"{path}: {key} is set both at the top and in [{SECTION}]")
        data.update(section)
    return {key: _checked(path, key, value) for key, value in data.items()}


def settings_from(
    options: dict[str, Any], *, config: Path | None = None, default_config: Path | None = None
) -> ChecklistSettings:
    """Defaults, then the file (``config``, else ``default_config`` when it exists), then the
    options the user gave (``None`` means not given)."""
    settings = ChecklistSettings()
    path = config
    if path is None and default_config is not None and default_config.is_file():
        path = default_config
    if path is not None:
        settings = replace(settings, **read_config(path))
    given = {k: v for k, v in options.items() if v is not None}
    unknown = set(given) - set(_TYPES)
    if unknown:
        raise ValueError(f"not a checklist setting: {sorted(unknown)}")
    return replace(settings, **given)
