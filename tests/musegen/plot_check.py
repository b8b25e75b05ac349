#!/usr/bin/env python3
"""Independent decoder for tests/musegen/test_plot.cpp: reads what musegen wrote with PIL,
Python's zlib and xml.etree (none of which shares code with musegen's encoder).

  plot_check.py png FILE RAW_OUT X,Y...  prints "W H", then "R G B" per point; writes the
                                         decoded RGB pixels, rows top to bottom, to RAW_OUT
  plot_check.py svg FILE                 prints "W H NOTES RECTS" (NOTES: <rect class="note">)
  plot_check.py svg-panel FILE SERIES    the plot-metrics panel that holds the dots of SERIES
                                         (<rect class="SERIES">): prints "title=TEXT", then
                                         "ticks=LABEL@ROW ..." for its y axis (the pixel row of
                                         each tick line and the label beside it), then
                                         "points=COLUMN,ROW ..." (the centre pixel of each dot)
  plot_check.py inflate COMPRESSED ORIGINAL  prints "ok" when zlib.decompress gives ORIGINAL
"""
import sys
import zlib
import xml.etree.ElementTree as ET


def main():
    mode = sys.argv[1]
    if mode == "png":
        from PIL import Image
        with Image.open(sys.argv[2]) as im:
            im.load()
            if im.format != "PNG" or im.mode != "RGB":
                print(f"expected an RGB PNG, found {im.format} {im.mode}")
                return 1
            print(im.width, im.height)
            with open(sys.argv[3], "wb") as raw:
                raw.write(im.tobytes())
            for point in sys.argv[4:]:
                x, y = (int(v) for v in point.split(","))
                print(*im.getpixel((x, y)))
    elif mode == "svg":
        root = ET.parse(sys.argv[2]).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        rects = root.findall(f".//{ns}rect")
        notes = [r for r in rects if r.get("class") == "note"]
        print(root.get("width"), root.get("height"), len(notes), len(rects))
    elif mode == "svg-panel":
        root = ET.parse(sys.argv[2]).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        series = sys.argv[3]
        # Lines run through pixel centres (x + 0.5); a dot is a 3x3 rect, its centre one pixel in.
        dots = [(int(r.get("x")) + 1, int(r.get("y")) + 1) for r in root.findall(f"{ns}rect")
                if r.get("class") == series]
        if not dots:
            print(f"no <rect class=\"{series}\">")
            return 1
        lines = [(l.get("class"), *(float(l.get(a)) - 0.5 for a in ("x1", "y1", "x2", "y2")))
                 for l in root.findall(f"{ns}line")]
        # The frames: horizontal axis lines, top and bottom of each panel in turn.
        edges = sorted({y1 for c, x1, y1, x2, y2 in lines if c == "axis" and y1 == y2})
        panels = [(edges[i], edges[i + 1]) for i in range(0, len(edges) - 1, 2)]
        top, bottom = next(p for p in panels if all(p[0] < y < p[1] for _, y in dots))
        texts = [(t.get("class"), int(t.get("x")), int(t.get("y")), t.text) for t in root.findall(f"{ns}text")]
        # The title is above the frame; a label is left of its tick, its 7-pixel glyphs
        # centred on the tick's row (baseline = row - 3 + 7, rounded).
        title = next(text for c, x, y, text in texts if c == "panel-title" and top - 12 <= y - 7 <= top)
        ticks = []
        for c, x1, y1, x2, y2 in lines:
            if c == "tick" and y1 == y2 and top < y1 <= bottom:
                label = min((abs(y - 4 - y1), text) for k, x, y, text in texts if k == "tick-label" and x < x1)
                if label[0] <= 1:
                    ticks.append(f"{label[1]}@{int(y1)}")
        print("title=" + title)
        print("ticks=" + " ".join(ticks))
        print("points=" + " ".join(f"{x},{y}" for x, y in dots))
    elif mode == "inflate":
        with open(sys.argv[2], "rb") as f:
            compressed = f.read()
        with open(sys.argv[3], "rb") as f:
            original = f.read()
        print("ok" if zlib.decompress(compressed) == original else "mismatch")
    else:
        print("unknown mode", mode)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
