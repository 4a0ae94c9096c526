"""What every lab returns (a section: Markdown, figures, numbers) and the report files built from them."""
from __future__ import annotations

import html
import json
import math
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


@dataclass
class LabSection:
    """One lab's part of the report: Markdown text, figure files (relative to the report), numbers."""

    name: str
    title: str
    markdown: str
    figures: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)


def save_figure(fig: Figure, path: Path) -> str:
    """Write a matplotlib Figure as PNG (Agg canvas, no pyplot); returns the file name."""
    FigureCanvasAgg(fig)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=90)
    return path.name


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _json_safe(value.tolist())
    return value


def machine() -> dict[str, Any]:
    """Where the numbers were measured."""
    return {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads()}


def _markdown_to_html(text: str) -> str:
    """The small Markdown subset the labs write (headings, tables, lists, images, paragraphs) as HTML."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0

    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)

    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not set(lines[i]) <= set("|-: "):
                    rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out.append("<table>" + "".join(
                "<tr>" + "".join(f"<{'th' if r == 0 else 'td'}>{inline(c)}</{'th' if r == 0 else 'td'}>" for c in row) + "</tr>"
                for r, row in enumerate(rows)) + "</table>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif m := re.fullmatch(r"!\[([^\]]*)\]\(([^)]+)\)", line.strip()):
            out.append(f'<p><img src="{html.escape(m.group(2))}" alt="{html.escape(m.group(1))}" style="max-width:100%"></p>')
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
        i += 1
    return "\n".join(out)


def write_report(out: Path, sections: list[LabSection], protocol: str) -> dict[str, Path]:
    """DIR/report.md, DIR/report.html (figures linked beside them) and DIR/results.json (every number)."""
    out.mkdir(parents=True, exist_ok=True)
    intro = (f"# gankit lab report\n\nThe seed's theory (§2.2, §3.1–3.3, §4.1) measured. Protocol: `{protocol}`. "
             "Regenerate with `gankit lab all --out DIR" + ("" if protocol == "default" else f" --{'protocol paper' if protocol == 'paper' else 'quick'}") + "`.\n")
    text = intro + "\n" + "\n\n".join(f"## {s.title}\n\n{s.markdown}" for s in sections) + "\n"
    paths = {"md": out / "report.md", "html": out / "report.html", "json": out / "results.json"}
    paths["md"].write_text(text)
    paths["html"].write_text("<!doctype html>\n<html><head><meta charset='utf-8'><title>gankit lab report</title>"
                             "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto}table{border-collapse:collapse}"
                             "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}</style></head><body>\n"
                             + _markdown_to_html(text) + "\n</body></html>\n")
    results = {"protocol": protocol, "machine": machine(), "labs": {s.name: s.results for s in sections}}
    paths["json"].write_text(json.dumps(_json_safe(results), indent=1))
    return paths
