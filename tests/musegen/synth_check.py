"""Oracle for tests/musegen/test_synth.cpp: reads a WAV file with Python's `wave` module and
prints its header, its largest |sample| and the strongest spectral peaks (numpy FFT), and,
given the MIDI file it was rendered from, the frame count the renderer must produce
(mido's length of the file + the 1.5 s tail, at the file's sample rate). With --tone, the
amplitude and phase of one frequency in consecutive windows, to check that a long note keeps
its level and its pitch (a frequency error shows as a phase that moves from window to window).

usage: synth_check.py WAV [MIDI] [--peaks N --lo HZ --hi HZ --from S --seconds S]
                      [--tone HZ --window S]
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
parser.add_argument("--from", dest="start", type=float, default=0.0, help="peaks: start the analysis at S seconds")
parser.add_argument("--seconds", type=float, default=0.0, help="peaks: analyse only S seconds (0: to the end)")
parser.add_argument("--tone", type=float, default=0.0, help="print the amplitude and phase of HZ in each window")
parser.add_argument("--window", type=float, default=1.0, help="--tone: window length in seconds")
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
    mono = data.sum(axis=1)[int(args.start * rate):]
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

if args.tone:
    # Correlation with e^{-i 2 pi f t}, t counted from the start of the file, over each whole
    # window (rectangular): a steady sinusoid at f gives the same amplitude and phase in every
    # window, and harmonics of f with a whole number of cycles per window add nothing.
    mono = data.sum(axis=1) / 32768.0
    size = int(round(args.window * rate))
    amplitudes, phases = [], []
    for begin in range(0, len(mono) - size + 1, size):
        t = np.arange(begin, begin + size) / rate
        c = 2.0 / size * np.dot(mono[begin : begin + size], np.exp(-2j * np.pi * args.tone * t))
        amplitudes.append(abs(c))
        phases.append(np.angle(c))
    print("tone_amplitude=" + " ".join(f"{a:.9f}" for a in amplitudes))
    print("tone_phase=" + " ".join(f"{p:.9f}" for p in phases))
