#!/usr/bin/python3
"""Independent oracle for musegen's several-instrument measures (multitrack_metrics.cpp).

Reads MIDI files with mido (not libmidi), pairs notes itself (first in, first out per track,
channel and pitch; with --zero-length-off-first, a note-off with nothing open followed in the
same tick by a note-on of its key makes that a note of no length), finds the parts and their
instruments itself, and computes every measure of docs/metrics.md ("Several instruments") from
the definitions, by a different route where one exists: bars are enumerated one by one with
exact fractions, per-part polyphony is a union of intervals instead of a sweep, and the
crossings and harmony walk the elementary time spans with a list of sounding notes per part.

usage: multitrack_metrics_oracle.py [--zero-length-off-first] [--melody-part K]
                                    [--time-signature N/D] PATH ...
  PATH: a MIDI file or a folder (searched recursively for *.mid / *.midi).

Output, tab-separated, one value per line (NaN written as "nan"):
  piece <TAB> <file> <TAB> - <TAB> <key> <TAB> <value>         parts, ensemble measures
  part  <TAB> <file> <TAB> <index> <TAB> <key> <TAB> <value>   instrument, part measures
  pair  <TAB> <file> <TAB> <i>,<j> <TAB> <key> <TAB> <value>   tonal distance, crossings
  set   <TAB> - <TAB> - <TAB> <key> <TAB> <value>              ensembles, <measure>.mean|std|count
  group <TAB> - <TAB> <group> <TAB> <key> <TAB> <value>        "0 violin", "0 violin / 1 violin"
"""
import argparse
import bisect
import math
import os
import sys
from fractions import Fraction

import mido

NAN = float("nan")
CONSONANT = {0, 3, 4, 5, 7, 8, 9}
PART_KEYS = ["note_count", "in_range_share", "pitch_range", "polyphony", "harmony_agreement",
             "empty_bar_share", "pitch_classes_per_bar", "qualified_note_share"]
ENSEMBLE_KEYS = ["tonal_distance", "voice_crossing_share", "harmony_agreement"]

# The instrument table (name, GM program, lowest, highest), in its fixed order, and the words
# that name an instrument in a part name: a copy of musegen's, so that a changed table fails
# the comparison instead of passing unseen.
INSTRUMENTS = [
    ("piano", 0, 21, 108), ("harpsichord", 6, 29, 89), ("organ", 19, 36, 96),
    ("guitar", 24, 40, 88), ("violin", 40, 55, 103), ("viola", 41, 48, 88),
    ("cello", 42, 36, 88), ("contrabass", 43, 28, 67), ("harp", 46, 23, 103),
    ("timpani", 47, 36, 60), ("voice", 52, 40, 84), ("soprano", 52, 57, 84),
    ("alto", 52, 52, 79), ("tenor", 52, 45, 72), ("bass", 52, 36, 67),
    ("trumpet", 56, 52, 86), ("trombone", 57, 40, 72), ("tuba", 58, 28, 58),
    ("horn", 60, 34, 84), ("saxophone", 65, 49, 81), ("oboe", 68, 53, 93),
    ("bassoon", 70, 34, 75), ("clarinet", 71, 50, 94), ("flute", 73, 60, 98),
    ("recorder", 74, 60, 98), ("bassguitar", 33, 28, 67), ("strings", 48, 28, 103),
]
TWO_WORD_ALIASES = {("double", "bass"): "contrabass", ("bass", "guitar"): "bassguitar",
                    ("string", "ensemble"): "strings"}
ALIASES = {
    "pianoforte": "piano", "klavier": "piano", "keyboard": "piano", "cembalo": "harpsichord",
    "organo": "organ", "continuo": "organ", "gitarre": "guitar", "violino": "violin",
    "violine": "violin", "vln": "violin", "vn": "violin", "bratsche": "viola", "vla": "viola",
    "violoncello": "cello", "vc": "cello", "kontrabass": "contrabass",
    "contrabasso": "contrabass", "doublebass": "contrabass", "arpa": "harp",
    "timpano": "timpani", "pauken": "timpani", "quinto": "voice", "quintus": "voice",
    "sextus": "voice", "vox": "voice", "choir": "voice", "chorus": "voice", "canto": "soprano",
    "cantus": "soprano", "sopran": "soprano", "treble": "soprano", "s": "soprano",
    "altus": "alto", "contralto": "alto", "tenore": "tenor", "basso": "bass", "bassus": "bass",
    "baritone": "bass", "b": "bass", "tromba": "trumpet", "trompete": "trumpet",
    "cornet": "trumpet", "cornett": "trumpet", "cornetto": "trumpet", "clarino": "trumpet",
    "posaune": "trombone", "corno": "horn", "sax": "saxophone", "fagotto": "bassoon",
    "fagott": "bassoon", "clarinetto": "clarinet", "flutes": "flute", "flauto": "flute",
    "recorders": "recorder",
}
FAMILY_FALLBACK = ["piano", "piano", "organ", "guitar", "bassguitar", "violin", "strings",
                   "trumpet", "saxophone", "flute", "piano", "piano", "piano", "piano", "piano",
                   "piano"]
NAMES = [i[0] for i in INSTRUMENTS]


def words(text):
    """Runs of letters (ASCII letters, or any character from a byte >= 0x80), lower case."""
    out, word = [], ""
    for c in text:
        if ("a" <= c <= "z") or ("A" <= c <= "Z") or ord(c) >= 0x80:
            word += c.lower() if c.isascii() else c
        elif word:
            out.append(word)
            word = ""
    if word:
        out.append(word)
    return out


def instrument_of(track_name, program):
    w = words(track_name)
    for i in range(len(w)):
        if i + 1 < len(w) and (w[i], w[i + 1]) in TWO_WORD_ALIASES:
            return TWO_WORD_ALIASES[(w[i], w[i + 1])]
        if w[i] in NAMES:
            return w[i]
        if w[i] in ALIASES:
            return ALIASES[w[i]]
    if program == 52:
        return "voice"
    for name, gm, _, _ in INSTRUMENTS:
        if gm == program:
            return name
    return FAMILY_FALLBACK[program // 8]


def read_parts(path, zero_length_off_first):
    """The parts of a file: [(track name, program, [(start, end, pitch)])], and its signatures."""
    mid = mido.MidiFile(path)
    if mid.ticks_per_beat <= 0:
        raise ValueError("SMPTE division: not handled by this oracle")
    notes = {}  # (track, channel) -> [(start, end, pitch, on position)]
    programs = []  # (lane, (tick, track, index), program)
    signatures = {}
    names = {}
    for t, track in enumerate(mid.tracks):
        tick = 0
        queues = {}  # (channel, pitch) -> [(start, position)], oldest first
        stray = {}  # (channel, pitch) -> tick of a note-off that had nothing to end
        for index, msg in enumerate(track):
            tick += msg.time
            if msg.type == "track_name" and t not in names:
                names[t] = msg.name
            elif msg.type == "time_signature":
                if msg.numerator > 0 and msg.denominator <= 64:
                    signatures[tick] = (msg.numerator, msg.denominator)  # the last one wins
            elif msg.type == "program_change":
                lane = (t if mid.type == 2 else 0, msg.channel)
                programs.append((lane, (tick, t, index), msg.program))
            elif msg.type == "note_on" and msg.velocity > 0:
                key = (msg.channel, msg.note)
                if zero_length_off_first and stray.get(key) == tick:
                    del stray[key]
                    notes.setdefault((t, msg.channel), []).append((tick, tick, msg.note, (tick, t, index)))
                else:
                    queues.setdefault(key, []).append((tick, (tick, t, index)))
            elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
                key = (msg.channel, msg.note)
                if queues.get(key):
                    start, position = queues[key].pop(0)
                    notes.setdefault((t, msg.channel), []).append((start, tick, msg.note, position))
                elif zero_length_off_first:
                    stray[key] = tick
        for (channel, pitch), queue in queues.items():  # left open: closed with the track
            for start, position in queue:
                notes.setdefault((t, channel), []).append((start, max(start, tick), pitch, position))
    # Just inside the piece's last bar: the end of its last note (any note, drums too), or the
    # start of a note without length.
    extent = max((Fraction(e) - Fraction(1, 128) if e > s else Fraction(s) + Fraction(1, 128)
                  for lane in notes.values() for s, e, _, _ in lane), default=None)
    parts = []
    for (t, channel) in sorted(notes):
        if channel == 9:
            continue  # drums are no part
        part_notes = notes[(t, channel)]
        first = min(part_notes, key=lambda n: (n[0], n[2], n[1]))
        lane = (t if mid.type == 2 else 0, channel)
        before = [p for p in programs if p[0] == lane and p[1] < first[3]]
        program = max(before, key=lambda p: p[1])[2] if before else 0
        parts.append((names.get(t, ""), program, [(s, e, p) for s, e, p, _ in part_notes]))
    return parts, signatures, mid.ticks_per_beat, extent


def musegan_bar_measures(notes, bars, ppq):
    """MuseGAN's EB, UPC and QN of one part over the piece's bars: each bar tried against each
    note (a note sounds in a bar its span overlaps; one without length in the bar of its start)."""
    classes = []
    for start, end in bars:
        used = set()
        for s, e, p in notes:
            if (e > s and s < end and e > start) or (e == s and start <= s < end):
                used.add(p % 12)
        classes.append(used)
    occupied = [c for c in classes if c]
    return {
        "empty_bar_share": (len(bars) - len(occupied)) / len(bars) if bars else NAN,
        "pitch_classes_per_bar": sum(len(c) for c in occupied) / len(occupied) if occupied else NAN,
        "qualified_note_share": sum(1 for s, e, _ in notes if Fraction(e - s, ppq) >= Fraction(1, 8))
        / len(notes),
    }


def bars_up_to(signatures, ppq, end, default):
    """Bars [(start, end)] in ticks (Fractions) from 0 until one holds tick `end` - epsilon."""
    changes = dict(signatures)
    if 0 not in changes:
        changes[0] = default
    points = sorted(changes)
    bars = []
    for k, point in enumerate(points):
        num, den = changes[point]
        length = Fraction(num * 4 * ppq, den)
        stop = Fraction(points[k + 1]) if k + 1 < len(points) else None
        start = Fraction(point)
        while start < (stop if stop is not None else end):
            bars.append((start, min(start + length, stop) if stop is not None else start + length))
            start += length
        if stop is None or stop >= end:
            break
    # Whole ticks as ints: exact either way, and much faster to compare.
    plain = lambda x: int(x) if x.denominator == 1 else x
    return [(plain(a), plain(b)) for a, b in bars]


def tonal_matrix():
    """6 x 12: Harte et al.'s tonal centroid of each pitch class (radii 1, 1, 0.5)."""
    rows = []
    for radius, angle in ((1.0, 7 * math.pi / 6), (1.0, 3 * math.pi / 2), (0.5, 2 * math.pi / 3)):
        rows.append([radius * math.sin(l * angle) for l in range(12)])
        rows.append([radius * math.cos(l * angle) for l in range(12)])
    return rows


TONAL = tonal_matrix()


def centroids(notes, bars):
    """Per bar index where the part sounds: the tonal centroid of its duration-weighted chroma."""
    chroma = {}
    starts = [bs for bs, _ in bars]
    for s, e, p in notes:
        if e <= s:
            continue
        b = bisect.bisect_right(starts, s) - 1  # the bar holding the start
        while b < len(bars) and bars[b][0] < e:
            overlap = min(e, bars[b][1]) - max(s, bars[b][0])
            if overlap > 0:
                chroma.setdefault(b, [0] * 12)[p % 12] += overlap
            b += 1
    out = {}
    for b, weights in chroma.items():
        total = sum(weights)
        # w / total rounded once: Python's int division is exact before it rounds.
        shares = [w / total if isinstance(w, int) and isinstance(total, int)
                  else float(Fraction(w) / total) for w in weights]
        out[b] = [sum(shares[l] * TONAL[d][l] for l in range(12)) for d in range(6)]
    return out


def polyphony(notes):
    spans = sorted((s, e) for s, e, _ in notes if e > s)
    total = sum(e - s for s, e in spans)
    union, reach = 0, None
    for s, e in spans:
        if reach is None or s >= reach:
            union += e - s
            reach = e
        elif e > reach:
            union += e - reach
            reach = e
    return total / union if union else NAN


def measure(path, zero_length_off_first, melody, default):
    parts, signatures, ppq, extent = read_parts(path, zero_length_off_first)
    count = len(parts)
    out = {"parts": [], "pairs": {}, "piece": {}}
    piece_bars = bars_up_to(signatures, ppq, extent, default) if extent is not None else []
    for name, program, notes in parts:
        instrument = instrument_of(name, program)
        _, _, lowest, highest = INSTRUMENTS[NAMES.index(instrument)]
        pitches = [p for _, _, p in notes]
        out["parts"].append({
            "instrument": instrument,
            "note_count": len(notes),
            "in_range_share": sum(lowest <= p <= highest for p in pitches) / len(pitches),
            "pitch_range": max(pitches) - min(pitches),
            "polyphony": polyphony(notes),
            "harmony_agreement": NAN,
            **musegan_bar_measures(notes, piece_bars, ppq),
        })

    # Elementary spans between consecutive note boundaries; in each, the pitches per part.
    times = sorted({t for _, _, notes in parts for s, e, _ in notes if e > s for t in (s, e)})
    sorted_notes = [sorted((s, e, p) for s, e, p in notes if e > s) for _, _, notes in parts]
    next_note = [0] * count
    active = [[] for _ in range(count)]  # (end, pitch)
    both = [0] * max(count - 1, 0)
    crossing = [0] * max(count - 1, 0)
    sounding = [0] * count
    agreeing = [0] * count
    with_melody = 0 <= melody < count
    for t0, t1 in zip(times, times[1:]):
        pitches = []
        for k in range(count):
            active[k] = [(e, p) for e, p in active[k] if e > t0]
            while next_note[k] < len(sorted_notes[k]) and sorted_notes[k][next_note[k]][0] <= t0:
                s, e, p = sorted_notes[k][next_note[k]]
                if e > t0:
                    active[k].append((e, p))
                next_note[k] += 1
            pitches.append([p for _, p in active[k]])
        span = t1 - t0
        for k in range(count):
            if pitches[k]:
                sounding[k] += span
        for k in range(count - 1):
            if pitches[k] and pitches[k + 1]:
                both[k] += span
                if min(pitches[k]) < max(pitches[k + 1]):
                    crossing[k] += span
        if with_melody and pitches[melody]:
            for k in range(count):
                if k != melody and pitches[k] and all(
                        (a - b) % 12 in CONSONANT for a in pitches[k] for b in pitches[melody]):
                    agreeing[k] += span
    if with_melody:
        for k in range(count):
            if k != melody:
                out["parts"][k]["harmony_agreement"] = (
                    agreeing[k] / sounding[k] if sounding[k] else NAN)

    end = max((e for _, _, notes in parts for _, e, _ in notes), default=0)
    bars = bars_up_to(signatures, ppq, end, default)
    tonal = [centroids(notes, bars) for _, _, notes in parts]
    distances = []
    for i in range(count):
        for j in range(i + 1, count):
            common = sorted(set(tonal[i]) & set(tonal[j]))
            d = [math.dist(tonal[i][b], tonal[j][b]) for b in common]
            pair = {"tonal_distance": sum(d) / len(d) if d else NAN, "tonal_bars": len(d),
                    "voice_crossing_share": NAN, "both_quarters": 0.0, "crossing_quarters": 0.0}
            distances.append(pair["tonal_distance"])
            if j == i + 1:
                pair["voice_crossing_share"] = crossing[i] / both[i] if both[i] else NAN
                pair["both_quarters"] = both[i] / ppq
                pair["crossing_quarters"] = crossing[i] / ppq
            out["pairs"][(i, j)] = pair
    defined = [d for d in distances if not math.isnan(d)]
    out["piece"]["parts"] = count
    out["piece"]["tonal_distance"] = sum(defined) / len(defined) if defined else NAN
    out["piece"]["voice_crossing_share"] = sum(crossing) / sum(both) if sum(both) else NAN
    agreement = [p["harmony_agreement"] for p in out["parts"]
                 if not math.isnan(p["harmony_agreement"])]
    out["piece"]["harmony_agreement"] = (
        sum(agreement) / len(agreement) if with_melody and agreement else NAN)
    return out


def midi_files(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            found = []
            for root, _, names in os.walk(p):
                found += [os.path.join(root, f) for f in names if f.lower().endswith((".mid", ".midi"))]
            files += sorted(found)
        else:
            files.append(p)
    return files


def mean_std(values):
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return NAN, NAN, 0
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)), len(values)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--zero-length-off-first", action="store_true")
    parser.add_argument("--melody-part", type=int, default=-1)
    parser.add_argument("--time-signature", default="4/4")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    default = tuple(int(x) for x in args.time_signature.split("/"))
    pieces = []
    for f in midi_files(args.paths):
        m = measure(f, args.zero_length_off_first, args.melody_part, default)
        pieces.append(m)
        for key, value in m["piece"].items():
            print("piece\t%s\t-\t%s\t%r" % (f, key, float(value)))
        for k, part in enumerate(m["parts"]):
            for key, value in part.items():
                print("part\t%s\t%d\t%s\t%s" % (f, k, key, value if key == "instrument" else repr(float(value))))
        for (i, j), pair in m["pairs"].items():
            for key, value in pair.items():
                print("pair\t%s\t%d,%d\t%s\t%r" % (f, i, j, key, float(value)))

    print("set\t-\t-\tensembles\t%r" % float(sum(1 for m in pieces if m["piece"]["parts"] >= 2)))
    for key in ENSEMBLE_KEYS:
        mean, std, n = mean_std([m["piece"][key] for m in pieces])
        print("set\t-\t-\t%s.mean\t%r\nset\t-\t-\t%s.std\t%r\nset\t-\t-\t%s.count\t%r"
              % (key, mean, key, std, key, float(n)))
    groups = {}
    for m in pieces:
        for k, part in enumerate(m["parts"]):
            groups.setdefault("%d %s" % (k, part["instrument"]), []).append(part)
        for (i, j), pair in m["pairs"].items():
            key = "%d %s / %d %s" % (i, m["parts"][i]["instrument"], j, m["parts"][j]["instrument"])
            groups.setdefault(key, []).append(pair)
    for key, members in sorted(groups.items()):
        print("group\t-\t%s\tpieces\t%r" % (key, float(len(members))))
        measures = PART_KEYS if "/" not in key else ["tonal_distance", "voice_crossing_share"]
        for measure_key in measures:
            mean, std, n = mean_std([float(p[measure_key]) for p in members])
            print("group\t-\t%s\t%s.mean\t%r\ngroup\t-\t%s\t%s.std\t%r\ngroup\t-\t%s\t%s.count\t%r"
                  % (key, measure_key, mean, key, measure_key, std, key, measure_key, float(n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
