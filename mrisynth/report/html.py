"""A minimal self-contained HTML page made of sections (tables, embedded PNGs, text).

Stages contribute ``Section`` objects and ``render_page`` joins them, so a page grows by appending
sections (e.g. the preprocessing QC table after the cohort table) without touching the others.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass

import pandas as pd

# Every table fits the page: a cell may break anywhere (long ids, paths, column names) rather than widen the
# table past the page; the headless-browser test checks there is no horizontal overflow.
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em auto; padding: 0 1em; max-width: 72em; color: #222;
       overflow-wrap: anywhere; }
h1 { font-size: 1.5em; margin: .3em 0; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .4em 0 .8em; font-size: .85em; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: .2em .5em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; height: auto; } .note { color: #555; font-size: .9em; }
nav a { margin-right: 1em; } details > summary { cursor: pointer; color: #1a4d80; margin: .4em 0; }
#summary p { margin: .35em 0; } #summary table { margin: .2em 0 .5em; } #summary td, #summary th { padding: .1em .5em; }
"""


@dataclass
class Section:
    title: str
    body: str  # an HTML fragment

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


def table_html(table: pd.DataFrame, index: bool = True) -> str:
    return table.to_html(index=index, escape=True, border=0, na_rep="")


def image_html(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def details_html(summary: str, body: str) -> str:
    """A folded block: ``summary`` shows, ``body`` (HTML) opens on a click."""
    return f"<details><summary>{html.escape(summary)}</summary>\n{body}\n</details>"


def text_html(text: str, css_class: str = "note") -> str:
    return f'<p class="{css_class}">{html.escape(text)}</p>'


def render_page(title: str, sections: list[Section], subtitle: str = "") -> str:
    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = "\n".join(f'<section id="{s.anchor}">\n<h2>{html.escape(s.title)}</h2>\n{s.body}\n</section>' for s in sections)
    sub = text_html(subtitle) if subtitle else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{sub}\n<nav>{nav}</nav>\n{body}\n</body>\n</html>\n"
    )
