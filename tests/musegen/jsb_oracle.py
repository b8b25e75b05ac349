#!/usr/bin/env python3
"""Oracle for the JSB chorales reading: prints each chorale of a JSB JSON file, as Python's
own json module reads it, one line per time step: "<split> <index> <step>: <pitches>", with
-1 (silent voices) left out and the pitches sorted and distinct. test_dataset.cpp compares
this with the roll frames musegen preprocess makes from the same file."""
import json
import sys


def main():
    with open(sys.argv[1]) as f:  # JSON numbers may be written 60.0: int() them
        data = json.load(f)
    out = []
    for split in ("train", "valid", "test"):
        for i, chorale in enumerate(data.get(split, [])):
            for s, step in enumerate(chorale):
                pitches = sorted(set(int(p) for p in step if p >= 0))
                out.append("%s %d %d:%s" % (split, i, s, "".join(" %d" % p for p in pitches)))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
