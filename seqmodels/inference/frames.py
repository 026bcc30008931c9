"""Sampling piano rolls from a next-frame model (:class:`~seqmodels.models.RNNFrameModel`).

Frame by frame, carrying the recurrent state: the model reads frame t and gives a logit per key; every
key of frame t+1 is drawn independently, ``x_{t+1,k} ~ Bernoulli(σ(logit_k / temperature))``
(temperature 1: the model's own probabilities; 0: each key on when its probability exceeds 0.5).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def sample_frames(
    model: nn.Module,
    num_frames: int,
    prime: np.ndarray | None = None,
    temperature: float = 1.0,
    seed: int | None = None,
) -> np.ndarray:
    """A bool roll (P + num_frames, F): the ``prime`` frames (P, F) (default: one silent frame), then
    ``num_frames`` frames drawn from ``model`` (see the module docstring).

    ``model`` needs ``input_size`` and ``step(frame (1, F), state) -> (logits (1, F), state)``; it is put
    in eval mode for the sampling and back in its mode afterwards. ``seed`` makes the draw repeatable
    without touching the global RNG.
    """
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 0:
        raise ValueError(f"num_frames must be an integer >= 0, got {num_frames!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0 (0: the likeliest keys), got {temperature!r}")
    F = int(model.input_size)  # type: ignore[arg-type]  # an attribute of the frame model
    primed = np.zeros((1, F), dtype=bool) if prime is None else np.asarray(prime) > 0.5
    if primed.ndim != 2 or primed.shape[1] != F or len(primed) < 1:
        raise ValueError(f"prime must be a (P >= 1, {F}) roll, got shape {primed.shape}")
    parameter = next(model.parameters())
    device, dtype = parameter.device, parameter.dtype
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ()).item()))
    was_training = model.training
    model.eval()
    try:
        frames = [torch.as_tensor(f, dtype=dtype, device=device)[None] for f in primed]  # each (1, F)
        state = None
        logits = None
        for frame in frames:
            logits, state = model.step(frame, state)  # type: ignore[operator]  # (1, F)
        out = []
        for i in range(num_frames):
            assert logits is not None
            if temperature == 0:
                frame = (logits > 0).to(dtype)
            else:
                frame = torch.bernoulli(torch.sigmoid(logits / temperature), generator=generator)  # (1, F)
            out.append(frame)
            if i + 1 < num_frames:
                logits, state = model.step(frame, state)  # type: ignore[operator]
    finally:
        model.train(was_training)
    sampled = torch.cat(out).cpu().numpy() > 0.5 if out else np.zeros((0, F), dtype=bool)
    return np.concatenate([primed, sampled])
