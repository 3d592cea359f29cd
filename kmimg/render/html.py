"""A self-contained HTML page for ``kmimg compress-report``.

One file with everything inline: the measures of every k as a table, the contact sheet as a
``data:`` PNG, and a chart of quality against PNG size drawn as inline SVG with exactly one
``<circle class="point">`` per k (and, for a report with dithering, one
``<circle class="dithered-point">`` per k, its dithered PNG). No script and no network: a
Content-Security-Policy (``default-src 'none'``) makes the browser refuse any fetch the page might try.

Pure: reports in, a string out; the caller writes it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from html import escape

from kmimg._records import frozen
from kmimg.core.report import (
    Aggregate,
    CompressReport,
    DitheredResult,
    KResult,
    Metric,
    dither_note,
    human_bytes,
)
from kmimg.types import psnr_text

_CHART_W = 560
_CHART_H = 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 24, 16, 48

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem;
       color: #222; background: #fff; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2.5rem; border-top: 1px solid #ccc;
       padding-top: 1rem; }
table { border-collapse: collapse; margin: .75rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #e4e4e4; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.recommended td { background: #e6f4ec; font-weight: 600; }
tr.aggregate td { border-top: 2px solid #888; font-weight: 600; }
.verdict { font-weight: 600; } .none { color: #a0302a; } .met { color: #006b40; }
figure { margin: 1rem 0; } figcaption { color: #555; font-size: .9rem; }
svg.chart { max-width: 100%; height: auto; border: 1px solid #ddd; background: #fcfcfc; }
svg.chart .axis { stroke: #444; fill: none; } svg.chart .grid { stroke: #e2e2e2; }
svg.chart .line { fill: none; stroke: #3a6ea5; stroke-width: 1.5; }
svg.chart .point { fill: #3a6ea5; } svg.chart .point.recommended { fill: #00a060; stroke: #004d2e; }
svg.chart .line.dithered { stroke: #c77d1a; stroke-dasharray: 3 3; }
svg.chart .dithered-point { fill: #c77d1a; }
svg.chart .target { stroke: #c0392b; stroke-dasharray: 6 4; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #333; }
img.sheet { max-width: 100%; height: auto; border: 1px solid #ddd; }
"""


@frozen
class HtmlEntry:
    """One image of the page: its name, format, report and contact sheet PNG (if any)."""

    name: str
    input_format: str
    report: CompressReport
    sheet_png: bytes | None = None


def render_html(
    entries: Sequence[HtmlEntry],
    *,
    summary: Aggregate | None = None,
    failures: Sequence[tuple[str, str]] = (),
    settings: str = "",
) -> str:
    """The whole page: a summary table when there are several images, then one section each."""
    title = "kmimg compress-report" + (f": {entries[0].name}" if len(entries) == 1 else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    if settings:
        parts.append(f'<p class="settings">{escape(settings)}</p>')
    if len(entries) > 1 and summary is not None:
        parts.append(_summary_table(entries, summary))
    for number, entry in enumerate(entries, start=1):
        parts.append(_section(entry, number))
    if failures:
        parts.append('<h2>Failed inputs</h2><ul class="failures">')
        parts.extend(f"<li>{escape(source)}: {escape(reason)}</li>" for source, reason in failures)
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _summary_table(entries: Sequence[HtmlEntry], summary: Aggregate) -> str:
    rows = [
        '<table class="summary"><thead><tr><th>image</th><th>input</th><th>plain PNG</th>'
        "<th>recommended k</th><th>PNG at k</th><th>saved vs input</th><th>PSNR dB</th></tr></thead><tbody>"
    ]
    for number, entry in enumerate(entries, start=1):
        report = entry.report
        best = report.recommended
        cells = [
            f'<a href="#image-{number}">{escape(entry.name)}</a>',
            human_bytes(report.input_bytes),
            human_bytes(report.png24_bytes),
        ]
        if best is None:
            cells += ['<span class="none">none meets the target</span>', "", "", ""]
        else:
            cells += [
                str(best.k),
                human_bytes(best.png_bytes),
                _signed_bytes(report.input_bytes - best.png_bytes),
                psnr_text(best.psnr),
            ]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    total = [
        f"total ({summary.recommended} of {summary.images} meet the target)",
        human_bytes(summary.input_bytes),
        human_bytes(summary.png24_bytes),
        "",
        human_bytes(summary.recommended_bytes),
        _signed_bytes(summary.saved_vs_input),
        "",
    ]
    rows.append('<tr class="aggregate">' + "".join(f"<td>{escape(cell)}</td>" for cell in total) + "</tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _section(entry: HtmlEntry, number: int) -> str:
    report = entry.report
    targets = ", ".join(target.describe() for target in report.targets)
    if report.recommended_k is None:
        verdict = f'<p class="verdict none">No k in this sweep meets the target ({escape(targets)}).</p>'
    else:
        verdict = (
            f'<p class="verdict met">Recommended: k = {report.recommended_k}, the fewest colours meeting '
            f"{escape(targets)}.</p>"
        )
    facts = (
        f"{report.width}×{report.height} pixels, {human_bytes(report.input_bytes)} "
        f"{escape(entry.input_format)}, {report.distinct_colors:,} distinct colours; "
        f"as a plain truecolour PNG {human_bytes(report.png24_bytes)}."
    )
    parts = [
        f'<section class="image" id="image-{number}">',
        f"<h2>{escape(entry.name)}</h2>",
        f"<p>{facts}</p>",
        verdict,
        *_dither_paragraph(report),
        _steps_table(report),
        f"<figure>{quality_chart(report)}<figcaption>{_chart_caption(report)}</figcaption></figure>",
    ]
    if entry.sheet_png is not None:
        data = base64.b64encode(entry.sheet_png).decode("ascii")
        parts.append(
            f'<figure><img class="sheet" src="data:image/png;base64,{data}" '
            f'alt="contact sheet of {escape(entry.name)}: the original and each k">'
            "<figcaption>The original and the indexed PNG at each k (the recommended one framed)"
            f"{_SHEET_DITHERED if report.dither else ''}.</figcaption>"
            "</figure>"
        )
    parts.append("</section>")
    return "\n".join(parts)


_SHEET_DITHERED = "; below them, each k dithered"


def _dither_paragraph(report: CompressReport) -> list[str]:
    note = dither_note(report)
    return [] if note is None else [f'<p class="dither">{escape(note)}</p>']


def _steps_table(report: CompressReport) -> str:
    dithered = (
        '<th class="dithered">dithered bytes</th><th>× undithered</th><th>PSNR dB</th><th>SSIM</th>'
        "<th>ΔE2000</th>"
        if report.dither
        else ""
    )
    head = (
        "<tr><th>k</th><th>colours</th><th>PNG bytes</th><th>bits/pixel</th><th>× vs input</th>"
        "<th>× vs plain PNG</th><th>PSNR dB</th><th>SSIM</th><th>ΔE2000</th><th>s</th>"
        f"{dithered}<th>target</th></tr>"
    )
    rows = [f'<table class="steps"><thead>{head}</thead><tbody>']
    for step in report.steps:
        css = ' class="recommended"' if step.k == report.recommended_k else ""
        mark = "recommended" if step.k == report.recommended_k else ("met" if step.meets_target else "")
        cells = [
            str(step.k),
            str(step.colors_used),
            f"{step.png_bytes:,}",
            f"{step.bits_per_pixel:.3f}",
            f"{step.ratio_vs_input:.2f}",
            f"{step.ratio_vs_png24:.2f}",
            psnr_text(step.psnr),
            f"{step.ssim:.4f}",
            f"{step.delta_e:.2f}",
            f"{step.seconds:.2f}",
            *_dithered_cells(step.dithered),
            mark,
        ]
        rows.append(f"<tr{css}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _dithered_cells(dithered: DitheredResult | None) -> list[str]:
    if dithered is None:
        return []
    return [
        f"{dithered.png_bytes:,}",
        f"{dithered.bytes_vs_plain:.2f}",
        psnr_text(dithered.psnr),
        f"{dithered.ssim:.4f}",
        f"{dithered.delta_e:.2f}",
    ]


def _chart_caption(report: CompressReport) -> str:
    metric = _chart_metric(report)
    label = _METRIC_LABEL[metric]
    extra = " (orange, dashed: the same k dithered)" if report.dither else ""
    return f"{escape(label)} against indexed PNG size, one point per k{extra}."


_METRIC_LABEL = {Metric.PSNR: "PSNR (dB)", Metric.SSIM: "SSIM", Metric.DELTA_E: "mean ΔE2000"}


def _chart_metric(report: CompressReport) -> Metric:
    # The quality axis shows what the (first) target is about, so its line can be drawn.
    return report.targets[0].metric if report.targets else Metric.PSNR


def quality_chart(report: CompressReport) -> str:
    """Inline SVG: quality (the first target's measure) against PNG bytes, one point per k.

    Lossless results (infinite PSNR) sit on the top edge, labelled ``lossless``. The target is a
    dashed horizontal line; the recommended k's point is drawn in green.
    """
    metric = _chart_metric(report)
    steps = report.steps
    values = [step.quality(metric) for step in steps]
    dithered = [(step, step.dithered) for step in steps if step.dithered is not None]
    dithered_values = [_dithered_quality(result, metric) for _, result in dithered]
    finite = [value for value in values + dithered_values if math.isfinite(value)]
    target_values = [target.value for target in report.targets if target.metric is metric]
    sizes = [step.png_bytes for step in steps] + [result.png_bytes for _, result in dithered]
    plot = _Plot(*_padded_range(finite + target_values), max(sizes) * 1.08)
    label = _METRIC_LABEL[metric]
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{_CHART_W}" height="{_CHART_H}" '
        f'viewBox="0 0 {_CHART_W} {_CHART_H}" role="img" '
        f'aria-label="{escape(label)} against PNG size, one point per k">',
        *_axes(plot, label),
    ]
    for value in target_values:
        y = plot.y_of(value)
        parts.append(
            f'<line class="target" x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot.width}" y2="{y:.1f}"/>'
        )
        parts.append(f'<text x="{_LEFT + 6}" y="{y - 5:.1f}">target</text>')
    pairs = list(zip(steps, values, strict=True))
    coords = [(plot.x_of(step.png_bytes), plot.y_of(value)) for step, value in pairs]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    parts.append(f'<polyline class="line" points="{path}"/>')
    for (step, value), (x, y) in zip(pairs, coords, strict=True):
        parts.append(_point(step, value, x, y, recommended=step.k == report.recommended_k, metric=metric))
    if dithered:
        parts += _dithered_series(plot, dithered, dithered_values, metric)
    parts.append("</svg>")
    return "".join(parts)


@frozen
class _Plot:
    """The chart's plotting area: quality ``low``..``high`` upwards, 0..``x_high`` bytes across."""

    low: float
    high: float
    x_high: float
    width: int = _CHART_W - _LEFT - _RIGHT
    height: int = _CHART_H - _TOP - _BOTTOM

    def x_of(self, size: float) -> float:
        return _LEFT + self.width * size / self.x_high

    def y_of(self, value: float) -> float:
        if not math.isfinite(value):
            return float(_TOP)
        return _TOP + self.height * (1.0 - (value - self.low) / (self.high - self.low))


def _axes(plot: _Plot, label: str) -> list[str]:
    """Grid lines with their tick labels, the two axes and their titles."""
    parts = []
    right, bottom = _LEFT + plot.width, _TOP + plot.height
    for tick in _ticks(plot.low, plot.high):
        y = plot.y_of(tick)
        parts.append(f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick_text(tick)}</text>')
    for tick in _ticks(0.0, plot.x_high):
        x = plot.x_of(tick)
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{bottom}"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{human_bytes(int(tick))}</text>'
        )
    middle = _TOP + plot.height / 2
    parts.append(
        f'<path class="axis" d="M{_LEFT} {_TOP} V{bottom} H{right}"/>'
        f'<text x="{_LEFT + plot.width / 2:.1f}" y="{_CHART_H - 8}" '
        'text-anchor="middle">indexed PNG size</text>'
        f'<text x="14" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle:.1f})">{escape(label)}</text>'
    )
    return parts


def _dithered_quality(result: DitheredResult, metric: Metric) -> float:
    if metric is Metric.PSNR:
        return result.psnr
    return result.ssim if metric is Metric.SSIM else result.delta_e


def _dithered_series(
    plot: _Plot, dithered: list[tuple[KResult, DitheredResult]], values: list[float], metric: Metric
) -> list[str]:
    """The dithered PNGs: a dashed line and one ``dithered-point`` per k."""
    pairs = list(zip(dithered, values, strict=True))
    coords = [(plot.x_of(result.png_bytes), plot.y_of(value)) for (_, result), value in pairs]
    parts = [
        '<polyline class="line dithered" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>'
    ]
    for ((step, result), value), (x, y) in zip(pairs, coords, strict=True):
        shown = "lossless" if not math.isfinite(value) else f"{value:.4g}"
        tip = f"k={step.k} dithered: {human_bytes(result.png_bytes)}, {_METRIC_LABEL[metric]} {shown}"
        parts.append(
            f'<circle class="dithered-point" data-k="{step.k}" cx="{x:.1f}" cy="{y:.1f}" r="4">'
            f"<title>{escape(tip)}</title></circle>"
        )
    return parts


def _point(step: KResult, value: float, x: float, y: float, *, recommended: bool, metric: Metric) -> str:
    css = "point recommended" if recommended else "point"
    shown = "lossless" if not math.isfinite(value) else f"{value:.4g}"
    tip = f"k={step.k}: {human_bytes(step.png_bytes)}, {_METRIC_LABEL[metric]} {shown}"
    return (
        f'<circle class="{css}" data-k="{step.k}" cx="{x:.1f}" cy="{y:.1f}" r="{6 if recommended else 4}">'
        f"<title>{escape(tip)}</title></circle>"
        f'<text class="label" x="{x + 7:.1f}" y="{y + 14:.1f}">k={step.k}</text>'
    )


def _padded_range(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    spread = high - low or max(abs(high), 1.0) * 0.1
    return low - 0.08 * spread, high + 0.08 * spread


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) inside ``[low, high]``."""
    raw = (high - low) / count
    if raw <= 0:
        return [low]
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)
    first = math.ceil(low / step) * step
    ticks: list[float] = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _tick_text(value: float) -> str:
    return f"{value:.4g}"


def _signed_bytes(count: int) -> str:
    return ("−" if count < 0 else "") + human_bytes(abs(count))
