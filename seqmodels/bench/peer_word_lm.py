"""pytorch/examples ``word_language_model``, the script ``seqmodels-train`` replaces, as its training loop runs.

Written from that example's ``data.py``, ``model.py`` and ``main.py`` (LSTM variant, untied weights): a
word dictionary with ``<eos>`` at each line's end, the token stream cut into ``batch_size`` columns
(``batchify``: a ``(steps, batch)`` tensor, sequence first), windows of ``bptt`` steps (``get_batch``),
``RNNModel`` (embedding → dropout → ``nn.LSTM`` → dropout → linear → ``log_softmax``, weights
uniform ±0.1), ``NLLLoss``, the hidden state detached between windows (``repackage_hidden``),
``clip_grad_norm_`` and the hand-written SGD update ``p.data.add_(p.grad, alpha=-lr)``, and the running
``total_loss += loss.item()`` it logs from. Nothing else: no validation, no checkpoints.

The benchmark (:mod:`seqmodels.bench.training`) times its steps beside ``seqmodels-train``'s.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def read_corpus(path: Path) -> torch.Tensor:
    """The word ids of a text file (``.gz`` too), ``<eos>`` after every line, ids in order of appearance."""
    opener = gzip.open if path.suffix == ".gz" else open
    ids: dict[str, int] = {}
    stream: list[int] = []
    with opener(path, "rt", encoding="utf8") as f:
        for line in f:
            for word in line.split() + ["<eos>"]:
                stream.append(ids.setdefault(word, len(ids)))
    return torch.tensor(stream, dtype=torch.long)


def batchify(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``(steps, batch_size)``: the stream cut into ``batch_size`` contiguous columns (the tail dropped)."""
    steps = data.size(0) // batch_size
    return data[: steps * batch_size].view(batch_size, -1).t().contiguous()


def get_batch(source: torch.Tensor, i: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``(L, B)`` from step ``i`` and the targets one step later, flattened ``(L·B,)``."""
    length = min(bptt, len(source) - 1 - i)
    return source[i : i + length], source[i + 1 : i + 1 + length].reshape(-1)


class RNNModel(nn.Module):
    """Embedding, dropout, a sequence-first LSTM, dropout, a linear decoder, log-softmax."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int, dropout: float) -> None:
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.nhid, self.nlayers = nhid, nlayers
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, inputs: torch.Tensor, hidden: tuple[torch.Tensor, torch.Tensor]):
        emb = self.drop(self.encoder(inputs))
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        weight = next(self.parameters())
        shape = (self.nlayers, batch_size, self.nhid)
        return weight.new_zeros(shape), weight.new_zeros(shape)


class PeerTrainer:
    """The example's ``train()`` loop, resumable: each :meth:`run` continues from where the last stopped."""

    def __init__(
        self,
        train_ids: torch.Tensor,
        *,
        emsize=200,
        nhid=200,
        nlayers=2,
        dropout=0.2,
        batch_size=20,
        bptt=35,
        lr=20.0,
        clip=0.25,
        device: str = "cpu",
    ) -> None:
        self.data = batchify(train_ids, batch_size).to(device)
        self.model = RNNModel(int(train_ids.max()) + 1, emsize, nhid, nlayers, dropout).to(device)
        self.criterion = nn.NLLLoss()
        self.batch_size, self.bptt, self.lr, self.clip = batch_size, bptt, lr, clip
        self.hidden = self.model.init_hidden(batch_size)
        self.position = 0
        self.total_loss = 0.0

    def run(self, steps: int, warmup: int, synchronize=lambda: None) -> float:
        """Train ``warmup + steps`` windows; the seconds the last ``steps`` took."""
        self.model.train()
        start = None
        for step in range(warmup + steps):
            if step == warmup:
                synchronize()
                start = time.perf_counter()
            if self.position >= self.data.size(0) - 1 - self.bptt:
                self.position = 0
            data, targets = get_batch(self.data, self.position, self.bptt)
            self.position += self.bptt
            self.model.zero_grad()
            self.hidden = (self.hidden[0].detach(), self.hidden[1].detach())  # repackage_hidden
            output, self.hidden = self.model(data, self.hidden)
            loss = self.criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
            for p in self.model.parameters():
                if p.grad is not None:
                    p.data.add_(p.grad, alpha=-self.lr)
            self.total_loss += loss.item()
        synchronize()
        assert start is not None
        return time.perf_counter() - start
