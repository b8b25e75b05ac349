#!/usr/bin/env python3
"""Interop check of libnn's safetensors files with PyTorch, in both directions.

Run by ctest (test safetensors_torch_check) with an interpreter that can import torch:

    safetensors_torch_check.py --tool build/.../safetensors_tool --workdir /tmp/x

The `safetensors` package is not part of Debian, so this script carries its own reader and
writer, written from the format's specification (docs/formats.md) and mirroring the
reference implementation (huggingface/safetensors, safetensors/src/tensor.rs): same checks
when reading, same bytes when writing. When `import safetensors.torch` works, the package's
load_file / save / save_file are used as well.

1. C++ -> Python: the tool writes tensors of every dtype whose values are formulas of the
   flat index; this script rebuilds them independently with torch.arange, reads the file
   (own reader, and safetensors.torch.load_file when present) and compares bit for bit.
   It also checks that the file is byte-identical to what the reference would write.
2. Python -> C++: this script writes a file (own writer, and save_file when present) with
   random values and special floats; the tool reads it and prints bytes and values, which
   this script checks against the tensors it wrote.

Exit status: 0 pass, 1 fail, 77 skipped (no torch).
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys

try:
    import torch
except ImportError:
    print("skipped: this Python cannot import torch (apt-get install python3-torch)")
    sys.exit(77)

try:
    import safetensors.torch as st_lib
except ImportError:
    st_lib = None

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
# The reference's Dtype enum order; tensors are written widest alignment first, then by name.
REFERENCE_RANK = {"BOOL": 0, "U8": 1, "I8": 2, "I16": 5, "F16": 7, "BF16": 8, "I32": 9,
                  "F32": 11, "F64": 12, "I64": 13}
FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAIL:", message)


def tensor_bytes(t):
    t = t.contiguous().reshape(-1)
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def read_safetensors(data):
    """The format as the reference reads it; raises ValueError on anything it rejects."""
    if len(data) < 8:
        raise ValueError("shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000 or 8 + n > len(data):
        raise ValueError("bad header length %d" % n)
    text = data[8:8 + n].decode("utf-8")
    if not text.startswith("{"):
        raise ValueError("header does not start with '{'")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    header = json.loads(text, object_pairs_hook=no_duplicates)
    metadata = header.pop("__metadata__", {})
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    buffer = data[8 + n:]
    cursor, tensors = 0, {}
    for name, info in entries:
        begin, end = info["data_offsets"]
        if begin != cursor or end < begin:
            raise ValueError("invalid offsets for %r" % name)
        count = math.prod(info["shape"])
        dtype = DTYPES[info["dtype"]]
        if end - begin != count * torch.empty((), dtype=dtype).element_size():
            raise ValueError("size mismatch for %r" % name)
        cursor = end
        chunk = bytearray(buffer[begin:end])
        if count == 0:
            tensors[name] = torch.empty(info["shape"], dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(chunk, dtype=dtype).reshape(info["shape"])
    if cursor != len(buffer):
        raise ValueError("data buffer is %d bytes, tensors cover %d" % (len(buffer), cursor))
    return tensors, metadata, n


def write_safetensors(tensors, metadata=None):
    """The bytes the reference's serialize() produces (metadata keys sorted)."""
    order = sorted(tensors.items(), key=lambda kv: (-REFERENCE_RANK[NAMES[kv[1].dtype]], kv[0]))
    header, offset, parts = {}, 0, []
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    for name, t in order:
        raw = tensor_bytes(t)
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        parts.append(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(parts)


def same_tensor(a, b):
    return a.dtype == b.dtype and list(a.shape) == list(b.shape) and tensor_bytes(a) == tensor_bytes(b)


def expected_cpp_tensors():
    """The tool's tensors, rebuilt from their formulas with torch.arange."""
    def ar(n):
        return torch.arange(n, dtype=torch.float64)
    return {
        "f64": (ar(6) * 0.5 - 1).reshape(2, 3),
        "f32": (ar(12) * 0.25 - 1.5).to(torch.float32).reshape(3, 4),
        "f16": (ar(5) * 0.5 - 1).to(torch.float16),
        "bf16": (ar(4) - 2).to(torch.bfloat16).reshape(2, 2),
        "i64": (torch.arange(4, dtype=torch.int64) - 2) * 1_000_000_000_000,
        "i32": (torch.arange(6, dtype=torch.int32) * 1000 - 2500).reshape(2, 3),
        "i16": (torch.arange(7, dtype=torch.int16) * 100 - 300),
        "i8": torch.arange(3, dtype=torch.int8) - 1,
        "u8": (torch.arange(8, dtype=torch.uint8) * 30).reshape(2, 2, 2),
        "bool": torch.arange(5) % 2 == 1,
        "scalar": torch.tensor(3.5, dtype=torch.float32),
        "empty": torch.zeros(0, dtype=torch.float32),
        "empty2d": torch.zeros(2, 0, dtype=torch.int64),
        "special": torch.tensor([math.nan, math.inf, -math.inf, -0.0, 0.0], dtype=torch.float32),
    }


def fix_special(tensors):
    # The smallest subnormal float32 (bits 0x00000001) cannot be written as a literal above.
    raw = bytearray(tensor_bytes(tensors["special"]))
    raw[16:20] = struct.pack("<I", 1)
    tensors["special"] = torch.frombuffer(raw, dtype=torch.float32).clone()
    return tensors


CPP_METADATA = {"format": "pt", "note": "üñî \"quoted\"\n\ttab"}


def cpp_to_python(tool, workdir):
    expected = fix_special(expected_cpp_tensors())
    for command, metadata in (("write", CPP_METADATA), ("write-plain", {})):
        path = os.path.join(workdir, "from_cpp_%s.safetensors" % command)
        subprocess.run([tool, command, path], check=True)
        data = open(path, "rb").read()
        tensors, got_metadata, n = read_safetensors(data)
        check(n % 8 == 0, "%s: header length %d is not a multiple of 8" % (command, n))
        check(got_metadata == metadata, "%s: metadata %r != %r" % (command, got_metadata, metadata))
        check(sorted(tensors) == sorted(expected), "%s: names %s" % (command, sorted(tensors)))
        for name, t in expected.items():
            check(name in tensors and same_tensor(tensors[name], t),
                  "%s: tensor %s differs: %r vs %r" % (command, name, tensors.get(name), t))
        # Every tensor's data starts aligned to its element size (the reference's ordering).
        header = json.loads(data[8:8 + n])
        for name, info in header.items():
            if name != "__metadata__":
                size = torch.empty((), dtype=DTYPES[info["dtype"]]).element_size()
                check((8 + n + info["data_offsets"][0]) % size == 0, "%s: %s misaligned" % (command, name))
        check(data == write_safetensors(expected, metadata),
              "%s: the file is not byte-identical to the reference layout" % command)
        if st_lib is not None:
            loaded = st_lib.load_file(path)
            for name, t in expected.items():
                check(same_tensor(loaded[name], t), "%s: safetensors.torch.load_file: %s differs" % (command, name))
            if not metadata:  # with several metadata keys the reference's order is a HashMap's
                check(st_lib.save(expected) == data, "%s: safetensors.torch.save bytes differ" % command)
        print("C++ -> Python (%s): %d tensors checked%s" % (
            command, len(expected), ", also with safetensors.torch" if st_lib else ""))


def python_tensors():
    g = torch.Generator().manual_seed(1234)
    return {
        "layer.0.weight": torch.randn(3, 5, generator=g),
        "layer.0.bias": torch.randn(5, generator=g).to(torch.float64),
        "half": torch.randn(4, generator=g).to(torch.float16),
        "brain": torch.randn(2, 3, generator=g).to(torch.bfloat16),
        "counts": torch.randint(-2**62, 2**62, (3,), generator=g, dtype=torch.int64),
        "i32": torch.randint(-2**31, 2**31 - 1, (2, 2), generator=g, dtype=torch.int32),
        "i16": torch.tensor([-32768, 0, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, -1, 127], dtype=torch.int8),
        "bytes": torch.arange(256, dtype=torch.int64).to(torch.uint8).reshape(16, 16),
        "mask": torch.tensor([[True, False], [False, True]]),
        "special": torch.tensor([math.nan, -math.inf, math.inf, -0.0, 1e-40], dtype=torch.float32),
        "scalar": torch.tensor(-7, dtype=torch.int64),
        "nothing": torch.zeros(0, 3),
        "ünï \"name\"": torch.ones(1, dtype=torch.uint8),
    }


def parse_value(text, dtype):
    if dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        return float(text)
    return text


def same_value(got, want):
    if isinstance(want, float):
        if math.isnan(want):
            return math.isnan(got)
        return got == want and math.copysign(1, got) == math.copysign(1, want)
    return got == want


def python_to_cpp(tool, workdir):
    tensors = python_tensors()
    metadata = {"framework": "pt", "step": "12", "quote\"": "ü\n"}
    files = {"own writer": write_safetensors(tensors, metadata)}
    if st_lib is not None:
        path = os.path.join(workdir, "from_python_lib.safetensors")
        st_lib.save_file(tensors, path, metadata=metadata)
        files["safetensors.torch.save_file"] = open(path, "rb").read()
    for writer, data in files.items():
        path = os.path.join(workdir, "from_python.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        out = subprocess.run([tool, "dump", path], check=True, capture_output=True, text=True).stdout
        dumped = json.loads(out)
        check(dumped["metadata"] == metadata, "%s: metadata %r" % (writer, dumped["metadata"]))
        by_name = {t["name"]: t for t in dumped["tensors"]}
        check(sorted(by_name) == sorted(tensors), "%s: names %s" % (writer, sorted(by_name)))
        for name, t in tensors.items():
            got = by_name.get(name)
            if got is None:
                continue
            check(got["dtype"] == NAMES[t.dtype], "%s: %s dtype %s" % (writer, name, got["dtype"]))
            check(got["shape"] == list(t.shape), "%s: %s shape %s" % (writer, name, got["shape"]))
            check(bytes.fromhex(got["hex"]) == tensor_bytes(t), "%s: %s bytes differ" % (writer, name))
            want = t.reshape(-1).double().tolist() if t.is_floating_point() else t.reshape(-1).tolist()
            values = [parse_value(v, t.dtype) for v in got["values"]]
            check(len(values) == len(want) and all(same_value(a, b) for a, b in zip(values, want)),
                  "%s: %s values %s != %s" % (writer, name, values, want))
        print("Python -> C++ (%s): %d tensors checked" % (writer, len(tensors)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tool", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    print("torch %s; safetensors package: %s" % (
        torch.__version__, "present" if st_lib else "absent (own reader and writer only)"))
    cpp_to_python(args.tool, args.workdir)
    python_to_cpp(args.tool, args.workdir)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
