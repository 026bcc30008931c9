"""Lightning callbacks: looking inside the recurrence while it trains; failing safely."""

from .atomic_checkpoint import AtomicCheckpointIO
from .gradient_flow import GradientFlowMonitor
from .nan_guard import NaNGuard, NonFiniteError
from .piano_roll_samples import PianoRollSamples
from .probe import RecurrentProbe

__all__ = [
    "AtomicCheckpointIO",
    "GradientFlowMonitor",
    "NaNGuard",
    "NonFiniteError",
    "PianoRollSamples",
    "RecurrentProbe",
]
