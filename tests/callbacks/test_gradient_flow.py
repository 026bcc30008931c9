"""The gradient-flow probe and callback: ∂L/∂h_t against autograd on the states themselves, the model left
untouched, and the logged tags read back with TensorBoard's own EventAccumulator.
"""

from __future__ import annotations

import functools
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from seqmodels.callbacks import GradientFlowMonitor, RecurrentProbe
from seqmodels.cells import GRUCell, LSTMCell, RNNCell, WeightDrop
from seqmodels.commands.train import train
from seqmodels.data.synthetic import AddingProblem, SyntheticDataModule
from seqmodels.layers import Stacked
from seqmodels.models import RNNClassifier
from seqmodels.tasks import RegressionTask
from tests.helpers import max_abs_diff
from tests.helpers.configs import QUIET, compose_config, shrink

DT = torch.float64


def manual_state_gradients(cell, x, target_fn):
    """Oracle: unroll by hand with retain_grad on each h_t; ‖∂L/∂h_t‖ per sequence, meaned."""
    h = cell.init_state(x.shape[1], dtype=x.dtype)
    hs = []
    for x_t in x:
        out, h = cell(x_t, h)
        out.retain_grad()
        hs.append(out)
    target_fn(torch.stack(hs)).backward()
    return torch.stack([h_t.grad.norm(dim=-1).mean() for h_t in hs])


@pytest.mark.parametrize("factory", [RNNCell, LSTMCell, GRUCell], ids=["rnn", "lstm", "gru"])
@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_probe_gradients_equal_autograd_on_the_states(factory, backend, seed):
    T, B, I, H = 12, 4, 3, 5
    stack = Stacked(factory, I, H, num_layers=1, backend=backend).to(DT)
    x = torch.randn(T, B, I, dtype=DT)

    def loss_fn(out):  # loss at the last step only: the gradient must travel back
        return out[-1].pow(2).sum()

    cell_before = stack.layers[0].cell
    with RecurrentProbe(stack) as probe:
        out, _ = stack(x)
        loss_fn(out).backward()
    assert stack.layers[0].cell is cell_before and stack.backend == backend  # restored exactly
    norms = probe.gradient_norms()["layer0"]
    expected = manual_state_gradients(cell_before, x, loss_fn)
    assert norms.shape == (T,) and max_abs_diff(norms, expected) <= 1e-10
    assert set(probe.gate_statistics()) == ({"layer0"} if factory is not RNNCell else set())


def test_probe_names_every_layer_and_direction_and_handles_padding(seed):
    model = RNNClassifier(
        2,
        functools.partial(WeightDrop, LSTMCell, weight_dropout=0.3),
        hidden_size=4,
        num_layers=2,
        bidirectional=True,
        input_size=3,
    ).train()
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 3, 4])
    with RecurrentProbe(model) as probe:
        logits, _ = model(x, lengths)
        logits.sum().backward()
    norms = probe.gradient_norms()
    assert set(norms) == {"layer0_fwd", "layer0_bwd", "layer1_fwd", "layer1_bwd"}
    assert all(v.shape == (6,) and torch.all(v > 0) for v in norms.values())  # padding left out, not averaged in
    stats = probe.gate_statistics(saturation=0.1)
    assert set(stats["layer1_bwd"]) == {"input", "forget", "output"}
    for gate in stats["layer0_fwd"].values():
        assert gate["mean"].shape == (6,) and torch.all((gate["saturated"] >= 0) & (gate["saturated"] <= 1))
    assert all(type(c).__name__ == "WeightDrop" for c in model.rnn.cells())


def test_vanilla_rnn_gradient_vanishes_lstm_with_forget_bias_keeps_it(seed):
    """The textbook picture at initialisation: tanh RNN with small weights decays geometrically."""
    T, B = 60, 16
    x = torch.randn(T, B, 2, dtype=DT)
    ratios = {}
    for name, factory in {"rnn": RNNCell, "lstm": functools.partial(LSTMCell, forget_bias=3.0)}.items():
        torch.manual_seed(0)
        stack = Stacked(factory, 2, 32).to(DT)
        with RecurrentProbe(stack) as probe:
            stack(x)[0][-1].sum().backward()
        values = probe.gradient_norms()["layer0"]
        ratios[name] = float(values[0] / values[-1])
    assert ratios["rnn"] < 1e-6 < 1e-2 < ratios["lstm"], ratios


def read_events(log_dir: str) -> EventAccumulator:
    acc = EventAccumulator(log_dir, size_guidance={"images": 0, "histograms": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_callback_logs_every_tag(tmp_path, seed):
    data = SyntheticDataModule(AddingProblem(seq_len=10, num_train=48, num_val=8, num_test=8, seed=0), batch_size=8)
    model = RNNClassifier(1, LSTMCell, hidden_size=8, input_size=2)
    task = RegressionTask(model, functools.partial(torch.optim.Adam, lr=0.01), clip_grad_norm=1e-3)  # always clips
    logger = TensorBoardLogger(str(tmp_path), name="tb")
    trainer = pl.Trainer(
        max_epochs=1,
        logger=logger,
        callbacks=[GradientFlowMonitor(every_n_steps=2)],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        limit_val_batches=1,
        num_sanity_val_steps=0,
    )
    trainer.fit(task, datamodule=data)
    assert trainer.global_step == 6
    acc = read_events(logger.log_dir)
    tags = acc.Tags()
    assert {"gradient_flow/dL_dh", "gates/mean_over_time"} <= set(tags["images"])
    assert "gradient_flow/layer0" in tags["histograms"]
    expected = {
        "gradient_flow/layer0/first_over_last",
        "clipping/fraction",
        "clipping/mean_ratio",
        "clipping/max_ratio",
    }
    expected |= {f"gates/layer0/{g}/{s}" for g in ("input", "forget", "output") for s in ("mean", "saturated")}
    assert expected <= set(tags["scalars"])
    assert [e.step for e in acc.Images("gradient_flow/dL_dh")] == [0, 2, 4]  # every 2nd optimizer step
    assert [e.value for e in acc.Scalars("clipping/fraction")] == [1.0, 1.0, 1.0]
    assert all(e.value > 1.0 for e in acc.Scalars("clipping/mean_ratio"))
    image = acc.Images("gradient_flow/dL_dh")[0]
    assert image.width > 100 and image.height > 100 and image.encoded_image_string[:4] == b"\x89PNG"
    histogram = acc.Histograms("gradient_flow/layer0")[0].histogram_value
    assert histogram.num == 10  # one value per time step
    saturated = [e.value for e in acc.Scalars("gates/layer0/forget/saturated")]
    assert all(0.0 <= v <= 1.0 for v in saturated)
    assert type(model.rnn.layers[0].cell) is LSTMCell  # the model is left as it was


def test_callback_arguments_are_checked():
    with pytest.raises(ValueError, match="every_n_steps"):
        GradientFlowMonitor(every_n_steps=0)
    with pytest.raises(ValueError, match="saturation"):
        GradientFlowMonitor(saturation=0.5)


def test_on_by_default_in_the_adding_experiments(tmp_path):
    cfg = shrink(
        compose_config(
            ["experiment=adding_rnn", "debug=fast", *QUIET, "callbacks.gradient_flow.every_n_steps=1"], tmp_path
        )
    )
    assert cfg.callbacks.gradient_flow._target_ == "seqmodels.callbacks.GradientFlowMonitor"
    for name in ("adding_lstm", "adding_gru"):
        assert "gradient_flow" in compose_config([f"experiment={name}"], tmp_path).callbacks
    result = train(cfg)
    tags = read_events(result["log_dir"]).Tags()
    assert "gradient_flow/dL_dh" in tags["images"] and "gradient_flow/layer0" in tags["histograms"]
    assert "clipping/fraction" in tags["scalars"]
    assert Path(result["last_model_path"]).is_file()
