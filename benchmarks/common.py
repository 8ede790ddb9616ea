"""Helpers shared by the benchmark scripts (run as scripts, so this folder is on sys.path)."""

from __future__ import annotations

import torch


def markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows of dicts as a Markdown table with padded columns (all columns of the first row by default)."""
    columns = columns or list(rows[0])
    text = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)) + " |" for row in text]
    return "\n".join(lines)


def sync(device) -> None:
    """Wait for queued GPU work, so that wall-clock timings include it."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
