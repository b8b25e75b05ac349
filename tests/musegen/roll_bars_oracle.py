#!/usr/bin/env python3
"""Oracle for the piano-roll bars of a multitrack MIDI file (roll_bars.hpp): the roll that
piece_to_roll should give, computed independently in Python on top of mido
(test_roll_bars.cpp compares).

Usage: roll_bars_oracle.py --ensemble soprano,alto,tenor,bass [--steps-per-quarter 4]
           [--quarters-per-bar 4] [--lowest 36] [--pitches 64] FILE...
For each file prints "# <file>", then either
    skip meter N/D          a time signature other than quarters-per-bar/4
    skip ensemble           no part for some instrument of the ensemble
or
    steps S                 the roll's length: whole bars up to the last kept note's end
    track K PART NOTES DROPPED CELLS SHA256
one line per ensemble slot: the part it took (index among the file's parts), its notes, those
outside the pitch range, the sounding cells and the SHA-256 of the track's roll
(S x pitches bytes, 0 or 1, step-major).

The rules, written again from the header's description:
  * notes are paired per track, channel and key, first in first out; a note-on of velocity 0
    is a note-off; a note still open at its track's end ends there; a note-off with nothing
    open followed by a note-on of that key in the same tick makes a note of no length;
  * a part is a (track, channel) pair with notes, in (track, channel) order, named by its
    track's first track name;
  * slot k takes the first untaken part whose name names the slot's instrument;
  * a note covers steps [round(start), round(end)) (round half up; at least one step).
"""
import argparse
import hashlib
import math
import re
import sys

import mido

# The names a part is recognised by (enough for the music21 corpus' voices and strings).
NAMES = {
    "soprano": r"soprano",
    "alto": r"\balto",
    "tenor": r"\btenor",
    "bass": r"\bbass",
    "violin": r"violin",
    "viola": r"\bviola\b",
    "cello": r"cello",
}


def parts_of(mid):
    notes = []  # [start, end, key, channel, track]
    names = {}
    for t, track in enumerate(mid.tracks):
        tick = 0
        open_notes = {}
        stray_off = {}
        for msg in track:
            tick += msg.time
            if msg.type == "track_name" and t not in names:
                names[t] = msg.name
            elif msg.type == "note_on" and msg.velocity > 0:
                key = (msg.channel, msg.note)
                if stray_off.get(key) == tick:
                    del stray_off[key]
                    notes.append([tick, tick, msg.note, msg.channel, t])
                else:
                    note = [tick, None, msg.note, msg.channel, t]
                    open_notes.setdefault(key, []).append(note)
                    notes.append(note)
            elif msg.type in ("note_off", "note_on"):
                key = (msg.channel, msg.note)
                queue = open_notes.get(key)
                if queue:
                    queue.pop(0)[1] = tick
                else:
                    stray_off[key] = tick
        for queue in open_notes.values():
            for note in queue:
                note[1] = tick
    parts = {}
    for n in notes:
        parts.setdefault((n[4], n[3]), []).append(n)
    return [(names.get(t, ""), parts[(t, c)]) for (t, c) in sorted(parts)]


# The rolls of roll_of's last file that was not skipped (for scripts/rollgan_phrases.py):
# {"steps": S, "tracks": [S x pitches bytes per ensemble slot]}.
last_rolls = {}


def roll_of(path, args):
    mid = mido.MidiFile(path, clip=True)
    ppq = mid.ticks_per_beat
    for track in mid.tracks:
        for msg in track:
            if msg.type == "time_signature" and msg.numerator * 4 != args.quarters_per_bar * msg.denominator:
                return ["skip meter %d/%d" % (msg.numerator, msg.denominator)]
    parts = parts_of(mid)
    taken = set()
    chosen = []
    for wanted in args.ensemble.split(","):
        pattern = re.compile(NAMES[wanted])
        for i, (name, _) in enumerate(parts):
            if i not in taken and pattern.search(name.lower()):
                taken.add(i)
                chosen.append(i)
                break
        else:
            return ["skip ensemble"]
    spq = args.steps_per_quarter
    rnd = lambda x: int(math.floor(x + 0.5))
    cells = []  # per slot: list of (from, to, pitch)
    stats = []
    end = 0
    for i in chosen:
        kept, dropped = [], 0
        for start, stop, key, _, _ in parts[i][1]:
            if not (args.lowest <= key < args.lowest + args.pitches):
                dropped += 1
                continue
            a = max(0, rnd(start / ppq * spq))
            b = max(a + 1, rnd(stop / ppq * spq))
            kept.append((a, b, key - args.lowest))
            end = max(end, b)
        cells.append(kept)
        stats.append((len(parts[i][1]), dropped))
    bar = spq * args.quarters_per_bar
    steps = -(-end // bar) * bar
    lines = ["steps %d" % steps]
    last_rolls["steps"] = steps
    last_rolls["tracks"] = []
    for k, i in enumerate(chosen):
        roll = bytearray(steps * args.pitches)
        for a, b, p in cells[k]:
            for s in range(a, b):
                roll[s * args.pitches + p] = 1
        last_rolls["tracks"].append(roll)
        lines.append("track %d %d %d %d %d %s" % (k, i, stats[k][0], stats[k][1], sum(roll),
                                                 hashlib.sha256(bytes(roll)).hexdigest()))
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ensemble", required=True)
    parser.add_argument("--steps-per-quarter", type=int, default=4)
    parser.add_argument("--quarters-per-bar", type=int, default=4)
    parser.add_argument("--lowest", type=int, default=36)
    parser.add_argument("--pitches", type=int, default=64)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    out = []
    for path in args.files:
        out.append("# " + path)
        out.extend(roll_of(path, args))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
