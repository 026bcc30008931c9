"""Print a parity table: seqmodels cells and RNN/GRU/LSTM against torch's, max abs differences.

For every case the same weights (moved with ``from_torch`` / ``cell_from_torch``), the same input,
initial state and a fixed random linear loss over the output and final state(s). Columns: max |Δ|
of the output, of h_n (and c_n for LSTM), of every parameter gradient, of the input gradient and
of the initial-state gradient. Variable lengths go to torch as pack_padded_sequence(enforce_sorted=False).

    python scripts/parity_table.py                 # float64, markdown
    python scripts/parity_table.py --dtype float32
"""

from __future__ import annotations

import argparse
import itertools

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqmodels
from seqmodels import interop

T, B, I, H = 7, 4, 5, 6
LENGTHS = torch.tensor([7, 3, 5, 1])
MODES = {
    "RNN tanh": (seqmodels.RNN, nn.RNN, {}),
    "RNN relu": (seqmodels.RNN, nn.RNN, {"nonlinearity": "relu"}),
    "GRU": (seqmodels.GRU, nn.GRU, {}),
    "LSTM": (seqmodels.LSTM, nn.LSTM, {}),
}
CELLS = {
    "RNNCell tanh": lambda: nn.RNNCell(I, H),
    "RNNCell relu": lambda: nn.RNNCell(I, H, nonlinearity="relu"),
    "GRUCell": lambda: nn.GRUCell(I, H),
    "LSTMCell": lambda: nn.LSTMCell(I, H),
}


def as_list(state):
    return list(state) if isinstance(state, (tuple, list)) else [state]


def maxdiff(a, b) -> float:
    return max((x - y).abs().max().item() for x, y in zip(as_list(a), as_list(b)))


def compare(run_ours, run_ref, ours_params, ref_params, x, hx):
    """Run both, backprop the same loss, return the row of max |Δ|."""
    leaves = [x] + as_list(hx)
    out_ref, st_ref = run_ref(x, hx)
    out, st = run_ours(x, hx)
    weights = [torch.randn_like(t) for t in [out_ref] + as_list(st_ref)]
    loss = lambda o, s: sum((t * w).sum() for t, w in zip([o] + as_list(s), weights))  # noqa: E731
    g_ref = torch.autograd.grad(loss(out_ref, st_ref), leaves + ref_params)
    g = torch.autograd.grad(loss(out, st), leaves + ours_params)
    n = len(leaves)
    row = {"output": maxdiff(out, out_ref)}
    for name, a, b in zip(["h_n", "c_n"], as_list(st), as_list(st_ref)):
        row[name] = maxdiff(a, b)
    row["param grads"] = maxdiff(g[n:], g_ref[n:])
    row["input grad"] = maxdiff(g[:1], g_ref[:1])
    row["state grad"] = maxdiff(g[1:n], g_ref[1:n])
    return row


def layer_row(mode, num_layers, bidirectional, lengths, dtype):
    ours_cls, torch_cls, extra = MODES[mode]
    ref = torch_cls(I, H, num_layers, bidirectional=bidirectional, dtype=dtype, **extra)
    ours = ours_cls.from_torch(ref)
    n = num_layers * (2 if bidirectional else 1)
    x = torch.randn(T, B, I, dtype=dtype, requires_grad=True)
    hx = [torch.randn(n, B, H, dtype=dtype, requires_grad=True) for _ in range(2 if mode == "LSTM" else 1)]
    hx = tuple(hx) if mode == "LSTM" else hx[0]

    def run_ref(x, hx):
        if lengths is None:
            return ref(x, hx)
        out, st = ref(pack_padded_sequence(x, lengths, enforce_sorted=False), hx)
        return pad_packed_sequence(out, total_length=T)[0], st

    names = [name for name, _, _ in interop.torch_name_map(num_layers, bidirectional, bias=True)]
    return compare(
        lambda x, hx: ours(x, hx, lengths=lengths),
        run_ref,
        [getattr(ours, k) for k in names],
        [getattr(ref, k) for k in names],
        x,
        hx,
    )


def cell_row(name, dtype):
    ref = CELLS[name]().to(dtype)
    cell = interop.cell_from_torch(ref)
    x = torch.randn(T, B, I, dtype=dtype, requires_grad=True)
    is_lstm = name == "LSTMCell"
    hx = tuple(torch.randn(B, H, dtype=dtype, requires_grad=True) for _ in range(2 if is_lstm else 1))
    hx = hx if is_lstm else hx[0]

    def unroll(step):
        def run(x, state):
            outs = []
            for x_t in x:
                state = step(x_t, state)
                outs.append(state[0] if is_lstm else state)
            return torch.stack(outs), state

        return run

    return compare(
        unroll(lambda x_t, s: cell(x_t, s)[1]), unroll(ref), list(cell.parameters()), list(ref.parameters()), x, hx
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)
    rows = [(f"{name} (7 steps)", cell_row(name, dtype)) for name in CELLS]
    for mode, layers, bi, lengths in itertools.product(MODES, [1, 2, 3], [False, True], [None, LENGTHS]):
        case = f"{mode} L={layers} {'bi' if bi else 'uni'} {'lengths' if lengths is not None else 'full'}"
        rows.append((case, layer_row(mode, layers, bi, lengths, dtype)))
    cols = ["output", "h_n", "c_n", "param grads", "input grad", "state grad"]
    print(
        f"Parity vs torch {torch.__version__}, {args.dtype}, T={T} B={B} I={I} H={H}, "
        f"lengths={LENGTHS.tolist()}, random initial state; max |seqmodels - torch|\n"
    )
    print("| case | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for case, row in rows:
        print(f"| {case} | " + " | ".join(f"{row[c]:.1e}" if c in row else "–" for c in cols) + " |")
    worst = max(v for _, row in rows for v in row.values())
    print(f"\n{len(rows)} cases, worst max |Δ| = {worst:.2e}")


if __name__ == "__main__":
    main()
