"""seqmodels: recurrent sequence models done right.

- :mod:`seqmodels.cells`: one time step (``RNNCell``, ``GRUCell``, ``SimplifiedGRUCell``, ``LSTMCell``, ``PeepholeLSTMCell``).
- :mod:`seqmodels.layers`: unroll over time (``Recurrent``, ``Bidirectional``, ``Stacked``).
- :mod:`seqmodels.rnn`: ``RNN``, ``GRU``, ``LSTM``, drop-ins for torch's modules.
- :mod:`seqmodels.interop`: weights to and from torch's modules.
- :func:`seqmodels.load`: a trained checkpoint, ready to ``predict`` (classifiers, taggers, regressors),
  ``sample``/``score`` (language models) or ``translate`` (encoder–decoders).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .cells import GRUCell, LSTMCell, PeepholeLSTMCell, RecurrentCell, RNNCell, SimplifiedGRUCell
from .layers import Bidirectional, Recurrent, Stacked
from .rnn import GRU, LSTM, RNN, RNNBase

if TYPE_CHECKING:
    from .inference.predictor import Predictor

__version__ = "0.1.0"


def load(path: str | Path, device: str = "cpu", trusted: Sequence[str] = ()) -> Predictor:
    """A checkpoint written by ``seqmodels-train`` as a :class:`~seqmodels.inference.predictor.Predictor`::

        seqmodels.load("logs/sst2_bilstm/<time>/checkpoints/last.ckpt").predict(["a gripping film"])
        # [{"label": "positive", "probabilities": {"positive": 0.93, "negative": 0.07}}]

    ``device``: where the network runs; ``trusted``: modules besides seqmodels/torch.nn/torch.optim the
    stored config may name (a cell of one's own; see :mod:`seqmodels.checkpoints.trust`).
    """
    # imported here, so that `import seqmodels` stays free of Lightning and Hydra
    from .inference.predictor import load as load_predictor

    return load_predictor(path, device, trusted)


__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Bidirectional",
    "GRUCell",
    "LSTMCell",
    "PeepholeLSTMCell",
    "RNNBase",
    "RNNCell",
    "Recurrent",
    "RecurrentCell",
    "SimplifiedGRUCell",
    "Stacked",
    "load",
]
