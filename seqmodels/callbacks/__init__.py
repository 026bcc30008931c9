"""Lightning callbacks: looking inside the recurrence while it trains; failing safely; a lighter progress bar and
profiler."""

from .abc_tune_samples import AbcTuneSamples
from .atomic_checkpoint import AtomicCheckpointIO
from .gradient_flow import GradientFlowMonitor
from .model_summary import ModelSummary
from .nan_guard import NaNGuard, NonFiniteError
from .piano_roll_samples import PianoRollSamples
from .probe import RecurrentProbe
from .profiler import NullProfiler
from .progress_bar import RichProgressBar

__all__ = [
    "AbcTuneSamples",
    "AtomicCheckpointIO",
    "GradientFlowMonitor",
    "ModelSummary",
    "NaNGuard",
    "NonFiniteError",
    "NullProfiler",
    "PianoRollSamples",
    "RecurrentProbe",
    "RichProgressBar",
]
