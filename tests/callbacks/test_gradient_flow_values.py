"""The gradient-flow numbers themselves, against oracles written here.

- ‖∂L/∂h_t‖ on padded batches: an explicit step loop (``cell(x_t, state)``, padded steps keep the state
  and output zero) with ``retain_grad`` on every h_t; the mean runs over the sequences still real at t;
- gate means and saturated fractions: gates recomputed from the LSTM/GRU equations in the loop, and a
  cell whose gates are constants chosen by hand;
- the callback's logged scalars (first_over_last, gate mean and saturation, clipping fraction, mean and
  max ratio) read back with TensorBoard's EventAccumulator and compared with those oracles and with the
  parameter-gradient norms of ``torch.autograd.grad``.
"""

from __future__ import annotations

import copy
import math

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import Tensor

from seqmodels.callbacks import GradientFlowMonitor, RecurrentProbe
from seqmodels.cells import GRUCell, LSTMCell, RNNCell
from seqmodels.layers import Stacked

DT = torch.float64
T, B, I, H = 7, 4, 3, 5
LENGTHS = torch.tensor([7, 2, 5, 1])  # at t = 5, 6 only the first sequence is real


def loss_fn(out: Tensor) -> Tensor:
    """Every step's output feeds the loss, with weights growing over time (no symmetry to hide behind)."""
    weights = torch.linspace(0.5, 2.0, out.shape[0], dtype=out.dtype)[:, None, None]
    return (weights * out.pow(2)).sum() + out.sum()


def unroll_by_hand(cell, x: Tensor, lengths: Tensor) -> tuple[Tensor, list[Tensor], list]:
    """x (T, B, I) -> outputs (T, B, H), each step's h_t (retain_grad), each step's input state.

    Step t of sequence b is real when t < lengths[b]; a padded step leaves the state as it was and
    outputs zero (the documented behaviour of Recurrent with lengths)."""
    state = cell.init_state(x.shape[1], dtype=x.dtype)
    outputs, hs, states = [], [], []
    for t in range(x.shape[0]):
        states.append(state)
        h, new = cell(x[t], state)
        h.retain_grad()
        hs.append(h)
        real = (t < lengths)[:, None]  # (B, 1)
        if isinstance(state, tuple):
            state = tuple(torch.where(real, n, o) for n, o in zip(new, state))
        else:
            state = torch.where(real, new, state)
        outputs.append(torch.where(real, h, torch.zeros((), dtype=h.dtype)))
    return torch.stack(outputs), hs, states


def state_gradient_norms(cell, x: Tensor, lengths: Tensor) -> Tensor:
    """Oracle for the probe: per t, the mean over the sequences real at t of ‖∂L/∂h_t‖ (T,)."""
    outputs, hs, _ = unroll_by_hand(cell, x, lengths)
    loss_fn(outputs).backward()
    return torch.stack([h.grad.norm(dim=-1)[lengths > t].mean() for t, h in enumerate(hs)])


def gates_by_hand(cell, x: Tensor, states: list) -> dict[str, Tensor]:
    """Gate values (T, B, H) from the equations, on the states the loop fed each step.

    LSTM: [i, f, g, o] = W_ih x + b_ih + W_hh h + b_hh, gates σ(i), σ(f), σ(o);
    GRU:  r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz)."""
    out: dict[str, list[Tensor]] = {}
    with torch.no_grad():
        for x_t, state in zip(x, states):
            h = state[0] if isinstance(state, tuple) else state
            pre = x_t @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
            blocks = pre.split(H, dim=-1)
            names = ("input", "forget", None, "output") if isinstance(cell, LSTMCell) else ("reset", "update", None)
            for name, block in zip(names, blocks):
                if name is not None:
                    out.setdefault(name, []).append(torch.sigmoid(block))
    return {name: torch.stack(values) for name, values in out.items()}


def saturated_fraction(values: Tensor, saturation: float) -> Tensor:
    """Per step, the fraction of the B*H values below ``saturation`` or above ``1 - saturation``."""
    count = ((values < saturation) | (values > 1 - saturation)).sum(dim=(1, 2))
    return count.to(DT) / (values.shape[1] * values.shape[2])


def make_stack(factory, seed: int = 0) -> Stacked:
    torch.manual_seed(seed)
    stack = Stacked(factory, I, H, num_layers=1).to(DT)
    with torch.no_grad():  # wide weights: gates spread over (0, 1), some of them saturated
        for p in stack.parameters():
            p.uniform_(-1.5, 1.5)
    return stack


# ------------------------------------------------------------------------------ the probe
@pytest.mark.parametrize("factory", [RNNCell, LSTMCell, GRUCell], ids=["rnn", "lstm", "gru"])
def test_padded_steps_do_not_count_in_the_gradient_norms(factory):
    stack = make_stack(factory)
    x = torch.randn(T, B, I, dtype=DT, generator=torch.Generator().manual_seed(1))
    with RecurrentProbe(stack) as probe:
        out, _ = stack(x, lengths=LENGTHS)
        loss_fn(out).backward()
    norms = probe.gradient_norms()["layer0"]
    expected = state_gradient_norms(copy.deepcopy(stack.layers[0].cell), x, LENGTHS)
    assert norms.shape == (T,)
    assert torch.allclose(norms, expected, rtol=1e-10, atol=0)


@pytest.mark.parametrize("factory", [LSTMCell, GRUCell], ids=["lstm", "gru"])
@pytest.mark.parametrize("saturation", [0.1, 0.3])
def test_gate_means_and_saturation_equal_the_equations(factory, saturation):
    stack = make_stack(factory, seed=0)
    x = torch.randn(T, B, I, dtype=DT, generator=torch.Generator().manual_seed(1))
    full = torch.full((B,), T)
    with RecurrentProbe(stack) as probe:
        out, _ = stack(x)
        loss_fn(out).backward()
    stats = probe.gate_statistics(saturation)["layer0"]
    _, _, states = unroll_by_hand(stack.layers[0].cell, x, full)
    gates = gates_by_hand(stack.layers[0].cell, x, states)
    assert set(stats) == set(gates)
    for name, values in gates.items():
        fraction = saturated_fraction(values, saturation)
        assert 0 < float(fraction.mean()) < 1 and abs(float(fraction.mean()) - 0.5) > 0.05, "some, not all or half"
        assert torch.allclose(stats[name]["mean"], values.mean(dim=(1, 2)), rtol=1e-12, atol=0)
        assert torch.allclose(stats[name]["saturated"], fraction, rtol=1e-12, atol=0)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_constant_gates_give_the_hand_counted_saturation():
    """No weights, biases only: every step of every sequence has gates σ(bias), chosen per unit.
    With saturation 0.1 the input gate (.02, .3, .5, .6) has 1 of 4 units saturated, mean .355; the
    forget gate (.95, .99, .5, .05) 3 of 4, mean .6225; the output gate (.5, .5, .4, .6) none, mean .5."""
    cell = LSTMCell(2, 4).to(DT)
    gates = {"input": [0.02, 0.3, 0.5, 0.6], "forget": [0.95, 0.99, 0.5, 0.05], "output": [0.5, 0.5, 0.4, 0.6]}
    with torch.no_grad():
        cell.weight_ih.zero_()
        cell.weight_hh.zero_()
        cell.bias_hh.zero_()
        candidate = [0.0] * 4
        cell.bias_ih.copy_(
            torch.tensor(
                [logit(p) for p in gates["input"] + gates["forget"]] + candidate + [logit(p) for p in gates["output"]],
                dtype=DT,
            )
        )
    stack = Stacked(lambda input_size, hidden_size: cell, 2, 4)
    with RecurrentProbe(stack) as probe:
        stack(torch.randn(5, 3, 2, dtype=DT))
    stats = probe.gate_statistics(0.1)["layer0"]
    for name, mean, saturated in (("input", 0.355, 0.25), ("forget", 0.6225, 0.75), ("output", 0.5, 0.0)):
        assert torch.allclose(stats[name]["mean"], torch.full((5,), mean, dtype=DT), rtol=0, atol=1e-12), name
        assert torch.equal(stats[name]["saturated"], torch.full((5,), saturated, dtype=DT)), name


# ------------------------------------------------------------------------------ the callback
class SumOfSquares(pl.LightningModule):
    """A one-layer LSTM trained on ``loss_fn`` of its padded outputs, with a learning rate of 0 so that
    every batch sees the initial weights (the oracles below use a copy of them)."""

    def __init__(self, clip_grad_norm: float) -> None:
        super().__init__()
        self.rnn = make_stack(LSTMCell, seed=4)
        self.clip_grad_norm = clip_grad_norm  # read by the callback, as for the seqmodels tasks

    def training_step(self, batch, batch_idx):
        x, lengths, scale = batch
        out, _ = self.rnn(x, lengths=lengths)
        return scale * loss_fn(out)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def make_batches() -> list[tuple[Tensor, Tensor, float]]:
    """(x, lengths, loss scale): the third batch's loss, and so its gradient, is far smaller. Full lengths:
    padding in the norms is the probe test's business, and the gate statistics average over every position."""
    g = torch.Generator().manual_seed(5)
    full = torch.full((B,), T)
    return [(torch.randn(T, B, I, dtype=DT, generator=g), full, scale) for scale in (1.0, 1.6, 0.05, 1.2)]


def parameter_gradient_norm(stack: Stacked, x: Tensor, lengths: Tensor, scale: float) -> float:
    """‖∇_θ L‖ over all parameters, by autograd through the hand-written loop."""
    cell = copy.deepcopy(stack.layers[0].cell)
    outputs, _, _ = unroll_by_hand(cell, x, lengths)
    grads = torch.autograd.grad(scale * loss_fn(outputs), list(cell.parameters()))
    return math.sqrt(sum(float(g.pow(2).sum()) for g in grads))


def test_logged_scalars_equal_the_oracles(tmp_path):
    """Probes at optimizer steps 0 and 2 (every_n_steps=2) and clipping summaries at steps 2 and 4,
    each over the two batches before it."""
    batches = make_batches()
    probe_model = SumOfSquares(clip_grad_norm=1.0).rnn
    norms = [parameter_gradient_norm(probe_model, *batch) for batch in batches]
    assert norms[2] < min(norms[0], norms[1], norms[3]), "the fixture needs one small gradient"
    threshold = (norms[2] + min(norms[0], norms[1], norms[3])) / 2  # clips batches 0, 1, 3, not 2
    assert abs(norms[0] - norms[1]) > 0.1 * threshold, "mean and max must differ in the first window"

    model = SumOfSquares(clip_grad_norm=threshold)
    cell = copy.deepcopy(model.rnn.layers[0].cell)
    logger = TensorBoardLogger(str(tmp_path), name="tb")
    trainer = pl.Trainer(
        max_epochs=1,
        logger=logger,
        callbacks=[GradientFlowMonitor(every_n_steps=2, saturation=0.2)],
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
    )
    trainer.fit(model, torch.utils.data.DataLoader(batches, batch_size=None))
    assert trainer.global_step == 4
    events = EventAccumulator(logger.log_dir, size_guidance={"scalars": 0})
    events.Reload()

    def logged(tag: str) -> dict[int, float]:
        return {e.step: e.value for e in events.Scalars(tag)}

    first_over_last, gate_values = {}, {}
    for step in (0, 2):  # the probed batches
        x, lengths, _ = batches[step]  # the loss scale changes no ratio, mean or fraction
        per_step = state_gradient_norms(copy.deepcopy(cell), x, lengths)
        first_over_last[step] = float(per_step[0] / per_step[-1])
        _, _, states = unroll_by_hand(cell, x, lengths)
        gate_values[step] = gates_by_hand(cell, x, states)
    assert logged("gradient_flow/layer0/first_over_last") == pytest.approx(first_over_last, rel=1e-6)
    for gate in ("input", "forget", "output"):
        means = {step: float(v[gate].mean()) for step, v in gate_values.items()}
        fractions = {step: float(saturated_fraction(v[gate], 0.2).mean()) for step, v in gate_values.items()}
        assert logged(f"gates/layer0/{gate}/mean") == pytest.approx(means, rel=1e-6)
        assert logged(f"gates/layer0/{gate}/saturated") == pytest.approx(fractions, rel=1e-6)
    assert 0 < float(saturated_fraction(gate_values[0]["forget"], 0.2).mean()) < 0.5  # neither none nor most

    ratios = [n / threshold for n in norms]
    assert logged("clipping/fraction") == pytest.approx({2: 1.0, 4: 0.5}, rel=1e-6)
    assert logged("clipping/mean_ratio") == pytest.approx({2: (ratios[0] + ratios[1]) / 2, 4: ratios[3]}, rel=1e-6)
    assert logged("clipping/max_ratio") == pytest.approx({2: max(ratios[0], ratios[1]), 4: ratios[3]}, rel=1e-6)


# ------------------------------------------------------------------------------ edge cases of the probe
def test_a_gate_exactly_at_the_threshold_is_not_saturated():
    """Zero weights and biases: every gate is σ(0) = 0.5 exactly; with saturation 0.5 it is neither below
    0.5 nor above 1 - 0.5, so no value is saturated (the bounds are strict)."""
    stack = Stacked(LSTMCell, 2, 3, num_layers=1).to(DT)
    with torch.no_grad():
        for p in stack.parameters():
            p.zero_()
    with RecurrentProbe(stack) as probe:
        stack(torch.randn(4, 2, 2, dtype=DT))
    stats = probe.gate_statistics(0.5)["layer0"]
    assert set(stats) == {"input", "forget", "output"}
    for name, values in stats.items():
        assert torch.equal(values["mean"], torch.full((4,), 0.5, dtype=DT)), name
        assert torch.equal(values["saturated"], torch.zeros(4, dtype=DT)), name


def test_steps_the_loss_never_reaches_have_a_zero_norm():
    """L = Σ of the first step's outputs: ∂L/∂h_0 is all ones (nothing flows back from later steps, which the
    loss does not read), so its norm is √H for every sequence; h_1, h_2, ... get no gradient at all (their
    hooks never run) and read 0."""
    stack = make_stack(GRUCell)
    with RecurrentProbe(stack) as probe:
        out, _ = stack(torch.randn(T, B, I, dtype=DT))
        out[0].sum().backward()
    expected = torch.tensor([math.sqrt(H)] + [0.0] * (T - 1), dtype=DT)
    assert torch.allclose(probe.gradient_norms()["layer0"], expected, rtol=1e-12, atol=0)


def test_a_torch_backend_runs_custom_inside_the_block_and_is_restored():
    stack = Stacked(LSTMCell, I, H, num_layers=2, backend="torch").to(DT)
    layers = [stack, *stack.layers]  # the stack runs torch's kernel; its layers keep the default
    assert [m.backend for m in layers] == ["torch", "auto", "auto"]
    with RecurrentProbe(stack):
        assert [m.backend for m in layers] == ["custom", "auto", "auto"]
    assert [m.backend for m in layers] == ["torch", "auto", "auto"]


def test_layers_are_named_by_their_path_and_a_lone_layer_is_rnn():
    from seqmodels.callbacks.probe import layer_name
    from seqmodels.layers import Recurrent

    assert layer_name("model.rnn.layers.1.backward_layer") == "layer1_bwd"
    assert layer_name("model.encoder.layers.0.forward_layer") == "encoder_layer0_fwd"
    assert layer_name("") == "rnn"
    with RecurrentProbe(Recurrent(GRUCell(I, H))) as probe:
        assert list(probe.probes) == ["rnn"]


# ------------------------------------------------------------------------------ the first/last ratio
class Recorder:
    """The part of a Lightning logger the callback's scalars go to."""

    def __init__(self) -> None:
        self.logged: dict[str, float] = {}

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.logged.update(metrics)


TWO_STEPS = torch.randn(2, B, I, dtype=DT, generator=torch.Generator().manual_seed(2))


def first_over_last(loss) -> dict[str, float]:
    """The callback's hooks called as a Trainer calls them on optimizer step 0, on a two-step batch: the
    logged ratio tags."""
    from types import SimpleNamespace

    stack = make_stack(LSTMCell)
    recorder = Recorder()
    trainer = SimpleNamespace(is_global_zero=True, global_step=0, loggers=[recorder])
    callback = GradientFlowMonitor(every_n_steps=1)
    callback.on_train_batch_start(trainer, stack, None, 0)
    out, _ = stack(TWO_STEPS)
    loss(out).backward()
    callback.on_after_backward(trainer, stack)
    assert "gates/layer0/forget/mean" in recorder.logged  # the probe did run
    return {tag: value for tag, value in recorder.logged.items() if tag.endswith("first_over_last")}


def test_the_first_over_last_ratio_from_two_steps_and_never_over_a_last_step_without_gradient():
    norms = state_gradient_norms(make_stack(LSTMCell).layers[0].cell, TWO_STEPS, torch.full((B,), 2))
    expected = {"gradient_flow/layer0/first_over_last": float(norms[0] / norms[1])}
    assert first_over_last(loss_fn) == pytest.approx(expected, rel=1e-10)
    assert first_over_last(lambda out: out[0].sum()) == {}  # ∂L/∂h_1 = 0: no ratio (not inf)


# ------------------------------------------------------------------------------ the figures
def test_the_figures_label_every_line_and_keep_gates_on_zero_to_one():
    from seqmodels.callbacks.gradient_flow import gates_figure, gradient_flow_figure

    norms = {"layer0": torch.tensor([1.0, 0.5, 0.25]), "layer1": torch.tensor([2.0, 1.0, 1e-40])}
    (ax,) = gradient_flow_figure(norms).axes
    assert ax.get_yscale() == "log"
    assert ax.get_title() == "‖∂L/∂h_t‖ through time"  # what is plotted, in the words of the module docstring
    assert ax.get_xlabel() == "time step t (processing order)"
    assert ax.get_ylabel() == "‖∂L/∂h_t‖ (mean over sequences)"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["layer0", "layer1"]
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[1.0, 0.5, 0.25], [2.0, 1.0, 1e-30]]

    gate = {"mean": torch.tensor([0.2, 0.3]), "saturated": torch.tensor([0.0, 0.0])}
    stats = {"layer0": {"input": gate, "forget": gate}, "layer1": {"reset": gate}}
    axes = gates_figure(stats).axes
    assert [a.get_ylabel() for a in axes] == ["layer0", "layer1"]
    assert [a.get_ylim() for a in axes] == [(0.0, 1.0), (0.0, 1.0)]
    assert [[t.get_text() for t in a.get_legend().get_texts()] for a in axes] == [["input", "forget"], ["reset"]]
