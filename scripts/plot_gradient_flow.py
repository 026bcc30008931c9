"""Vanishing gradients, measured: ‖∂L/∂h_t‖ on the adding problem for a vanilla RNN, an LSTM and a GRU.

Trains each cell briefly (Adam, gradient-norm clipping as in the adding_* experiments) on the adding
problem, then measures the per-step gradient norm of the loss with respect to the hidden state with
:class:`seqmodels.callbacks.RecurrentProbe`, averaged over a few held-out batches, and plots it against
the distance from the last step (where the loss is read). Writes ``docs/figures/gradient_flow_adding.png``
and prints the numbers the figure shows.

    python scripts/plot_gradient_flow.py [--seq-len 100] [--steps 1000] [--out docs/figures/gradient_flow_adding.png]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure

from seqmodels.callbacks import RecurrentProbe
from seqmodels.cells import GRUCell, LSTMCell, RNNCell
from seqmodels.data.synthetic import AddingProblem
from seqmodels.models import RNNClassifier

CELLS = {"vanilla RNN (tanh)": RNNCell, "LSTM": LSTMCell, "GRU": GRUCell}
COLORS = {"vanilla RNN (tanh)": "tab:red", "LSTM": "tab:blue", "GRU": "tab:green"}


def batches(inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, generator: torch.Generator):
    """Endless shuffled mini-batches: inputs (B, T, 2), targets (B,)."""
    while True:
        order = torch.randperm(inputs.shape[0], generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            yield inputs[idx], targets[idx]


def measure(
    model: RNNClassifier, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, num_batches: int
) -> torch.Tensor:
    """Mean over ``num_batches`` batches of ‖∂MSE/∂h_t‖ (T,), the model in eval mode (no update)."""
    model.eval()
    total = None
    for k in range(num_batches):
        x, y = inputs[k * batch_size : (k + 1) * batch_size], targets[k * batch_size : (k + 1) * batch_size]
        model.zero_grad()
        with RecurrentProbe(model, gates=False) as probe:
            prediction, _ = model(x)
            torch.nn.functional.mse_loss(prediction.squeeze(-1), y).backward()
        norms = probe.gradient_norms()["layer0"]
        total = norms if total is None else total + norms
    model.zero_grad()
    model.train()
    return total / num_batches


def mse(model: RNNClassifier, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        value = torch.nn.functional.mse_loss(model(inputs)[0].squeeze(-1), targets).item()
    model.train()
    return value


def run(name: str, factory, args, data) -> dict:
    torch.manual_seed(args.seed)
    model = RNNClassifier(1, factory, hidden_size=args.hidden_size, input_size=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    (train_x, train_y), (val_x, val_y) = data
    before = measure(model, val_x, val_y, args.batch_size, args.probe_batches)
    stream = batches(train_x, train_y, args.batch_size, torch.Generator().manual_seed(args.seed))
    start = time.perf_counter()
    for _ in range(args.steps):
        x, y = next(stream)
        optimizer.zero_grad()
        prediction, _ = model(x)
        torch.nn.functional.mse_loss(prediction.squeeze(-1), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    seconds = time.perf_counter() - start
    after = measure(model, val_x, val_y, args.batch_size, args.probe_batches)
    return {"name": name, "before": before, "after": after, "val_mse": mse(model, val_x, val_y), "seconds": seconds}


def decay_per_step(norms: torch.Tensor, window: int = 20) -> float:
    """Geometric factor per step over the last ``window`` steps before the end: exp(slope of log-norm)."""
    values = norms[-window - 1 : -1].clamp_min(1e-300).log()
    t = torch.arange(len(values), dtype=values.dtype)
    slope = ((t - t.mean()) * (values - values.mean())).sum() / ((t - t.mean()) ** 2).sum()
    return math.exp(-slope.item())  # going back in time: norm_{t-1} ≈ factor × norm_t


def figure(results: list[dict], seq_len: int, steps: int) -> Figure:
    fig = Figure(figsize=(11, 4.2))
    for index, key in enumerate(("before", "after")):
        ax = fig.add_subplot(1, 2, index + 1)
        for r in results:
            norms = r[key]
            relative = (norms / norms[-1]).clamp_min(1e-30)  # 1 at the last step
            distance = torch.arange(len(norms) - 1, -1, -1)  # T-1-t: steps back from the loss
            ax.plot(distance.numpy(), relative.numpy(), color=COLORS[r["name"]], label=r["name"])
        ax.set_yscale("log")
        ax.set_xlabel("distance from the last step, T - 1 - t")
        ax.set_ylabel("‖∂L/∂h_t‖ / ‖∂L/∂h_{T-1}‖")
        ax.set_title("at initialisation" if key == "before" else f"after {steps} Adam steps")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"Adding problem, T = {seq_len}: gradient of the loss with respect to h_t, flowing back through time")
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--probe-batches", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "docs" / "figures" / "gradient_flow_adding.png",
    )
    args = parser.parse_args()

    task = AddingProblem(
        seq_len=args.seq_len, num_train=10_000, num_val=args.batch_size * args.probe_batches, seed=args.seed
    )
    data = []
    for split in ("train", "valid"):
        x, _, y = task.generate(split)
        data.append((torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)))
    results = [run(name, factory, args, data) for name, factory in CELLS.items()]

    print(
        f"adding problem T={args.seq_len}, H={args.hidden_size}, {args.steps} steps of batch {args.batch_size}; "
        f"threads={torch.get_num_threads()}"
    )
    print(
        f"{'cell':20s} {'val MSE':>8s} {'train s':>8s} {'first/last before':>18s} {'first/last after':>17s} {'decay/step after':>17s}"
    )
    for r in results:
        ratio_before = (r["before"][0] / r["before"][-1]).item()
        ratio_after = (r["after"][0] / r["after"][-1]).item()
        print(
            f"{r['name']:20s} {r['val_mse']:8.4f} {r['seconds']:8.1f} {ratio_before:18.3e} {ratio_after:17.3e} "
            f"{decay_per_step(r['after']):17.4f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure(results, args.seq_len, args.steps).savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
