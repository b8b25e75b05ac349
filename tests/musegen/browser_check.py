#!/usr/bin/env python3
"""The page of `musegen serve` in a real browser (Debian's chromium, driven headless by
chromium-driver through python3-selenium), as a person uses it: load the page, pick the
model, click Generate, wait for the piano roll and the <audio> element; the audio has a
duration and plays (play() resolves and currentTime advances), the playhead on the roll
follows it, the piece's metrics stand beside the model's data's, the run is listed under
Training runs, a `musegen train` started meanwhile shows as training with a curve that
grows, the MIDI and WAV download links give a MIDI file mido reads and a RIFF/WAVE file
Python's wave module reads, and the browser's console has no errors. A screenshot is kept
as the test's artifact (WORKDIR/browser_check.png).

The model is a tiny run made here with the musegen binary (preprocess + train --max-steps),
from the JSB chorales when $MUSEGEN_DATA_DIR has them, else from synthetic MIDI files
written with mido: nothing slow is trained.

  browser_check.py --musegen EXE --workdir DIR

Exit codes: 0 passed, 1 failed (the reason printed), 77 skipped (a tool is missing: said
which, and how to install it).
"""
import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import wave

from serve_support import Failed, check, make_duo_run, make_tiny_run, start_server, stop_server

SKIP = 77


def skip(why):
    print("skipped: " + why)
    sys.exit(SKIP)


def find_tool(names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def fetch(url):
    with urllib.request.urlopen(url, timeout=20) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def follow_live_training(driver, musegen, workdir):
    """`musegen train` in another process (as in another terminal): the page lists the run
    as training and its last step and curve grow while it writes metrics.csv."""
    from selenium.webdriver.support.ui import WebDriverWait
    run = os.path.join(workdir, "runs", "live")
    train = subprocess.Popen([musegen, "train", os.path.join(workdir, "data.mgds"), "--run-dir", run,
                              "--embed", "64", "--hidden", "128", "--max-steps", "1000000", "--batch", "8",
                              "--seq-len", "64", "--no-tensorboard", "--sample-steps", "0", "--quiet",
                              "--log-seconds", "0", "--checkpoint-every", "0"])
    row = """const r = [...document.querySelectorAll('#runs tbody tr')].find((r) => r.cells[0].textContent === 'live');
             return r ? {state: r.cells[1].textContent, step: Number(r.cells[2].textContent),
                         points: r.querySelector('polyline') ? r.querySelector('polyline').getAttribute('points').split(' ').length : 0} : null;"""

    def live(d, after=0):
        r = d.execute_script(row)
        return r if r and r["state"] == "training" and r["step"] > after else None

    try:
        wait = WebDriverWait(driver, 20, poll_frequency=0.2)
        first = wait.until(live)
        later = wait.until(lambda d: live(d, first["step"]))
        print(f"live run: training, step {first['step']} ({first['points']} points) -> step {later['step']} "
              f"({later['points']} points)")
        check(later["points"] >= 2, f"expected a curve of the live run, found {later['points']} points")
    finally:
        train.send_signal(signal.SIGINT)  # Ctrl-C: train checkpoints and exits
        train.wait(timeout=30)


def generate_for_a_duo(driver):
    """The multitrack model: the instruments field appears, an ensemble typed in makes a roll
    with one colour per instrument and a legend naming them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    select = Select(driver.find_element(By.ID, "model"))
    select.select_by_index([i for i, o in enumerate(select.options) if o.text.startswith("duo")][0])
    field = driver.find_element(By.ID, "instruments")
    check(field.is_displayed(), "expected the instruments field for the multitrack model, found it hidden")
    field.send_keys("cello, violin")
    Select(driver.find_element(By.ID, "length-unit")).select_by_value("steps")
    length = driver.find_element(By.ID, "length")
    length.clear()
    length.send_keys("120")
    old = driver.find_element(By.ID, "piece-id").text
    driver.find_element(By.ID, "generate").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "piece-id").text not in ("", old)
                                    or d.find_element(By.ID, "error").text)
    error = driver.find_element(By.ID, "error").text
    check(not error, "the page shows an error after Generate with instruments: " + error)
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "return document.querySelectorAll('#roll svg rect.note').length > 0;"))
    legend = driver.execute_script("return [...document.querySelectorAll('#roll svg text.legend')].map((t) => t.textContent);")
    colours = driver.execute_script(
        "return [...document.querySelectorAll('#roll svg rect.legend-swatch')].map((r) => r.getAttribute('fill'));")
    print(f"duo: legend {legend}, colours {colours}")
    check(sorted(legend) == ["Cello", "Violin"], f"expected a legend naming Cello and Violin, found {legend}")
    check(len(set(colours)) == 2, f"expected one colour per instrument, found {colours}")


def browse(url, workdir, chromium, chromedriver, musegen):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,2000", "--autoplay-policy=no-user-gesture-required",
              "--mute-audio"):
        options.add_argument(a)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.set_script_timeout(20)
        driver.get(url)
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: len(Select(d.find_element(By.ID, "model")).options) > 0)
        select = Select(driver.find_element(By.ID, "model"))
        names = [o.text for o in select.options]
        check(any(n.startswith("tiny") for n in names), "expected the model 'tiny' in the list, found " + repr(names))
        select.select_by_index([i for i, n in enumerate(names) if n.startswith("tiny")][0])
        # A roll model knows no instruments: the field is not shown (nor the MIDI file's,
        # with a primer from the data).
        for hidden in ("instruments", "primer-file"):
            check(not driver.find_element(By.ID, hidden).is_displayed(),
                  f"expected #{hidden} hidden for a roll model with a primer from its data, found it shown")
        length = driver.find_element(By.ID, "length")
        length.clear()
        length.send_keys("6")  # seconds
        driver.find_element(By.ID, "generate").click()

        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.find_element(By.ID, "piece").is_displayed()
                   or d.find_element(By.ID, "error").text)
        error = driver.find_element(By.ID, "error").text
        check(not error, "the page shows an error after Generate: " + error)
        # The roll: an inline SVG with notes drawn in it.
        wait.until(lambda d: d.execute_script(
            "const r = document.querySelector('#roll svg'); return r && r.querySelectorAll('rect.note').length > 0;"))
        notes = driver.execute_script("return document.querySelectorAll('#roll svg rect.note').length;")
        print(f"piano roll: {notes} notes")
        # The audio: loaded, with a duration.
        wait.until(lambda d: d.execute_script(
            "const a = document.getElementById('audio'); return a.readyState >= 1 && a.duration > 0;"))
        duration = driver.execute_script("return document.getElementById('audio').duration;")
        check(duration > 0, f"expected the audio to have a duration > 0, found {duration}")
        print(f"audio: {duration:.2f} s")
        played = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const a = document.getElementById('audio');
            const head = () => { const p = document.querySelector('#roll svg .playhead');
                                 return p ? Number(p.getAttribute('x1')) : null; };
            const h0 = head();
            a.play().then(() => {
              const t0 = a.currentTime;
              setTimeout(() => { done({ok: true, t0, t1: a.currentTime, h0, h1: head()}); a.pause(); }, 1200);
            }).catch((e) => done({ok: false, error: String(e)}));""")
        check(played["ok"], "expected audio.play() to resolve, it was rejected: " + str(played.get("error")))
        check(played["t1"] > played["t0"],
              f"expected currentTime to advance while playing, found {played['t0']} then {played['t1']}")
        print(f"played: currentTime {played['t0']:.2f} -> {played['t1']:.2f} s")
        check(played["h1"] is not None, "expected a playhead (.playhead) on the piano roll, found none")
        check(played["h0"] is not None and played["h1"] > played["h0"],
              f"expected the playhead to move right while playing, found x {played['h0']} then {played['h1']}")
        print(f"playhead: x {played['h0']} -> {played['h1']}")
        # The piece's metrics beside the data's (the third column filled).
        data_cells = driver.execute_script(
            "return [...document.querySelectorAll('#metrics tbody tr')].map((r) => r.cells[2].textContent);")
        check(any("±" in c for c in data_cells),
              "expected the model's data metrics (mean ± sd) beside the piece's, found " + repr(data_cells[:4]))
        # The training run listed with its curve.
        wait.until(lambda d: d.execute_script(
            "return document.querySelectorAll('#runs tbody tr').length > 0;"))
        run_names = driver.execute_script(
            "return [...document.querySelectorAll('#runs tbody tr')].map((r) => r.cells[0].textContent);")
        check("tiny" in run_names, "expected the run 'tiny' under Training runs, found " + repr(run_names))

        driver.save_screenshot(os.path.join(workdir, "browser_check.png"))
        follow_live_training(driver, musegen, workdir)
        chosen = Select(driver.find_element(By.ID, "model")).first_selected_option.text
        check(chosen.startswith("tiny"),
              f"expected the model chosen to stay 'tiny' when the list grows, found {chosen!r}")
        links = {k: driver.find_element(By.ID, "download-" + k).get_attribute("href") for k in ("midi", "wav")}
        generate_for_a_duo(driver)
        driver.save_screenshot(os.path.join(workdir, "browser_check-duo.png"))
        logs = driver.get_log("browser")
    finally:
        driver.quit()
    return links, logs


def check_downloads(links):
    import mido
    status, kind, midi = fetch(links["midi"])
    check(status == 200, f"MIDI download: expected 200, found {status}")
    check(midi[:4] == b"MThd", f"MIDI download: expected a file starting with MThd, found {midi[:4]!r}")
    parsed = mido.MidiFile(file=io.BytesIO(midi))
    notes = sum(1 for track in parsed.tracks for m in track if m.type == "note_on" and m.velocity > 0)
    check(notes > 0, "MIDI download: mido reads it, but it has no notes")
    print(f"MIDI: {len(midi)} bytes, {notes} notes ({kind})")
    status, kind, wav = fetch(links["wav"])
    check(status == 200, f"WAV download: expected 200, found {status}")
    check(wav[:4] == b"RIFF" and wav[8:12] == b"WAVE",
          f"WAV download: expected RIFF....WAVE, found {wav[:12]!r}")
    with wave.open(io.BytesIO(wav)) as w:
        frames, rate = w.getnframes(), w.getframerate()
    check(frames > 0 and rate > 0, f"WAV download: expected frames at a rate, found {frames} at {rate} Hz")
    print(f"WAV: {len(wav)} bytes, {frames / rate:.2f} s at {rate} Hz ({kind})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--musegen", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()

    try:
        import selenium  # noqa: F401
    except ImportError:
        skip("python3-selenium is not installed (scripts/setup.sh installs it: apt-get install python3-selenium)")
    try:
        import mido  # noqa: F401
    except ImportError:
        skip("python3-mido is not installed (apt-get install python3-mido)")
    chromium = find_tool(["chromium", "chromium-browser", "google-chrome"])
    chromedriver = find_tool(["chromedriver"])
    if not chromium or not chromedriver:
        skip("no chromium or no chromedriver on PATH (scripts/setup.sh installs them: "
             "apt-get install chromium chromium-driver)")

    start = time.monotonic()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    runs = make_tiny_run(args.musegen, args.workdir)
    make_duo_run(args.musegen, args.workdir)
    server, url = start_server(args.musegen, runs, os.path.join(args.workdir, "pieces"))
    print("server: " + url)
    try:
        links, logs = browse(url, args.workdir, chromium, chromedriver, args.musegen)
        check_downloads(links)
        errors = [e for e in logs if e.get("level") == "SEVERE"]
        for e in logs:
            print(f"console: {e.get('level')} {e.get('message')}")
        check(not errors, "expected no errors in the browser's console, found: " +
              "; ".join(e.get("message", "") for e in errors))
    finally:
        code = stop_server(server)
    check(code == 0, f"expected the server to exit with 0 after SIGINT, found {code}")
    print(f"screenshot: {os.path.join(args.workdir, 'browser_check.png')}")
    print(f"passed in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        print("FAILED: " + str(e))
        sys.exit(1)
