#!/usr/bin/env python3
"""A bidirectional LSTM checkpoint written by libnn, loaded by PyTorch.

Run by ctest (test bilstm_torch_check):

    bilstm_torch_check.py --tool build/.../bilstm_checkpoint_tool --workdir /tmp/x

The tool saves a 2-layer bidirectional, batch_first nn::LSTM (nn::save_weights) with an
input, an initial state and what libnn computed from them. This script checks that the
parameter names, in libnn's named_parameters() order, are torch.nn.LSTM's, loads the file
into torch.nn.LSTM(..., bidirectional=True) with load_state_dict(strict=True) and compares
the output and the final (h, c) with PyTorch's (float32 both; tolerance 1e-5 + 1e-4 |ref|).
The safetensors reader is make_fixtures.py's (golden/), written from the format's
specification; the `safetensors` package is not needed.

Exit status: 0 pass, 1 fail, 77 skipped (no torch).
"""
import argparse
import os
import subprocess
import sys

try:
    import torch
except ImportError:
    print("skipped: this Python cannot import torch (apt-get install python3-torch)")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden"))
from make_fixtures import read_safetensors  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    subprocess.run([args.tool, args.workdir], check=True)
    weights, wmeta = read_safetensors(os.path.join(args.workdir, "model.safetensors"))
    io, meta = read_safetensors(os.path.join(args.workdir, "io.safetensors"))

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(int(meta["input_size"]), int(meta["hidden_size"]),
                         num_layers=int(meta["num_layers"]),
                         batch_first=meta["batch_first"] == "true",
                         bidirectional=meta["bidirectional"] == "true")
    failures = []
    torch_names = [n for n, _ in lstm.named_parameters()]
    ours = wmeta["params"].split(",")
    if ours != torch_names:
        failures.append(f"named_parameters: libnn {ours}, PyTorch {torch_names}")
    lstm.load_state_dict({k: v.to(torch.float32) for k, v in weights.items()}, strict=True)
    with torch.no_grad():
        out, (h_n, c_n) = lstm(io["input"], (io["h0"], io["c0"]))
    for name, got in (("output", out), ("h_n", h_n), ("c_n", c_n)):
        ref = io[name]
        if got.shape != ref.shape:
            failures.append(f"{name}: PyTorch shape {list(got.shape)}, libnn {list(ref.shape)}")
            continue
        err = ((got - ref).abs() / (1e-5 + 1e-4 * got.abs())).max().item()
        print(f"{name} {list(got.shape)}: worst error {100 * err:.2f}% of the allowed")
        if not err <= 1.0:
            failures.append(f"{name}: libnn differs from PyTorch ({100 * err:.1f}% of the allowed)")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"ok: {len(weights)} parameters load into torch.nn.LSTM(bidirectional=True) and "
              "give libnn's output and final state")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
