"""The layers of points a case offers to hot spot analysis and maps (a light module: the
command line imports it to offer the choices)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["LAYERS", "Layer"]


class Layer(StrEnum):
    """Which points of a case a hot spot analysis or a map takes."""

    seizures = "seizures"
    residences = "residences"
    institutions = "institutions"


LAYERS = tuple(layer.value for layer in Layer)
