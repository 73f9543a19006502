"""Server-rendered SVG for the review pages: bar charts and plot maps that need no network and no JS.

The map draws the campaign region and the plots in Lambert-93 directly (metres map linearly to pixels),
so it works offline and on any browser; it is the coordinators' overview, not a GIS.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.gis.geos import GEOSGeometry
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

STATUS_COLOURS = {
    "submitted": "#9e9e9e",
    "qc_flagged": "#e65100",
    "qc_passed": "#1e88e5",
    "validated": "#2e7d32",
    "needs_changes": "#f9a825",
    "rejected": "#c62828",
}


def bar_chart_svg(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 520,
    bar_height: int = 18,
    colour: str = "#1e88e5",
    unit: str = "",
) -> SafeString:
    """Horizontal bars with their labels and values; an empty series says so."""
    label_width = 170
    height = 28 + max(len(bars), 1) * (bar_height + 6)
    top = max((value for _, value in bars), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fc-chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>',
        f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    if not bars:
        parts.append('<text x="0" y="40" font-size="12" fill="#666">no data yet</text>')
    span = width - label_width - 60
    for i, (label, value) in enumerate(bars):
        y = 28 + i * (bar_height + 6)
        length = span * value / top
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar_height - 5}" font-size="12" text-anchor="end">'
            f"{escape(str(label)[:28])}</text>"
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{colour}"/>'
            f'<text x="{label_width + length + 4:.1f}" y="{y + bar_height - 5}" font-size="12">'
            f"{value:g}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label and title is escaped above


def stacked_bar_chart_svg(
    rows: Sequence[tuple[str, dict[str, float]]],
    *,
    title: str,
    colours: dict[str, str],
    width: int = 620,
    bar_height: int = 18,
) -> SafeString:
    """Horizontal stacked bars (e.g. relevés per week by status), with a legend."""
    label_width = 120
    height = 50 + max(len(rows), 1) * (bar_height + 6)
    top = max((sum(parts.values()) for _, parts in rows), default=0) or 1
    span = width - label_width - 50
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fc-chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>',
        f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    x = 0
    for key, colour in colours.items():
        out.append(
            f'<rect x="{x}" y="24" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="33" font-size="11">{escape(key)}</text>'
        )
        x += 16 + 7 * len(key)
    if not rows:
        out.append('<text x="0" y="60" font-size="12" fill="#666">no data yet</text>')
    for i, (label, parts) in enumerate(rows):
        y = 44 + i * (bar_height + 6)
        out.append(
            f'<text x="{label_width - 6}" y="{y + bar_height - 5}" font-size="12" text-anchor="end">'
            f"{escape(str(label))}</text>"
        )
        x0 = float(label_width)
        for key, colour in colours.items():
            value = parts.get(key, 0)
            if value:
                length = span * value / top
                out.append(
                    f'<rect x="{x0:.1f}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{colour}">'
                    f"<title>{escape(key)}: {value:g}</title></rect>"
                )
                x0 += length
        out.append(f'<text x="{x0 + 4:.1f}" y="{y + bar_height - 5}" font-size="12">{sum(parts.values()):g}</text>')
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every label and title is escaped above


@dataclass(frozen=True, slots=True)
class MapPoint:
    x: float  # EPSG:2154
    y: float
    colour: str = "#1e88e5"
    title: str = ""
    href: str = ""
    radius: float = 3.0
    shape: str = "circle"  # circle or square


def _rings(geometry: GEOSGeometry) -> Iterable[Sequence[tuple[float, float]]]:
    coords: Any = geometry.coords  # type: ignore[attr-defined]  # polygons have coords; GEOSGeometry's stub not
    if geometry.geom_type == "Polygon":
        yield from coords
    elif geometry.geom_type == "MultiPolygon":
        for polygon in coords:
            yield from polygon


def map_svg(
    *,
    points: Sequence[MapPoint],
    region: GEOSGeometry | None = None,
    footprint: GEOSGeometry | None = None,
    width: int = 520,
    height: int = 420,
    padding_m: float = 0.0,
    title: str = "Map of plots",
) -> SafeString:
    """Plots (and the region outline, a footprint) drawn to scale in Lambert-93."""
    xs = [p.x for p in points]
    ys = [p.y for p in points]
    extent_geom = region if region is not None else footprint
    if extent_geom is not None and not xs:
        x0, y0, x1, y1 = extent_geom.extent
    elif xs:
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        if region is not None and padding_m == 0:
            x0, y0, x1, y1 = region.extent
    else:
        return mark_safe('<p class="fc-map-empty">No plot to show.</p>')
    x0, y0, x1, y1 = x0 - padding_m, y0 - padding_m, x1 + padding_m, y1 + padding_m
    scale = min((width - 20) / max(x1 - x0, 1.0), (height - 20) / max(y1 - y0, 1.0))

    def px(x: float, y: float) -> tuple[float, float]:
        return 10 + (x - x0) * scale, height - 10 - (y - y0) * scale

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fc-map" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="background:#f4f7f4;border:1px solid #ccc">'
        f"<title>{escape(title)}</title>"
    ]
    for geometry, style in (
        (region, 'fill="#e8f0e8" stroke="#6a8f6a"'),
        (footprint, 'fill="#fff3c4" stroke="#b58900"'),
    ):
        if geometry is None:
            continue
        for ring in _rings(geometry):
            step = max(1, len(ring) // 2000)  # a region outline needs no more than ~2,000 vertices at this size
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in (px(x, y) for x, y in ring[::step]))
            out.append(f'<polygon points="{path}" {style} stroke-width="1"/>')
    # One group per colour carries the paint: a list map draws thousands of plots, and the page's weight
    # (and the server's time writing it) is mostly these marks.
    groups: dict[str, list[MapPoint]] = {}
    for p in points:
        groups.setdefault(p.colour, []).append(p)
    for colour, members in groups.items():
        out.append(f'<g fill="{html.escape(colour)}" stroke="#333" stroke-width="0.5">')
        for p in members:
            cx, cy = px(p.x, p.y)
            if p.shape == "square":
                mark = (
                    f'<rect x="{cx - p.radius:.1f}" y="{cy - p.radius:.1f}" width="{2 * p.radius:.1f}" '
                    f'height="{2 * p.radius:.1f}"><title>{html.escape(p.title)}</title></rect>'
                )
            else:
                mark = (
                    f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{p.radius:g}">'
                    f"<title>{html.escape(p.title)}</title></circle>"
                )
            out.append(f'<a href="{html.escape(p.href)}">{mark}</a>' if p.href else mark)
        out.append("</g>")
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - titles and links are escaped above
