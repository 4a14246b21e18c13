"""A grouped bar chart of ablation metrics drawn with Pillow (no plotting dependency)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def bar_chart(rows: Sequence[dict[str, Any]], metrics: Sequence[str], path: Path, height: int = 260) -> Path:
    """One group of bars per metric (values in [0, 1]), one colour per variant, legend below."""
    font = ImageFont.load_default()
    widest_metric = max((font.getlength(metric) for metric in metrics), default=0)
    group_width = int(max(40 + 26 * len(rows), widest_metric + 14))  # metric names under the bars never touch
    labels = [str(row["variant"]) for row in rows]
    widest_label = max((font.getlength(label) for label in labels), default=0)
    width = int(max(60 + group_width * len(metrics), 90 + widest_label))  # the legend is never cut off
    legend = 16 * len(rows) + 8
    canvas = Image.new("RGB", (width, height + 40 + legend), "white")
    draw = ImageDraw.Draw(canvas)
    top, bottom = 10, height
    draw.line([(50, top), (50, bottom), (width - 10, bottom)], fill="black")
    for tick in range(0, 11, 2):
        y = bottom - (bottom - top) * tick / 10
        draw.line([(46, y), (50, y)], fill="black")
        draw.text((18, y - 5), f"{tick / 10:.1f}", fill="black", font=font)
    for m, metric in enumerate(metrics):
        x0 = 60 + m * group_width
        for r, row in enumerate(rows):
            value = row.get(metric)
            if value is None:
                continue
            value = max(0.0, min(1.0, float(value)))
            x = x0 + r * 26
            draw.rectangle([x, bottom - (bottom - top) * value, x + 20, bottom], fill=PALETTE[r % len(PALETTE)])
            draw.text((x, bottom - (bottom - top) * value - 12), f"{value:.2f}", fill="black", font=font)
        draw.text((x0, bottom + 6), metric, fill="black", font=font)
    for r, label in enumerate(labels):
        y = height + 34 + 16 * r
        draw.rectangle([60, y, 72, y + 10], fill=PALETTE[r % len(PALETTE)])
        draw.text((78, y - 1), label, fill="black", font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
