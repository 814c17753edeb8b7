"""What an examiner looks at: both sides of a possible match, drawn (Pillow, MIT-CMU licence).

Each finger position the probe and the candidate share is drawn side by side as
a minutiae plot — ridge endings as circles, bifurcations as squares, each with
a tick along its direction, on the template's own image frame — with the
comparison score between them; below, the probe's face token image when the
record carried one. Examiners compare minutiae configurations this way; the
plots hold nothing an ISO/IEC 19794-2 template does not.

The sheet is made in memory for the console to serve (never cached, never
written to disk).
"""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFont

from central.verification import Evidence
from wire.iso19794_2 import BIFURCATION, MinutiaeRecord, TemplateError

PLOT = 300
"""Width of one minutiae plot, in pixels."""
MARGIN = 12
INK = (20, 20, 20)
ENDING = (200, 40, 40)
FORK = (30, 90, 200)


def minutiae_plot(template: bytes, title: str) -> Image.Image:
    """One template drawn as a minutiae plot (a grey panel saying why if it cannot be read)."""
    font = ImageFont.load_default(14)
    try:
        record = MinutiaeRecord.decode(template)
    except TemplateError as exc:
        panel = Image.new("RGB", (PLOT, PLOT), (235, 235, 235))
        ImageDraw.Draw(panel).text((MARGIN, MARGIN), f"unreadable: {exc}"[:40], fill=INK, font=font)
        return panel
    scale = (PLOT - 2 * MARGIN) / max(record.width, record.height, 1)
    height = int(record.height * scale) + 2 * MARGIN + 22
    panel = Image.new("RGB", (PLOT, height), "white")
    draw = ImageDraw.Draw(panel)
    top = MARGIN + 22
    draw.rectangle(
        (MARGIN, top, MARGIN + record.width * scale, top + record.height * scale),
        outline=(180,) * 3,
    )
    count = 0
    for view in record.views[:1]:
        for m in view.minutiae:
            x, y = MARGIN + m.x * scale, top + m.y * scale
            colour = FORK if m.kind == BIFURCATION else ENDING
            box = (x - 3, y - 3, x + 3, y + 3)
            if m.kind == BIFURCATION:
                draw.rectangle(box, outline=colour, width=2)
            else:
                draw.ellipse(box, outline=colour, width=2)
            # image y points down; the angle is counter-clockwise from the x axis
            draw.line((x, y, x + 12 * math.cos(m.angle), y - 12 * math.sin(m.angle)), fill=colour)
            count += 1
    draw.text((MARGIN, MARGIN - 4), f"{title} - {count} minutiae", fill=INK, font=font)
    return panel


def sheet(evidence: Evidence, reference: str) -> bytes:
    """The whole comparison as one PNG: finger pairs by position, then the face image."""
    font = ImageFont.load_default(16)
    rows: list[Image.Image] = []
    candidate = dict(evidence.candidate.fingers)
    for index, (position, probe) in enumerate(evidence.probe.fingers):
        left = minutiae_plot(probe, f"check, finger {position}")
        mate = candidate.get(position)
        if mate is None and len(candidate) == 1:
            mate = next(iter(candidate.values()))  # a probe of unknown position
        right = (
            minutiae_plot(mate, f"{reference}, finger {position}")
            if mate is not None
            else _note(f"{reference}: no finger {position} enrolled")
        )
        score = (
            evidence.finger_scores[index] if index < len(evidence.finger_scores) else float("nan")
        )
        rows.append(_pair(left, right, f"score {score:.3f}", font))
    if evidence.probe.face_image is not None:
        try:
            face = Image.open(io.BytesIO(evidence.probe.face_image)).convert("RGB")
            face.thumbnail((PLOT, PLOT))
        except (OSError, ValueError):
            face = _note("the face image cannot be read")
        similarity = evidence.face_similarity
        label = "face similarity " + ("-" if similarity is None else f"{similarity:.3f}")
        rows.append(_pair(face, _note(f"{reference}: embedding only"), label, font))
    elif evidence.face_similarity is not None:
        rows.append(_note(f"face similarity {evidence.face_similarity:.3f} (no image sent)"))
    if not rows:
        rows.append(_note("no comparable evidence"))
    width = max(r.width for r in rows)
    out = Image.new("RGB", (width, sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    buffer = io.BytesIO()
    out.save(buffer, "PNG")
    return buffer.getvalue()


def _pair(left: Image.Image, right: Image.Image, label: str, font: ImageFont.FreeTypeFont
          | ImageFont.ImageFont) -> Image.Image:  # fmt: skip
    gap = 110
    height = max(left.height, right.height) + MARGIN
    row = Image.new("RGB", (left.width + gap + right.width, height), "white")
    row.paste(left, (0, 0))
    row.paste(right, (left.width + gap, 0))
    ImageDraw.Draw(row).text((left.width + 6, height // 2), label, fill=INK, font=font)
    return row


def _note(text: str) -> Image.Image:
    panel = Image.new("RGB", (PLOT, 80), (245, 245, 245))
    ImageDraw.Draw(panel).text((MARGIN, 30), text[:44], fill=INK, font=ImageFont.load_default(14))
    return panel
