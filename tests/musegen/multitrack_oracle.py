#!/usr/bin/env python3
"""Oracle for the parts of a multitrack piece: what piece_from_midi should find in a file,
computed independently in Python on top of mido (test_codec_multitrack.cpp compares).

Usage: multitrack_oracle.py FOLDER_OR_FILE...
Folders are searched for *.mid (not recursively), in sorted order. For each file prints
"# <file>", then one line per part (a (track, channel) pair with notes, in that order):
    part TRACK CHANNEL PROGRAM NOTES LOWEST HIGHEST NAME
then "zero N", the number of notes of no length in the file. NAME is the track's first
track-name meta event, its bytes with everything outside printable ASCII (and the
backslash) written as \\xNN; PROGRAM is that of the part's first note.

How notes are paired (the rules libmidi documents, written again here):
  * per track, channel and key, note-ons are closed first in first out by note-offs (a
    note-on of velocity 0 is a note-off); a note still open at the end of its track ends
    with the track;
  * a note-off with nothing open is ignored, except that a note-on of the same key later
    in the same tick then makes a note of no length (music21 writes grace notes with the
    off sorted before the on): the "zero-length off first" reading;
  * a note's program is the last program change on its channel (any track) at an earlier
    (tick, track, event index) position, else 0.
"""
import glob
import multiprocessing
import os
import sys

import mido


def escape(name):
    out = []
    for byte in name.encode("latin-1", errors="replace"):
        if 0x20 <= byte < 0x7F and byte != 0x5C:
            out.append(chr(byte))
        else:
            out.append("\\x%02X" % byte)
    return "".join(out)


def parts_of(path):
    mid = mido.MidiFile(path, clip=True)
    programs = {}  # channel -> [((tick, track, index), program)]
    notes = []  # (start, end, key, channel, track, index)
    names = {}
    for t, track in enumerate(mid.tracks):
        tick = 0
        open_notes = {}  # (channel, key) -> [note, ...] oldest first
        stray_off = {}  # (channel, key) -> tick of a note-off that found nothing open
        for i, msg in enumerate(track):
            tick += msg.time
            kind = msg.type
            if kind == "track_name" and t not in names:
                names[t] = msg.name
            elif kind == "program_change":
                programs.setdefault(msg.channel, []).append(((tick, t, i), msg.program))
            elif kind == "note_on" and msg.velocity > 0:
                key = (msg.channel, msg.note)
                if stray_off.get(key) == tick:
                    del stray_off[key]
                    notes.append([tick, tick, msg.note, msg.channel, t, i])
                else:
                    note = [tick, None, msg.note, msg.channel, t, i]
                    open_notes.setdefault(key, []).append(note)
                    notes.append(note)
            elif kind == "note_off" or kind == "note_on":
                key = (msg.channel, msg.note)
                queue = open_notes.get(key)
                if queue:
                    queue.pop(0)[1] = tick
                else:
                    stray_off[key] = tick
        for queue in open_notes.values():
            for note in queue:
                note[1] = tick

    def program_at(start, channel, t, i):
        program = 0
        for position, value in programs.get(channel, []):
            if position < (start, t, i):
                program = value
        return program

    parts = {}  # (track, channel) -> notes
    for note in notes:
        parts.setdefault((note[4], note[3]), []).append(note)
    lines = []
    for (t, channel) in sorted(parts):
        part = parts[(t, channel)]
        first = min(part, key=lambda n: (n[0], n[2], n[5]))
        keys = [n[2] for n in part]
        lines.append("part %d %d %d %d %d %d %s" % (
            t, channel, program_at(first[0], channel, t, first[5]), len(part), min(keys),
            max(keys), escape(names.get(t, ""))))
    lines.append("zero %d" % sum(1 for n in notes if n[0] == n[1]))
    return path, lines


def main():
    files = []
    for arg in sys.argv[1:]:
        files.extend(sorted(glob.glob(os.path.join(arg, "*.mid"))) if os.path.isdir(arg) else [arg])
    # mido parses slowly: one process per core keeps the whole corpus to a few seconds.
    with multiprocessing.Pool(max(1, min(len(files), os.cpu_count() or 1))) as pool:
        results = pool.map(parts_of, files, chunksize=8)
    out = []
    for path, lines in results:
        out.append("# " + path)
        out.extend(lines)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
