#!/usr/bin/env python3
"""Independent decoder for tests/musegen/test_plot.cpp: reads what musegen wrote with PIL,
Python's zlib and xml.etree (none of which shares code with musegen's encoder).

  plot_check.py png FILE RAW_OUT X,Y...  prints "W H", then "R G B" per point; writes the
                                         decoded RGB pixels, rows top to bottom, to RAW_OUT
  plot_check.py svg FILE                 prints "W H NOTES RECTS" (NOTES: <rect class="note">)
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
