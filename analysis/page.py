"""The page machinery of the report and the claims page: one static HTML file of headings, text, tables and the
registered figures (analysis.figures.registry), checkable in a headless browser (docs/design.md §12)."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

from analysis.figures.registry import Figure, Skip, figures_in
from analysis.figures.registry import draw as draw_figure
from famous_persona.io import write_text

STYLE = """
body { font-family: sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1200px; color: #222; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.5em 0 1.5em; }
.tall { max-height: 36em; overflow-y: auto; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f2f2f2; position: sticky; top: 0; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #8a5a00; background: #fff6e0; padding: 6px 10px; }
.caption { color: #555; font-size: 13px; margin-top: 0; }
.side { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.side > div { flex: 1 1 420px; min-width: 0; }
.example { font-size: 13px; line-height: 1.6; border: 1px solid #ddd; padding: 6px 10px; }
.verdict { font-weight: bold; }
"""
# Marks <body> once every image has loaded (data-images-loaded), with the page's overflow (data-overflow: "none" or
# the scroll width in pixels) and whether anything failed or was logged as an error (data-error), for headless checks.
CHECK = """
window.addEventListener("error", function () { document.body.setAttribute("data-error", "1"); }, true);
var reportError = console.error;
console.error = function () { document.body.setAttribute("data-error", "1"); reportError.apply(console, arguments); };
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.every(function (i) { return i.complete && i.naturalWidth > 0; });
  var width = document.documentElement.scrollWidth;
  document.body.setAttribute("data-image-count", String(images.length));
  document.body.setAttribute("data-images-loaded", ok ? "all" : "missing");
  document.body.setAttribute("data-overflow", width <= window.innerWidth ? "none" : String(width));
});
"""


class Page:
    """Sections of a page, appended in order and written as one HTML file at `path`; figures are linked relative
    to it."""

    def __init__(self, title: str, path: Path):
        self.title, self.path, self.parts = title, path, []

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text: str, style: str | None = None) -> None:
        self.parts.append(f"<p{f' class={style}' if style else ''}>{html.escape(text)}</p>")

    def note(self, text: str) -> None:
        self.text(text, "note")

    def items(self, lines: list[str]) -> None:
        self.parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")

    def table(self, frame: pd.DataFrame, caption: str | None = None, tall: bool = False) -> None:
        self.parts.append(table_html(frame, caption, tall))

    def figure(self, path: Path, alt: str, caption: str | None = None) -> None:
        source = Path(os.path.relpath(path, self.path.parent)).as_posix()
        self.parts.append(f'<p><img src="{html.escape(source)}" alt="{html.escape(alt)}"></p>')
        if caption:
            self.text(caption, "caption")

    def draw(self, entry: Figure, inputs: dict, folder: Path, suffix: str = "") -> None:
        """A registered figure under its title, with its caption or its numbers as a table, or why it was skipped."""
        title = entry.heading(inputs)
        self.heading(title)
        try:
            path, value = draw_figure(entry, inputs, folder, suffix)
        except Skip as reason:
            self.note(f"Skipped: {reason}.")
            return
        self.figure(path, title, value if isinstance(value, str) else None)
        if isinstance(value, dict):
            self.table(pd.DataFrame([value]), entry.summary or None)

    def section(self, section: str, inputs: dict, folder: Path, suffix: str = "") -> None:
        """Every registered figure of a section, in registration order."""
        for entry in figures_in(section):
            self.draw(entry, inputs, folder, suffix)

    def raw(self, markup: str) -> None:
        self.parts.append(markup)

    def write(self) -> Path:
        body = "\n".join(self.parts)
        page = (
            f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{html.escape(self.title)}</title>"
            f"<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<link rel=icon href='data:,'><style>{STYLE}</style><script>{CHECK}</script></head>\n"
            f"<body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n"
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text(self.path, page)
        return self.path


def table_html(frame: pd.DataFrame, caption: str | None = None, tall: bool = False) -> str:
    """A table in a container that scrolls sideways when it is wider than the page (and, if tall, downwards past
    36 lines' height)."""
    title = f"<h3>{html.escape(caption)}</h3>" if caption else ""
    body = frame.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="", border=0)
    return f"{title}<div class='scroll{' tall' if tall else ''}'>{body}</div>"
