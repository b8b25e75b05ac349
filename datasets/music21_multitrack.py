#!/usr/bin/env python3
"""Make the music21-multitrack MIDI set from the corpus that ships with music21.

    musegen datasets fetch music21-multitrack            # installs DATA/music21-multitrack/corpus
    python3 datasets/music21_multitrack.py DATA/music21-multitrack

Needs music21 itself to read the scores (MusicXML): `pip install music21==10.5.1`, best in a
virtual environment (python3 -m venv m21 && m21/bin/pip install music21==10.5.1, then run this
script with m21/bin/python). The corpus the catalog installs is the one of that same wheel.

Writes, beside corpus/, one Standard MIDI File (format 1, 10080 ticks per quarter) per score:

  quartets/   Mozart K. 80, 155, 156, 458; Beethoven op. 18 nos. 1, 3, 4, 5, op. 59 nos. 1-3,
              op. 74, op. 133 (one file per movement where the corpus splits them)   36 files
  chorales/   every MusicXML score of corpus/bach (the chorales, bwv846 too)          408 files
  madrigals/  Monteverdi, books 3-5                                                    49 files

Conventions: track 0 holds tempo, key and time signatures only (music21's conductor track);
then one track per part, in score order, named after the part, on a channel of its own
(0, 1, ... skipping 9, the GM drum channel), with a General MIDI program chosen from the
part's name (see PROGRAMS). Repeats are expanded by music21; a score whose repeats music21
cannot expand is played as written (repeat signs, jumps and endings removed).

Deterministic: the same corpus and music21 give byte-identical files. The bytes are music21's
MIDI events written with running status (as mido writes them). Existing files are kept unless
--force, so an interrupted run can be resumed.
"""

import argparse
import os
import re
import struct
import sys
import time
import warnings

# Part name -> GM program (0-based). The first rule whose word occurs in the lower-cased part
# name wins, in this order, so "Soprano Oboe 1 Violin1" is a violin, "Bass Continuo" a
# continuo, "Tenor Viola" a viola. Anything else (timpani, recorders, cornetts, piano, "S.")
# gets program 0.
PROGRAMS = (
    (('violin',), 40),
    (('viola',), 41),
    (('cello',), 42),  # also violoncello
    (('horn',), 60),
    (('trumpet',), 56),
    (('oboe',), 68),
    (('flute',), 73),
    (('organ', 'continuo'), 19),
    (('soprano', 'alto', 'tenor', 'bass', 'canto', 'quinto'), 52),  # voices: Choir Aahs
)

QUARTETS = (
    'mozart/k80', 'mozart/k155', 'mozart/k156', 'mozart/k458',
    'beethoven/opus18no1', 'beethoven/opus18no3', 'beethoven/opus18no4', 'beethoven/opus18no5',
    'beethoven/opus59no1', 'beethoven/opus59no2', 'beethoven/opus59no3',
    'beethoven/opus74', 'beethoven/opus133',
)

FOLDERS = ('quartets', 'chorales', 'madrigals')


def program_for(part_name):
    name = (part_name or '').lower()
    for words, program in PROGRAMS:
        if any(w in name for w in words):
            return program
    return 0


def natural_key(text):
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', text)]


def list_scores(corpus):
    """(folder, output name, source path) for every score, in a fixed order."""
    jobs = []
    for work in QUARTETS:
        base = os.path.join(corpus, work)
        if os.path.isdir(base):  # one file per movement
            for f in sorted(os.listdir(base), key=natural_key):
                if f.endswith('.mxl'):
                    jobs.append(('quartets', f"{work.replace('/', '-')}-{f[:-4]}.mid",
                                 os.path.join(base, f)))
        else:
            jobs.append(('quartets', work.replace('/', '-') + '.mid', base + '.mxl'))
    bach = os.path.join(corpus, 'bach')
    for f in sorted(os.listdir(bach), key=natural_key):
        if f.endswith('.mxl'):
            jobs.append(('chorales', 'bach-' + f[:-4] + '.mid', os.path.join(bach, f)))
    monteverdi = os.path.join(corpus, 'monteverdi')
    for f in sorted(os.listdir(monteverdi), key=natural_key):
        if re.fullmatch(r'madrigal\.[345]\.\d+(_old)?\.mxl', f):
            jobs.append(('madrigals', 'monteverdi-' + f[:-4].replace('_', '-') + '.mid',
                         os.path.join(monteverdi, f)))
    return jobs


def strip_repeats(score):
    """Make the score play as written: no repeat barlines, jumps (D.C., segno...) or endings."""
    from music21 import bar, repeat, spanner, stream
    for m in score.recurse().getElementsByClass(stream.Measure):
        for side in ('leftBarline', 'rightBarline'):
            b = getattr(m, side)
            if isinstance(b, bar.Repeat):
                setattr(m, side, bar.Barline(b.type))
    for s in [score] + list(score.recurse(streamsOnly=True)):
        for el in list(s.getElementsByClass((repeat.RepeatExpression, spanner.RepeatBracket))):
            s.remove(el)


def smf_bytes(mf):
    """music21 MidiFile -> bytes, channel events with running status (as mido writes them)."""
    from music21 import midi
    out = bytearray(b'MThd' + struct.pack('>IHHH', 6, mf.format, len(mf.tracks),
                                          mf.ticksPerQuarterNote))
    for trk in mf.tracks:
        data = bytearray()
        running = None
        for e in trk.events:
            if isinstance(e, midi.DeltaTime):
                data += e.getBytes()
                continue
            b = e.getBytes()
            if b[0] < 0xF0:  # channel message
                data += b[1:] if b[0] == running else b
                running = b[0]
            else:  # meta or sysex
                data += b
                running = None
        out += b'MTrk' + struct.pack('>I', len(data)) + data
    return bytes(out)


def convert(src):
    """Parse one score; return (SMF bytes, parts, notes, seconds, what became of repeats)."""
    from music21 import converter, instrument, midi, repeat
    score = converter.parse(src, forceSource=True)
    for p in score.parts:
        program = program_for(p.partName)
        for inst in p.recurse().getElementsByClass(instrument.Instrument):
            inst.midiProgram = program
    with warnings.catch_warnings():
        # music21 gives parts of one program one channel, and warns; we renumber them below
        warnings.simplefilter('ignore', midi.translate.TranslateWarning)
        try:  # streamToMidiFile expands the repeats of (a copy of) the score
            mf = midi.translate.streamToMidiFile(score)
            has_repeats = bool(score.recurse().getElementsByClass(repeat.RepeatMark))
            repeats = 'expanded' if has_repeats else 'none'
        except repeat.ExpanderException:
            strip_repeats(score)
            mf = midi.translate.streamToMidiFile(score)
            repeats = 'as written (music21 cannot expand them)'
    # One channel per part track, in order, skipping 9 (music21's channels count from 1).
    for k, trk in enumerate(mf.tracks[1:]):
        channel = (k if k < 9 else k + 1) + 1
        for e in trk.events:
            if getattr(e, 'channel', None) is not None:
                e.channel = channel
    notes, seconds = count(mf)
    return smf_bytes(mf), len(mf.tracks) - 1, notes, seconds, repeats


def count(mf):
    """Notes (note-ons with velocity) and length in seconds under the tempo map of track 0."""
    from music21 import midi
    tpq = mf.ticksPerQuarterNote
    notes, end, tempos = 0, 0, []
    for i, trk in enumerate(mf.tracks):
        tick = 0
        for e in trk.events:
            if isinstance(e, midi.DeltaTime):
                tick += e.time
            elif e.type == midi.ChannelVoiceMessages.NOTE_ON and e.velocity:
                notes += 1
            elif i == 0 and e.type == midi.MetaEvents.SET_TEMPO:
                tempos.append((tick, int.from_bytes(e.data, 'big')))
        end = max(end, tick)
    seconds, last_tick, usec = 0.0, 0, 500000
    for tick, tempo in sorted(tempos) + [(end, None)]:
        seconds += (min(tick, end) - last_tick) * usec / 1e6 / tpq
        last_tick = min(tick, end)
        if tempo is not None:
            usec = tempo
    return notes, seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('dataset', help='the dataset folder, holding corpus/ (music21/corpus)')
    ap.add_argument('--only', default=','.join(FOLDERS),
                    help='comma-separated folders to make (default: all three)')
    ap.add_argument('--limit', type=int, default=0,
                    help='make at most N files per folder (for a quick test)')
    ap.add_argument('--out', help='write the folders here instead of the dataset folder')
    ap.add_argument('--force', action='store_true', help='rewrite files that exist')
    args = ap.parse_args(argv)

    corpus = os.path.join(args.dataset, 'corpus')
    if not os.path.isdir(os.path.join(corpus, 'bach')):
        sys.exit(f'{corpus}: no music21 corpus here (musegen datasets fetch music21-multitrack)')
    try:
        import music21
    except ImportError:
        sys.exit('music21 is not installed: pip install music21==10.5.1')
    if music21.__version__ != '10.5.1':
        print(f'note: music21 {music21.__version__}; the catalog set was made with 10.5.1',
              file=sys.stderr)
    only = [f for f in args.only.split(',') if f]
    for f in only:
        if f not in FOLDERS:
            sys.exit(f'--only: unknown folder {f!r} (quartets, chorales, madrigals)')
    out_root = args.out or args.dataset

    jobs = [j for j in list_scores(corpus) if j[0] in only]
    if args.limit:
        jobs = [j for f in only for j in [k for k in jobs if k[0] == f][:args.limit]]
    stats = {f: [0, 0, 0.0] for f in only}  # files, notes, seconds
    failed, kept = [], 0
    started = time.time()
    for i, (folder, name, src) in enumerate(jobs, 1):
        dest = os.path.join(out_root, folder, name)
        label = f'[{i}/{len(jobs)}] {folder}/{name}'
        if os.path.exists(dest) and not args.force:
            kept += 1
            print(f'{label}: exists, kept', flush=True)
            continue
        try:
            data, parts, notes, seconds, repeats = convert(src)
        except Exception as e:  # report, go on with the others
            failed.append(f'{folder}/{name}: {type(e).__name__}: {e}')
            print(f'{label}: FAILED {type(e).__name__}: {e}', flush=True)
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = dest + '.tmp'
        with open(tmp, 'wb') as fh:
            fh.write(data)
        os.replace(tmp, dest)
        stats[folder][0] += 1
        stats[folder][1] += notes
        stats[folder][2] += seconds
        print(f'{label}: {parts} parts, {notes} notes, {seconds / 60:.1f} min, '
              f'repeats {repeats}', flush=True)

    print(f'\nmade {sum(s[0] for s in stats.values())} files in {time.time() - started:.0f} s'
          + (f' ({kept} existing kept)' if kept else ''))
    for folder in only:
        files, notes, seconds = stats[folder]
        print(f'  {folder + "/":11} {files:4} files  {notes:8,} notes  {seconds / 3600:5.2f} h')
    if failed:
        print(f'{len(failed)} failed:')
        for f in failed:
            print('  ' + f)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
