#!/usr/bin/python3
"""Independent oracle for musegen's music metrics (examples/musegen/src/metrics.cpp).

Reads MIDI files with mido (not libmidi), pairs notes itself and computes every metric of
docs/metrics.md from the definitions, by a different route where one exists: bars are
enumerated one by one instead of searched, polyphony is integrated with a sweep line
instead of a union of intervals, note lengths are classified with exact fractions by the
ratio max(d/c, c/d) instead of squared boundaries.

usage: metrics_oracle.py [--ngram N] [--reference PATH ...] PATH ...
  PATH: a MIDI file or a folder (searched recursively for *.mid / *.midi).

Output, tab-separated, one value per line (NaN written as "nan"):
  file <TAB> <path> <TAB> <key> <TAB> <value>        per-file metrics and counts
  set <TAB> generated|reference <TAB> <key> <TAB> <value>   mean/std/count, histograms
  compare <TAB> - <TAB> <key> <TAB> <value>          with --reference
"""
import argparse
import math
import os
import sys
from fractions import Fraction

import mido

SCALAR_KEYS = [
    "note_count", "pitch_range", "pitch_classes_used", "polyphony", "scale_consistency",
    "repeated_ngram_share", "longest_repeat_run", "empty_bar_share", "mean_note_length",
    "polyphonic_onset_share", "repetitions", "pitch_classes_per_bar", "qualified_note_share",
]
# Note-length classes in quarter notes (Yang & Lerch 2018).
LENGTH_CLASSES = [Fraction(1, 4), Fraction(1, 3), Fraction(3, 8), Fraction(1, 2), Fraction(2, 3),
                  Fraction(3, 4), Fraction(1), Fraction(4, 3), Fraction(3, 2), Fraction(2),
                  Fraction(3), Fraction(4)]
MAJOR = {0, 2, 4, 5, 7, 9, 11}
NATURAL_MINOR = {0, 2, 3, 5, 7, 8, 10}
NAN = float("nan")


def read_notes(path):
    """Notes as dicts (pitch, start, end, drum), plus time signatures and ticks per beat."""
    mid = mido.MidiFile(path)
    notes, signatures = [], []
    for track in mid.tracks:
        tick = 0
        open_notes = {}  # (channel, pitch) -> list of start ticks, oldest first
        for msg in track:
            tick += msg.time
            if msg.type == "time_signature":
                signatures.append((tick, msg.numerator, msg.denominator))
            elif msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault((msg.channel, msg.note), []).append(tick)
            elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
                queue = open_notes.get((msg.channel, msg.note))
                if queue:
                    start = queue.pop(0)
                    notes.append(dict(pitch=msg.note, start=start, end=tick, drum=msg.channel == 9))
        for (channel, pitch), queue in open_notes.items():  # closed at the track's last tick
            for start in queue:
                notes.append(dict(pitch=pitch, start=start, end=max(start, tick), drum=channel == 9))
    return notes, signatures, mid.ticks_per_beat


def nearest_length_class(quarters):
    if quarters == 0:
        return 0  # shorter than any class: the shortest
    best, best_ratio = 0, None
    for i, c in enumerate(LENGTH_CLASSES):
        ratio = max(quarters / c, c / quarters)  # exp(|log(quarters / c)|)
        if best_ratio is None or ratio < best_ratio:
            best, best_ratio = i, ratio
    return best


def bars_of(notes, signatures, ppq, default=(4, 4), with_list=False):
    """Bar start ticks (Fractions) covering every note, and the number of empty ones."""
    changes = {}
    for tick, num, den in signatures:  # file order: the last at one tick wins
        if num > 0 and den <= 64:
            changes[tick] = (num, den)
    if 0 not in changes:
        changes[0] = default
    points = sorted(changes)
    last = max((Fraction(n["end"]) if n["end"] > n["start"] else Fraction(n["start"]) + Fraction(1, 128)
                for n in notes))
    # `last`: a position just inside the note's last bar (end is exclusive; a note without
    # length occupies its start).
    bars = []  # (start, end)
    for k, point in enumerate(points):
        num, den = changes[point]
        length = Fraction(num * 4 * ppq, den)
        stop = points[k + 1] if k + 1 < len(points) else None
        start = Fraction(point)
        while (stop is None and start < last) or (stop is not None and start < stop):
            end = start + length if stop is None else min(start + length, Fraction(stop))
            bars.append((start, end))
            start = start + length
        if stop is None:
            break
    bars = [b for b in bars if b[0] < last]
    if with_list:
        return bars
    empty = 0
    for b_start, b_end in bars:
        occupied = False
        for n in notes:
            if n["end"] > n["start"]:
                occupied = n["start"] < b_end and n["end"] > b_start
            else:
                occupied = b_start <= n["start"] < b_end
            if occupied:
                break
        empty += not occupied
    return len(bars), empty


def pitch_classes_per_bar(pitched, bars):
    """MuseGAN's UPC: per bar (found by bisection of the bar starts), the pitch classes of the
    notes sounding in it; the mean size over the bars that have any."""
    import bisect
    starts = [b[0] for b in bars]
    classes = {}
    for n in pitched:
        b = bisect.bisect_right(starts, Fraction(n["start"])) - 1
        if n["end"] <= n["start"]:
            classes.setdefault(b, set()).add(n["pitch"] % 12)
            continue
        while b < len(bars) and bars[b][0] < n["end"]:
            if bars[b][1] > n["start"]:
                classes.setdefault(b, set()).add(n["pitch"] % 12)
            b += 1
    if not classes:
        return NAN
    return sum(len(c) for c in classes.values()) / len(classes)


def repetitions(tones, n):
    """C-RNN-GAN's repetitions: pairs i < j, j >= i + n, of equal n-tone subsequences. Each
    n-gram's positions listed, then every pair of them tried."""
    if len(tones) < n:
        return NAN
    where = {}
    for i in range(len(tones) - n + 1):
        where.setdefault(tuple(tones[i:i + n]), []).append(i)
    pairs = 0
    for positions in where.values():
        for a in range(len(positions)):
            for b in range(a + 1, len(positions)):
                pairs += positions[b] - positions[a] >= n
    return float(pairs)


def metrics(path, ngram):
    notes, signatures, ppq = read_notes(path)
    pitched = [n for n in notes if not n["drum"]]
    out = {k: NAN for k in SCALAR_KEYS}
    out["note_count"] = len(pitched)
    pc = [0] * 12
    for n in pitched:
        pc[n["pitch"] % 12] += 1
    out["pitch_classes_used"] = sum(1 for c in pc if c)
    if pitched:
        out["pitch_range"] = max(n["pitch"] for n in pitched) - min(n["pitch"] for n in pitched)
        best = 0
        for root in range(12):
            for scale in (MAJOR, NATURAL_MINOR):
                best = max(best, sum(1 for n in pitched if (n["pitch"] - root) % 12 in scale))
        out["scale_consistency"] = best / len(pitched)
        # Polyphony: sweep line over start/end events, integrating the count of sounding notes.
        events = sorted([(n["start"], 1) for n in pitched if n["end"] > n["start"]] +
                        [(n["end"], -1) for n in pitched if n["end"] > n["start"]])
        active, previous, integral, sounding = 0, None, 0, 0
        for tick, delta in events:
            if previous is not None and active > 0:
                integral += active * (tick - previous)
                sounding += tick - previous
            active += delta
            previous = tick
        out["polyphony"] = integral / sounding if sounding else NAN
        # Onsets: the set of pitches starting at each distinct start tick.
        by_tick = {}
        for n in pitched:
            by_tick.setdefault(n["start"], set()).add(n["pitch"])
        onsets = [frozenset(by_tick[t]) for t in sorted(by_tick)]
        grams = [tuple(onsets[i:i + ngram]) for i in range(len(onsets) - ngram + 1)]
        if grams:
            seen, repeats = set(), 0
            for g in grams:
                repeats += g in seen
                seen.add(g)
            out["repeated_ngram_share"] = repeats / len(grams)
        run = best_run = 1
        for a, b in zip(onsets, onsets[1:]):
            run = run + 1 if a == b else 1
            best_run = max(best_run, run)
        out["longest_repeat_run"] = best_run
        out["polyphonic_onset_share"] = sum(1 for o in onsets if len(o) >= 2) / len(onsets)
        tones = [n["pitch"] for n in sorted(pitched, key=lambda n: (n["start"], n["pitch"]))]
        out["repetitions"] = repetitions(tones, ngram)
        out["qualified_note_share"] = (
            sum(1 for n in pitched if Fraction(n["end"] - n["start"], ppq) >= Fraction(1, 8))
            / len(pitched))
    lengths = [0] * 12
    for n in notes:
        lengths[nearest_length_class(Fraction(n["end"] - n["start"], ppq))] += 1
    bars = 0
    if notes:
        bars, empty = bars_of(notes, signatures, ppq)
        out["empty_bar_share"] = empty / bars
        out["mean_note_length"] = sum(n["end"] - n["start"] for n in notes) / len(notes) / ppq
        out["pitch_classes_per_bar"] = pitch_classes_per_bar(
            pitched, bars_of(notes, signatures, ppq, with_list=True))
    for i in range(12):
        out["pc%d" % i] = pc[i]
        out["len%d" % i] = lengths[i]
    out["bars"] = bars
    return out


def midi_files(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            found = []
            for root, _, names in os.walk(p):
                found += [os.path.join(root, f) for f in names
                          if f.lower().endswith((".mid", ".midi"))]
            files += sorted(found)
        else:
            files.append(p)
    return files


def summary(per_file):
    s = {}
    for k in SCALAR_KEYS:
        values = [m[k] for m in per_file if not math.isnan(m[k])]
        if values:
            mean = sum(values) / len(values)
            s[k + ".mean"] = mean
            s[k + ".std"] = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        else:
            s[k + ".mean"] = s[k + ".std"] = NAN
        s[k + ".count"] = len(values)
    for prefix in ("pc", "len"):
        counts = [sum(m["%s%d" % (prefix, i)] for m in per_file) for i in range(12)]
        total = sum(counts)
        for i in range(12):
            s["%s_hist%d" % (prefix, i)] = counts[i] / total if total else 0.0
            s["%s_count%d" % (prefix, i)] = counts[i]
    return s


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ngram", type=int, default=4)
    parser.add_argument("--reference", nargs="*", default=[])
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    sets = [("generated", midi_files(args.paths))]
    if args.reference:
        sets.append(("reference", midi_files(args.reference)))
    summaries = {}
    for label, files in sets:
        per_file = []
        for f in files:
            try:
                m = metrics(f, args.ngram)
            except Exception as e:  # unreadable for mido: reported, left out of the set
                print("skip\t%s\t-\t%s" % (f, str(e).replace("\t", " ")))
                continue
            per_file.append(m)
            for k, v in m.items():
                print("file\t%s\t%s\t%r" % (f, k, float(v)))
        summaries[label] = summary(per_file)
        for k, v in summaries[label].items():
            print("set\t%s\t%s\t%r" % (label, k, float(v)))
    if args.reference:
        g, r = summaries["generated"], summaries["reference"]
        for k in SCALAR_KEYS:
            print("compare\t-\t%s\t%r" % (k, abs(g[k + ".mean"] - r[k + ".mean"])))
        if sum(g["pc_count%d" % i] for i in range(12)) and sum(r["pc_count%d" % i] for i in range(12)):
            tv = 0.5 * sum(abs(g["pc_hist%d" % i] - r["pc_hist%d" % i]) for i in range(12))
        else:
            tv = NAN
        print("compare\t-\tpitch_class_tv\t%r" % tv)
        gn = sum(g["len_count%d" % i] for i in range(12))
        rn = sum(r["len_count%d" % i] for i in range(12))
        p = [(g["len_count%d" % i] + 1) / (gn + 12) for i in range(12)]
        q = [(r["len_count%d" % i] + 1) / (rn + 12) for i in range(12)]
        print("compare\t-\tnote_length_overlap\t%r" % sum(min(a, b) for a, b in zip(p, q)))
        print("compare\t-\tnote_length_kl\t%r" % sum(a * math.log(a / b) for a, b in zip(p, q)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
