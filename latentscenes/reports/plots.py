"""Training curves as a PNG (matplotlib, no display needed): held-out PSNR and training loss
against training seconds, one line per run."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit
import matplotlib.pyplot as plt  # noqa: E402


def curves_png(curves: dict[str, list[dict]], losses: dict[str, list[dict]]) -> bytes:
    """PNG bytes of two panels. `curves`: run label -> curve.json points (`train_seconds`,
    `test_psnr`, optionally `val_psnr`); `losses`: run label -> metrics.jsonl rows
    (`time/train_seconds`, `loss/total`)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    for index, (label, points) in enumerate(curves.items()):
        colour = f"C{index}"
        seconds = [p["train_seconds"] for p in points]
        left.plot(seconds, [p["test_psnr"] for p in points], "o-", color=colour, label=f"{label} (test)", markersize=3)
        if points and "val_psnr" in points[0]:
            left.plot(seconds, [p["val_psnr"] for p in points], "--", color=colour, label=f"{label} (val)")
    for index, (label, rows) in enumerate(losses.items()):
        rows = [row for row in rows if "loss/total" in row and "time/train_seconds" in row]
        right.plot([r["time/train_seconds"] for r in rows], [r["loss/total"] for r in rows], ".-", color=f"C{index}",
                   label=label, markersize=3)
    left.set(xlabel="training seconds", ylabel="held-out PSNR (dB)", title="Held-out PSNR")
    right.set(xlabel="training seconds", ylabel="total loss", title="Training loss", yscale="log")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        if axes.has_data():
            axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
