"""Oracle for tests/musegen/test_synth.cpp: reads a WAV file with Python's `wave` module and
prints its header, its largest |sample| and the strongest spectral peaks (numpy FFT), and,
given the MIDI file it was rendered from, the frame count the renderer must produce
(mido's length of the file + the 1.5 s tail, at the file's sample rate).

usage: synth_check.py WAV [MIDI] [--peaks N --lo HZ --hi HZ --seconds S]
prints key=value lines.
"""
import argparse
import wave

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("wav")
parser.add_argument("midi", nargs="?")
parser.add_argument("--peaks", type=int, default=0)
parser.add_argument("--lo", type=float, default=20.0)
parser.add_argument("--hi", type=float, default=5000.0)
parser.add_argument("--seconds", type=float, default=0.0, help="analyse only the first S seconds")
args = parser.parse_args()

with wave.open(args.wav, "rb") as w:
    channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
    data = np.frombuffer(w.readframes(frames), dtype="<i2").reshape(-1, channels).astype(np.float64)
print(f"channels={channels}")
print(f"sampwidth={width}")
print(f"rate={rate}")
print(f"frames={frames}")
print(f"maxabs={int(np.abs(data).max()) if data.size else 0}")
print(f"nonzero={int(np.count_nonzero(data))}")

if args.midi:
    import mido
    print(f"expected_frames={int(round((mido.MidiFile(args.midi).length + 1.5) * rate))}")

if args.peaks:
    mono = data.sum(axis=1)
    if args.seconds:
        mono = mono[: int(args.seconds * rate)]
    # Zero-padded to 0.05 Hz bins, Hann window: peaks are local maxima of the magnitude.
    n = max(len(mono), int(rate / 0.05))
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono)), n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    inside = (freqs >= args.lo) & (freqs <= args.hi)
    local = np.zeros_like(inside)
    local[1:-1] = (spectrum[1:-1] > spectrum[:-2]) & (spectrum[1:-1] >= spectrum[2:])
    candidates = np.nonzero(inside & local)[0]
    best = candidates[np.argsort(spectrum[candidates])[::-1][: args.peaks]]
    print("peaks=" + " ".join(f"{freqs[i]:.3f}" for i in sorted(best)))
