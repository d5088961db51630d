"""compose.yaml and .env.example as the deployment tests read them (no Docker engine here):
the compose file, the example settings, and compose's own ${VAR} interpolation."""

import re

import yaml

from harness.stack import ROOT

COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_example() -> dict:
    entries = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            entries[key.strip()] = value
    return entries


def interpolate(value: str, values: dict) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message} with the given values."""

    def one(match):
        name, operator, rest = match.group(1), match.group(2), match.group(3)
        if values.get(name):
            return values[name]
        if operator == ":-":
            return rest
        raise AssertionError(f"{name} is required by compose.yaml but has no value")

    return re.sub(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-?])([^}]*))?\}", one, value)
