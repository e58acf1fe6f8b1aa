"""Command-line overrides checked against the typed schema before Hydra composes them.

Hydra reports a value of the wrong type (``train.lr=abc``, ``model.latent_size=1.5``,
``train.batch_size=true``) as a multi-line composition error and exits 1; ``type_error`` finds it
first and says it in one line naming the field, the value and the type expected, so the entry
point can exit 2 like every other configuration error. Sweep values (``train.lr=1e-3,abc``) are
checked one by one. Keys that are not schema fields (config groups, ``hydra.*``) are left to Hydra.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bows.config import BowsConfig, _schema


def _section_field(key: str) -> tuple[type, str] | None:
    """(section dataclass, field name) of a dotted key such as ``train.lr``, if it is a schema field."""
    parts = key.split(".")
    cls: type = BowsConfig
    for i, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            return None
        f = fields[part]
        section = f.default_factory
        if isinstance(section, type) and dataclasses.is_dataclass(section):
            if i == len(parts) - 1:
                return None  # a whole section (or a config group of that name)
            cls = section
            continue
        return (cls, part) if i == len(parts) - 1 else None
    return None


def _type_name(cls: type, name: str) -> str:
    hint = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is list:
        return f"a list of {getattr(args[0], '__name__', args[0])}"
    if args and typing.get_origin(hint) is not None:  # Optional[X]
        return f"{getattr(args[0], '__name__', args[0])} (or null)"
    return {"float": "a number", "int": "an integer", "bool": "true or false", "str": "a string"}.get(
        getattr(hint, "__name__", ""), str(hint)
    )


def _values(override: Any) -> list[Any]:
    if not override.is_sweep_override():
        return [override.value()]
    try:
        return list(override.sweep_iterator())
    except Exception:  # interval sweeps (optuna) are not lists of values
        return []


def type_error(argv: list[str]) -> str | None:
    """One line for the first override whose value the schema cannot take, or None."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    schema = _schema()
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        try:
            override = parser.parse_override(arg)
        except HydraException:
            continue  # a syntax error: Hydra says it
        if override.is_delete():
            continue
        found = _section_field(override.key_or_group)
        if found is None:
            continue
        cls, name = found
        for value in _values(override):
            try:
                OmegaConf.update(schema, override.key_or_group, value, merge=True)
            except OmegaConfBaseException:
                return (
                    f"{override.key_or_group}={arg.split('=', 1)[1]}: expected {_type_name(cls, name)}, got {value!r}"
                )
    return None
