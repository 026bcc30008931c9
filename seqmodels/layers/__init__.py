"""Layers: unroll cells over time, in both directions, stacked."""

from .bidirectional import Bidirectional, reverse_padded
from .recurrent import Recurrent
from .stacked import Stacked

__all__ = ["Bidirectional", "Recurrent", "Stacked", "reverse_padded"]
