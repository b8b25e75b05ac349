#!/usr/bin/env python3
"""Reads a folder of TensorBoard event files with TensorBoard's own readers and compares what
they give with a list of expected values.

Two readers, both from the `tensorboard` package (pip install tensorboard):
  * event_accumulator.EventAccumulator: the classic reader (Scalars, Images), which also
    applies SessionLog.START purging and checks every record's CRCs;
  * plugin_event_accumulator.EventAccumulator: what the TensorBoard server itself uses; it
    converts simple_value scalars and images to the plugins' tensors (data_compat), so this
    checks that the dashboards would show them.

usage: tensorboard_check.py LOGDIR EXPECTED
EXPECTED has one line per value, fields separated by tabs:
  scalar  TAG  STEP  VALUE [RTOL]   VALUE is compared as float32, exactly (NaN equals NaN),
                                   or within the relative tolerance RTOL when given
  image   TAG  STEP  WIDTH  HEIGHT  HEXBYTES   the PNG bytes as stored
  png     TAG  STEP  WIDTH  HEIGHT  an image whose bytes PIL decodes to WIDTH x HEIGHT
  tags    scalar|image  TAG,TAG,... the exact set of tags of that kind (empty: none)
Each scalar and image tag must hold exactly the steps listed for it, in order.
Exit 0 when everything agrees; otherwise every difference is printed and the exit is 1.
"""
import math
import struct
import sys
from collections import defaultdict

from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import plugin_event_accumulator as pea
from tensorboard.util import tensor_util


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def same(a, b, rtol=0.0):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= rtol * abs(b)


def scalars_agree(got, want):
    return len(got) == len(want) and all(
        g[0] == w[0] and same(g[1], w[1], w[2]) for g, w in zip(got, want))


def image_matches(got, want):
    """got: (step, width, height, bytes); want: the same, or bytes None for "PIL decodes it"."""
    if got[:3] != want[:3]:
        return False
    if want[3] is not None:
        return got[3] == want[3]
    import io
    from PIL import Image
    try:
        with Image.open(io.BytesIO(got[3])) as image:
            image.load()
            return image.format == "PNG" and image.size == (want[1], want[2])
    except Exception:
        return False


def images_agree(got, want):
    return len(got) == len(want) and all(image_matches(g, w) for g, w in zip(got, want))


def main():
    logdir, expected_path = sys.argv[1], sys.argv[2]
    scalars = defaultdict(list)
    images = defaultdict(list)
    tag_sets = {}
    with open(expected_path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "scalar":
                rtol = float(fields[4]) if len(fields) > 4 else 0.0
                scalars[fields[1]].append((int(fields[2]), f32(float(fields[3])), rtol))
            elif fields[0] == "image":
                images[fields[1]].append(
                    (int(fields[2]), int(fields[3]), int(fields[4]), bytes.fromhex(fields[5])))
            elif fields[0] == "png":
                images[fields[1]].append((int(fields[2]), int(fields[3]), int(fields[4]), None))
            elif fields[0] == "tags":
                tag_sets[fields[1]] = set(t for t in fields[2].split(",") if t)
            elif fields[0]:
                raise SystemExit(f"{expected_path}: unknown line kind {fields[0]!r}")

    errors = []
    classic = ea.EventAccumulator(logdir, size_guidance={ea.SCALARS: 0, ea.IMAGES: 0})
    classic.Reload()
    tags = classic.Tags()
    if "scalar" in tag_sets and set(tags["scalars"]) != tag_sets["scalar"]:
        errors.append(f"scalar tags: read {sorted(tags['scalars'])}, expected {sorted(tag_sets['scalar'])}")
    if "image" in tag_sets and set(tags["images"]) != tag_sets["image"]:
        errors.append(f"image tags: read {sorted(tags['images'])}, expected {sorted(tag_sets['image'])}")

    for tag, want in scalars.items():
        got = [(e.step, e.value) for e in classic.Scalars(tag)] if tag in tags["scalars"] else []
        if not scalars_agree(got, want):
            errors.append(f"scalar {tag}: read {got}, expected {[w[:2] for w in want]}")
    for tag, want in images.items():
        got = [(e.step, e.width, e.height, e.encoded_image_string)
               for e in classic.Images(tag)] if tag in tags["images"] else []
        if not images_agree(got, want):
            errors.append(f"image {tag}: read {[(g[0], g[1], g[2], len(g[3])) for g in got]}, "
                          f"expected {[(w[0], w[1], w[2], len(w[3]) if w[3] is not None else 'PNG') for w in want]}")

    # The server's path: plugin tensors.
    server = pea.EventAccumulator(logdir, size_guidance={pea.TENSORS: 0})
    server.Reload()
    plugins = server.PluginTagToContent("scalars")
    for tag, want in scalars.items():
        if tag not in plugins:
            errors.append(f"server: scalar {tag} is not in the scalars plugin")
            continue
        got = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in server.Tensors(tag)]
        if not scalars_agree(got, want):
            errors.append(f"server: scalar {tag}: read {got}, expected {[w[:2] for w in want]}")
    image_plugin = server.PluginTagToContent("images") if images else {}
    for tag, want in images.items():
        if tag not in image_plugin:
            errors.append(f"server: image {tag} is not in the images plugin")
            continue
        got = []
        for e in server.Tensors(tag):
            width, height, png = tensor_util.make_ndarray(e.tensor_proto)[:3]
            got.append((e.step, int(width), int(height), bytes(png)))
        if not images_agree(got, want):
            errors.append(f"server: image {tag}: read {[(g[0], g[1], g[2], len(g[3])) for g in got]}")

    if errors:
        print("\n".join(errors))
        return 1
    n_scalars = sum(len(v) for v in scalars.values())
    n_images = sum(len(v) for v in images.values())
    print(f"tensorboard {__import__('tensorboard').__version__} read {n_scalars} scalars and "
          f"{n_images} images as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
