"""Every document kmimg writes for scripts: the JSON summaries of the four commands and the CSV
of ``classify``, built from the results in one place, with the rules they share (``<stdin>`` for
standard input, PSNR ``null`` for a lossless result, the schema header, the failures list).

A JSON document is ``{"schema": "kmimg.<command>", "schema_version": 2, "kmimg_version": ...}``
followed by the command's fields; changing a field's meaning bumps ``schema_version``. The
summary tables on the terminal are made from the same records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kmimg.jobs.paths import STDIO, display_name
from kmimg.types import EMIT_ORDER, ColorSpace, FeatureKind

if TYPE_CHECKING:
    from kmimg.core.classify import Clustering, Evaluation
    from kmimg.core.report import Aggregate, CompressReport, DitheredResult, KResult, Target
    from kmimg.core.segment import ClusterStats
    from kmimg.jobs.classify import FeatureRecord
    from kmimg.jobs.palette import PaletteRun
    from kmimg.jobs.quantize import QuantizedFile
    from kmimg.jobs.report import ReportRecord
    from kmimg.jobs.segment import SegmentedFile
    from kmimg.jobs.tasks import Failure, Outcome
    from kmimg.options import FeatureOptions

SCHEMA_VERSION = 2
QUANTIZE_SCHEMA = "kmimg.quantize"
SEGMENT_SCHEMA = "kmimg.segment"
REPORT_SCHEMA = "kmimg.compress-report"
CLASSIFY_SCHEMA = "kmimg.classify"
PALETTE_SCHEMA = "kmimg.palette"


# ----------------------------------------------------------------------------- shared


def json_bytes(document: dict[str, Any]) -> bytes:
    """A document as kmimg writes it: indented UTF-8 JSON, no NaN or infinity, one final newline."""
    return (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def write_document(data: bytes, destination: str) -> None:
    """Write a document to a file (atomically) or to standard output for ``-``."""
    from kmimg.io import write_atomic, write_stdout

    if destination == STDIO:
        write_stdout(data)
    else:
        write_atomic(destination, data)


def write_json(document: dict[str, Any], destination: str) -> None:
    """:func:`json_bytes` of ``document`` written by :func:`write_document`."""
    write_document(json_bytes(document), destination)


def json_psnr(value: float) -> float | None:
    """PSNR for JSON, which has no infinity: a lossless result is ``null``."""
    return None if math.isinf(value) else round(value, 4)


def _header(schema: str) -> dict[str, Any]:
    from kmimg import __version__

    return {"schema": schema, "schema_version": SCHEMA_VERSION, "kmimg_version": __version__}


def _failures(failures: Sequence[Failure]) -> list[dict[str, str]]:
    return [{"input": failure.source, "error": failure.reason} for failure in failures]


def _per_file_document(
    schema: str, results: list[dict[str, Any]], failures: Sequence[Failure]
) -> dict[str, Any]:
    return {
        **_header(schema),
        "results": results,
        "failures": _failures(failures),
    }


# ----------------------------------------------------------------------------- quantize


def quantize_fields(done: QuantizedFile) -> dict[str, Any]:
    """One quantized file's JSON record."""
    task, quality = done.task, done.quality
    total = max(int(done.counts.sum()), 1)
    order = sorted(range(done.colors_used), key=lambda i: (-int(done.counts[i]), i))
    return {
        "input": display_name(task.source),
        "output": "<stdout>" if task.target == STDIO else task.target,
        "width": done.width,
        "height": done.height,
        "frames": done.frames,
        "k_requested": task.k_requested,
        "k_used": done.colors_used,
        "palette_source": task.palette_source,
        "palette": [_palette_entry(done, i, total) for i in order],
        "psnr": json_psnr(quality.psnr) if quality else None,
        "ssim": round(quality.ssim, 6) if quality else None,
        "delta_e2000": round(quality.delta_e, 4) if quality else None,
        "input_bytes": done.input_bytes,
        "output_bytes": done.output_bytes,
        "skipped": done.skipped or None,
        "k_chosen": done.k_chosen,
        "quality": done.quality_score,
        "goal_met": done.goal_met,
        "seconds": done.seconds,
        "seed": task.options.seed,
        "space": task.options.space.value,
        "dither": task.options.dither,
        "posterize": task.options.posterize,
    }


def _palette_entry(result: QuantizedFile, index: int, total: int) -> dict[str, Any]:
    r, g, b, a = (int(v) for v in result.palette[index])
    hex_code = f"#{r:02x}{g:02x}{b:02x}" + (f"{a:02x}" if a < 255 else "")
    return {
        "index": index,
        "hex": hex_code,
        "rgb": [r, g, b],
        "alpha": a,
        "fraction": round(int(result.counts[index]) / total, 6),
    }


def quantize_document(
    results: Sequence[QuantizedFile], failures: Sequence[Failure], skipped: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``kmimg.quantize`` document: one record per quantized input, the failures, and the
    inputs skipped before any work (``--skip-existing``, outputs of other inputs) with why."""
    document = _per_file_document(QUANTIZE_SCHEMA, [quantize_fields(done) for done in results], failures)
    document["skipped"] = [{"input": source, "reason": reason} for source, reason in (skipped or {}).items()]
    return document


# ----------------------------------------------------------------------------- segment


def segment_fields(done: SegmentedFile) -> dict[str, Any]:
    """One segmented file's JSON record."""
    task = done.task
    options = task.options
    outputs: dict[str, Any] = dict(task.targets)
    if task.masks:
        outputs["masks"] = list(task.masks)
    return {
        "input": display_name(task.source),
        "width": done.width,
        "height": done.height,
        "k": options.k,
        "fit_width": done.fit_shape[1],
        "fit_height": done.fit_shape[0],
        "outputs": {kind.value: outputs[kind.value] for kind in EMIT_ORDER if kind.value in outputs},
        "background": list(done.background),
        "foreground_fraction": round(done.foreground_fraction, 6),
        "foreground_regions": done.foreground_regions,
        "cleanup": {
            "min_region": options.min_region,
            "regions_merged": done.regions_merged,
            "pixels_changed": done.pixels_changed,
        },
        "clusters": [_cluster_entry(c) for c in done.clusters],
        "options": {
            "sigma": options.sigma,
            "max_side": options.max_side,
            "spatial": options.spatial,
            "space": options.space.value,
            "flatten": options.flatten,
            "background": options.background,
        },
        "seed": options.seed,
        "seconds": done.seconds,
    }


def _cluster_entry(stats: ClusterStats) -> dict[str, Any]:
    r, g, b = stats.rgb
    box = stats.bbox
    return {
        "index": stats.index,
        "pixels": stats.pixels,
        "fraction": round(stats.fraction, 6),
        "rgb": [r, g, b],
        "hex": f"#{r:02x}{g:02x}{b:02x}",
        "lightness": round(stats.lightness, 3),
        "border_share": round(stats.border_share, 6),
        "background": stats.background,
        "transparent": stats.transparent,
        "bbox": None if box is None else {"x": box.x, "y": box.y, "width": box.width, "height": box.height},
        "regions": stats.regions,
    }


def segment_document(results: Sequence[SegmentedFile], failures: Sequence[Failure]) -> dict[str, Any]:
    """The ``kmimg.segment`` document: one record per segmented input, and the failures."""
    return _per_file_document(SEGMENT_SCHEMA, [segment_fields(done) for done in results], failures)


# ----------------------------------------------------------------------------- compress-report


def report_document(
    outcome: Outcome[ReportRecord],
    ks: tuple[int, ...],
    targets: tuple[Target, ...],
    seed: int,
    space: ColorSpace,
    *,
    dither: float = 0.0,
) -> dict[str, Any]:
    """The ``kmimg.compress-report`` document: settings, one sweep per image, totals, failures.
    ``dither`` is the level each k was also measured dithered at (0.0: not; then every k's
    ``dithered`` is ``null``)."""
    from kmimg.core.report import aggregate

    results = []
    for record in outcome.results:
        fields: dict[str, Any] = {"input": record.display, "format": record.input_format}
        fields.update(report_fields(record.report))
        fields.update(
            best_output=record.best_output, sheet=record.sheet_output, seconds=round(record.seconds, 4)
        )
        results.append(fields)
    return {
        **_header(REPORT_SCHEMA),
        "ks": list(ks),
        "targets": [target_fields(target) for target in targets],
        "seed": seed,
        "space": space.value,
        "dither": float(dither),
        "results": results,
        "aggregate": aggregate_fields(aggregate(record.report for record in outcome.results)),
        "failures": _failures(outcome.failures),
    }


def target_fields(target: Target) -> dict[str, Any]:
    """A quality target as JSON: ``{"metric": "psnr", "op": ">=", "value": 32.0}``."""
    return {
        "metric": target.metric.value,
        "op": ">=" if target.higher_is_better else "<=",
        "value": target.value,
    }


def aggregate_fields(total: Aggregate) -> dict[str, Any]:
    """Totals over the reports at their recommended k, as JSON."""
    return {
        "images": total.images,
        "images_meeting_target": total.recommended,
        "input_bytes": total.input_bytes,
        "png24_bytes": total.png24_bytes,
        "recommended_png_bytes": total.recommended_bytes,
        "bytes_saved_vs_input": total.saved_vs_input,
        "bytes_saved_vs_png24": total.saved_vs_png24,
    }


def report_fields(report: CompressReport) -> dict[str, Any]:
    """The measures of a report as JSON-ready values (without the PNG bytes)."""
    best = report.recommended
    return {
        "width": report.width,
        "height": report.height,
        "input_bytes": report.input_bytes,
        "png24_bytes": report.png24_bytes,
        "distinct_colors": report.distinct_colors,
        "recommended_k": report.recommended_k,
        "target_met": best is not None,
        "recommended_png_bytes": None if best is None else best.png_bytes,
        "ks": [_step_fields(step) for step in report.steps],
    }


def _step_fields(step: KResult) -> dict[str, Any]:
    """One k's measures as JSON-ready values (PSNR ``None`` when lossless)."""
    return {
        "k": step.k,
        "colors_used": step.colors_used,
        "png_bytes": step.png_bytes,
        "bits_per_pixel": round(step.bits_per_pixel, 4),
        "ratio_vs_input": round(step.ratio_vs_input, 4),
        "ratio_vs_png24": round(step.ratio_vs_png24, 4),
        "psnr": json_psnr(step.psnr),
        "ssim": round(step.ssim, 6),
        "delta_e2000": round(step.delta_e, 4),
        "seconds": round(step.seconds, 4),
        "meets_target": step.meets_target,
        "searched": step.searched,
        "dithered": None if step.dithered is None else _dithered_fields(step.dithered),
    }


def _dithered_fields(dithered: DitheredResult) -> dict[str, Any]:
    """One k's dithered PNG as JSON-ready values (``bytes_vs_undithered``: its size over the
    undithered PNG's)."""
    return {
        "png_bytes": dithered.png_bytes,
        "bits_per_pixel": round(dithered.bits_per_pixel, 4),
        "ratio_vs_input": round(dithered.ratio_vs_input, 4),
        "ratio_vs_png24": round(dithered.ratio_vs_png24, 4),
        "bytes_vs_undithered": round(dithered.bytes_vs_plain, 4),
        "psnr": json_psnr(dithered.psnr),
        "ssim": round(dithered.ssim, 6),
        "delta_e2000": round(dithered.delta_e, 4),
        "seconds": round(dithered.seconds, 4),
    }


# ----------------------------------------------------------------------------- classify


def classify_document(
    options: FeatureOptions,
    outcome: Outcome[FeatureRecord],
    grouping: Clustering,
    evaluation: Evaluation | None,
    truth: dict[int, str],
    links: dict[int, str],
    *,
    settings: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """The ``kmimg.classify`` document: settings, clusters, evaluation, one entry per image."""
    records = outcome.results
    return {
        **_header(CLASSIFY_SCHEMA),
        "options": {**settings, **_feature_fields(options)},
        "images": len(records),
        "feature_length": options.length,
        "inertia": round(grouping.inertia, 6),
        "seconds": seconds,
        "clusters": [_group_fields(grouping, cluster, evaluation) for cluster in range(grouping.k)],
        "evaluation": _evaluation_fields(evaluation, len(records)),
        "results": [
            _member_fields(grouping, index, record, truth, links) for index, record in enumerate(records)
        ],
        "failures": _failures(outcome.failures),
    }


def _feature_fields(options: FeatureOptions) -> dict[str, Any]:
    pixels = options.kind is FeatureKind.PIXELS
    return {
        "features": options.kind.value,
        "size": list(options.size) if pixels else None,
        "color": options.color if pixels else True,
        "bins": None if pixels else options.bins,
    }


def _member_fields(
    grouping: Clustering, index: int, record: FeatureRecord, truth: dict[int, str], links: dict[int, str]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "input": record.source,
        "cluster": int(grouping.labels[index]),
        "distance": round(float(grouping.distances[index]), 6),
    }
    if index in truth:
        entry["label"] = truth[index]
    if index in links:
        entry["link"] = links[index]
    return entry


def _group_fields(grouping: Clustering, cluster: int, evaluation: Evaluation | None) -> dict[str, Any]:
    inside = grouping.distances[grouping.labels == cluster]
    summary: dict[str, Any] = {
        "cluster": cluster,
        "size": int(grouping.sizes[cluster]),
        "mean_distance": round(float(inside.mean()), 6) if len(inside) else None,
        "max_distance": round(float(inside.max()), 6) if len(inside) else None,
    }
    if evaluation is not None:
        summary["label"] = evaluation.mapping.get(cluster)
        summary["label_count"] = evaluation.majority.get(cluster, 0)
    return summary


def _evaluation_fields(evaluation: Evaluation | None, images: int) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    return {
        "labelled": evaluation.labelled,
        "unlabelled": images - evaluation.labelled,
        "classes": evaluation.classes,
        "accuracy": round(evaluation.accuracy, 6),
        "adjusted_rand_index": round(evaluation.adjusted_rand_index, 6),
        "normalized_mutual_information": round(evaluation.normalized_mutual_information, 6),
        "mapping": {str(cluster): label for cluster, label in evaluation.mapping.items()},
    }


def classify_csv(
    records: list[FeatureRecord],
    grouping: Clustering,
    truth: dict[int, str],
    evaluation: Evaluation | None,
) -> bytes:
    """``file,cluster,distance`` rows (with ``label,predicted`` when evaluated), one per image."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["file", "cluster", "distance"]
    if evaluation is not None:
        header += ["label", "predicted"]
    writer.writerow(header)
    for index, record in enumerate(records):
        cluster = int(grouping.labels[index])
        row: list[Any] = [record.source, cluster, f"{grouping.distances[index]:.6f}"]
        if evaluation is not None:
            row += [truth.get(index, ""), evaluation.mapping.get(cluster, "")]
        writer.writerow(row)
    return buffer.getvalue().encode()


# ----------------------------------------------------------------------------- palette


def palette_document(run: PaletteRun) -> dict[str, Any]:
    """``kmimg palette --json``: the palette in its order (index, hex, rgb, alpha, share, kept),
    the options that shaped it, and the inputs."""
    from kmimg.palettes.files import hex_code

    kept = set() if run.kept is None else {tuple(int(v) for v in row) for row in run.kept}
    entries = []
    colors = [] if run.palette is None else run.palette.colors.tolist()
    for index, row in enumerate(colors):
        entries.append(
            {
                "index": index,
                "hex": hex_code(row),
                "rgb": row[:3],
                "alpha": row[3],
                "fraction": round(run.shares[index], 6),
                "kept": tuple(row[:3]) in kept and row[3] == 255,
            }
        )
    return {
        **_header(PALETTE_SCHEMA),
        "output": "<stdout>" if run.output == STDIO else run.output,
        "k_requested": run.k_requested,
        "k_used": len(entries),
        "weight": run.weight.value,
        "seed": run.seed,
        "space": run.space.value,
        "posterize": run.posterize,
        "palette": entries,
        "inputs": [
            {"input": display_name(m.source), "width": m.width, "height": m.height} for m in run.inputs
        ],
        "failures": _failures(run.failures),
    }
