#!/usr/bin/env python3
"""Oracle for the events encoding: the same encoding written independently in Python on
top of mido, to be compared token for token with musegen's Codec (test_codec_events.cpp).

Usage: events_oracle.py FILE... > tokens.txt
For each file prints "# <file>" then one token name per line, or "# <file> skipped <why>"
for files it does not handle (SMPTE divisions, files mido refuses).

The specification it follows (docs/formats.md, "events"):
  * notes: per track, channel and pitch, note-ons are paired with note-offs first in first
    out (a note-on of velocity 0 is a note-off); a note still open at the end of its track
    ends at the track's last tick; a note-off without an open note is ignored. A note's
    program is the last program change on its channel (any track; each track on its own in
    format 2) at an earlier (tick, track, event index) position, else 0. Channel 10 is drums.
  * seconds from the tempo map (all tracks; format 2: the note's own track), computed exactly
    with fractions and rounded once to the nearest double; the default tempo is 500000 us.
  * step = floor(seconds * 1000.0 / step_ms + 0.5) in double arithmetic; end >= start + 1.
  * events sorted by (step, off before on, instrument (program, drums = 128), pitch,
    velocity bin); a shift of at most max_shift steps at a time before each event whose
    step is later; an instrument token when the instrument differs from the current one
    (starting as program 0); a velocity token before a note-on whose bin differs from the
    last one (none at first). Velocity bins: size ceil(127 / bins), bin = (v - 1) // size + 1.
"""
import math
import sys
from fractions import Fraction

import mido

STEP_MS, MAX_SHIFT, BINS = 10, 100, 32


def tempo_changes(tracks):
    """(tick, tempo) changes, collected track by track in file order, stably sorted by
    tick; of equal ticks the last one wins."""
    changes = []
    for track in tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                changes.append((tick, msg.tempo))
    changes.sort(key=lambda c: c[0])
    unique = []
    for tick, tempo in changes:
        if unique and unique[-1][0] == tick:
            unique[-1] = (tick, tempo)
        else:
            unique.append((tick, tempo))
    return unique


def seconds_function(changes, ppq):
    def seconds(tick):
        units = 0  # microseconds * ppq
        last_tick, tempo = 0, 500000
        for change_tick, change_tempo in changes:
            if change_tick > tick:
                break
            units += (change_tick - last_tick) * tempo
            last_tick, tempo = change_tick, change_tempo
        units += (tick - last_tick) * tempo
        return float(Fraction(units, ppq * 1000000))
    return seconds


def notes_of(mid):
    ppq = mid.ticks_per_beat
    shared = seconds_function(tempo_changes(mid.tracks), ppq)
    notes = []  # (start_tick, end_tick, pitch, velocity, channel, track, on_index)
    programs = {}  # lane -> [((tick, track, index), program)]
    for t, track in enumerate(mid.tracks):
        tick = 0
        open_notes = {}
        pending = []
        for i, msg in enumerate(track):
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                note = [tick, None, msg.note, msg.velocity, msg.channel, t, i]
                open_notes.setdefault((msg.channel, msg.note), []).append(note)
                pending.append(note)
            elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
                queue = open_notes.get((msg.channel, msg.note))
                if queue:
                    queue.pop(0)[1] = tick
            elif msg.type == "program_change":
                lane = (t if mid.type == 2 else 0, msg.channel)
                programs.setdefault(lane, []).append(((tick, t, i), msg.program))
        for note in pending:
            if note[1] is None:
                note[1] = tick  # still open: ends at the track's last tick
        notes.extend(pending)
    result = []
    for start, end, pitch, velocity, channel, t, i in notes:
        lane = (t if mid.type == 2 else 0, channel)
        program = 0
        for position, value in programs.get(lane, []):
            if position < (start, t, i):
                program = value
        seconds = shared
        if mid.type == 2:
            seconds = seconds_function(tempo_changes([mid.tracks[t]]), ppq)
        result.append((seconds(start), seconds(end), pitch, velocity, program, channel == 9))
    return result


def encode(notes):
    bin_size = (127 + BINS - 1) // BINS

    def step(seconds):
        return max(0, math.floor(seconds * 1000.0 / STEP_MS + 0.5))

    events = []
    for start, end, pitch, velocity, program, drum in notes:
        instrument = 128 if drum else program
        velocity_bin = min((min(max(velocity, 1), 127) - 1) // bin_size + 1, BINS)
        s = step(start)
        e = max(s + 1, step(end))
        events.append((s, 1, instrument, pitch, velocity_bin))
        events.append((e, 0, instrument, pitch, 0))
    events.sort()
    tokens = []
    now, instrument, current_bin = 0, 0, 0
    for s, on, inst, pitch, velocity_bin in events:
        gap = s - now
        while gap > 0:
            k = min(gap, MAX_SHIFT)
            tokens.append("shift:%dms" % (k * STEP_MS))
            gap -= k
        now = s
        if inst != instrument:
            tokens.append("drums" if inst == 128 else "program:%d" % inst)
            instrument = inst
        if on:
            if velocity_bin != current_bin:
                tokens.append("velocity_bin:%d" % velocity_bin)
                current_bin = velocity_bin
            tokens.append("note_on:%d" % pitch)
        else:
            tokens.append("note_off:%d" % pitch)
    return tokens


def main():
    out = []
    for path in sys.argv[1:]:
        try:
            mid = mido.MidiFile(path, clip=True)
        except Exception as e:  # mido refuses it: nothing to compare
            out.append("# %s skipped mido: %s" % (path, str(e).replace("\n", " ")))
            continue
        if mid.ticks_per_beat <= 0 or mid.ticks_per_beat >= 0x8000:
            out.append("# %s skipped SMPTE division" % path)
            continue
        out.append("# %s" % path)
        out.extend(encode(notes_of(mid)))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
