"""What every report page must be: complete HTML, no script or external resource, every image an embedded PNG."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image


class Collector(HTMLParser):
    """Tags, image sources, links, section ids and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.sections: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag == "a":
            self.links.append(values.get("href") or "")
        if tag == "section":
            self.sections.append(values.get("id") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(self.text)


def parse_page(path: Path) -> Collector:
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    # no resource from anywhere but the page itself (text may quote a URL, e.g. a dataset's CodeURL)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//|file:)""", html, re.I), f"{path} links out"
    assert "url(" not in html and "@import" not in html
    page = Collector()
    page.feed(html)
    page.close()
    assert not {"script", "link", "iframe"} & set(page.tags)
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    return page
