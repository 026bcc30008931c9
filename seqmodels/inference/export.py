"""Export trained models: ``torch.export`` programs (``.pt2``) and ONNX files, any batch size.

Two tensor-only front ends make the models exportable:

* :class:`LanguageModelExport` — ``(tokens (B, T), *state) -> (logits (B, T, V), *new_state)``: the
  recurrent state goes in and out as a flat tuple of (B, H) tensors (LSTM layers: h then c per layer;
  :func:`state_names` names them), so a runtime can carry it across calls (``T = 1``: one token per call,
  for generation).
* :class:`ClassifierExport` — ``(inputs (B, T) ids or (B, T, F) floats, lengths (B,)) -> logits (B, C)``:
  :class:`~seqmodels.models.RNNClassifier`, bidirectional included, with per-sequence lengths (pad to T).

The time loop is unrolled for the example's length T (``seq_len``); the batch dimension stays dynamic.
Layers run seqmodels' generic step loop during the export, so every cell exports, including custom
and wrapped ones, and the program runs with or without gradients; dropout-style wrappers export their eval behaviour. Lengths are not
range-checked inside an exported program (it cannot read values): pass values in [1, T].

ONNX needs the optional extra ``pip install 'seqmodels[export]'`` (onnx, onnxscript; onnxruntime to
run the file). From the command line: ``python -m seqmodels.inference.export CKPT OUT.{onnx,pt2} --seq-len T``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..cells import CellWrapper
from ..layers import Bidirectional, Recurrent, Stacked
from ..models import RNNClassifier, RNNLanguageModel
from ..utils.state import map_state


def _flat(state: Any) -> list[Tensor]:
    out: list[Tensor] = []

    def collect(t: Tensor) -> Tensor:
        out.append(t)
        return t

    map_state(collect, state)
    return out


class LanguageModelExport(nn.Module):
    """An :class:`RNNLanguageModel` with its state as a flat tuple: ``(tokens, *state) -> (logits, *state)``."""

    def __init__(self, model: RNNLanguageModel) -> None:
        super().__init__()
        if not isinstance(model, RNNLanguageModel):
            raise ValueError(f"LanguageModelExport needs an RNNLanguageModel, got {type(model).__name__}")
        self.model = model
        self.template = map_state(lambda t: t.to("meta"), model.rnn.init_state(1))  # structure only

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        it = iter(state)
        nested = map_state(lambda _: next(it), self.template)
        logits, new_state = self.model(tokens, nested)  # (B, T, V)
        return (logits, *_flat(new_state))


class ClassifierExport(nn.Module):
    """An :class:`RNNClassifier` as ``(inputs, lengths) -> logits``."""

    def __init__(self, model: RNNClassifier) -> None:
        super().__init__()
        if not isinstance(model, RNNClassifier):
            raise ValueError(f"ClassifierExport needs an RNNClassifier, got {type(model).__name__}")
        self.model = model

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        return self.model(inputs, lengths)[0]  # (B, C)


def state_names(model: RNNLanguageModel) -> list[str]:
    """Names of the flat state tensors: ``l0_h``, ``l0_c``, ``l1_h``, … (``l0_s0``… for other state shapes)."""
    names = []
    for layer, state in enumerate(model.rnn.init_state(1)):
        parts = _flat(state)
        if len(parts) == 1:
            names.append(f"l{layer}_h")
        elif len(parts) == 2:
            names += [f"l{layer}_h", f"l{layer}_c"]
        else:
            names += [f"l{layer}_s{k}" for k in range(len(parts))]
    return names


def front_end(model: nn.Module) -> tuple[nn.Module, list[str], list[str]]:
    """``(exportable module, input names, output names)`` for a language model or a classifier."""
    if isinstance(model, RNNLanguageModel):
        names = state_names(model)
        return LanguageModelExport(model), ["tokens", *names], ["logits", *[f"{n}_out" for n in names]]
    if isinstance(model, RNNClassifier):
        return ClassifierExport(model), ["inputs", "lengths"], ["logits"]
    raise ValueError(f"export supports RNNLanguageModel and RNNClassifier, got {type(model).__name__}")


def example_inputs(model: nn.Module, batch_size: int = 2, seq_len: int = 8, seed: int = 0) -> tuple[Tensor, ...]:
    """Inputs of the model's front end: tokens/features (B, T) or (B, T, F), then the state or lengths."""
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 for a dynamic batch dimension, got {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    dtype = next(model.parameters()).dtype
    if isinstance(model, RNNLanguageModel):
        tokens = torch.randint(0, model.vocab_size, (batch_size, seq_len), generator=generator)
        return (tokens, *_flat(model.init_state(batch_size)))
    if isinstance(model, RNNClassifier):
        if model.vocab_size is not None:
            inputs = torch.randint(0, model.vocab_size, (batch_size, seq_len), generator=generator)
        else:
            assert model.input_size is not None  # an RNNClassifier has a vocab_size or an input_size
            inputs = torch.randn(batch_size, seq_len, model.input_size, generator=generator, dtype=dtype)
        lengths = torch.full((batch_size,), seq_len, dtype=torch.long)
        lengths[-1] = max(1, seq_len // 2)  # one shorter sequence, so that the masking path is exported
        return inputs, lengths
    raise ValueError(f"export supports RNNLanguageModel and RNNClassifier, got {type(model).__name__}")


@contextlib.contextmanager
def _exportable(model: nn.Module) -> Iterator[None]:
    """For the duration of an export: eval mode, ``backend="custom"`` on every layer, and each cell seen
    through a plain :class:`~seqmodels.cells.CellWrapper`, so that the recurrence is traced as the
    generic step loop of ordinary ops (not the fused autograd Functions, whose in-place ``out=`` kernels
    would make the program fail when run with gradients enabled)."""
    layers = [m for m in model.modules() if isinstance(m, (Recurrent, Bidirectional, Stacked))]
    saved: list[tuple[nn.Module, str, Any]] = [(m, "backend", m.backend) for m in layers]  # (module, attribute, value)
    saved += [(m, "cell", m.cell) for m in layers if isinstance(m, Recurrent)]
    was_training = model.training
    for m in layers:
        m.backend = "custom"
        if isinstance(m, Recurrent):
            m.cell = CellWrapper(m.cell)
    model.eval()
    try:
        yield
    finally:
        for module, attr, value in saved:
            setattr(module, attr, value)
        model.train(was_training)


def _dynamic_batch(model: nn.Module, inputs: tuple[Tensor, ...], dim: Any) -> tuple[Any, ...]:
    """Batch is dim 0 of every front-end input; shaped as the signature: ``(tokens, (*state))`` or ``(inputs, lengths)``."""
    if isinstance(model, RNNLanguageModel):
        return ({0: dim}, tuple({0: dim} for _ in inputs[1:]))
    return tuple({0: dim} for _ in inputs)


def export_program(model: nn.Module, inputs: tuple[Tensor, ...] | None = None, path: str | Path | None = None):
    """``torch.export`` the model's front end with a dynamic batch; save it to ``path`` (``.pt2``) when given.

    Returns the ``ExportedProgram``; ``program.module()(*inputs)`` runs it, ``torch.export.load(path)``
    reads the file back.
    """
    module, _, _ = front_end(model)
    inputs = example_inputs(model) if inputs is None else inputs
    with _exportable(model), torch.no_grad():
        program = torch.export.export(
            module, inputs, dynamic_shapes=_dynamic_batch(model, inputs, torch.export.Dim("batch"))
        )
    if path is not None:
        torch.export.save(program, str(path))
    return program


def export_onnx(
    model: nn.Module, path: str | Path, inputs: tuple[Tensor, ...] | None = None, opset: int | None = None
) -> Path:
    """Write the model's front end as an ONNX file with a dynamic batch (input/output names from :func:`front_end`)."""
    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError as error:
        raise ImportError("ONNX export needs onnx and onnxscript: pip install 'seqmodels[export]'") from error
    module, input_names, output_names = front_end(model)
    inputs = example_inputs(model) if inputs is None else inputs
    path = Path(path)
    with _exportable(model), torch.no_grad():
        torch.onnx.export(
            module,
            inputs,
            str(path),
            dynamo=True,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=_dynamic_batch(model, inputs, "batch"),
            opset_version=opset,
            verbose=False,
        )
    return path


def export_checkpoint(ckpt_path: str | Path, out_path: str | Path, seq_len: int = 35, batch_size: int = 2) -> Path:
    """Export the trained network of a seqmodels checkpoint: ``.onnx`` -> ONNX, anything else -> ``.pt2``."""
    from ..checkpoints import load_model

    model, _, _ = load_model(ckpt_path)
    inputs = example_inputs(model, batch_size, seq_len)
    out_path = Path(out_path)
    if out_path.suffix == ".onnx":
        return export_onnx(model, out_path, inputs)
    export_program(model, inputs, out_path)
    return out_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Export a seqmodels checkpoint to ONNX (.onnx) or torch.export (.pt2)."
    )
    parser.add_argument("checkpoint")
    parser.add_argument("output", help="OUT.onnx or OUT.pt2")
    parser.add_argument("--seq-len", type=int, default=35, help="time steps the exported loop is unrolled for")
    args = parser.parse_args(argv)
    print(export_checkpoint(args.checkpoint, args.output, args.seq_len))


if __name__ == "__main__":
    main()
