"""NAO's encoder-predictor-decoder controller (Luo et al. 2018) in the form the official
landmark code builds for the tabular spaces (`NAO_Nasbench201`: `EncoderProxylessNAS`
plus a `DecoderProxylessNAS` subclass), and its three uses: training on
(architecture sequence, normalised super-net accuracy) pairs, and generating new
sequences by gradient steps on the encoder outputs towards a higher predicted value.

Sequences are token lists; token 0 is the decoder's start symbol, so a space's
encoding uses tokens 1..vocab-1. Which tokens the greedy decoder may emit at each
position is the encoding's `allowed(position)` (a range of tokens).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class ControllerSizes:
    vocab: int
    length: int
    hidden: int = 16        # official NB101/NB201 controller_encoder/decoder_hidden_size
    mlp_hidden: int = 64
    mlp_layers: int = 2
    dropout: float = 0.1    # official: controller_mlp_dropout, passed to embedding, MLP and decoder


class Encoder(nn.Module):
    """Embedding, one bidirectional LSTM layer projected back to `hidden` with a scaled
    residual, L2-normalised outputs; their normalised mean is the architecture embedding,
    from which a residual MLP and a sigmoid regressor predict the performance."""

    def __init__(self, s: ControllerSizes):
        super().__init__()
        self.dropout = s.dropout
        self.embedding = nn.Embedding(s.vocab, s.hidden)
        self.rnn = nn.LSTM(s.hidden, s.hidden, 1, batch_first=True, bidirectional=True)
        self.out_proj = nn.Linear(2 * s.hidden, s.hidden)
        sizes = [s.hidden] + [s.mlp_hidden] * (s.mlp_layers - 1) + [s.hidden]
        self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.regressor = nn.Linear(s.hidden, 1)

    def outputs(self, seqs: torch.Tensor) -> torch.Tensor:
        x = F.dropout(self.embedding(seqs), self.dropout, training=self.training)
        out, _ = self.rnn(x)
        return F.normalize((self.out_proj(out) + x) * math.sqrt(0.5), 2, dim=-1)

    @staticmethod
    def embed(outputs: torch.Tensor) -> torch.Tensor:
        return F.normalize(outputs.mean(dim=1), 2, dim=-1)

    def predict(self, emb: torch.Tensor) -> torch.Tensor:
        out = emb
        for layer in self.mlp:  # dropout after every layer (the official `i != mlp_layers` always holds)
            out = F.dropout(F.relu(layer(out)), self.dropout, training=self.training)
        return torch.sigmoid(self.regressor((emb + out) * math.sqrt(0.5)))


class Attention(nn.Module):
    """Dot-product attention over the encoder outputs; tanh of a bias-free projection of
    [context, input]."""

    def __init__(self, hidden: int):
        super().__init__()
        self.input_proj = nn.Linear(hidden, hidden, bias=False)
        self.output_proj = nn.Linear(2 * hidden, hidden, bias=False)

    def forward(self, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        attn = torch.softmax(torch.bmm(self.input_proj(x), source.transpose(1, 2)), dim=-1)
        return torch.tanh(self.output_proj(torch.cat((torch.bmm(attn, source), x), dim=2)))


class Decoder(nn.Module):
    """One LSTM layer started from (embedding, embedding), scaled residuals around the
    LSTM and the attention, a linear layer to the vocabulary."""

    def __init__(self, s: ControllerSizes):
        super().__init__()
        self.dropout, self.length = s.dropout, s.length
        self.embedding = nn.Embedding(s.vocab, s.hidden)
        self.rnn = nn.LSTM(s.hidden, s.hidden, 1, batch_first=True)
        self.attention = Attention(s.hidden)
        self.out = nn.Linear(s.hidden, s.vocab)

    def _step(self, tokens, hidden, source):
        x = F.dropout(self.embedding(tokens), self.dropout, training=self.training)
        y, hidden = self.rnn(x, hidden)
        x = (x + y) * math.sqrt(0.5)
        x = (x + self.attention(x, source)) * math.sqrt(0.5)
        return self.out(x), hidden

    def log_probs(self, inputs: torch.Tensor, emb: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: log-softmax over the vocabulary at every position."""
        logits, _ = self._step(inputs, (emb.unsqueeze(0), emb.unsqueeze(0)), source)
        return F.log_softmax(logits, dim=-1)

    def greedy(self, emb: torch.Tensor, source: torch.Tensor, allowed: Callable[[int], range]) -> torch.Tensor:
        """Decode `length` tokens from the start symbol 0, at each position the most likely
        of the tokens the encoding allows there."""
        hidden = (emb.unsqueeze(0), emb.unsqueeze(0))
        token = torch.zeros(emb.shape[0], 1, dtype=torch.long, device=emb.device)
        out = []
        for i in range(self.length):
            logits, hidden = self._step(token, hidden, source)
            span = allowed(i)
            token = logits[:, 0, span.start:span.stop].argmax(-1, keepdim=True) + span.start
            out.append(token)
        return torch.cat(out, dim=1)


class Controller(nn.Module):
    def __init__(self, sizes: ControllerSizes):
        super().__init__()
        self.sizes = sizes
        self.encoder = Encoder(sizes)
        self.decoder = Decoder(sizes)

    def forward(self, seqs: torch.Tensor, decoder_inputs: torch.Tensor):
        source = self.encoder.outputs(seqs)
        emb = self.encoder.embed(source)
        return self.encoder.predict(emb), self.decoder.log_probs(decoder_inputs, emb, source)

    def generate(self, seqs: torch.Tensor, step_size: float, allowed: Callable[[int], range]) -> torch.Tensor:
        """New sequences from `seqs` (official `generate_new_arch`, direction '+'): move the
        encoder outputs by step_size times the gradient of the predicted value, normalise,
        and decode from the moved outputs and their normalised mean. Dropout is off."""
        moved = self.moved_outputs(seqs, step_size)
        with torch.no_grad():
            return self.decoder.greedy(self.encoder.embed(moved), moved, allowed)

    def moved_outputs(self, seqs: torch.Tensor, step_size: float) -> torch.Tensor:
        """normalise(encoder outputs + step_size * d predicted value / d outputs), dropout off."""
        self.eval()
        with torch.enable_grad():
            source = self.encoder.outputs(seqs)
            value = self.encoder.predict(self.encoder.embed(source))
            grad, = torch.autograd.grad(value, source, torch.ones_like(value))
        return F.normalize(source + step_size * grad, 2, dim=-1).detach()


def decoder_inputs(seqs: torch.Tensor) -> torch.Tensor:
    """The start symbol 0, then the sequence without its last token (official NAODataset)."""
    return torch.cat([torch.zeros_like(seqs[:, :1]), seqs[:, :-1]], dim=1)


def controller_loss(controller: Controller, seqs: torch.Tensor, targets: torch.Tensor, trade_off: float):
    """trade_off * MSE(predicted, target) + (1 - trade_off) * NLL of reconstructing seqs."""
    predicted, log_probs = controller(seqs, decoder_inputs(seqs))
    mse = F.mse_loss(predicted.squeeze(-1), targets)
    nll = F.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]), seqs.reshape(-1))
    return trade_off * mse + (1 - trade_off) * nll, mse.detach(), nll.detach()


def train_controller(controller: Controller, seqs: Sequence[Sequence[int]], targets: Sequence[float], *,
                     epochs: int, batch_size: int, lr: float, weight_decay: float, trade_off: float,
                     grad_bound: float, gen: torch.Generator) -> dict:
    """One round's training (official `nao_train` loop): a fresh Adam, `epochs` passes of
    shuffled batches, gradient norm clipped at grad_bound. Returns the last pass's mean losses."""
    x = torch.tensor([list(s) for s in seqs], dtype=torch.long)
    y = torch.tensor(list(targets), dtype=torch.float32)
    opt = torch.optim.Adam(controller.parameters(), lr=lr, weight_decay=weight_decay)
    controller.train()
    last = {"loss": float("nan"), "mse": float("nan"), "nll": float("nan")}
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        sums = torch.zeros(3)
        for i in range(0, len(x), batch_size):
            idx = order[i: i + batch_size]
            opt.zero_grad()
            loss, mse, nll = controller_loss(controller, x[idx], y[idx], trade_off)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(controller.parameters(), grad_bound)
            opt.step()
            sums += torch.stack([loss.detach(), mse, nll]) * len(idx)
        last = dict(zip(("loss", "mse", "nll"), (sums / len(x)).tolist()))
    return last

