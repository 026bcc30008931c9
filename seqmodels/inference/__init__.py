"""Using a trained model: sampling and scoring text, beam search, export.

* :mod:`.generation` — ``generate`` (sampling with temperature, top-k, top-p, the state carried token by
  token) and ``score`` (log-probability and perplexity of sentences) for language models;
* :mod:`.decoding` — greedy and beam-search decoding, and ``translate``, for encoder–decoders;
* :mod:`.predictor` — ``Predictor`` (``seqmodels.load``): a checkpoint's labels, tags or values for raw
  inputs, and ``sample``/``score``/``translate``; :mod:`.inputs` reads its input files lazily (not
  imported here: they load checkpoints, which needs Hydra);
* :mod:`.export` — ``torch.export`` / ONNX export of language models and classifiers
  (``python -m seqmodels.inference.export CKPT OUT.onnx``).
"""

from .decoding import beam_search, decode, greedy_decode, translate
from .generation import generate, score

__all__ = ["beam_search", "decode", "generate", "greedy_decode", "score", "translate"]
