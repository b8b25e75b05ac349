#!/usr/bin/env python3
"""Writes the phrases rollgan trains on as MIDI files: the reference set that `musegen eval
--reference` compares rollgan's generated pieces with (docs/musegen.md, "GANs").

Each 4/4 file with a part for every instrument of the ensemble becomes piano roll on
rollgan's grid (sixteenths, 4/4 bars, pitches LOWEST.. LOWEST+PITCHES-1), read by
tests/musegen/roll_bars_oracle.py (whose rolls test_roll_bars.cpp checks against musegen's,
SHA-256 for SHA-256), cut into phrases of --bars bars from the first bar; phrases in which
nothing sounds are left out. Each phrase is written as rollgan writes its own: every run of
sounding steps of a pitch one note (velocity 80), one track per instrument named after it,
with its General MIDI program, at 100 bpm.

Usage: rollgan_phrases.py --ensemble soprano,alto,tenor,bass --out DIR [--count N] [--seed S] FILE...
"""
import argparse
import os
import random
import sys

import mido

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "musegen"))
import roll_bars_oracle  # noqa: E402

PROGRAMS = {"soprano": 52, "alto": 52, "tenor": 52, "bass": 52, "violin": 40, "viola": 41, "cello": 42}


def phrases_of(path, args):
    """The file's phrases: lists (one per track) of (start_step, end_step, pitch)."""
    lines = roll_bars_oracle.roll_of(path, args)
    if lines[0].startswith("skip"):
        return []
    rolls = roll_bars_oracle.last_rolls
    steps = rolls["steps"]
    phrase_steps = args.bars * args.quarters_per_bar * args.steps_per_quarter
    out = []
    for start in range(0, steps, phrase_steps):
        tracks = []
        for roll in rolls["tracks"]:
            notes = []
            for p in range(args.pitches):
                run = None
                for s in range(start, start + phrase_steps + 1):
                    on = s < min(steps, start + phrase_steps) and roll[s * args.pitches + p]
                    if on and run is None:
                        run = s
                    if not on and run is not None:
                        notes.append((run - start, s - start, args.lowest + p))
                        run = None
            tracks.append(notes)
        if any(tracks):
            out.append(tracks)
    return out


def write(phrase, names, path, spq):
    ppq = 480
    mid = mido.MidiFile(type=1, ticks_per_beat=ppq)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=600000, time=0)])
    mid.tracks.append(meta)
    count = {}
    for n in names:
        count[n] = count.get(n, 0) + 1
    seen = {}
    for k, (name, notes) in enumerate(zip(names, phrase)):
        label = name.capitalize()
        if count[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            label += " %d" % seen[name]
        events = []
        for a, b, pitch in notes:
            events.append((a * ppq // spq, 1, pitch))
            events.append((b * ppq // spq, 0, pitch))
        events.sort()
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=label, time=0),
                                mido.Message("program_change", channel=k, program=PROGRAMS[name], time=0)])
        now = 0
        for tick, on, pitch in events:
            track.append(mido.Message("note_on" if on else "note_off", channel=k, note=pitch,
                                      velocity=80 if on else 0, time=tick - now))
            now = tick
        mid.tracks.append(track)
    mid.save(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ensemble", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bars", type=int, default=4)
    parser.add_argument("--steps-per-quarter", type=int, default=4)
    parser.add_argument("--quarters-per-bar", type=int, default=4)
    parser.add_argument("--lowest", type=int, default=36)
    parser.add_argument("--pitches", type=int, default=64)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    phrases = []
    for path in args.files:
        phrases.extend(phrases_of(path, args))
    random.Random(args.seed).shuffle(phrases)
    os.makedirs(args.out, exist_ok=True)
    names = args.ensemble.split(",")
    for i, phrase in enumerate(phrases[: args.count]):
        write(phrase, names, os.path.join(args.out, "phrase-%03d.mid" % (i + 1)), args.steps_per_quarter)
    print("%d phrases from %d files; wrote %d to %s" % (len(phrases), len(args.files),
                                                       min(len(phrases), args.count), args.out))


if __name__ == "__main__":
    main()
