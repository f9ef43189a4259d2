"""Self-contained HTML: inline CSS, images as base64 PNG data URIs, no script and no external resource.

Every text that reaches the page goes through `esc`; the helpers return HTML fragments (str).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pds_mri.report.format import cell

WARNING = "Synthetic images for research: not diagnostic images. Do not use them for decisions about an individual."

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fff}
nav{position:sticky;top:0;background:#20303f;padding:.5em 1.5em;z-index:1}
nav a{color:#e8eef3;margin-right:1.2em;text-decoration:none;font-size:.95em}
main{padding:0 1.5em 3em;max-width:1300px}
h1{font-size:1.6em;margin:.8em 0 .3em}
h2{border-bottom:2px solid #20303f;padding-bottom:.2em;margin-top:1.6em}
h3{margin-top:1.2em}
.warning{background:#fff3cd;border:1px solid #e0b100;color:#5c4400;padding:.6em 1em;font-weight:bold;margin:.8em 0}
.meta{color:#555;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #c8ced3;padding:.25em .6em;text-align:right;white-space:nowrap}
th{background:#eef1f4}
td.text,th.text{text-align:left}
table.defs td{white-space:normal;max-width:70em}
.scroll{overflow-x:auto}
tr:nth-child(even) td{background:#f8f9fa}
pre{background:#f4f6f8;border:1px solid #dde2e6;padding:.7em;overflow:auto;font-size:.82em;max-height:36em}
figure{margin:.8em 0}
figure img{max-width:100%;border:1px solid #dde2e6}
figcaption{font-size:.85em;color:#444}
.note{color:#666;font-style:italic}
summary{cursor:pointer;color:#20303f;margin:.4em 0}
.flag{display:inline-block;background:#f8d7da;border:1px solid #d9534f;color:#7a1f1c;border-radius:3px;
padding:.05em .45em;margin:.1em .3em .1em 0;font-size:.85em;white-space:nowrap}
.ok{color:#2d6a2d}
"""


class Markup(str):
    """HTML that a helper built (and escaped) itself: `table` puts it in a cell as it is."""


def link(href: str, text: str) -> Markup:
    """A relative link (the report's own pages: no URL to anything online)."""
    return Markup(f'<a href="{esc(href)}">{esc(text)}</a>')


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image(png: bytes, alt: str, caption: str | None = None) -> str:
    img = f'<img src="{png_uri(png)}" alt="{esc(alt)}">'
    return f"<figure>{img}<figcaption>{esc(caption)}</figcaption></figure>" if caption else f"<figure>{img}</figure>"


def pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def details(summary: str, body: str) -> str:
    """A collapsed block (HTML <details>, no script needed)."""
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, caption: str | None = None) -> str:
    """An HTML table of dict rows; columns default to the union of keys in first-seen order."""
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    head = "".join(f'<th class="text">{esc(c)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c)
            kind = "" if isinstance(v, (int, float)) and not isinstance(v, bool) else ' class="text"'
            cells.append(f"<td{kind}>{v if isinstance(v, Markup) else esc(cell(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def definitions(items: Iterable[tuple[str, Any]]) -> str:
    """A two-column key | value table (for scalars)."""
    rows = "".join(f'<tr><th class="text">{esc(k)}</th><td class="text">{esc(cell(v))}</td></tr>' for k, v in items)
    return f'<table class="defs"><tbody>{rows}</tbody></table>'


_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])_([^_]+)_(?![\w*])"), r"<em>\1</em>"),
]


def _inline(text: str) -> str:
    out = esc(text)
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def markdown(text: str, top_level: int = 3) -> str:
    """The Markdown subset of our model cards and results.md: headings, bullets, paragraphs, `code`, **bold**,
    _italics_ and pipe tables. Everything is escaped first, so no markup from the text survives."""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    rows: list[list[str]] = []

    def flush() -> None:
        if para:
            out.append("<p>" + " ".join(_inline(p) for p in para) + "</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()
        if rows:
            body = [r for r in rows if not all(re.fullmatch(r":?-{2,}:?", c.strip()) for c in r)]
            html_rows = [
                "<tr>" + "".join(f'<{t} class="text">{_inline(c.strip())}</{t}>' for c in r) + "</tr>"
                for t, r in ((("th" if i == 0 else "td"), r) for i, r in enumerate(body))
            ]
            out.append("<table>" + "".join(html_rows) + "</table>")
            rows.clear()

    for line in text.splitlines():
        stripped = line.strip()
        heading = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if not stripped:
            flush()
        elif heading:
            flush()
            level = min(6, top_level + len(heading.group(1)) - 1)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif stripped.startswith("|") and stripped.endswith("|"):
            if para or items:
                flush()
            rows.append(stripped[1:-1].split("|"))
        elif re.match(r"^[-*]\s+", stripped):
            if para or rows:
                flush()
            items.append(re.sub(r"^[-*]\s+", "", stripped))
        else:
            if items or rows:
                flush()
            para.append(stripped)
    flush()
    return "\n".join(out)


@dataclass
class Page:
    """A report page: title, the warning banner, a navigation bar and sections (id, heading, HTML body)."""

    title: str
    subtitle: str = ""
    sections: list[tuple[str, str, str]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (relative href, text) first in the bar

    def add(self, heading: str, body: str) -> None:
        anchor = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-") or f"s{len(self.sections)}"
        while any(anchor == s[0] for s in self.sections):
            anchor += "-x"
        self.sections.append((anchor, heading, body))

    def render(self) -> str:
        nav = "".join(f'<a href="{esc(href)}">{esc(text)}</a>' for href, text in self.links)
        nav += "".join(f'<a href="#{a}">{esc(h)}</a>' for a, h, _ in self.sections)
        body = "\n".join(f'<section id="{a}"><h2>{esc(h)}</h2>\n{b}\n</section>' for a, h, b in self.sections)
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(self.title)}</title><style>{CSS}</style></head>\n"
            f"<body><nav>{nav}</nav><main>\n<h1>{esc(self.title)}</h1>\n"
            f'<p class="meta">{esc(self.subtitle)}</p>\n<div class="warning">{esc(WARNING)}</div>\n'
            f"{body}\n</main></body></html>\n"
        )
