#!/usr/bin/env python3
"""Cross-check of libmidi against mido, an independent Python MIDI file reader.

For every MIDI file of the test data that mido reads, libmidi (through `midi-inspect --events`
and `--notes`) must report the same tracks, the same events (count, tick, kind and data bytes
of channel messages, seconds), and the same notes (pitch, channel, track, velocity, program,
start/end tick exactly; start/end seconds within 1e-6 s).

The oracle is built from mido's messages with code of its own, not from libmidi's rules:
  - seconds come from an exact tempo map (fractions.Fraction): set_tempo of all tracks for
    format 0/1 (each track alone for format 2), default 500000 us per quarter, a later change
    at the same tick winning. It is checked against mido's own `for msg in mid:` timing.
  - notes pair per (track, channel, pitch) first in first out, a note-on of velocity 0 being
    a note-off; unmatched note-offs are ignored (with --zero-length-off-first, for the files of
    ZERO_LENGTH_FOLDERS, a note-on of the same key in the same tick right after one is a note of
    no length); a note still open when its track ends is
    closed at the track's last tick.
  - a note's program is the last program_change on its channel, from any track, at or before
    the note's start in merged order (tick, then track index, then order within the track);
    0 if none. Format 2 tracks are separate sequences, so there only the note's own track
    counts; where the any-track rule would give another program a NOTE line says so.

Where mido and the SMF specification part ways the oracle follows the specification and says
so in --verbose: mido keeps reading a track chunk after End of Track (those events are not
part of the track), and mido returns a track without End of Track when the chunk lacks it
(libmidi adds one). Files mido refuses (undefined status F4/F5/F9/FD, a data byte > 127,
running status after SysEx, truncation, a chunk other than MTrk, ...) are reported SKIP.

usage: mido_crosscheck.py --inspect PATH/midi-inspect --data-dir DIR [--verbose]
Exit status: 0 all compared files agree, 1 some file disagrees, 77 skipped (mido missing or
no data), 2 bad usage.
"""

import argparse
import bisect
import collections
import os
import subprocess
import sys
from fractions import Fraction

try:
    import mido
except Exception as e:  # ImportError, or a broken installation; main() says so and skips
    mido = None
    MIDO_IMPORT_ERROR = '%s: %s' % (type(e).__name__, e)

EXIT_SKIP = 77
SECONDS_TOLERANCE = 1e-6    # libmidi prints note seconds with 9 decimals, event seconds with 6
SHOWN_MISMATCHES = 3        # per file and per kind of mismatch
INSPECT_BATCH = 200         # files per midi-inspect call
DEFAULT_TEMPO = 500000      # microseconds per quarter note (120 bpm)
MIDI_SUFFIXES = ('.mid', '.midi', '.kar')
DATA_FOLDERS = ('midi-edge-cases/midi', 'classical-piano-composer/midi_songs', 'music21-multitrack/quartets')
# Files of a folder read, by name prefix (all when the folder is not here). Mozart's quartets
# have notes of no length written off-then-on in one tick (grace notes); the rest of the
# folder adds 20 s and nothing new.
FOLDER_PREFIXES = {'music21-multitrack/quartets': ('mozart-',)}
# Folders whose notes are also compared as read with --zero-length-off-first.
ZERO_LENGTH_FOLDERS = ('music21-multitrack/quartets',)

# libmidi's meta names (midi::meta_type_name) -> meta type byte; "unknown_meta" carries type=0x...
LIBMIDI_META_TYPES = {
    'sequence_number': 0x00, 'text': 0x01, 'copyright': 0x02, 'track_name': 0x03,
    'instrument_name': 0x04, 'lyrics': 0x05, 'marker': 0x06, 'cue_marker': 0x07,
    'program_name': 0x08, 'device_name': 0x09, 'channel_prefix': 0x20, 'midi_port': 0x21,
    'end_of_track': 0x2F, 'set_tempo': 0x51, 'smpte_offset': 0x54, 'time_signature': 0x58,
    'key_signature': 0x59, 'sequencer_specific': 0x7F,
}
# Channel message fields as mido names them; libmidi prints the same names, except vel.
MIDO_CHANNEL_FIELDS = {
    'note_off': ('note', 'velocity'), 'note_on': ('note', 'velocity'),
    'polytouch': ('note', 'value'), 'control_change': ('control', 'value'),
    'program_change': ('program',), 'aftertouch': ('value',), 'pitchwheel': ('pitch',),
}
LIBMIDI_FIELD_NAMES = {'vel': 'velocity'}


def skip(message):
    print('SKIP: ' + message)
    sys.exit(EXIT_SKIP)


# ---- The oracle: mido's messages, times computed here ----

class ExactTempoMap:
    """Ticks to seconds as exact fractions.

    tempo_events: (tick, microseconds per quarter) in (track index, file order) order.
    SMPTE divisions (mido reads the division as a signed 16-bit number, so they are negative)
    ignore tempo: seconds = ticks / (frames per second x ticks per frame), 29 meaning 29.97.
    """

    def __init__(self, ticks_per_beat, tempo_events):
        self.smpte_ticks_per_second = None
        if ticks_per_beat < 0:
            raw = ticks_per_beat & 0xFFFF
            fps = 256 - (raw >> 8)
            ticks_per_frame = raw & 0xFF
            frame_rate = Fraction(30000, 1001) if fps == 29 else Fraction(fps)
            self.smpte_ticks_per_second = frame_rate * ticks_per_frame
            return
        if ticks_per_beat == 0:
            raise ValueError('ticks per beat is 0')
        self.units_per_second = ticks_per_beat * 1000000  # a unit: 1 us / ticks_per_beat
        # Stable sort by tick; of several changes at one tick the last one stays in force.
        by_tick = {}
        for tick, tempo in sorted(tempo_events, key=lambda change: change[0]):
            by_tick[tick] = tempo
        self.ticks = []
        self.tempos = []
        self.start_units = []
        tick, tempo, units = 0, DEFAULT_TEMPO, 0
        for change_tick in sorted(by_tick):
            units += (change_tick - tick) * tempo
            tick, tempo = change_tick, by_tick[change_tick]
            self.ticks.append(tick)
            self.tempos.append(tempo)
            self.start_units.append(units)

    def seconds(self, tick):
        if self.smpte_ticks_per_second is not None:
            return Fraction(tick) / self.smpte_ticks_per_second
        i = bisect.bisect_right(self.ticks, tick) - 1
        if i < 0:
            units = tick * DEFAULT_TEMPO
        else:
            units = self.start_units[i] + (tick - self.ticks[i]) * self.tempos[i]
        return Fraction(units, self.units_per_second)


def absolute_ticks(track):
    tick = 0
    for msg in track:
        tick += msg.time
        yield tick, msg


def event_kind(msg):
    """A key naming what an event is, comparable with libmidi_event_kind."""
    if msg.is_meta:
        return ('meta', msg.bytes()[1])
    if msg.type == 'sysex':
        return ('sysex',)  # mido reads F0 and F7 events alike
    if msg.type in MIDO_CHANNEL_FIELDS:
        return ('channel', msg.type, msg.channel,
                tuple((name, getattr(msg, name)) for name in MIDO_CHANNEL_FIELDS[msg.type]))
    return ('system', msg.bytes()[0])


class Oracle:
    """What libmidi should report for one file, from mido's reading of it."""

    def __init__(self, mid):
        self.format = mid.type
        self.notes_about_mido = []  # where the oracle departs from mido's raw reading, and why
        # Per track: [(tick, msg)] up to and including the first End of Track.
        self.tracks = []
        self.mido_lengths = [len(track) for track in mid.tracks]
        for index, track in enumerate(mid.tracks):
            events = []
            for tick, msg in absolute_ticks(track):
                events.append((tick, msg))
                if msg.type == 'end_of_track':
                    break
            after_end = len(track) - len(events)
            if after_end:
                self.notes_about_mido.append(
                    'track %d: %d event(s) after End of Track dropped (mido reads on to the chunk end)'
                    % (index, after_end))
            if not events or events[-1][1].type != 'end_of_track':
                end = events[-1][0] if events else 0
                events.append((end, mido.MetaMessage('end_of_track')))
                self.notes_about_mido.append(
                    'track %d: no End of Track; one added at tick %d (as libmidi does)' % (index, end))
            self.tracks.append(events)

        # One sequence of all tracks (format 0/1) or one per track (format 2).
        if self.format == 2:
            self.sequences = [[i] for i in range(len(self.tracks))]
        else:
            self.sequences = [list(range(len(self.tracks)))]
        self.sequence_of = {}
        self.tempo_maps = []
        for s, track_indices in enumerate(self.sequences):
            tempo_events = [(tick, msg.tempo) for t in track_indices for tick, msg in self.tracks[t]
                            if msg.type == 'set_tempo']
            self.tempo_maps.append(ExactTempoMap(mid.ticks_per_beat, tempo_events))
            for t in track_indices:
                self.sequence_of[t] = s

    def seconds(self, track, tick):
        return self.tempo_maps[self.sequence_of[track]].seconds(tick)

    def merged(self, track_indices):
        """(tick, track, index, msg) of the given tracks in playing order."""
        events = [(tick, t, i, msg) for t in track_indices for i, (tick, msg) in enumerate(self.tracks[t])]
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        return events

    def notes(self, zero_length_off_first=False):
        """[(track, channel, program, pitch, velocity, start_tick, end_tick)], and NOTE lines."""
        notes = []
        positions = []  # (tick, track, index) of each note's note-on, for the format 2 remark
        for track_indices in self.sequences:
            program = [0] * 16
            open_notes = collections.defaultdict(collections.deque)  # (track, channel, pitch) -> notes
            stray_off = {}  # (track, channel, pitch) -> tick of a note-off that found nothing open
            for tick, t, i, msg in self.merged(track_indices):
                if msg.type == 'program_change':
                    program[msg.channel] = msg.program
                elif msg.type == 'note_on' and msg.velocity > 0:
                    note = [t, msg.channel, program[msg.channel], msg.note, msg.velocity, tick, None]
                    key = (t, msg.channel, msg.note)
                    if stray_off.pop(key, None) == tick and zero_length_off_first:
                        note[6] = tick  # off sorted before on in one tick: a note of no length
                    else:
                        open_notes[key].append(note)
                    notes.append(note)
                    positions.append((tick, t, i))
                elif msg.type in ('note_on', 'note_off'):
                    waiting = open_notes.get((t, msg.channel, msg.note))
                    if waiting:
                        waiting.popleft()[6] = tick
                    else:
                        stray_off[(t, msg.channel, msg.note)] = tick
            for (t, _, _), waiting in open_notes.items():
                for note in waiting:
                    note[6] = self.tracks[t][-1][0]
        remarks = []
        if self.format == 2 and len(self.tracks) > 1:
            remarks = self.format2_program_remarks(notes, positions)
        return [tuple(n) for n in notes], remarks

    def format2_program_remarks(self, notes, positions):
        """Notes whose program would differ if format 2 tracks shared their channels' state."""
        changes = collections.defaultdict(list)  # channel -> [((tick, track, index), program)] in order
        for tick, t, i, msg in self.merged(range(len(self.tracks))):
            if msg.type == 'program_change':
                changes[msg.channel].append(((tick, t, i), msg.program))
        remarks = []
        for note, position in zip(notes, positions):
            t, channel, program, pitch, _, start, _ = note
            shared = 0
            for at, value in changes[channel]:
                if at < position:
                    shared = value
            if shared != program and len(remarks) < SHOWN_MISMATCHES:
                remarks.append('format 2: note %d on channel %d of track %d at tick %d has program %d '
                               'from its own track, %d if program changes of all tracks counted'
                               % (pitch, channel, t, start, program, shared))
        return remarks

    def mido_timing_difference(self, mid):
        """Largest |mido's own merged-playback time - the exact time| over all messages, or None.

        mido's iteration merges every message it read (also those after End of Track) and drops
        End of Track messages, so the exact times here come from the same untruncated messages.
        """
        if self.format == 2 or mid.ticks_per_beat <= 0:
            return None
        everything = [(tick, t, i, msg) for t, track in enumerate(mid.tracks)
                      for i, (tick, msg) in enumerate(absolute_ticks(track))]
        everything.sort(key=lambda e: (e[0], e[1], e[2]))
        tempo_map = ExactTempoMap(mid.ticks_per_beat,
                                  [(tick, msg.tempo) for tick, _, _, msg in everything if msg.type == 'set_tempo'])
        exact = [tempo_map.seconds(tick) for tick, _, _, msg in everything if msg.type != 'end_of_track']
        played = []
        now = 0.0
        for msg in mid:
            now += msg.time
            if msg.type != 'end_of_track':
                played.append(now)
        if len(played) != len(exact):
            return float('inf')
        return max((abs(float(e) - p) for e, p in zip(exact, played)), default=0.0)


# ---- libmidi, through midi-inspect ----

def run_inspect(inspect, mode, paths, extra=()):
    """Runs midi-inspect MODE on the files, a batch per call.

    Returns {path: [stdout lines]} for the files it read, {path: reason} for those it refused,
    and {path: [warnings]} for the repairs it made on the way.
    """
    blocks, refusals, warnings = {}, {}, collections.defaultdict(list)
    for first in range(0, len(paths), INSPECT_BATCH):
        batch = paths[first:first + INSPECT_BATCH]
        done = subprocess.run([inspect, mode] + list(extra) + ['--'] + batch, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, errors='replace')
        if done.returncode not in (0, 2):  # 2: some file could not be read, said on stderr
            raise RuntimeError('%s %s exited with status %d: %s'
                               % (inspect, mode, done.returncode, done.stderr.strip()[-500:]))
        # With one file midi-inspect prints no "# file:" line.
        current = batch[0] if len(batch) == 1 else None
        for line in done.stdout.splitlines():
            if line.startswith('# file: '):
                current = line[len('# file: '):]
                blocks[current] = []
            elif not line or line.startswith('#'):
                continue
            elif current is None:
                raise RuntimeError('%s %s printed a line before any "# file:" line: %r' % (inspect, mode, line))
            else:
                blocks.setdefault(current, []).append(line)
        stderr = done.stderr.splitlines()
        for path in batch:
            for line in stderr:
                if line.startswith(path + ': warning: '):
                    warnings[path].append(line[len(path) + 2:])
            if path not in blocks:
                reasons = [line for line in stderr if path in line and ': warning: ' not in line]
                refusals[path] = reasons[0] if reasons else 'no output and no message'
    return blocks, refusals, warnings


def table(lines, expected_header):
    if not lines or lines[0].split('\t') != expected_header:
        raise ValueError('expected the header %r, found %r' % ('\t'.join(expected_header), lines[:1]))
    return [line.split('\t') for line in lines[1:]]


def libmidi_event_kind(description):
    words = description.split(' ')
    if words[0] == 'meta':
        if words[1] == 'unknown_meta':
            return ('meta', int(words[2][len('type=0x'):], 16))
        return ('meta', LIBMIDI_META_TYPES[words[1]])
    if words[0] in ('sysex', 'sysex_escape'):
        return ('sysex',)
    if words[0] == 'system':
        return ('system', int(words[1], 16))
    if words[0] in MIDO_CHANNEL_FIELDS:
        fields = dict(word.split('=', 1) for word in words[1:])
        channel = int(fields.pop('ch'))
        named = {LIBMIDI_FIELD_NAMES.get(k, k): int(v) for k, v in fields.items()}
        return ('channel', words[0], channel,
                tuple((name, named.get(name)) for name in MIDO_CHANNEL_FIELDS[words[0]]))
    return ('unknown', description)


# ---- Comparison of one file ----

EVENT_HEADER = ['track', 'index', 'tick', 'seconds', 'event']
NOTE_HEADER = ['track', 'channel', 'program', 'pitch', 'velocity', 'start_tick', 'end_tick',
               'start_sec', 'end_sec']


def compare_events(oracle, rows):
    """Mismatch descriptions (empty: agree). Returns (problems, event count)."""
    problems = []
    by_track = collections.defaultdict(list)
    for track, index, tick, seconds, description in rows:
        by_track[int(track)].append((int(index), int(tick), float(seconds), description))
    libmidi_tracks = max(by_track) + 1 if by_track else 0
    if libmidi_tracks != len(oracle.tracks):
        problems.append('tracks: mido %d, libmidi %d (mido reads as many track chunks as the header '
                        'declares, libmidi every MTrk chunk present)' % (len(oracle.tracks), libmidi_tracks))
    for t, expected in enumerate(oracle.tracks):
        found = by_track.get(t, [])
        if len(found) != len(expected):
            adjusted = '' if len(expected) == oracle.mido_lengths[t] else \
                ' (mido read %d; see --verbose)' % oracle.mido_lengths[t]
            problems.append('track %d: %d events expected%s, libmidi reports %d'
                            % (t, len(expected), adjusted, len(found)))
        shown = 0
        for i, ((tick, msg), (index, found_tick, found_seconds, description)) in enumerate(zip(expected, found)):
            reasons = []
            if index != i:
                reasons.append('index %d' % index)
            if found_tick != tick:
                reasons.append('tick %d expected, found %d' % (tick, found_tick))
            expected_seconds = float(oracle.seconds(t, tick))
            if abs(found_seconds - expected_seconds) > SECONDS_TOLERANCE:
                reasons.append('seconds %.9f expected, found %.6f' % (expected_seconds, found_seconds))
            if libmidi_event_kind(description) != event_kind(msg):
                reasons.append('mido has %s' % msg)
            if reasons:
                if shown < SHOWN_MISMATCHES:
                    problems.append('track %d event %d (libmidi: %r): %s' % (t, i, description, '; '.join(reasons)))
                shown += 1
        if shown > SHOWN_MISMATCHES:
            problems.append('track %d: %d more event mismatch(es)' % (t, shown - SHOWN_MISMATCHES))
    return problems, len(rows)


def note_text(note):
    return 'track %d ch %d program %d pitch %d vel %d ticks %d..%d' % note[:7]


def compare_notes(oracle, rows, zero_length_off_first=False):
    """Mismatch descriptions (empty: agree), the note count, and NOTE lines."""
    expected, remarks = oracle.notes(zero_length_off_first)
    found = [tuple(int(v) for v in row[:7]) + (float(row[7]), float(row[8])) for row in rows]
    problems = []
    if len(found) != len(expected):
        problems.append('notes: %d expected, libmidi reports %d' % (len(expected), len(found)))
    # Integer fields as multisets first; the first few notes on either side alone.
    expected_count = collections.Counter(expected)
    found_count = collections.Counter(note[:7] for note in found)
    key = lambda n: (n[0], n[1], n[3], n[5], n[6], n[4], n[2])
    missing = sorted((expected_count - found_count).elements(), key=key)
    extra = sorted((found_count - expected_count).elements(), key=key)
    for note in missing[:SHOWN_MISMATCHES]:
        problems.append('note only in mido:    ' + note_text(note))
    for note in extra[:SHOWN_MISMATCHES]:
        problems.append('note only in libmidi: ' + note_text(note))
    if len(missing) > SHOWN_MISMATCHES or len(extra) > SHOWN_MISMATCHES:
        problems.append('%d note(s) only in mido, %d only in libmidi in all' % (len(missing), len(extra)))
    if missing and extra:
        # Same notes but another program? Say so plainly: it is the rule most likely to differ.
        loose = lambda n: n[:2] + n[3:7]
        programs = {loose(n): n[2] for n in missing}
        for note in extra:
            if loose(note) in programs:
                problems.append('program differs: %s (mido rule: program %d)' % (note_text(note), programs[loose(note)]))
                break
    if not missing and not extra:
        shown = 0
        for want, got in zip(sorted(expected, key=key), sorted(found, key=key)):
            start = float(oracle.seconds(want[0], want[5]))
            end = float(oracle.seconds(want[0], want[6]))
            if abs(got[7] - start) > SECONDS_TOLERANCE or abs(got[8] - end) > SECONDS_TOLERANCE:
                if shown < SHOWN_MISMATCHES:
                    problems.append('%s: seconds %.9f..%.9f expected, found %.9f..%.9f'
                                    % (note_text(want), start, end, got[7], got[8]))
                shown += 1
        if shown > SHOWN_MISMATCHES:
            problems.append('%d more note(s) with other seconds' % (shown - SHOWN_MISMATCHES))
    return problems, len(found), remarks


def find_midi_files(data_dir):
    files = []
    for folder in DATA_FOLDERS:
        path = os.path.join(data_dir, folder)
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if not name.startswith(FOLDER_PREFIXES.get(folder, ('',))):
                continue
            if name.lower().endswith(MIDI_SUFFIXES) and os.path.isfile(full):
                files.append(full)
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--inspect', required=True, help='path to the midi-inspect program')
    parser.add_argument('--data-dir', help='datasets folder (default: $MUSEGEN_DATA_DIR)')
    parser.add_argument('--verbose', action='store_true', help='say more about each file')
    args = parser.parse_args()

    if mido is None:
        skip('mido not importable (install python3-mido): ' + MIDO_IMPORT_ERROR)

    data_dir = args.data_dir or os.environ.get('MUSEGEN_DATA_DIR')
    if not data_dir:
        skip('no data folder (pass --data-dir DIR or set MUSEGEN_DATA_DIR)')
    for folder in DATA_FOLDERS:
        if not os.path.isdir(os.path.join(data_dir, folder)):
            skip('%s does not exist' % os.path.join(data_dir, folder))
    if not (os.path.isfile(args.inspect) and os.access(args.inspect, os.X_OK)):
        print('mido_crosscheck: --inspect %s is not an executable file' % args.inspect, file=sys.stderr)
        return 2
    if args.verbose:
        print('# mido %s from %s' % (getattr(mido, '__version__', '?'), os.path.dirname(mido.__file__)))

    files = find_midi_files(os.path.abspath(data_dir))
    root = os.path.abspath(data_dir)
    name_of = lambda path: os.path.relpath(path, root)

    readable = {}
    passed = failed = skipped = 0
    for path in files:
        try:
            mid = mido.MidiFile(path)
        except Exception as e:
            print('SKIP %s: mido cannot read it: %s%s' % (name_of(path), type(e).__name__, ': %s' % e if str(e) else ''))
            skipped += 1
            continue
        if mid.ticks_per_beat == 0:
            print('SKIP %s: time division 0: a tick has no length, so no time to compare' % name_of(path))
            skipped += 1
            continue
        readable[path] = mid

    paths = list(readable)
    events, event_refusals, repairs = run_inspect(args.inspect, '--events', paths)
    notes, note_refusals, _ = run_inspect(args.inspect, '--notes', paths)
    zero_length_paths = [p for p in paths
                         if any(os.path.join(data_dir, f) == os.path.dirname(p) for f in ZERO_LENGTH_FOLDERS)]
    zero_length_notes, _, _ = run_inspect(args.inspect, '--notes', zero_length_paths,
                                          extra=['--zero-length-off-first'])

    for path in paths:
        name = name_of(path)
        mid = readable[path]
        if path in event_refusals or path in note_refusals:
            print('FAIL %s: libmidi cannot read it: %s' % (name, event_refusals.get(path) or note_refusals.get(path)))
            failed += 1
            continue
        try:
            oracle = Oracle(mid)
            event_problems, event_count = compare_events(oracle, table(events[path], EVENT_HEADER))
            note_problems, note_count, remarks = compare_notes(oracle, table(notes[path], NOTE_HEADER))
            if path in zero_length_notes:
                more, _, _ = compare_notes(oracle, table(zero_length_notes[path], NOTE_HEADER), True)
                note_problems += ['--zero-length-off-first: ' + p for p in more]
            timing = oracle.mido_timing_difference(mid)
        except Exception as e:
            print('FAIL %s: cross-check error: %s: %s' % (name, type(e).__name__, e))
            failed += 1
            continue
        problems = event_problems + note_problems
        if timing is not None and timing > SECONDS_TOLERANCE:
            problems.append("oracle self-check: mido's own playback times differ from the exact tempo map "
                            'by up to %g s' % timing)
        if problems:
            print('FAIL %s: %s' % (name, problems[0]))
            for problem in problems[1:]:
                print('     ' + problem)
            failed += 1
        else:
            print('OK  %s  (tracks %d, events %d, notes %d)' % (name, len(oracle.tracks), event_count, note_count))
            passed += 1
        for remark in remarks:
            print('     NOTE ' + remark)
        if args.verbose:
            for remark in oracle.notes_about_mido:
                print('     oracle: ' + remark)
            if timing is not None:
                print("     mido's playback times vs exact: max difference %.3g s" % timing)
            for warning in repairs.get(path, []):
                print('     libmidi ' + warning)

    print('crosscheck: %d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
