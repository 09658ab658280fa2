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

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .note { color: #555; font-size: .9em; }
nav a { margin-right: 1em; }
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
