"""What the Python checks of `musegen serve` share (browser_check.py, schemathesis_check.py):
a tiny trained run made with the musegen binary, and the server started on a free loopback
port and stopped with SIGINT as a person stops it with Ctrl-C.

The run is made by preprocess + train --max-steps 3 (a fraction of a second): from the JSB
chorales when $MUSEGEN_DATA_DIR has them, else from synthetic MIDI files written with mido.
"""
import os
import re
import signal
import subprocess


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def synthetic_midi_folder(folder):
    """Eight short four-voice pieces (chords moving by step): enough files for a train / valid
    split, with notes on every beat so that the roll and the audio are not empty."""
    import mido
    os.makedirs(folder, exist_ok=True)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    for n in range(8):
        f = mido.MidiFile(ticks_per_beat=480)
        t = mido.MidiTrack()
        f.tracks.append(t)
        for beat in range(32):
            root = scale[(beat + n) % len(scale)]
            chord = [root - 12, root, root + 4, root + 7]
            for p in chord:
                t.append(mido.Message("note_on", note=p, velocity=80, time=0))
            for i, p in enumerate(chord):
                t.append(mido.Message("note_off", note=p, velocity=0, time=480 if i == 0 else 0))
        f.save(os.path.join(folder, f"synthetic-{n}.mid"))
    return folder


def make_tiny_run(musegen, workdir, name="tiny"):
    """workdir/runs/NAME, a roll model of width 16 trained for 3 steps. Returns workdir/runs."""
    data_dir = os.environ.get("MUSEGEN_DATA_DIR", "")
    jsb = os.path.join(data_dir, "jsb-chorales", "jsb-chorales-quarter.json") if data_dir else ""
    if jsb and os.path.isfile(jsb):
        source = jsb
    else:
        source = synthetic_midi_folder(os.path.join(workdir, "midi"))
    print("data: " + source)
    dataset = os.path.join(workdir, "data.mgds")
    subprocess.run([musegen, "preprocess", "--encoding", "roll", "--out", dataset, source,
                    "--quiet"], check=True)
    run = os.path.join(workdir, "runs", name)
    subprocess.run([musegen, "train", dataset, "--run-dir", run, "--embed", "16", "--hidden", "16",
                    "--max-steps", "3", "--batch", "4", "--seq-len", "32", "--no-tensorboard",
                    "--sample-steps", "0", "--quiet"], check=True)
    return os.path.join(workdir, "runs")


def make_duo_run(musegen, workdir):
    """workdir/runs/duo: a multitrack model (violin and cello parts, from synthetic two-track
    MIDI files written with mido) trained for 3 steps: a model that knows several instruments."""
    import mido
    folder = os.path.join(workdir, "duo-midi")
    os.makedirs(folder, exist_ok=True)
    for n in range(6):
        f = mido.MidiFile(ticks_per_beat=480)
        for name, program, base in (("Violin", 40, 67), ("Cello", 42, 48)):
            t = mido.MidiTrack()
            t.append(mido.MetaMessage("track_name", name=name, time=0))
            t.append(mido.Message("program_change", program=program, time=0))
            for beat in range(32):
                p = base + [0, 2, 4, 5, 7, 5, 4, 2][(beat + n) % 8]
                t.append(mido.Message("note_on", note=p, velocity=80, time=0))
                t.append(mido.Message("note_off", note=p, velocity=0, time=480))
            f.tracks.append(t)
        f.save(os.path.join(folder, f"duo-{n}.mid"))
    dataset = os.path.join(workdir, "duo.mgds")
    subprocess.run([musegen, "preprocess", "--encoding", "multitrack", "--out", dataset, folder,
                    "--quiet"], check=True)
    subprocess.run([musegen, "train", dataset, "--run-dir", os.path.join(workdir, "runs", "duo"),
                    "--embed", "16", "--hidden", "16", "--max-steps", "3", "--batch", "4",
                    "--seq-len", "32", "--no-tensorboard", "--sample-steps", "0", "--quiet"],
                   check=True)


def start_server(musegen, runs, out, *extra):
    """`musegen serve --port 0` on 127.0.0.1; returns (process, "http://127.0.0.1:PORT/")."""
    server = subprocess.Popen([musegen, "serve", "--runs", runs, "--out", out, "--port", "0",
                               "--quiet", *extra], stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    match = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
    if not match:
        server.kill()
        raise Failed("expected the server to print 'open http://127.0.0.1:PORT/', found " +
                     repr(line))
    return server, match.group(1)


def stop_server(server, timeout=15):
    """SIGINT, as Ctrl-C; returns the exit code (None when it did not exit in `timeout` s)."""
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
    try:
        return server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        return None
