#!/usr/bin/env python3
# tests/tray/icon_colour.py SHOT.png ICON_DIR X Y W H: which cabsync icon is
# shown in the rectangle of the screenshot? Each icon's colour is the fill of
# the circle of agent/tray/icons/cabsync-STATE.svg; the pixels of the
# rectangle close to each colour are counted (ImageMagick gives raw RGB, no
# Python imaging library needed). Prints the winning state and the counts;
# "none" when no icon colour covers at least 150 pixels.
import glob
import os
import re
import subprocess
import sys

shot, icons, x, y, w, h = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
palette = {}
for svg in sorted(glob.glob(os.path.join(icons, "cabsync-*.svg"))):
    state = os.path.basename(svg)[len("cabsync-"):-len(".svg")]
    m = re.search(r'<circle[^>]*fill="#([0-9a-fA-F]{6})"', open(svg).read())
    palette[state] = tuple(int(m.group(1)[i:i + 2], 16) for i in (0, 2, 4))
raw = subprocess.run(["convert", shot, "-crop", f"{w}x{h}+{x}+{y}", "+repage", "-depth", "8",
                      "rgb:-"], check=True, capture_output=True).stdout
counts = dict.fromkeys(palette, 0)
for i in range(0, len(raw) - 2, 3):
    px = raw[i], raw[i + 1], raw[i + 2]
    for state, c in palette.items():
        if abs(px[0] - c[0]) + abs(px[1] - c[1]) + abs(px[2] - c[2]) <= 40:
            counts[state] += 1
best = max(counts, key=counts.get)
print(best if counts[best] >= 150 else "none",
      " ".join(f"{s}={n}" for s, n in sorted(counts.items())))
