#!/usr/bin/env python3
"""Each matmul precision's error against float64 for one LSTM layer, forward and backward,
emulated on the CPU (numpy): the figures docs/libnn.md ("Matrix product precision") states.

What it emulates is libnn's stepwise CUDA LSTM (src/cuda/lstm.cu) under
nn::set_float32_matmul_precision: every GEMM operand rounded to TF32 ("high", 10 stored
mantissa bits) or bf16 ("medium", 7 bits), to nearest-even and, separately, truncated (cuBLAS
does not document which its conversion does); the products summed in float32 (numpy's float32
matmul); gates, cells, biases and the bias gradient in float32, never rounded. The reference
is the same algorithm in float64. An independent implementation from the C++ one the CUDA
tests use (tests/libnn/lstm_precision_reference.hpp).

Inputs: PyTorch's initial scale (weights and biases uniform in +-1/sqrt(H)), x, h0, c0 and the
incoming gradients standard normal. Error: ||got - float64|| / ||float64|| per tensor.

  /usr/bin/python3 benches/lstm_precision_error.py [--T 100] [--batch 1,16,64] [--hidden 256,512]
"""
import argparse
import sys
import time

import numpy as np

MODES = [  # name, stored mantissa bits dropped (0: none), nearest?
    ("fp32", 0, True),
    ("tf32", 13, True),
    ("tf32 trunc", 13, False),
    ("bf16", 16, True),
    ("bf16 trunc", 16, False),
]


def rounder(drop, nearest):
    if drop == 0:
        return lambda a: a
    mask = np.uint32((0xFFFFFFFF << drop) & 0xFFFFFFFF)
    half = np.uint32((1 << (drop - 1)) - 1)

    def r(a):
        u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
        if nearest:
            u = u + half + ((u >> np.uint32(drop)) & np.uint32(1))
        return (u & mask).view(np.float32)

    return r


def check_rounding_against_torch():
    """The bf16 rounder against PyTorch's float32 -> bfloat16 conversion (round to nearest
    even), on values spread over 10 decades; skipped without torch."""
    try:
        import torch
    except ImportError:
        return "not checked against torch (not installed)"
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(100000) * 10.0 ** rng.integers(-5, 5, 100000)).astype(np.float32)
    ours = rounder(16, True)(x)
    theirs = torch.from_numpy(x).to(torch.bfloat16).float().numpy()
    if not np.array_equal(ours, theirs):
        sys.exit("lstm_precision_error: the bf16 rounding differs from torch's")
    return "bf16 rounding equal to torch's .to(bfloat16) on 100000 values"


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def lstm(p, dt, r):
    """Forward and backward of the stepwise algorithm in dtype dt, GEMM operands through r."""
    x, h0, c0 = p["x"].astype(dt), p["h0"].astype(dt), p["c0"].astype(dt)
    w_ih, w_hh = p["w_ih"].astype(dt), p["w_hh"].astype(dt)
    bias = p["b_ih"].astype(dt) + p["b_hh"].astype(dt)
    T, B, I = x.shape
    H = w_hh.shape[1]
    rw_ih, rw_hh = r(w_ih), r(w_hh)
    g = (r(x).reshape(T * B, I) @ rw_ih.T).reshape(T, B, 4 * H)
    a = np.empty_like(g)
    c = np.empty((T, B, H), dt)
    y = np.empty((T, B, H), dt)
    h, cp = h0, c0
    for t in range(T):
        pre = g[t] + (r(h) @ rw_hh.T) + bias
        i, f = sigmoid(pre[:, :H]), sigmoid(pre[:, H:2 * H])
        gv, o = np.tanh(pre[:, 2 * H:3 * H]), sigmoid(pre[:, 3 * H:])
        cp = f * cp + i * gv
        h = o * np.tanh(cp)
        a[t] = np.concatenate([i, f, gv, o], axis=1)
        c[t], y[t] = cp, h
    gy, gh, gc = p["gy"].astype(dt), p["gh"].astype(dt), p["gc"].astype(dt)
    dg = np.empty_like(g)
    dc = gc
    for t in range(T - 1, -1, -1):
        dh = gh if t == T - 1 else r(dg[t + 1]) @ rw_hh
        i, f, gv, o = (a[t][:, q * H:(q + 1) * H] for q in range(4))
        tc = np.tanh(c[t])
        c_prev = c0 if t == 0 else c[t - 1]
        dht = gy[t] + dh
        dct = dc + dht * o * (1 - tc * tc)
        dg[t] = np.concatenate([dct * gv * i * (1 - i), dct * c_prev * f * (1 - f),
                                dct * i * (1 - gv * gv), dht * tc * o * (1 - o)], axis=1)
        dc = dct * f
    dgf = r(dg.reshape(T * B, 4 * H))
    h_prev = np.concatenate([h0[None], y[:-1]]).reshape(T * B, H)
    return {
        "output": y, "h_n": y[-1], "c_n": c[-1],
        "grad x": (dgf @ rw_ih).reshape(T, B, I),
        "grad w_ih": dgf.T @ r(x.reshape(T * B, I)),
        "grad w_hh": dgf.T @ r(h_prev),
        "grad h0": r(dg[0]) @ rw_hh, "grad c0": dc,
        "grad b": dg.reshape(T * B, 4 * H).sum(axis=0),
    }


def problem(T, B, H, seed):
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    f32 = lambda a: a.astype(np.float32)
    return {
        "x": f32(rng.standard_normal((T, B, H))), "h0": f32(rng.standard_normal((B, H))),
        "c0": f32(rng.standard_normal((B, H))),
        "w_ih": f32(rng.uniform(-k, k, (4 * H, H))), "w_hh": f32(rng.uniform(-k, k, (4 * H, H))),
        "b_ih": f32(rng.uniform(-k, k, 4 * H)), "b_hh": f32(rng.uniform(-k, k, 4 * H)),
        "gy": f32(rng.standard_normal((T, B, H))), "gh": f32(rng.standard_normal((B, H))),
        "gc": f32(rng.standard_normal((B, H))),
    }


def rel(a, b):
    return float(np.linalg.norm((a.astype(np.float64) - b).ravel()) / np.linalg.norm(b.ravel()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--batch", default="1,16,64")
    ap.add_argument("--hidden", default="256,512,1024")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(check_rounding_against_torch(), file=sys.stderr)
    print("| B | H | tensor | " + " | ".join(m[0] for m in MODES) + " |")
    print("|---|---|---|" + "---|" * len(MODES))
    for H in [int(v) for v in args.hidden.split(",")]:
        for B in [int(v) for v in args.batch.split(",")]:
            start = time.time()
            p = problem(args.T, B, H, args.seed)
            ref = lstm(p, np.float64, lambda a: a)
            errs = {m[0]: {k: rel(v, ref[k]) for k, v in lstm(p, np.float32, rounder(m[1], m[2])).items()}
                    for m in MODES}
            grads = [k for k in ref if k.startswith("grad")]
            for label, keys in (("output", ["output"]), ("worst gradient", grads)):
                cells = []
                for m in MODES:
                    worst = max(keys, key=lambda k: errs[m[0]][k])
                    cells.append(f"{errs[m[0]][worst]:.1e}" + ("" if label == "output" else f" ({worst[5:]})"))
                print(f"| {B} | {H} | {label} | " + " | ".join(cells) + " |")
            print(f"  (T {args.T} B {B} H {H}: {time.time() - start:.0f} s)", file=sys.stderr)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
