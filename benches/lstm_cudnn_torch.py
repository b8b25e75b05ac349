#!/usr/bin/env python3
"""PyTorch's cuDNN LSTM at bench_lstm_cuda's shapes: the yardstick for libnn's CUDA LSTM.

One torch.nn.LSTM layer (input size = hidden, with biases, float32, TF32 off, so the same
arithmetic as libnn's float32 path; and with --precisions ...,bf16 the layer and its input in
bfloat16, cuDNN's bf16 RNN, the yardstick for libnn's bf16 rows) on the GPU, forward + backward (output gradient of ones
times a fixed random tensor; every parameter's gradient), timed with CUDA events: `--reps`
passes after `--warmup`, the mean per pass; and the forward alone under no_grad.

Prints one JSON object per line, with the keys of bench_lstm_cuda's lines
({"algorithm": "torch-cudnn", "precision", "T", "batch", "hidden", "fwd_bwd_ms", "fwd_ms"}),
and with
--compare FILE (bench_lstm_cuda's output) a table of libnn's algorithms against it.

  python3 benches/lstm_cudnn_torch.py [--quick] [--precisions fp32,bf16] [--compare bench_lstm_cuda.log]
"""
import argparse
import json
import sys


def parse_list(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got '{text}'")
    if any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got '{text}'")
    return values


def measure(torch, T, B, H, warmup, reps, precision):
    torch.manual_seed(1234)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    lstm = torch.nn.LSTM(H, H).cuda().to(dtype)
    x = torch.randn(T, B, H, device="cuda", dtype=dtype, requires_grad=True)
    gy = torch.randn(T, B, H, device="cuda", dtype=dtype)

    def step():
        y, _ = lstm(x)
        y.backward(gy)

    def forward_only():
        with torch.no_grad():
            lstm(x)

    def time(fn):
        for _ in range(warmup):
            fn()
        torch.cuda.synchronize()
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        stop.record()
        stop.synchronize()
        return start.elapsed_time(stop) / reps

    return time(step), time(forward_only)


def compare(rows, path):
    ours = []
    for line in open(path):
        if line.startswith("{"):
            try:
                ours.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    torch_ms = {(r["hidden"], r["batch"], r["precision"]): r["fwd_bwd_ms"] for r in rows}
    print()
    print("| hidden | batch | precision | torch cuDNN ms | libnn algorithm | ms | vs torch | ran |")
    print("|---|---|---|---|---|---|---|---|")
    for r in ours:
        precision = r.get("precision", "fp32")
        ref = torch_ms.get((r["hidden"], r["batch"], precision))
        ms = r.get("fwd_bwd_ms")
        ratio = f"{ref / ms:.2f}x" if ref and ms else "-"
        print(f"| {r['hidden']} | {r['batch']} | {precision} | {ref if ref is None else f'{ref:.3f}'} | "
              f"{r['algorithm']} | {ms if ms is None else f'{ms:.3f}'} | {ratio} | {r['ran'][:60]} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--T", type=int, default=100)
    parser.add_argument("--batch", type=parse_list, default=[1, 16, 64, 256])
    parser.add_argument("--hidden", type=parse_list, default=[256, 512, 1024])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="fp32 (float32, TF32 off) and/or bf16 (the layer in bfloat16)")
    parser.add_argument("--quick", action="store_true", help="2 timed passes after 1 warm-up")
    parser.add_argument("--compare", metavar="FILE",
                        help="bench_lstm_cuda's output: print libnn's rows against PyTorch's")
    args = parser.parse_args()
    precisions = args.precisions.split(",")
    if any(p not in ("fp32", "bf16") for p in precisions):
        parser.error(f"--precisions: expected fp32 and/or bf16 separated by commas, got '{args.precisions}'")
    if args.quick:
        args.warmup, args.reps = 1, 2
    try:
        import torch
    except ImportError as e:
        print(f"lstm_cudnn_torch: PyTorch is not installed ({e}); nothing to measure")
        return 0
    if not torch.cuda.is_available():
        print("lstm_cudnn_torch: no GPU for PyTorch; nothing to measure")
        return 0
    torch.backends.cudnn.enabled = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    rows = []
    for H in args.hidden:
        for B in args.batch:
            for precision in precisions:
                ran = f"torch {torch.__version__} cudnn {torch.backends.cudnn.version()}"
                try:
                    fwd_bwd, fwd = measure(torch, args.T, B, H, args.warmup, args.reps, precision)
                except RuntimeError as e:  # a cuDNN without bf16 RNNs
                    fwd_bwd = fwd = None
                    ran = f"error: {str(e)[:120]}"
                row = {"algorithm": "torch-cudnn", "precision": precision, "ran": ran,
                       "T": args.T, "batch": B, "hidden": H,
                       "fwd_bwd_ms": fwd_bwd and round(fwd_bwd, 4), "fwd_ms": fwd and round(fwd, 4)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    if args.compare:
        compare(rows, args.compare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
