"""Lightning callbacks: looking inside the recurrence while it trains."""

from .gradient_flow import GradientFlowMonitor
from .probe import RecurrentProbe

__all__ = ["GradientFlowMonitor", "RecurrentProbe"]
