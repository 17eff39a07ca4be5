"""The exception tree, drawn once.

    MimamoriError(Exception)
    ├── ConfigError          settings file or environment invalid
    ├── RegistryError        camera CSV invalid (carries every row error)
    ├── ObservationFormatError  a line that is not a scenario-format observation
    ├── UnknownCameraError(KeyError-like lookup failure)
    └── SecretKeyError       the key that protects camera passwords is missing or wrong
"""

from __future__ import annotations

from dataclasses import dataclass


class MimamoriError(Exception):
    """Base of every error mimamori raises on purpose."""


class ConfigError(MimamoriError):
    pass


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str
    why: str

    def __str__(self) -> str:
        return f"row {self.row}, field {self.field}: {self.why}"


class RegistryError(MimamoriError):
    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} error(s) in the camera registry:\n" + "\n".join(map(str, errors)))


class ObservationFormatError(MimamoriError):
    pass


class UnknownCameraError(MimamoriError):
    pass


class SecretKeyError(MimamoriError):
    pass


class StoreUnavailableError(MimamoriError):
    """The database cannot be reached (or refuses the login): one line naming it, password hidden."""
