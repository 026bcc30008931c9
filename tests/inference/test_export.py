"""Exported models give the outputs of the eager model: torch.export programs (also after save/load) and ONNX
files run by onnxruntime, on a batch size other than the example's, with state carried and with lengths.
"""

from __future__ import annotations

import functools
import importlib.util

import pytest
import torch

from seqmodels.cells import GRUCell, LayerNormLSTMCell, LSTMCell, RNNCell, WeightDrop, Zoneout
from seqmodels.inference.export import (
    example_inputs,
    export_checkpoint,
    export_onnx,
    export_program,
    front_end,
    state_names,
)
from seqmodels.models import RNNClassifier, RNNLanguageModel
from tests.helpers import max_abs_diff
from tests.helpers.configs import QUIET, compose_config, shrink

pytestmark = pytest.mark.slow  # each export traces the unrolled loop: seconds
ONNX_MISSING = [m for m in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(m) is None]
needs_onnx = pytest.mark.skipif(
    bool(ONNX_MISSING), reason=f"{', '.join(ONNX_MISSING)} not installed: pip install 'seqmodels[export]' onnxruntime"
)
T = 4


def language_model(cell=LSTMCell, **kwargs) -> RNNLanguageModel:
    torch.manual_seed(0)
    return RNNLanguageModel(17, cell, embedding_dim=6, hidden_size=6, **kwargs).eval()


def classifier(**kwargs) -> RNNClassifier:
    torch.manual_seed(0)
    return RNNClassifier(3, GRUCell, hidden_size=5, bidirectional=True, **kwargs).eval()


def other_inputs(model, batch_size=3):
    """Inputs of another batch size with a non-zero state / mixed lengths."""
    inputs = example_inputs(model, batch_size, T, seed=1)
    if isinstance(model, RNNLanguageModel):
        return (inputs[0], *(torch.randn_like(s) for s in inputs[1:]))
    return inputs[0], torch.tensor([T, 1, T - 1][:batch_size])


def eager(model, inputs):
    module, _, _ = front_end(model)
    with torch.no_grad():
        out = module(*inputs)
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize(
    "make",
    [
        lambda: language_model(num_layers=2, tie_weights=True),
        lambda: language_model(functools.partial(Zoneout, LayerNormLSTMCell, zoneout=0.2), learn_initial_state=True),
        lambda: classifier(vocab_size=11, num_layers=2),
    ],
    ids=["lm_lstm_tied", "lm_zoneout_layernorm", "bigru_tokens"],
)
def test_torch_export_program_matches_eager(make, tmp_path):
    model = make()
    path = tmp_path / "model.pt2"
    program = export_program(model, example_inputs(model, 2, T), path)
    inputs = other_inputs(model)
    expected = eager(model, inputs)
    for runner in (program.module(), torch.export.load(str(path)).module()):
        got = runner(*inputs)
        got = list(got) if isinstance(got, tuple) else [got]
        assert max_abs_diff(got, expected) <= 1e-5


def test_exported_language_model_carries_the_state():
    model = language_model(cell=RNNCell, num_layers=2)
    program = export_program(model, example_inputs(model, 2, 1)).module()  # one token per call
    tokens = torch.randint(0, 17, (3, 5))
    state = [torch.zeros(3, 6), torch.zeros(3, 6)]
    logits = []
    for t in range(5):
        out, *state = program(tokens[:, t : t + 1], *state)
        logits.append(out)
    with torch.no_grad():
        expected, _ = model(tokens)
    assert max_abs_diff(torch.cat(logits, dim=1), expected) <= 1e-5
    assert state_names(model) == ["l0_h", "l1_h"] and state_names(language_model(num_layers=1)) == ["l0_h", "l0_c"]


def test_export_leaves_the_model_as_it_was():
    model = language_model(cell=functools.partial(WeightDrop, LSTMCell), backend="torch").train()
    export_program(model, example_inputs(model, 2, T))
    assert model.training and model.rnn.backend == "torch"
    with pytest.raises(ValueError, match="RNNLanguageModel and RNNClassifier"):
        front_end(torch.nn.Linear(2, 2))


@needs_onnx
@pytest.mark.parametrize(
    "make",
    [
        lambda: language_model(num_layers=1),
        lambda: classifier(vocab_size=11),
        lambda: classifier(input_size=2, pooling="max"),
    ],
    ids=["lm_lstm", "bigru_tokens", "bigru_features_max"],
)
def test_onnx_runtime_matches_eager(make, tmp_path):
    import onnxruntime

    model = make()
    path = export_onnx(model, tmp_path / "model.onnx", example_inputs(model, 2, T))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    _, input_names, output_names = front_end(model)
    assert [i.name for i in session.get_inputs()] == input_names
    assert [o.name for o in session.get_outputs()] == output_names
    inputs = other_inputs(model)
    got = session.run(None, {name: t.numpy() for name, t in zip(input_names, inputs)})
    assert max_abs_diff([torch.from_numpy(g) for g in got], eager(model, inputs)) <= 1e-5


def test_export_a_trained_checkpoint(tmp_path):
    from seqmodels.commands.train import train

    cfg = shrink(compose_config(["experiment=adding_gru", "debug=fast", *QUIET, "~callbacks.gradient_flow"], tmp_path))
    result = train(cfg)
    out = export_checkpoint(result["last_model_path"], tmp_path / "adding.pt2", seq_len=cfg.data.task.seq_len)
    from seqmodels.checkpoints import load_model

    model, _, _ = load_model(result["last_model_path"])
    inputs = example_inputs(model, 5, cfg.data.task.seq_len, seed=3)
    got = torch.export.load(str(out)).module()(*inputs)
    assert got.shape == (5, 1) and max_abs_diff(got, eager(model, inputs)[0]) <= 1e-5
