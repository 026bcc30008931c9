"""Checkpoints: the plain-data format, loading any trained model, resuming a run, trusting a config.

* :mod:`.format` — what a seqmodels checkpoint holds besides Lightning's entries, and
  :func:`load_checkpoint` (``torch.load(..., weights_only=True)``, never pickled code);
* :mod:`.loading` — :func:`load_model` (every model kind; :func:`model_from_checkpoint` on a file
  already read), :func:`load_language_model`, :func:`load_translator`;
* :mod:`.resume` — RNG and loader state, finding ``last.ckpt``, checking a resume fits the run;
* :mod:`.trust` — which ``_target_`` a stored config may name.
"""

from .format import CHECKPOINT_KEY, FORMAT_VERSION, checkpoint_extra, load_checkpoint, model_state_dict, to_plain
from .loading import encoder_from_dict, load_language_model, load_model, load_translator, model_from_checkpoint
from .trust import TRUST_ENV, TRUSTED_MODULES, check_targets

__all__ = [
    "CHECKPOINT_KEY",
    "FORMAT_VERSION",
    "TRUSTED_MODULES",
    "TRUST_ENV",
    "check_targets",
    "checkpoint_extra",
    "encoder_from_dict",
    "load_checkpoint",
    "load_language_model",
    "load_model",
    "load_translator",
    "model_from_checkpoint",
    "model_state_dict",
    "to_plain",
]
