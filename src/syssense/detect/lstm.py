"""LSTM system-call language model (Kim et al. 2016, "LSTM-Based System-Call Language
Modeling and Robust Ensemble Method for Designing Host-Based Intrusion Detection Systems",
arXiv:1611.01726).

An LSTM reads a sequence call by call and predicts the next call; the anomaly score of a
trace is the mean negative log-likelihood (nats) of its calls given their whole history,
as in the paper. Hyper-parameters (fixed a priori, from the paper's smallest model):

* embedding 32, one LSTM layer of 200 units, a linear softmax over the training vocabulary;
  input = the previous call (the ``<pad>`` begin marker before the first), target = the call;
* truncated back-propagation through time over chunks of ``chunk`` = 64 calls, the hidden
  state carried across the chunks of a sequence (sequences sorted by length, batches of
  ``batch`` = 32 sequences, padding masked out of the loss);
* Adam (lr 2e-3), gradient norm clipped at 1.0, at most ``epochs`` = 30 epochs (about 2.5 s each on ADFA-LD);
* model selection only on normal data: ``holdout`` = 10 % of the *training* traces (seeded)
  are held out and the epoch with the lowest held-out mean NLL is kept (early stopping).
  The model is trained on the other 90 %.

Window score (length ``k``, step 1, like the other detectors) = mean per-call NLL in the
window. PyTorch is an optional dependency (``pip install 'syssense[lstm]'``), imported
lazily; the model file stores the network's tensors as plain arrays (no pickle).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..errors import SyssenseError
from ..features import PAD, Sequences
from ._likelihood import CallLikelihoodDetector
from .base import register

ProgressFn = Callable[[int, int, float], None]


def _torch() -> Any:
    """``torch``, or one clear sentence when it is not installed."""
    try:
        import torch
    except ImportError:
        raise SyssenseError("the lstm detector needs PyTorch: pip install 'syssense[lstm]'") from None
    return torch


def _build(torch: Any, n_vocab: int, embed: int, hidden: int, layers: int) -> Any:
    nn = torch.nn

    class _Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(n_vocab, embed)
            self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True)
            self.out = nn.Linear(hidden, n_vocab)

        def forward(self, x: Any, state: Any = None) -> tuple[Any, Any]:
            h, state = self.lstm(self.embed(x), state)
            return self.out(h), state

    return _Net()


def _padded(seqs: Sequences, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(inputs, targets, mask, flat_positions)`` of sequences ``idx`` as ``(B, L)`` arrays;
    ``flat_positions[b, t]`` is the index in ``seqs.codes`` of target ``(b, t)`` (−1 = padding)."""
    lengths = seqs.lengths[idx]
    b, width = len(idx), max(int(lengths.max()) if len(idx) else 1, 1)
    rows = np.repeat(np.arange(b), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if b else np.zeros(0, np.int64)
    cols = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    flat = np.repeat(seqs.offsets[idx], lengths) + cols
    targets = np.zeros((b, width), np.int64)
    pos = np.full((b, width), -1, np.int64)
    targets[rows, cols] = seqs.codes[flat]
    pos[rows, cols] = flat
    inputs = np.full((b, width), PAD, np.int64)
    inputs[:, 1:] = targets[:, :-1]
    return inputs, targets, pos >= 0, pos


def _batches(lengths: np.ndarray, size: int, subset: np.ndarray) -> list[np.ndarray]:
    """Sequences of ``subset`` sorted by length, cut into batches of ``size``."""
    order = subset[np.argsort(lengths[subset], kind="stable")]
    order = order[lengths[order] > 0]
    return [order[i : i + size] for i in range(0, len(order), size)]


@register
class LSTMDetector(CallLikelihoodDetector):
    """LSTM language model of system calls (Kim et al. 2016); see the module docstring.

    Learned: the network's tensors (``state_``) and ``train_info_`` (per-epoch training
    loss and held-out NLL, the kept epoch, seconds).
    """

    name = "lstm"
    incremental = False
    default_threshold = 3.0
    calibrate_by_default = False  # calibration would train the network once per fold
    #: optional ``progress(epoch, epochs, heldout_nll)`` callback (evaluate drives a bar with it)
    progress: ClassVar[ProgressFn | None] = None

    def __init__(self, k: int = 6, embed: int = 32, hidden: int = 200, layers: int = 1, chunk: int = 64,
                 batch: int = 32, epochs: int = 30, lr: float = 2e-3, holdout: float = 0.1,
                 seed: int = 0, threads: int = 2) -> None:
        self.k = k
        self.embed = embed
        self.hidden = hidden
        self.layers = layers
        self.chunk = chunk
        self.batch = batch
        self.epochs = epochs
        self.lr = lr
        self.holdout = holdout
        self.seed = seed
        self.threads = threads

    # ------------------------------------------------------------------ learning
    def _net(self) -> Any:
        net = getattr(self, "_module", None)
        if net is None:
            torch = _torch()
            torch.set_num_threads(int(self.threads))
            net = _build(torch, len(self.vocab_), int(self.embed), int(self.hidden), int(self.layers))
            net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.state_.items()})
            net.eval()
            self._module = net
        return net

    def _fit(self, seqs: Sequences, reset: bool) -> None:
        torch = _torch()
        torch.set_num_threads(int(self.threads))
        torch.manual_seed(int(self.seed))
        rng = np.random.default_rng(int(self.seed))
        net = _build(torch, len(self.vocab_), int(self.embed), int(self.hidden), int(self.layers))
        opt = torch.optim.Adam(net.parameters(), lr=float(self.lr))
        trace_ids, seq_trace = seqs.trace_index()
        n_traces = len(trace_ids)
        n_held = int(round(float(self.holdout) * n_traces)) if n_traces >= 2 else 0
        n_held = min(n_held, n_traces - 1)
        held_trace = np.zeros(n_traces, bool)
        held_trace[rng.permutation(n_traces)[:n_held]] = True
        held = np.flatnonzero(held_trace[seq_trace])
        train = np.flatnonzero(~held_trace[seq_trace])
        lengths = seqs.lengths
        batches = _batches(lengths, int(self.batch), train)
        log: list[dict[str, float]] = []
        best: tuple[float, int, dict[str, np.ndarray]] | None = None
        t0 = time.perf_counter()
        for epoch in range(1, int(self.epochs) + 1):
            net.train()
            tot, cnt = 0.0, 0
            for bi in rng.permutation(len(batches)):
                inp, tgt, mask, _pos = _padded(seqs, batches[bi])
                inp_t, tgt_t = torch.from_numpy(inp), torch.from_numpy(tgt)
                mask_t = torch.from_numpy(mask)
                state = None
                for c in range(0, inp.shape[1], int(self.chunk)):
                    sl = slice(c, c + int(self.chunk))
                    m = mask_t[:, sl]
                    n = int(m.sum())
                    if n == 0:
                        break
                    logits, state = net(inp_t[:, sl], state)
                    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                            tgt_t[:, sl].reshape(-1), reduction="none")
                    loss = (nll * m.reshape(-1)).sum() / n
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                    opt.step()
                    state = tuple(s.detach() for s in state)
                    tot += float(loss.detach()) * n
                    cnt += n
            net.eval()
            entry = {"epoch": epoch, "train_nll": tot / max(cnt, 1), "seconds": round(time.perf_counter() - t0, 2)}
            if len(held):
                hn = self._call_nll(net, seqs.take(held))
                entry["heldout_nll"] = float(hn.mean()) if len(hn) else float("nan")
            log.append(entry)
            crit = entry.get("heldout_nll", entry["train_nll"])
            if best is None or crit < best[0]:
                best = (crit, epoch, {k: v.detach().numpy().copy() for k, v in net.state_dict().items()})
            cb = getattr(self, "progress", None)
            if cb is not None:
                cb(epoch, int(self.epochs), float(crit))
        assert best is not None
        self.state_ = best[2]
        self._module = None
        self.train_info_ = {"epochs": log, "kept_epoch": best[1], "heldout_traces": int(n_held),
                            "train_traces": int(n_traces - n_held), "fit_seconds": round(time.perf_counter() - t0, 2),
                            "heldout_trace_ids": [str(t) for t in trace_ids[held_trace]]}

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.state_.items()}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.state_ = {k: np.asarray(v, np.float32) if v.dtype.kind == "f" else np.asarray(v) for k, v in arrays.items()}
        self._module = None

    # ------------------------------------------------------------------ scoring
    def _call_nll(self, net: Any, seqs: Sequences, batch: int = 64) -> np.ndarray:
        """−ln P(call | all previous calls of its sequence), flat in ``seqs.codes`` order."""
        torch = _torch()
        out = np.zeros(seqs.n_calls, np.float64)
        with torch.no_grad():
            for idx in _batches(seqs.lengths, batch, np.arange(len(seqs))):
                inp, tgt, mask, pos = _padded(seqs, idx)
                inp_t, tgt_t = torch.from_numpy(inp), torch.from_numpy(tgt)
                state = None
                for c in range(0, inp.shape[1], 512):
                    sl = slice(c, c + 512)
                    logits, state = net(inp_t[:, sl], state)
                    lp = torch.log_softmax(logits, dim=-1).gather(-1, tgt_t[:, sl].unsqueeze(-1)).squeeze(-1)
                    m = mask[:, sl]
                    out[pos[:, sl][m]] = -lp.numpy()[m]
        return out

    def call_nll(self, seqs: Sequences) -> np.ndarray:
        """Per-call negative log-likelihood (nats), flat in ``seqs.codes`` order."""
        seqs = self._prepare(seqs)
        return self._call_nll(self._net(), seqs)

    def _prepared_call_nll(self, seqs: Sequences) -> np.ndarray:
        return self._call_nll(self._net(), seqs)

    def _extra_header(self) -> dict[str, Any]:
        return {"parameters": int(sum(np.asarray(v).size for v in self.state_.values()))}
