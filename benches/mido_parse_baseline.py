#!/usr/bin/env python3
"""Yardstick for bench_midi: how fast mido (a pure-Python MIDI reader) parses the same files.

usage: /usr/bin/python3 benches/mido_parse_baseline.py [DATA_DIR]
       DATA_DIR defaults to $MUSEGEN_DATA_DIR; the files are DATA_DIR/classical-piano-composer/midi_songs/*.mid,
       read into memory first, as bench_midi does. Prints the best of 5 passes in ms and MB/s (10^6 bytes).
"""
import glob
import io
import os
import sys
import time

try:
    import mido
except ImportError:
    sys.exit("mido is not importable: install python3-mido (scripts/setup.sh does)")

data_dir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MUSEGEN_DATA_DIR", "../shared/datasets")
paths = sorted(glob.glob(os.path.join(data_dir, "classical-piano-composer", "midi_songs", "*.mid")))
if not paths:
    sys.exit(f"no .mid files under {data_dir}/classical-piano-composer/midi_songs (set MUSEGEN_DATA_DIR)")
files = []
for path in paths:
    with open(path, "rb") as f:
        files.append(f.read())
total = sum(len(b) for b in files)

best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    for b in files:
        mido.MidiFile(file=io.BytesIO(b))
    best = min(best, time.perf_counter() - start)
print(f"mido {mido.__version__}: {len(files)} files, {total} bytes, best of 5: "
      f"{best * 1000:.1f} ms per pass = {total / best / 1e6:.2f} MB/s")
