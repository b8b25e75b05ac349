#!/usr/bin/env python3
"""The musegen model in PyTorch: loads the weights a musegen model saved (safetensors) into the
equivalent torch.nn model with load_state_dict(strict=True), runs the same input, and compares
the logits. Proves the checkpoint's names, shapes and gate order are PyTorch's.

usage: model_torch_check.py WEIGHTS.safetensors IO.safetensors
  IO holds "input" (tokens (T,B) int64 or frames (T,B,88) float32) and "logits" (T,B,V), musegen's.
Prints one line and exits 0 when the logits agree, 1 otherwise.
"""
import json
import math
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "I64": torch.int64}


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    buffer = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        count = math.prod(info["shape"])
        tensors[name] = torch.frombuffer(bytearray(buffer[begin:end]), dtype=dtype).reshape(info["shape"]) \
            if count else torch.empty(info["shape"], dtype=dtype)
    return tensors, metadata


class MusicModel(torch.nn.Module):
    """embed -> LSTM -> head, as docs/musegen.md describes it."""

    def __init__(self, encoding, vocab, embed, hidden, layers, dropout):
        super().__init__()
        self.roll = encoding == "roll"
        self.embed = torch.nn.Linear(vocab, embed) if self.roll else torch.nn.Embedding(vocab, embed)
        self.lstm = torch.nn.LSTM(embed, hidden, num_layers=layers, dropout=dropout if layers > 1 else 0.0)
        self.head = torch.nn.Linear(hidden, vocab)
        self.drop = torch.nn.Dropout(dropout)

    def forward(self, x):
        y, _ = self.lstm(self.drop(self.embed(x)))
        return self.head(self.drop(y))


def main():
    weights, meta = read_safetensors(sys.argv[1])
    io, _ = read_safetensors(sys.argv[2])
    model = MusicModel(meta["musegen.encoding"], int(meta["musegen.vocab"]), int(meta["musegen.embed"]),
                       int(meta["musegen.hidden"]), int(meta["musegen.layers"]), float(meta["musegen.dropout"]))
    model.load_state_dict(weights, strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(io["input"])
    ours = io["logits"]
    if logits.shape != ours.shape:
        print("FAIL: shapes differ: torch %s, musegen %s" % (tuple(logits.shape), tuple(ours.shape)))
        return 1
    err = (logits - ours).abs().max().item()
    ok = torch.allclose(logits, ours, rtol=1e-4, atol=1e-5)
    print("%s: %s model, %d parameters, max |torch - musegen| = %.3g" %
          ("OK" if ok else "FAIL", meta["musegen.encoding"], sum(p.numel() for p in model.parameters()), err))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
