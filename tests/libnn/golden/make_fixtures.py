#!/usr/bin/python3
"""PyTorch oracle for libnn: writes the golden fixtures ops.safetensors, optim.safetensors
and lstm.safetensors.

libnn is checked op by op against PyTorch (STYLE.md, the llm.c oracle): this script runs
every case through PyTorch and stores inputs, outputs, the upstream gradients fed to
backward and every resulting input gradient. The C++ test (tests/libnn/) replays each
case through libnn and compares every tensor. README.md next to this file is the
contract the C++ side reads: naming, metadata schema, dtypes, suggested tolerances.

Format (every file): safetensors. u64 little-endian N, then N bytes of JSON header
(padded with spaces to a multiple of 8), then the raw little-endian data, tensors
stored contiguously in the order of their sorted names. Dtypes:
  F32  every random input (libnn computes in float32; these are its exact inputs),
  F64  every reference output / gradient (PyTorch in float64 on the float32 inputs
       cast to float64) and every upstream gradient gout<j> (whose values are
       float32-representable, so a float32 engine is fed exactly the same numbers),
  I64  integer inputs (class and embedding indices) and integer outputs (max indices).

Naming, ops.safetensors: case "<op>_<variant>", tensors "<case>/in<i>" (the op's tensor
inputs, PyTorch functional order unless README says otherwise), "<case>/out<j>",
"<case>/gout<j>" (only for differentiable outputs), "<case>/grad<i>" =
d(sum_j <out_j, gout_j>)/d in_i (only for differentiable inputs). __metadata__ holds,
per case, a compact JSON {"op", "args", "inputs", "outputs", "grads"}.
optim.safetensors: optimizers (param0, grad1..5, param1..5), clip_grad_norm_ (g0..2,
clipped0..2, total_norm) and LR schedulers (lrs); lstm.safetensors: whole nn.LSTM /
nn.LSTMCell modules (param/<name>, input, h0, c0, out/<name>, gout/<name>, grad/<name>);
see README.md.

Determinism: every case draws from its own torch.Generator seeded with crc32 of the
case name, so adding or reordering cases leaves the other cases' bytes unchanged, and
PyTorch runs single-threaded. Running the script twice gives byte-identical files;
--check regenerates into a temporary directory and fails if the committed files differ.

To add a case: add one `ops.case(...)` call in build_ops() (or one entry in
build_optim()), giving the name, the op, its args, the inputs (make them with the
Rng helpers, away from kinks and ties), which inputs are differentiable, and the
forward function in float64. Then run this script, document the op's input order
in README.md if it is not PyTorch's, and commit the script and the fixture files together.

Usage:  /usr/bin/python3 tests/libnn/golden/make_fixtures.py           # (re)write fixtures
        /usr/bin/python3 tests/libnn/golden/make_fixtures.py --check   # verify committed
(Needs PyTorch; Debian's python3-torch 1.13 is what the committed files were made with.)
"""

import argparse
import json
import math
import os
import struct
import sys
import tempfile
import zlib

import torch
import torch.nn.functional as F

FORMAT = "musegen-golden"
VERSION = "1"
GENERATOR = "tests/libnn/golden/make_fixtures.py"
HERE = os.path.dirname(os.path.abspath(__file__))
FILES = ("ops.safetensors", "optim.safetensors", "lstm.safetensors", "conv_modules.safetensors",
         "double_backward.safetensors")

DTYPE_NAMES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
NAME_DTYPES = {v: k for k, v in DTYPE_NAMES.items()}


# --- safetensors, written and read by hand (the package is not a dependency) -------------

def write_safetensors(path, tensors, metadata):
    """tensors: {name: tensor}; metadata: {str: str}. Data in sorted-name order, no gaps."""
    header = {"__metadata__": metadata}
    chunks, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        if t.dtype not in DTYPE_NAMES:
            raise TypeError(f"{name}: dtype {t.dtype} is not one of F32/F64/I64")
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def read_safetensors(path):
    """Returns ({name: tensor}, metadata); checks the layout write_safetensors promises."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors, expected = {}, 0
    for name in sorted(header):
        info = header[name]
        begin, end = info["data_offsets"]
        if begin != expected:
            raise ValueError(f"{path}: {name} starts at {begin}, expected {expected}")
        dtype = NAME_DTYPES[info["dtype"]]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if end > begin \
            else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"])
        expected = end
    if expected != len(data):
        raise ValueError(f"{path}: {len(data) - expected} trailing bytes")
    return tensors, metadata


# --- random inputs, drawn in float32 --------------------------------------------------------

class Rng:
    """One generator per case, seeded from the case name."""

    def __init__(self, name):
        self.g = torch.Generator().manual_seed(zlib.crc32(name.encode("utf-8")))

    def normal(self, *shape, std=1.0, mean=0.0):
        return torch.randn(shape, generator=self.g, dtype=torch.float32) * std + mean

    def uniform(self, lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(shape, generator=self.g, dtype=torch.float32)

    def signed_uniform(self, lo, hi, *shape):
        """|x| in [lo, hi], random sign: keeps x away from 0 (relu kinks, div poles)."""
        sign = torch.randint(0, 2, shape, generator=self.g).to(torch.float32) * 2 - 1
        return sign * self.uniform(lo, hi, *shape)

    def away_from(self, x, points, margin=0.02):
        """Pushes every value within `margin` of a point (a kink) out to 2*margin."""
        for p in points:
            near = (x - p).abs() < margin
            side = torch.where(x >= p, torch.ones_like(x), -torch.ones_like(x))
            x = torch.where(near, p + side * 2 * margin, x)
        return x

    def distinct(self, *shape, spacing=0.05):
        """All values distinct, neighbours >= spacing - 0.02 apart: no ties for max."""
        n = math.prod(shape)
        perm = torch.randperm(n, generator=self.g).to(torch.float32)
        jitter = self.uniform(-0.01, 0.01, n)
        return ((perm - n / 2) * spacing + jitter).reshape(shape)

    def indices(self, high, *shape):
        return torch.randint(0, high, shape, generator=self.g, dtype=torch.int64)


# --- ops ------------------------------------------------------------------------------------

def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


class OpCases:
    def __init__(self):
        self.tensors, self.metadata = {}, {}
        self.replay = {}  # name -> (op, inputs, diff, forward, gouts): for build_double_backward

    def case(self, name, op, args, inputs, diff, forward, rng, check_grad=True):
        """inputs: list of tensors (F32 or I64); diff: indices of differentiable inputs;
        forward(*float64_inputs) -> tuple of outputs. Integer outputs get no gout."""
        assert name.startswith(op + "_") and name not in self.metadata, name
        for i, t in enumerate(inputs):
            assert t.dtype in (torch.float32, torch.int64), (name, i, t.dtype)
            assert (i in diff) <= (t.dtype == torch.float32), (name, i)
            self.tensors[f"{name}/in{i}"] = t
        xs = [t.to(torch.float64).requires_grad_(i in diff) if t.is_floating_point() else t
              for i, t in enumerate(inputs)]
        outs = forward(*xs)
        assert isinstance(outs, tuple), name
        gouts, diff_outs = {}, []
        for j, o in enumerate(outs):
            self.tensors[f"{name}/out{j}"] = o.detach().clone()
            if o.is_floating_point() and o.requires_grad:
                g = rng.normal(*o.shape).to(torch.float64)
                gouts[j] = g
                self.tensors[f"{name}/gout{j}"] = g
                diff_outs.append(o)
        grads = torch.autograd.grad(diff_outs, [xs[i] for i in diff],
                                    [gouts[j] for j in sorted(gouts)])
        for i, g in zip(diff, grads):
            assert g.shape == inputs[i].shape, (name, i)
            self.tensors[f"{name}/grad{i}"] = g
        if check_grad:
            self._gradcheck(name, xs, diff, forward, sorted(gouts))
        self.replay[name] = (op, inputs, list(diff), forward, gouts)
        self.metadata[name] = compact({"op": op, "args": args, "inputs": len(inputs),
                                       "outputs": len(outs), "grads": list(diff)})

    @staticmethod
    def _gradcheck(name, xs, diff, forward, out_idx):
        """Finite differences agree with autograd: the inputs sit away from kinks and ties."""
        def f(*d):
            full = list(xs)
            for i, t in zip(diff, d):
                full[i] = t
            outs = forward(*full)
            return tuple(outs[j] for j in out_idx)
        d = [xs[i].detach().clone().requires_grad_(True) for i in diff]
        if not torch.autograd.gradcheck(f, d, eps=1e-6, atol=1e-5, rtol=1e-4,
                                        raise_exception=False):
            raise RuntimeError(f"{name}: finite differences disagree with autograd")


def build_ops():
    c = build_ops_cases()
    return c.tensors, c.metadata


def build_ops_cases():
    c = OpCases()

    # Elementwise binary ops: same shapes, broadcasting, a 0-dim operand.
    binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
    shapes = {"same": ((2, 3, 4), (2, 3, 4)), "broadcast_row": ((2, 3, 4), (4,)),
              "broadcast_both": ((2, 1, 4), (3, 1)), "scalar_tensor": ((2, 3, 4), ())}
    for op, fn in binary.items():
        for variant, (sa, sb) in shapes.items():
            name = f"{op}_{variant}"
            r = Rng(name)
            a = r.normal(*sa)
            b = r.signed_uniform(0.5, 2.0, *sb) if op == "div" else r.normal(*sb)
            c.case(name, op, {}, [a, b], [0, 1], lambda a, b, fn=fn: (fn(a, b),), r)

    # Matrix products.
    r = Rng("matmul_2d")
    c.case("matmul_2d", "matmul", {}, [r.normal(3, 4), r.normal(4, 5)], [0, 1],
           lambda a, b: (torch.matmul(a, b),), r)
    r = Rng("matmul_3d_2d")
    c.case("matmul_3d_2d", "matmul", {}, [r.normal(2, 3, 4), r.normal(4, 5)], [0, 1],
           lambda a, b: (torch.matmul(a, b),), r)
    r = Rng("bmm_basic")
    c.case("bmm_basic", "bmm", {}, [r.normal(2, 3, 4), r.normal(2, 4, 5)], [0, 1],
           lambda a, b: (torch.bmm(a, b),), r)
    r = Rng("linear_bias")
    c.case("linear_bias", "linear", {}, [r.normal(2, 3, 4), r.normal(5, 4), r.normal(5)],
           [0, 1, 2], lambda x, w, b: (F.linear(x, w, b),), r)
    r = Rng("linear_nobias")
    c.case("linear_nobias", "linear", {}, [r.normal(2, 3, 4), r.normal(5, 4)], [0, 1],
           lambda x, w: (F.linear(x, w),), r)

    # Reductions.
    for op, fn in (("sum", torch.sum), ("mean", torch.mean)):
        for variant, dim, keepdim in (("dim1", 1, False), ("dim02_keepdim", (0, 2), True),
                                      ("all", None, False)):
            name = f"{op}_{variant}"
            r = Rng(name)
            args = {"dim": list(dim) if isinstance(dim, tuple) else dim, "keepdim": keepdim}
            if dim is None:
                f = lambda x, fn=fn: (fn(x),)
            else:
                f = lambda x, fn=fn, dim=dim, keepdim=keepdim: (fn(x, dim=dim, keepdim=keepdim),)
            c.case(name, op, args, [r.normal(3, 4, 5)], [0], f, r)
    r = Rng("max_dim1")
    c.case("max_dim1", "max", {"dim": 1, "keepdim": False}, [r.distinct(3, 4, 5)], [0],
           lambda x: tuple(torch.max(x, dim=1)), r)
    r = Rng("max_all")
    c.case("max_all", "max", {"dim": None}, [r.distinct(3, 4, 5)], [0],
           lambda x: (torch.max(x),), r)

    # Unary elementwise ops.
    def unary(name, op, args, x, fn, r):
        c.case(name, op, args, [x], [0], lambda x: (fn(x),), r)

    r = Rng("exp_basic"); unary("exp_basic", "exp", {}, r.uniform(-2, 2, 3, 4, 5), torch.exp, r)
    r = Rng("log_basic"); unary("log_basic", "log", {}, r.uniform(0.5, 3, 3, 4, 5), torch.log, r)
    r = Rng("tanh_basic"); unary("tanh_basic", "tanh", {}, r.normal(3, 4, 5, std=1.5), torch.tanh, r)
    r = Rng("sigmoid_basic")
    unary("sigmoid_basic", "sigmoid", {}, r.normal(3, 4, 5, std=2.0), torch.sigmoid, r)
    r = Rng("relu_basic")
    unary("relu_basic", "relu", {}, r.signed_uniform(0.05, 2, 3, 4, 5), torch.relu, r)
    for variant, slope in (("0p01", 0.01), ("0p2", 0.2)):
        name = f"leaky_relu_{variant}"
        r = Rng(name)
        unary(name, "leaky_relu", {"negative_slope": slope}, r.signed_uniform(0.05, 2, 3, 4, 5),
              lambda x, slope=slope: F.leaky_relu(x, negative_slope=slope), r)
    r = Rng("neg_basic"); unary("neg_basic", "neg", {}, r.normal(3, 4, 5), torch.neg, r)
    # affine is libnn's x * scale + shift (the scalar forms of its operators).
    r = Rng("affine_basic")
    unary("affine_basic", "affine", {"scale": -1.5, "shift": 0.25}, r.normal(3, 4, 5),
          lambda x: x * -1.5 + 0.25, r)
    r = Rng("sqrt_basic"); unary("sqrt_basic", "sqrt", {}, r.uniform(0.5, 3, 3, 4, 5), torch.sqrt, r)
    for variant, exponent in (("2", 2.0), ("0p5", 0.5)):
        name = f"pow_{variant}"
        r = Rng(name)
        unary(name, "pow", {"exponent": exponent}, r.uniform(0.5, 3, 3, 4, 5),
              lambda x, e=exponent: torch.pow(x, e), r)
    for variant, lo, hi in (("min_max", -0.5, 0.5), ("min", -0.5, None), ("max", None, 0.5)):
        name = f"clamp_{variant}"
        r = Rng(name)
        x = r.away_from(r.uniform(-1.5, 1.5, 3, 4, 5), [p for p in (lo, hi) if p is not None])
        unary(name, "clamp", {"min": lo, "max": hi}, x,
              lambda x, lo=lo, hi=hi: torch.clamp(x, min=lo, max=hi), r)

    # Softmax family.
    for name, op, shape, dim in (("softmax_lastdim", "softmax", (2, 3, 5), -1),
                                 ("softmax_dim0", "softmax", (4, 5), 0),
                                 ("log_softmax_lastdim", "log_softmax", (2, 3, 5), -1),
                                 ("log_softmax_dim1", "log_softmax", (2, 3, 5), 1)):
        r = Rng(name)
        fn = getattr(F, op)
        unary(name, op, {"dim": dim}, r.normal(*shape, std=2.0),
              lambda x, fn=fn, dim=dim: fn(x, dim=dim), r)

    # Losses.
    for variant, reduction, n_ignored, smoothing in (("mean", "mean", 0, 0.0),
                                                     ("ignore_index", "mean", 2, 0.0),
                                                     ("label_smoothing", "mean", 0, 0.1),
                                                     ("label_smoothing_ignore", "mean", 2, 0.1),
                                                     ("sum", "sum", 0, 0.0)):
        name = f"cross_entropy_{variant}"
        r = Rng(name)
        logits = r.normal(6, 5, std=2.0)
        targets = r.indices(5, 6)
        targets[[1, 4][:n_ignored]] = -100
        args = {"reduction": reduction, "ignore_index": -100, "label_smoothing": smoothing}
        c.case(name, "cross_entropy", args, [logits, targets], [0],
               lambda x, t, a=args: (F.cross_entropy(x, t, **a),), r)
    bce = "binary_cross_entropy_with_logits"
    r = Rng(f"{bce}_mean")
    c.case(f"{bce}_mean", bce, {"reduction": "mean"},
           [r.normal(4, 5, std=2.0), r.uniform(0, 1, 4, 5)], [0],
           lambda x, t: (F.binary_cross_entropy_with_logits(x, t, reduction="mean"),), r)
    r = Rng(f"{bce}_pos_weight")
    c.case(f"{bce}_pos_weight", bce, {"reduction": "mean"},
           [r.normal(4, 5, std=2.0), r.uniform(0, 1, 4, 5), r.uniform(0.5, 3, 5)], [0],
           lambda x, t, pw: (F.binary_cross_entropy_with_logits(x, t, pos_weight=pw,
                                                                  reduction="mean"),), r)

    # GAN losses: written here from their definitions (softplus, means), not with libnn's
    # composition, so the oracle is independent of how libnn builds them.
    name = "gan_discriminator_loss_basic"
    r = Rng(name)
    c.case(name, "gan_discriminator_loss", {}, [r.normal(6, std=2.0), r.normal(5, 1, std=2.0)],
           [0, 1], lambda re, fa: (F.softplus(-re).mean() + F.softplus(fa).mean(),), r)
    name = "gan_discriminator_loss_confident"  # large logits: softplus must not overflow
    r = Rng(name)
    c.case(name, "gan_discriminator_loss", {},
           [r.signed_uniform(8.0, 30.0, 4), r.signed_uniform(8.0, 30.0, 4)], [0, 1],
           lambda re, fa: (F.softplus(-re).mean() + F.softplus(fa).mean(),), r)
    name = "gan_generator_loss_basic"
    r = Rng(name)
    c.case(name, "gan_generator_loss", {}, [r.normal(7, 1, std=2.0)], [0],
           lambda fa: (-torch.log(torch.sigmoid(fa)).mean(),), r)
    name = "gan_generator_loss_confident"
    r = Rng(name)
    c.case(name, "gan_generator_loss", {}, [r.signed_uniform(8.0, 30.0, 5)], [0],
           lambda fa: (F.softplus(-fa).mean(),), r)
    name = "feature_matching_loss_basic"
    r = Rng(name)
    c.case(name, "feature_matching_loss", {}, [r.normal(5, 4), r.normal(3, 4, std=1.5)], [0, 1],
           lambda re, fa: (F.mse_loss(re.mean(0), fa.mean(0)),), r)
    name = "feature_matching_loss_3d"
    r = Rng(name)
    c.case(name, "feature_matching_loss", {}, [r.normal(4, 2, 3), r.normal(4, 2, 3)], [0, 1],
           lambda re, fa: (((re.mean(0) - fa.mean(0)) ** 2).mean(),), r)
    name = "wasserstein_critic_loss_basic"
    r = Rng(name)
    c.case(name, "wasserstein_critic_loss", {}, [r.normal(6, 1), r.normal(4, 1)], [0, 1],
           lambda re, fa: (fa.mean() - re.mean(),), r)
    name = "wasserstein_generator_loss_basic"
    r = Rng(name)
    c.case(name, "wasserstein_generator_loss", {}, [r.normal(6)], [0],
           lambda fa: (-fa.mean(),), r)

    # Embedding: our order is (weight, indices), PyTorch's F.embedding is (indices, weight).
    r = Rng("embedding_repeats")
    idx = torch.tensor([[1, 3, 1, 6], [0, 3, 3, 1]], dtype=torch.int64)
    c.case("embedding_repeats", "embedding", {}, [r.normal(7, 3), idx], [0],
           lambda w, i: (F.embedding(i, w),), r)

    # Shape ops.
    for name, op, dim, shapes3 in (("cat_dim0", "cat", 0, [(1, 3, 4), (2, 3, 4), (3, 3, 4)]),
                                   ("cat_dim1", "cat", 1, [(2, 1, 4), (2, 3, 4), (2, 2, 4)]),
                                   ("stack_dim0", "stack", 0, [(3, 4)] * 3),
                                   ("stack_dim2", "stack", 2, [(3, 4)] * 3)):
        r = Rng(name)
        fn = getattr(torch, op)
        c.case(name, op, {"dim": dim}, [r.normal(*s) for s in shapes3], [0, 1, 2],
               lambda a, b, d, fn=fn, dim=dim: (fn([a, b, d], dim=dim),), r)
    for name, shape, dim, start, end in (("slice_dim1", (4, 5, 6), 1, 1, 4),
                                         ("slice_dim0", (4, 5, 6), 0, 2, 4)):
        r = Rng(name)
        c.case(name, "slice", {"dim": dim, "start": start, "end": end}, [r.normal(*shape)], [0],
               lambda x, dim=dim, start=start, end=end: (x.narrow(dim, start, end - start),), r)
    for name, shape, dim in (("flip_dim0", (5, 3, 4), 0), ("flip_dim1", (2, 6, 3), 1),
                             ("flip_dim2", (3, 2, 7), 2)):
        r = Rng(name)
        c.case(name, "flip", {"dim": dim}, [r.normal(*shape)], [0],
               lambda x, dim=dim: (torch.flip(x, [dim]),), r)
    r = Rng("transpose_dim0_2")
    c.case("transpose_dim0_2", "transpose", {"dim0": 0, "dim1": 2}, [r.normal(2, 3, 4)], [0],
           lambda x: (torch.transpose(x, 0, 2),), r)
    r = Rng("reshape_basic")
    c.case("reshape_basic", "reshape", {"shape": [6, 4]}, [r.normal(2, 3, 4)], [0],
           lambda x: (torch.reshape(x, (6, 4)),), r)

    # Normalisation.
    ln_args = {"normalized_shape": [4], "eps": 1e-5}
    r = Rng("layer_norm_affine")
    c.case("layer_norm_affine", "layer_norm", ln_args,
           [r.normal(2, 3, 4, std=2.0, mean=0.5), r.normal(4, std=0.5, mean=1.0), r.normal(4)],
           [0, 1, 2], lambda x, w, b: (F.layer_norm(x, (4,), w, b, eps=1e-5),), r)
    r = Rng("layer_norm_plain")
    c.case("layer_norm_plain", "layer_norm", ln_args, [r.normal(2, 3, 4, std=2.0, mean=0.5)],
           [0], lambda x: (F.layer_norm(x, (4,), eps=1e-5),), r)
    for name, shape, training in (("batch_norm_train_2d", (6, 4), True),
                                  ("batch_norm_train_3d", (3, 4, 5), True),
                                  ("batch_norm_eval_2d", (6, 4), False),
                                  ("batch_norm_eval_3d", (3, 4, 5), False)):
        r = Rng(name)
        args = {"training": training, "momentum": 0.1, "eps": 1e-5}
        inputs = [r.normal(*shape, std=2.0, mean=1.0), r.normal(4, std=0.5),
                  r.uniform(0.5, 2.0, 4), r.normal(4, std=0.5, mean=1.0), r.normal(4)]

        def bn(x, rm, rv, w, b, a=args):
            rm, rv = rm.clone(), rv.clone()  # updated in place by training=True
            y = F.batch_norm(x, rm, rv, w, b, **a)
            return (y, rm, rv) if a["training"] else (y,)
        c.case(name, "batch_norm", args, inputs, [0, 3, 4], bn, r)

    # LSTM: one layer over a sequence. The oracle is _VF.lstm with one layer, what
    # torch.nn.LSTM runs. Inputs: x, [h0, c0], w_ih, w_hh, [b_ih, b_hh] (README).
    for name, T, B, I, H, initial_state, bias in (
            ("lstm_layer_seq", 4, 3, 5, 4, True, True),
            ("lstm_layer_step", 1, 3, 4, 5, True, True),
            ("lstm_layer_batch1", 5, 1, 3, 4, True, True),
            ("lstm_layer_step_batch1", 1, 1, 6, 4, True, True),
            ("lstm_layer_zero_state", 3, 2, 4, 3, False, True),
            ("lstm_layer_step_zero_state", 1, 2, 3, 3, False, True),
            ("lstm_layer_nobias", 3, 2, 3, 5, True, False),
            ("lstm_layer_long", 12, 2, 3, 3, True, True),
            # batch > 4: the step GEMM path (below: matrix-vector products); 16 rows span
            # two register blocks of the AVX-512 micro-kernel, H = 9 a partial panel
            ("lstm_layer_batch6", 3, 6, 4, 5, True, True),
            ("lstm_layer_batch16", 2, 16, 3, 9, True, True),
            ("lstm_layer_batch6_zero_state", 2, 6, 3, 4, False, False),
            ("lstm_layer_batch5_zero_state_bias", 3, 5, 4, 6, False, True)):
        r = Rng(name)
        inputs = [r.normal(T, B, I)]
        if initial_state:
            inputs += [r.normal(B, H, std=0.5), r.normal(B, H, std=0.5)]
        inputs += [r.uniform(-0.7, 0.7, 4 * H, I), r.uniform(-0.7, 0.7, 4 * H, H)]
        if bias:
            inputs += [r.uniform(-0.7, 0.7, 4 * H), r.uniform(-0.7, 0.7, 4 * H)]

        def lstm(*xs, B=B, H=H, initial_state=initial_state, bias=bias):
            x, rest = xs[0], list(xs[1:])
            if initial_state:
                hx = (rest[0].unsqueeze(0), rest[1].unsqueeze(0))
                rest = rest[2:]
            else:
                zero = torch.zeros(1, B, H, dtype=torch.float64)
                hx = (zero, zero)
            out, h, c = torch._VF.lstm(x, hx, rest, bias, 1, 0.0, False, False, False)
            return out, h.squeeze(0), c.squeeze(0)
        c.case(name, "lstm_layer", {"initial_state": initial_state, "bias": bias}, inputs,
               list(range(len(inputs))), lstm, r)

    # Convolutions: inputs x, weight, [bias], PyTorch's functional order. Odd sizes, stride,
    # padding, dilation, groups, no bias, batch 1; the transposed ones with output_padding.
    for name, B, C_in, C_out, L, K, stride, padding, dilation, groups, bias in (
            ("conv1d_basic", 2, 3, 4, 9, 3, 1, 0, 1, 1, True),
            ("conv1d_stride_pad", 2, 3, 5, 11, 4, 2, 2, 1, 1, True),
            ("conv1d_dilation", 2, 2, 3, 13, 3, 1, 1, 3, 1, True),
            ("conv1d_groups_nobias", 2, 4, 6, 8, 3, 2, 1, 1, 2, False),
            ("conv1d_depthwise", 1, 3, 3, 7, 5, 1, 2, 1, 3, True),
            ("conv1d_batch1_k1", 1, 5, 2, 6, 1, 1, 0, 1, 1, True),
            ("conv1d_all", 3, 6, 4, 17, 3, 3, 2, 2, 2, True)):
        r = Rng(name)
        inputs = [r.normal(B, C_in, L), r.normal(C_out, C_in // groups, K, std=0.5)]
        if bias:
            inputs.append(r.normal(C_out))
        args = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        c.case(name, "conv1d", args, inputs, list(range(len(inputs))),
               lambda x, w, b=None, a=args: (F.conv1d(x, w, b, **a),), r)
    for name, B, C_in, C_out, L, K, stride, padding, out_pad, dilation, groups, bias in (
            ("conv_transpose1d_basic", 2, 3, 4, 7, 3, 1, 0, 0, 1, 1, True),
            ("conv_transpose1d_stride2", 2, 4, 3, 5, 4, 2, 1, 0, 1, 1, True),
            ("conv_transpose1d_output_padding", 2, 3, 2, 6, 3, 3, 1, 2, 1, 1, True),
            ("conv_transpose1d_dilation", 1, 2, 3, 5, 3, 1, 2, 0, 2, 1, True),
            ("conv_transpose1d_groups_nobias", 2, 4, 6, 5, 3, 2, 0, 1, 1, 2, False),
            ("conv_transpose1d_all", 3, 6, 4, 4, 5, 2, 2, 1, 2, 2, True)):
        r = Rng(name)
        inputs = [r.normal(B, C_in, L), r.normal(C_in, C_out // groups, K, std=0.5)]
        if bias:
            inputs.append(r.normal(C_out))
        args = {"stride": stride, "padding": padding, "output_padding": out_pad,
                "dilation": dilation, "groups": groups}
        c.case(name, "conv_transpose1d", args, inputs, list(range(len(inputs))),
               lambda x, w, b=None, a=args: (F.conv_transpose1d(x, w, b, **a),), r)
    for name, B, C_in, C_out, HW, KHW, stride, padding, dilation, groups, bias in (
            ("conv2d_basic", 2, 3, 4, (5, 6), (3, 3), (1, 1), (0, 0), (1, 1), 1, True),
            ("conv2d_stride_pad", 2, 2, 3, (7, 9), (3, 4), (2, 3), (1, 2), (1, 1), 1, True),
            ("conv2d_dilation", 1, 2, 2, (8, 7), (2, 3), (1, 1), (1, 0), (2, 3), 1, True),
            ("conv2d_groups_nobias", 2, 4, 6, (5, 5), (3, 3), (2, 2), (1, 1), (1, 1), 2, False),
            ("conv2d_batch1_k1", 1, 3, 2, (3, 5), (1, 1), (1, 1), (0, 0), (1, 1), 1, True),
            ("conv2d_gan_down", 2, 3, 4, (8, 8), (4, 4), (2, 2), (1, 1), (1, 1), 1, True)):
        r = Rng(name)
        inputs = [r.normal(B, C_in, *HW), r.normal(C_out, C_in // groups, *KHW, std=0.5)]
        if bias:
            inputs.append(r.normal(C_out))
        args = {"stride": list(stride), "padding": list(padding), "dilation": list(dilation),
                "groups": groups}
        c.case(name, "conv2d", args, inputs, list(range(len(inputs))),
               lambda x, w, b=None, a=args: (F.conv2d(x, w, b, **a),), r)
    for name, B, C_in, C_out, HW, KHW, stride, padding, out_pad, dilation, groups, bias in (
            ("conv_transpose2d_basic", 2, 3, 2, (4, 5), (3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1,
             True),
            ("conv_transpose2d_gan_up", 2, 4, 3, (4, 4), (4, 4), (2, 2), (1, 1), (0, 0), (1, 1), 1,
             True),
            ("conv_transpose2d_all", 1, 4, 6, (3, 5), (3, 2), (2, 3), (1, 0), (1, 2), (2, 1), 2,
             False)):
        r = Rng(name)
        inputs = [r.normal(B, C_in, *HW), r.normal(C_in, C_out // groups, *KHW, std=0.5)]
        if bias:
            inputs.append(r.normal(C_out))
        args = {"stride": list(stride), "padding": list(padding),
                "output_padding": list(out_pad), "dilation": list(dilation), "groups": groups}
        c.case(name, "conv_transpose2d", args, inputs, list(range(len(inputs))),
               lambda x, w, b=None, a=args: (F.conv_transpose2d(x, w, b, **a),), r)
    return c


# --- optimizers, gradient clipping, LR schedules --------------------------------------------

OPTIMIZERS = [
    ("sgd_plain", "SGD", {"lr": 0.1}),
    ("sgd_momentum", "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("sgd_nesterov_wd", "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True,
                                "weight_decay": 0.01}),
    ("sgd_dampening", "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}),
    ("adam_default", "Adam", {"lr": 1e-2}),
    ("adam_betas_wd", "Adam", {"lr": 1e-2, "betas": (0.8, 0.9), "eps": 1e-6,
                               "weight_decay": 0.1}),
    ("adam_amsgrad", "Adam", {"amsgrad": True, "lr": 1e-2}),
    ("adamw_default", "AdamW", {"lr": 1e-2}),
    ("adamw_wd0p1", "AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
    ("rmsprop_default", "RMSprop", {"lr": 1e-2}),
    ("rmsprop_centered_momentum_wd", "RMSprop", {"lr": 1e-2, "alpha": 0.9, "momentum": 0.5,
                                                 "centered": True, "weight_decay": 0.01}),
    ("rmsprop_keras_like", "RMSprop", {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7}),
]
OPTIM_STEPS = 5
# Hyperparameters that change the arithmetic; the rest of param_groups[0] is dispatch
# (foreach, fused, capturable, differentiable).
MATH_KEYS = ("lr", "momentum", "dampening", "nesterov", "betas", "eps", "weight_decay",
             "amsgrad", "alpha", "centered", "maximize")

LR_STEPS = 12
BASE_LR = 0.1


def jsonable(v):
    return list(v) if isinstance(v, tuple) else v


def make_scheduler(spec, opt):
    sched = torch.optim.lr_scheduler
    if spec["scheduler"] == "SequentialLR":
        kw = dict(spec["kwargs"])
        kw["schedulers"] = [make_scheduler(s, opt) for s in kw["schedulers"]]
        return sched.SequentialLR(opt, **kw)
    return getattr(sched, spec["scheduler"])(opt, **spec["kwargs"])


SCHEDULERS = [
    ("lr_step", {"scheduler": "StepLR", "kwargs": {"step_size": 3, "gamma": 0.5}}),
    ("lr_cosine", {"scheduler": "CosineAnnealingLR", "kwargs": {"T_max": 10, "eta_min": 0.001}}),
    ("lr_linear_warmup", {"scheduler": "LinearLR",
                          "kwargs": {"start_factor": 0.1, "total_iters": 4}}),
    ("lr_warmup_cosine", {"scheduler": "SequentialLR", "kwargs": {
        "schedulers": [{"scheduler": "LinearLR", "kwargs": {"start_factor": 0.1, "total_iters": 3}},
                       {"scheduler": "CosineAnnealingLR", "kwargs": {"T_max": 9}}],
        "milestones": [3]}}),
]


def build_optim():
    tensors, metadata = {}, {}

    for name, cls_name, kwargs in OPTIMIZERS:
        r = Rng(name)
        p0 = r.normal(3, 4)
        grads = [r.normal(3, 4) for _ in range(OPTIM_STEPS)]
        p = torch.nn.Parameter(p0.to(torch.float64))
        opt = getattr(torch.optim, cls_name)([p], **kwargs)
        tensors[f"{name}/param0"] = p0
        for t, g in enumerate(grads, start=1):
            p.grad = g.to(torch.float64)
            opt.step()
            tensors[f"{name}/grad{t}"] = g
            tensors[f"{name}/param{t}"] = p.detach().clone()
        group = opt.param_groups[0]
        resolved = {k: jsonable(group[k]) for k in MATH_KEYS if k in group}
        metadata[name] = compact({"kind": "optimizer", "optimizer": cls_name,
                                  "kwargs": {k: jsonable(v) for k, v in kwargs.items()},
                                  "resolved": resolved, "steps": OPTIM_STEPS})

    for name, scale in (("clip_grad_norm_above", 1.0), ("clip_grad_norm_below", 0.05)):
        r = Rng(name)
        gs = [r.normal(*s, std=scale) for s in ((3, 4), (5,), (2, 3))]
        params = []
        for i, g in enumerate(gs):
            q = torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64))
            q.grad = g.to(torch.float64)
            params.append(q)
            tensors[f"{name}/g{i}"] = g
        total = torch.nn.utils.clip_grad_norm_(params, max_norm=1.0, norm_type=2.0)
        assert (total > 1.0) == (scale == 1.0), (name, total)
        for i, q in enumerate(params):
            tensors[f"{name}/clipped{i}"] = q.grad.detach().clone()
        tensors[f"{name}/total_norm"] = total.detach().to(torch.float64).reshape(())
        metadata[name] = compact({"kind": "clip_grad_norm", "function": "clip_grad_norm_",
                                  "kwargs": {"max_norm": 1.0, "norm_type": 2.0},
                                  "tensors": len(gs)})

    import warnings
    for name, spec in SCHEDULERS:
        p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        opt = torch.optim.SGD([p], lr=BASE_LR)
        with warnings.catch_warnings():
            # SequentialLR calls step(0) on its second scheduler: a deprecation warning only.
            warnings.simplefilter("ignore")
            sched = make_scheduler(spec, opt)
            lrs = []
            for _ in range(LR_STEPS):
                lrs.append(opt.param_groups[0]["lr"])
                opt.step()
                sched.step()
        tensors[f"{name}/lrs"] = torch.tensor(lrs, dtype=torch.float64)
        metadata[name] = compact({"kind": "lr_scheduler", **spec, "optimizer": "SGD",
                                  "base_lr": BASE_LR, "steps": LR_STEPS})
    return tensors, metadata


# --- modules: LSTM and LSTMCell with PyTorch's parameters ------------------------------------

MODULE_CASES = [
    # name, module class, constructor kwargs, sequence length T (LSTM only), batch B, hx given
    ("lstm_3layer", "LSTM", {"input_size": 5, "hidden_size": 4, "num_layers": 3}, 4, 3, True),
    ("lstm_2layer_batch_first_nobias", "LSTM",
     {"input_size": 3, "hidden_size": 6, "num_layers": 2, "bias": False, "batch_first": True},
     5, 2, False),
    # Bidirectional: PyTorch's own initialisation (torch.manual_seed from the case name), the
    # parameters saved as float32, the module then run in float64.
    ("bilstm_1layer_batch1", "LSTM",
     {"input_size": 3, "hidden_size": 4, "num_layers": 1, "bidirectional": True}, 5, 1, False),
    ("bilstm_1layer_batch_first_hx", "LSTM",
     {"input_size": 4, "hidden_size": 3, "num_layers": 1, "batch_first": True,
      "bidirectional": True}, 3, 1, True),
    ("bilstm_2layer_hx", "LSTM",
     {"input_size": 5, "hidden_size": 4, "num_layers": 2, "bidirectional": True}, 4, 3, True),
    ("bilstm_2layer_batch_first", "LSTM",
     {"input_size": 3, "hidden_size": 5, "num_layers": 2, "batch_first": True,
      "bidirectional": True}, 6, 3, False),
    ("bilstm_2layer_nobias_hx", "LSTM",
     {"input_size": 2, "hidden_size": 3, "num_layers": 2, "bias": False,
      "bidirectional": True}, 4, 2, True),
    ("lstmcell_hx", "LSTMCell", {"input_size": 4, "hidden_size": 5}, None, 3, True),
    ("lstmcell_nohx", "LSTMCell", {"input_size": 4, "hidden_size": 3}, None, 2, False),
]


def build_modules():
    """Whole modules in float64 with float32 parameters drawn here (not PyTorch's own
    initialization; the bidirectional cases use PyTorch's own): the state dict, input and
    state in, every output and every gradient."""
    tensors, metadata = {}, {}
    for name, cls_name, kwargs, T, B, hx in MODULE_CASES:
        r = Rng(name)
        torch_init = kwargs.get("bidirectional", False)
        if torch_init:
            torch.manual_seed(zlib.crc32(name.encode("utf-8")))
        module = getattr(torch.nn, cls_name)(**kwargs)
        names = [n for n, _ in module.named_parameters()]
        H, L = kwargs["hidden_size"], kwargs.get("num_layers", 1)
        if kwargs.get("bidirectional"):
            L *= 2
        if torch_init:
            for n, p in module.named_parameters():
                tensors[f"{name}/param/{n}"] = p.detach().clone()
            module = module.to(torch.float64)
        else:
            module = module.to(torch.float64)
            with torch.no_grad():
                for n, p in module.named_parameters():
                    v = r.uniform(-0.6, 0.6, *p.shape)
                    tensors[f"{name}/param/{n}"] = v
                    p.copy_(v.to(torch.float64))
        if cls_name == "LSTM":
            shape = (B, T, kwargs["input_size"]) if kwargs.get("batch_first") else \
                (T, B, kwargs["input_size"])
            state_shape = (L, B, H)
        else:
            shape, state_shape = (B, kwargs["input_size"]), (B, H)
        ins = {"input": r.normal(*shape)}
        if hx:
            ins["h0"] = r.normal(*state_shape, std=0.5)
            ins["c0"] = r.normal(*state_shape, std=0.5)
        xs = {k: v.to(torch.float64).requires_grad_(True) for k, v in ins.items()}
        state = (xs["h0"], xs["c0"]) if hx else None
        if cls_name == "LSTM":
            output, (h_n, c_n) = module(xs["input"], state)
            outs = {"output": output, "h_n": h_n, "c_n": c_n}
        else:
            h1, c1 = module(xs["input"], state)
            outs = {"h": h1, "c": c1}
        gouts = {k: r.normal(*o.shape).to(torch.float64) for k, o in outs.items()}
        leaves = list(xs.values()) + list(module.parameters())
        grads = torch.autograd.grad(list(outs.values()), leaves, list(gouts.values()))
        for k, v in ins.items():
            tensors[f"{name}/{k}"] = v
        for k, o in outs.items():
            tensors[f"{name}/out/{k}"] = o.detach().clone()
            tensors[f"{name}/gout/{k}"] = gouts[k]
        for k, g in zip(list(xs) + [f"param/{n}" for n in names], grads):
            tensors[f"{name}/grad/{k}"] = g
        metadata[name] = compact({"module": cls_name, "kwargs": kwargs, "hx": hx,
                                  "params": names, "outputs": list(outs)})
    return tensors, metadata


# --- driver ---------------------------------------------------------------------------------

# Convolution modules with PyTorch's own default initialisation (torch.manual_seed from the
# case name): what a PyTorch user saves and libnn loads. Input shape per case.
CONV_MODULE_CASES = (
    ("conv1d_module", "Conv1d", {"in_channels": 3, "out_channels": 5, "kernel_size": 4,
                                 "stride": 2, "padding": 1}, (2, 3, 16)),
    ("conv_transpose1d_module", "ConvTranspose1d",
     {"in_channels": 4, "out_channels": 3, "kernel_size": 4, "stride": 2, "padding": 1,
      "output_padding": 1, "groups": 1}, (2, 4, 7)),
    ("conv2d_module", "Conv2d", {"in_channels": 2, "out_channels": 6, "kernel_size": (3, 4),
                                 "stride": (2, 1), "padding": (1, 2), "dilation": (1, 2),
                                 "groups": 2, "bias": False}, (2, 2, 9, 8)),
    ("conv_transpose2d_module", "ConvTranspose2d",
     {"in_channels": 6, "out_channels": 4, "kernel_size": 4, "stride": 2, "padding": 1},
     (2, 6, 3, 5)),
)


def build_conv_modules():
    """Whole nn.Conv1d / nn.ConvTranspose1d / nn.Conv2d modules as PyTorch initialises them:
    the state dict (float32, PyTorch's names), an input, the output and every gradient (float64,
    the same module in double precision)."""
    tensors, metadata = {}, {}
    for name, cls_name, kwargs, in_shape in CONV_MODULE_CASES:
        torch.manual_seed(zlib.crc32(name.encode("utf-8")))
        module = getattr(torch.nn, cls_name)(**kwargs)  # float32, PyTorch's default init
        r = Rng(name)
        x = r.normal(*in_shape)
        names = [n for n, _ in module.named_parameters()]
        for n, p in module.named_parameters():
            tensors[f"{name}/param/{n}"] = p.detach().clone()
        tensors[f"{name}/input"] = x
        module = module.to(torch.float64)
        xd = x.to(torch.float64).requires_grad_(True)
        out = module(xd)
        gout = r.normal(*out.shape).to(torch.float64)
        out.backward(gout)
        tensors[f"{name}/output"] = out.detach().clone()
        tensors[f"{name}/gout"] = gout
        tensors[f"{name}/grad/input"] = xd.grad
        for n, p in module.named_parameters():
            tensors[f"{name}/grad/{n}"] = p.grad
        json_kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
        metadata[name] = compact({"module": cls_name, "kwargs": json_kwargs, "params": names})
    return tensors, metadata


# The ops with a double backward in libnn (docs/libnn.md, "Double backward"); every ops case of
# these ops gets a double-backward case.
DOUBLE_BACKWARD_OPS = (
    "add", "sub", "mul", "div", "affine", "neg", "exp", "log", "tanh", "sigmoid", "relu",
    "leaky_relu", "sqrt", "pow", "clamp", "matmul", "bmm", "linear", "sum", "mean", "max",
    "binary_cross_entropy_with_logits", "gan_discriminator_loss", "gan_generator_loss",
    "feature_matching_loss", "wasserstein_critic_loss", "wasserstein_generator_loss",
    "layer_norm", "cat", "stack", "slice", "flip", "transpose", "reshape", "softmax",
    "log_softmax", "conv1d", "conv_transpose1d", "conv2d", "conv_transpose2d")

# WGAN-GP critics (Gulrajani et al. 2017): (name, layers, input shape (B, ...)). A layer is
# ("linear", in, out), ("conv1d", c_in, c_out, k, stride, padding), ("leaky_relu", slope),
# ("tanh",), ("layer_norm", normalized_shape) or ("flatten",).
WGAN_GP_CASES = (
    ("wgan_gp_mlp", (("linear", 2, 8), ("leaky_relu", 0.2), ("linear", 8, 8), ("tanh",),
                     ("linear", 8, 1)), (6, 2)),
    ("wgan_gp_conv1d", (("conv1d", 2, 3, 3, 2, 1), ("leaky_relu", 0.2),
                        ("layer_norm", (3, 4)), ("flatten",), ("linear", 12, 1)), (4, 2, 8)),
)
WGAN_GP_LAMBDA = 10.0


def wgan_gp_critic(layers, params, x):
    """The critic's forward on float64 params (a list consumed in layer order)."""
    it = iter(params)
    for layer in layers:
        kind = layer[0]
        if kind == "linear":
            x = F.linear(x, next(it), next(it))
        elif kind == "conv1d":
            x = F.conv1d(x, next(it), next(it), stride=layer[4], padding=layer[5])
        elif kind == "leaky_relu":
            x = F.leaky_relu(x, layer[1])
        elif kind == "tanh":
            x = torch.tanh(x)
        elif kind == "layer_norm":
            x = F.layer_norm(x, layer[1], next(it), next(it))
        elif kind == "flatten":
            x = x.reshape(x.shape[0], -1)
    return x


def build_double_backward():
    """Double backward (torch.autograd.grad with create_graph=True). For every ops case of an
    op in DOUBLE_BACKWARD_OPS (inputs and upstream gradients copied from ops.safetensors): with
    L = sum_j <out_j, gout_j> and G_i = dL/d in_i, the random weights v<i> and the gradients of
    L2 = sum_i <v_i, G_i> with respect to every differentiable input (ggrad<i>) and every
    upstream gradient (ggout<j>). Plus whole WGAN-GP critic steps (WGAN_GP_CASES)."""
    ops = build_ops_cases()
    tensors, metadata = {}, {}
    for name in sorted(ops.replay):
        op, inputs, diff, forward, gouts = ops.replay[name]
        if op not in DOUBLE_BACKWARD_OPS or not diff:
            continue
        r = Rng(name + "/double_backward")
        xs = [t.to(torch.float64).requires_grad_(i in diff) if t.is_floating_point() else t
              for i, t in enumerate(inputs)]
        outs = forward(*xs)
        order = sorted(gouts)
        gs = [gouts[j].clone().requires_grad_(True) for j in order]
        grads = torch.autograd.grad([outs[j] for j in order], [xs[i] for i in diff], gs,
                                    create_graph=True)
        vs = [r.normal(*inputs[i].shape) for i in diff]
        l2 = sum((g * v.to(torch.float64)).sum() for g, v in zip(grads, vs))
        wrt = [xs[i] for i in diff] + gs
        second = torch.autograd.grad(l2, wrt, allow_unused=True) if l2.requires_grad \
            else [None] * len(wrt)
        for i, t in enumerate(inputs):
            tensors[f"{name}/in{i}"] = t
        for j in order:
            tensors[f"{name}/gout{j}"] = gouts[j]
        for k, i in enumerate(diff):
            tensors[f"{name}/v{i}"] = vs[k]
            g = second[k]
            tensors[f"{name}/ggrad{i}"] = torch.zeros_like(xs[i]).detach() if g is None \
                else g.detach()
        for k, j in enumerate(order):
            g = second[len(diff) + k]
            tensors[f"{name}/ggout{j}"] = torch.zeros_like(gouts[j]) if g is None \
                else g.detach()
        metadata[name] = ops.metadata[name]

    for name, layers, in_shape in WGAN_GP_CASES:
        r = Rng(name)
        params = []
        for layer in layers:
            if layer[0] == "linear":
                params += [r.normal(layer[2], layer[1], std=0.5), r.normal(layer[2], std=0.1)]
            elif layer[0] == "conv1d":
                params += [r.normal(layer[2], layer[1], layer[3], std=0.5),
                           r.normal(layer[2], std=0.1)]
            elif layer[0] == "layer_norm":
                params += [1 + r.normal(*layer[1], std=0.1), r.normal(*layer[1], std=0.1)]
        real = r.normal(*in_shape)
        fake = r.normal(*in_shape, std=1.5, mean=0.5)
        eps = r.uniform(0, 1, in_shape[0], *([1] * (len(in_shape) - 1)))
        inputs = [real, fake, eps] + params
        ps = [p.to(torch.float64).requires_grad_(True) for p in params]
        real64, fake64, eps64 = (t.to(torch.float64) for t in (real, fake, eps))
        critic = lambda x: wgan_gp_critic(layers, ps, x)
        critic_loss = critic(fake64).mean() - critic(real64).mean()
        x_hat = (eps64 * real64 + (1 - eps64) * fake64).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        norm = g.reshape(g.shape[0], -1).pow(2).sum(1).sqrt()
        penalty = ((norm - 1) ** 2).mean()
        loss = critic_loss + WGAN_GP_LAMBDA * penalty
        grads = torch.autograd.grad(loss, ps)
        for i, t in enumerate(inputs):
            tensors[f"{name}/in{i}"] = t
        tensors[f"{name}/out0"] = critic_loss.detach()
        tensors[f"{name}/out1"] = penalty.detach()
        tensors[f"{name}/out2"] = loss.detach()
        for k, gp in enumerate(grads):
            tensors[f"{name}/grad{3 + k}"] = gp
        layer_args = [[layer[0], list(layer[1])] if len(layer) == 2 and
                      isinstance(layer[1], tuple) else list(layer) for layer in layers]
        metadata[name] = compact({"op": "wgan_gp", "args": {"layers": layer_args,
                                                             "lambda": WGAN_GP_LAMBDA},
                                  "inputs": len(inputs), "outputs": 3,
                                  "grads": list(range(3, len(inputs)))})
    return tensors, metadata


def file_metadata(cases):
    meta = {"format": FORMAT, "version": VERSION, "torch": torch.__version__,
            "generator": GENERATOR}
    assert not set(meta) & set(cases)
    meta.update(cases)
    return meta


def generate(out_dir):
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for file_name, build in (("ops.safetensors", build_ops), ("optim.safetensors", build_optim),
                             ("lstm.safetensors", build_modules),
                             ("conv_modules.safetensors", build_conv_modules),
                             ("double_backward.safetensors", build_double_backward)):
        tensors, cases = build()
        write_safetensors(os.path.join(out_dir, file_name), tensors, file_metadata(cases))


def describe_difference(committed, fresh):
    """Why two fixture files differ, tensor by tensor, for a failing --check."""
    (ta, ma), (tb, mb) = read_safetensors(committed), read_safetensors(fresh)
    lines = []
    for k in sorted(set(ma) | set(mb)):
        if ma.get(k) != mb.get(k):
            lines.append(f"  metadata {k}: committed {ma.get(k)!r}, regenerated {mb.get(k)!r}")
    for k in sorted(set(ta) | set(tb)):
        if k not in ta or k not in tb:
            lines.append(f"  tensor {k}: only in {'regenerated' if k in tb else 'committed'}")
        elif ta[k].dtype != tb[k].dtype or ta[k].shape != tb[k].shape:
            lines.append(f"  tensor {k}: {ta[k].dtype}{list(ta[k].shape)} vs "
                         f"{tb[k].dtype}{list(tb[k].shape)}")
        elif not torch.equal(ta[k], tb[k]):
            a, b = ta[k].to(torch.float64), tb[k].to(torch.float64)
            err = ((a - b).abs() / b.abs().clamp(min=1e-300)).max().item()
            lines.append(f"  tensor {k}: values differ, max relative difference {err:.3g}")
    return lines


def check():
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp)
        for file_name in FILES:
            committed, fresh = os.path.join(HERE, file_name), os.path.join(tmp, file_name)
            if not os.path.exists(committed):
                print(f"FAIL {file_name}: missing, run make_fixtures.py")
                ok = False
                continue
            with open(committed, "rb") as a, open(fresh, "rb") as b:
                same = a.read() == b.read()
            if same:
                print(f"ok   {file_name}: byte-identical to a fresh run")
            else:
                ok = False
                print(f"FAIL {file_name}: differs from a fresh run")
                for line in describe_difference(committed, fresh):
                    print(line)
    return ok


def main():
    parser = argparse.ArgumentParser(
        description="Write libnn's golden fixtures (ops, optim and lstm .safetensors) "
                    "from PyTorch; see README.md next to this script.")
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary directory and exit 1 if the "
                             "committed files differ (prints which tensors differ)")
    parser.add_argument("--out", default=HERE,
                        help="directory to write into (default: this script's directory)")
    args = parser.parse_args()
    if args.check:
        sys.exit(0 if check() else 1)
    os.makedirs(args.out, exist_ok=True)
    generate(args.out)
    for file_name in FILES:
        path = os.path.join(args.out, file_name)
        tensors, meta = read_safetensors(path)  # reads back what was written
        print(f"wrote {path}: {os.path.getsize(path)} bytes, "
              f"{len(meta) - 4} cases, {len(tensors)} tensors")


if __name__ == "__main__":
    main()
