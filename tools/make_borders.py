"""Make borders.json (country borders and coasts as lon/lat lines) from world-atlas.

Reproducible: ``npm pack world-atlas@2.0.2``, unpack, then
``python tools/make_borders.py package/countries-50m.json > central/data/borders.json``.
world-atlas (ISC licence, Mike Bostock) is Natural Earth's 1:50m admin-0 countries
(public domain) as TopoJSON; each arc (a border or coast segment, shared by the
countries on both sides) becomes one line, rounded to 0.01 degree (about 1 km).
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    with open(path) as handle:
        topo = json.load(handle)
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    lines = []
    for arc in topo["arcs"]:
        x = y = 0
        line: list[list[float]] = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            point = [round(x * sx + tx, 2), round(y * sy + ty, 2)]
            if not line or point != line[-1]:
                line.append(point)
        if len(line) > 1:
            lines.append(line)
    json.dump(
        {
            "source": "Natural Earth 1:50m admin-0 countries via world-atlas 2.0.2 (ISC)",
            "licence": "Natural Earth: public domain; world-atlas: ISC, (c) 2013-2019 Mike Bostock",
            "lines": lines,
        },
        sys.stdout,
        separators=(",", ":"),
    )


if __name__ == "__main__":
    main(sys.argv[1])
