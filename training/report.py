"""The training report: `report.md` with per-head and per-class figures, confusion matrices as PNG."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from model.prediction import Prediction  # noqa: E402
from training.data import LabeledRow  # noqa: E402
from training.evaluate import few_rows_warning, reliability_bins, with_interval  # noqa: E402

HEADS = ("category", "subtype", "tier")
# Fonts that draw Chinese, the first installed one used (Debian's fonts-wqy-microhei, which CI
# installs; Noto/Source Han on other Linux systems; those of Windows and macOS).
CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Droid Sans Fallback",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
)


@cache
def cjk_font() -> str | None:
    """The first of CJK_FONTS that matplotlib finds installed, or None (Chinese would then be drawn as
    empty boxes: the charts keep to ASCII)."""
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


@contextmanager
def chinese_charts() -> Iterator[None]:
    """Draw (and save) the figures made inside with a fallback to cjk_font() for the glyphs the
    default font has not got; without one, as matplotlib draws by default."""
    font = cjk_font()
    # Each family of font.family is a fallback for the glyphs of those before it (a generic family
    # such as sans-serif stands for one font only, so the CJK one must follow it here).
    with matplotlib.rc_context({"font.family": ["sans-serif", font] if font else ["sans-serif"]}):
        yield


def plot_confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str, path: Path) -> None:
    """Save a confusion matrix (rows: true label, columns: predicted) as a PNG; with no labels (no
    rows to count, such as a month without reviewed tickets), a figure that says so."""
    values = np.asarray(matrix)
    size = max(4.0, 0.5 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    if not labels:
        axes.set_axis_off()
        axes.set_title(title)
        axes.text(0.5, 0.5, "no rows to count", ha="center", va="center")
        figure.savefig(path, dpi=110)
        plt.close(figure)
        return
    axes.imshow(values, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    threshold = values.max() / 2 if values.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if values[i, j]:
                colour = "white" if values[i, j] > threshold else "black"
                axes.text(j, i, str(values[i, j]), ha="center", va="center", color=colour, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_reliability(rows: Sequence[LabeledRow], predictions: Sequence[Prediction], path: Path) -> None:
    """Save a reliability diagram per head as one PNG: for each confidence bin, how often the
    predictions shown with that confidence were right (the bars) against the diagonal of perfect
    calibration, with the number of predictions on each bar."""
    figure, axes = plt.subplots(1, len(HEADS), figsize=(4.2 * len(HEADS), 4.2), sharey=True)
    for ax, head in zip(axes, HEADS):
        confidence = [getattr(p, head).probability for p in predictions]
        correct = [getattr(row, head) == getattr(p, head).code for row, p in zip(rows, predictions)]
        for found in reliability_bins(confidence, correct):
            ax.bar(found.low, found.accuracy, width=found.high - found.low, align="edge", color="#4c72b0", alpha=0.8)
            ax.plot(found.confidence, found.accuracy, "o", color="#c44e52", markersize=3)
            ax.text(
                found.low + (found.high - found.low) / 2,
                found.accuracy + 0.02,
                str(found.count),
                ha="center",
                fontsize=6,
            )
        ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.08)
        ax.set_xlabel("shown probability")
        ax.set_title(head)
    axes[0].set_ylabel("share right (held-out)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def metrics_markdown(metrics: dict[str, Any]) -> list[str]:
    """Markdown tables of per-head and per-class figures."""
    lines = ["| head | accuracy (95 % interval) | macro-F1 (95 % interval) | ECE |", "|---|---|---|---|"]
    for head in (*HEADS, "demand"):
        if head in metrics:
            m = metrics[head]
            ece = f"{m['ece']:.3f}" if "ece" in m else "–"
            lines.append(f"| {head} | {with_interval(m, 'accuracy')} | {with_interval(m, 'macro_f1')} | {ece} |")
    lines += [
        "",
        "The intervals come from resampling the held-out rows (a bootstrap): how far another sample of as many",
        "rows could move each figure. Two versions whose intervals overlap may not differ at all.",
    ]
    for head in (*HEADS, "demand"):
        if head not in metrics:
            continue
        lines += ["", f"### {head}", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for label, m in metrics[head]["per_class"].items():
            lines.append(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    return lines


def few_rows_lines(metrics: dict[str, Any]) -> list[str]:
    """A warning above the figures when they rest on too few held-out rows (`few_rows_warning`)."""
    warning = few_rows_warning(metrics)
    return [] if warning is None else [f"**Warning:** {warning[0].upper()}{warning[1:]}.", ""]


def _left_out(data: dict[str, Any]) -> str:
    """The rows of the training files that did not train: duplicates, rows no agent reviewed."""
    said = [f"{data['duplicates_dropped']} duplicates dropped"]
    if data.get("unreviewed_left_out"):
        said.append(f"{data['unreviewed_left_out']} rows no agent reviewed left out")
    return ", ".join(said)


def _refit_lines(evaluation: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """What the figures of a refit version describe: its twin trained without the held-out rows."""
    return [
        "",
        f"The figures below are those of a model trained with the same settings on the other "
        f"{evaluation['trained_rows']} rows; the saved model was then trained again on all {data['rows_used']} rows, "
        "the held-out ones included (`triage train --no-refit` saves the evaluated model itself). More rows usually "
        "help, not always: the saved model itself is not measured; only a file it has not seen can measure it.",
    ]


def write_report(
    folder: Path, metadata: dict[str, Any], rows: Sequence[LabeledRow], predictions: Sequence[Prediction]
) -> Path:
    """Write `report.md`, one confusion-matrix PNG per head and a reliability diagram into the version folder."""
    metrics = metadata["metrics"]
    plot_reliability(rows, predictions, folder / "reliability.png")
    for head in HEADS:
        plot_confusion(
            metrics[head]["labels"], metrics[head]["confusion"], f"{head} (held-out)", folder / f"confusion_{head}.png"
        )
    data = metadata["training_data"]
    evaluation = metadata["evaluation"]
    lines = [
        f"# Model {metadata['version']}",
        "",
        f"Created {metadata['created_at']}. Trained on {data['rows_used']} rows ({_left_out(data)}) from:",
        "",
        *[f"- `{f['path']}` ({f['rows']} rows, SHA-256 `{str(f['sha256'])[:12]}…`)" for f in data["files"]],
        "",
        f"Evaluated on {evaluation['rows']} held-out rows: {evaluation['split']}.",
        *(_refit_lines(evaluation, data) if evaluation.get("refit") else []),
        "",
        "## Metrics (held-out data only)",
        "",
        *few_rows_lines(metrics),
        *metrics_markdown(metrics),
        "",
        "## Confusion matrices",
        "",
        *[f"![{head}](confusion_{head}.png)" for head in HEADS],
        "",
        "## Calibration",
        "",
        "Per confidence bin, how often the predictions shown with that probability were right; on the",
        "diagonal, the probabilities mean what they say (the number on each bar: predictions in the bin).",
        "",
        "![reliability](reliability.png)",
        "",
        "## Sample of errors",
        "",
        "| true subtype | predicted | p | text (masked, first 60 characters) |",
        "|---|---|---|---|",
    ]
    errors = [(row, p) for row, p in zip(rows, predictions) if row.subtype != p.subtype.code][:15]
    for row, p in errors:
        snippet = p.masked_text[:60].replace("|", "｜").replace("\n", " ")
        lines.append(f"| {row.subtype} | {p.subtype.code} | {p.subtype.probability:.2f} | {snippet} |")
    lines += ["", f"Parameters: `{metadata['params']}`", f"Libraries: `{metadata['libraries']}`", ""]
    path = folder / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
