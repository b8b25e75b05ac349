#!/usr/bin/python3
"""libnn against PyTorch on musegen's reference model, on the same number of threads.

Model: Embedding(V, E) -> LSTM(E, H, num_layers=L, dropout=0.3) -> Linear(H, V), trained
with cross-entropy over all T*B positions and Adam; and sampling at batch 1 (embedding ->
LSTM step with the state carried -> linear -> softmax -> sample), in tokens per second;
libnn's generation runs through nn::LSTMStepper with float32 and with float16 weights, both
compared with PyTorch's float32 (PyTorch on the CPU has no float16 LSTM path worth timing).
PyTorch runs it here with torch.set_num_threads(threads); libnn through benches/train_step
(the same model and sizes) with OMP_NUM_THREADS=threads. Prints both times and the ratios,
then one JSON line with everything.

--device cuda: both on the GPU (PyTorch with cuDNN's LSTM, libnn's CUDA backend), each timed
interval closed by a synchronization (torch.cuda.synchronize(), nn::cuda::synchronize()).
Training is then compared in tokens (T*B positions) per second; generation as before. On the
GPU PyTorch's sampling loop keeps the token on the device (no copy to the host per token).
libnn's is timed three ways per weight dtype: "fp32"/"fp16" copy the probabilities back and
sample on the host every token (musegen generate --host-sampling, and its path with top-k /
top-p or a rule); "fp32-graph"/"fp16-graph" run the whole token on the device through
nn::LSTMTokenLoop, replaying a CUDA graph of 16 tokens, 64 tokens per call (musegen generate's
plain sampling on a GPU); "fp32-eager" the same loop launching every kernel per token.

Usage (run with Debian's /usr/bin/python3, which has torch):
  /usr/bin/python3 benches/lstm_vs_torch.py [path/to/train_step] [--threads 2]
      [--steps 3] [--warmup 1] [--tokens 2000] [--T 100] [--B 64] [--generate-only]
      [--device cpu|cuda]
Without a path, train_step is looked for in build/release/benches, then build/*/benches.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def find_train_step(path):
    if path:
        return path
    candidates = [os.path.join(ROOT, "build", "release", "benches", "train_step")]
    candidates += sorted(glob.glob(os.path.join(ROOT, "build", "*", "benches", "train_step")))
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    sys.exit("lstm_vs_torch: train_step not found; build it (cmake -DMUSEGEN_BUILD_BENCHES=ON, "
             "target train_step) or pass its path")


class Model(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed = torch.nn.Embedding(a.V, a.E)
        self.lstm = torch.nn.LSTM(a.E, a.H, num_layers=a.layers, dropout=0.3)
        self.head = torch.nn.Linear(a.H, a.V)

    def forward(self, tokens, state=None):
        y, state = self.lstm(self.embed(tokens), state)
        return self.head(y), state


def synchronize(a):
    if a.device == "cuda":
        torch.cuda.synchronize()


def torch_train(a):
    torch.manual_seed(1)
    model = Model(a).to(a.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, a.V, (a.T, a.B)).to(a.device)
    targets = torch.randint(0, a.V, (a.T * a.B,)).to(a.device)
    times = []
    for s in range(a.warmup + a.steps):
        synchronize(a)
        start = time.perf_counter()
        opt.zero_grad()
        logits, _ = model(tokens)
        loss = torch.nn.functional.cross_entropy(logits.reshape(a.T * a.B, a.V), targets)
        loss.backward()
        opt.step()
        loss.item()
        synchronize(a)
        if s >= a.warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times), times


def torch_generate(a):
    torch.manual_seed(1)
    model = Model(a).to(a.device).eval()
    token = torch.zeros((1, 1), dtype=torch.int64, device=a.device)
    state = None
    with torch.no_grad():
        def step(token, state):
            logits, state = model(token, state)
            probs = torch.softmax(logits.reshape(1, a.V), dim=-1)
            return torch.multinomial(probs, 1).reshape(1, 1), state
        for _ in range(min(a.tokens, 100)):
            token, state = step(token, state)
        synchronize(a)
        start = time.perf_counter()
        for _ in range(a.tokens):
            token, state = step(token, state)
        synchronize(a)
        elapsed = time.perf_counter() - start
    return a.tokens / elapsed


def ours(a, binary, generate, weights="fp32", loop="host"):
    args = [binary, "--T", str(a.T), "--B", str(a.B), "--V", str(a.V), "--E", str(a.E),
            "--H", str(a.H), "--layers", str(a.layers), "--steps", str(a.steps),
            "--warmup", str(a.warmup), "--tokens", str(a.tokens), "--device", a.device]
    if generate:
        args += ["--generate", "--weights", weights, "--loop", loop]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    run = subprocess.run(args, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"lstm_vs_torch: {' '.join(args)} failed (exit {run.returncode}):\n{run.stderr}")
    return json.loads(run.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("train_step", nargs="?", help="path of the train_step binary")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--tokens", type=int, default=2000)
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--B", type=int, default=64)
    p.add_argument("--V", type=int, default=360)
    p.add_argument("--E", type=int, default=512)
    p.add_argument("--H", type=int, default=512)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--generate-only", action="store_true", help="skip the training comparison")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where both run (cuda: the first GPU, for PyTorch and libnn alike)")
    a = p.parse_args()
    binary = find_train_step(a.train_step)
    torch.set_num_threads(a.threads)
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("lstm_vs_torch: --device cuda: PyTorch sees no CUDA device")

    if not a.generate_only:
        ours_train = ours(a, binary, generate=False)
        torch_step, torch_steps = torch_train(a)
    ours_gen = {w: ours(a, binary, generate=True, weights=w) for w in ("fp32", "fp16")}
    if a.device == "cuda":
        for w, loop in (("fp32", "graph"), ("fp16", "graph"), ("fp32", "eager")):
            ours_gen[f"{w}-{loop}"] = ours(a, binary, generate=True, weights=w, loop=loop)
    torch_tps = torch_generate(a)

    ours_tps = {w: g["tokens_per_second"] for w, g in ours_gen.items()}
    print(f"model: Embedding({a.V},{a.E}) -> LSTM({a.E},{a.H},num_layers={a.layers},dropout=0.3)"
          f" -> Linear({a.H},{a.V}); T={a.T} B={a.B}; {a.threads} threads; "
          f"torch {torch.__version__}; {binary}; device {a.device}"
          + (f" ({torch.cuda.get_device_name(0)})" if a.device == "cuda" else ""))
    result = {"threads": a.threads, "torch": torch.__version__, "device": a.device}
    if not a.generate_only:
        ours_step = ours_train["median_step_seconds"]
        tokens = a.T * a.B
        print(f"training step (median of {a.steps}): PyTorch {torch_step:.4f} s "
              f"({tokens / torch_step:.0f} tokens/s), libnn {ours_step:.4f} s "
              f"({tokens / ours_step:.0f} tokens/s): libnn {torch_step / ours_step:.2f}x faster")
        result["train"] = {"torch_seconds": torch_steps, "torch_median": torch_step,
                           "libnn_seconds": ours_train["step_seconds"],
                           "libnn_median": ours_step, "speedup": torch_step / ours_step,
                           "torch_tokens_per_second": tokens / torch_step,
                           "libnn_tokens_per_second": tokens / ours_step}
    for w, tps in ours_tps.items():
        print(f"generation at batch 1 ({a.tokens} tokens): PyTorch (fp32) {torch_tps:.0f} tokens/s, "
              f"libnn ({w} weights) {tps:.0f} tokens/s: libnn {tps / torch_tps:.2f}x faster")
    result["generate"] = {"torch_tokens_per_second": torch_tps,
                          "libnn_ran": {w: g.get("lstm") for w, g in ours_gen.items()},
                          "libnn_tokens_per_second": ours_tps,
                          "speedup": {w: tps / torch_tps for w, tps in ours_tps.items()}}
    print(json.dumps(result))

if __name__ == "__main__":
    main()
