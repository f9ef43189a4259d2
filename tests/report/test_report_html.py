"""HTML building blocks escape what they show, and mosaics render as PNG."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pds_mri.report.html import Page, markdown, table
from pds_mri.report.mosaic import mosaic_png, pick_slices, training_curves_png


def test_text_is_escaped_and_markdown_subset_renders() -> None:
    out = markdown("# Card\n- a `x<y>` **b**\n\n<script>alert(1)</script>\n\n| m | v |\n|---|---|\n| psnr | 1 |")
    assert "<h3>Card</h3>" in out and "<code>x&lt;y&gt;</code>" in out and "<strong>b</strong>" in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<th" in out and "psnr" in out and "---" not in out
    cells = table([{"a": "<b>", "b": 1.23456789, "c": None}, {"a": "x", "d": [1, 2]}])
    assert "&lt;b&gt;" in cells and "1.235" in cells and "n/a" in cells and "<th" in cells and "[1, 2]" in cells
    page = Page("t <1>")
    page.add("A & B", "<p>x</p>")
    page.add("A & B", "<p>y</p>")
    html = page.render()
    assert 'id="a-b"' in html and 'id="a-b-x"' in html and "t &lt;1&gt;" in html and "not diagnostic images" in html


def test_mosaic_png_panels_slices_and_errors() -> None:
    rng = np.random.default_rng(0)
    volume = rng.uniform(-1, 1, (16, 14, 10)).astype(np.float32)
    mask = np.zeros(volume.shape, bool)
    mask[2:-2, 2:-2, 3:8] = True
    assert pick_slices(volume.shape, mask, 3) == [4, 5, 6]
    small = mosaic_png([("source", volume), ("real", volume)], mask=mask)
    panels = [("source", volume), ("real", None), ("PDS", volume), ("absolute error", np.abs(volume)), ("std", volume)]
    big = mosaic_png(panels, mask=mask, title="sub-01")
    for png in (small, big):
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(big)).size[0] > Image.open(io.BytesIO(small)).size[0]
    with pytest.raises(ValueError, match="one grid"):
        mosaic_png([("a", volume), ("b", volume[:-1])])
    with pytest.raises(ValueError, match="absent"):
        mosaic_png([("a", None)])


def test_training_curves_tolerate_missing_logs() -> None:
    assert training_curves_png({"stage1": ([], [])}) is None
    png = training_curves_png({"stage1": ([{"step": 1.0, "loss": 2.0}], [{"step": 1.0, "psnr": 10.0}])})
    assert png is not None and Image.open(io.BytesIO(png)).size[0] > 100


def test_cells_round_numbers_and_confidence_intervals() -> None:
    from pds_mri.report.html import cell

    assert cell(-0.7412634238600732) == "-0.7413" and cell(float("nan")) == "n/a" and cell(None) == "n/a"
    assert cell([-0.7412634238600732, -0.5987]) == "[-0.7413, -0.5987]"
    assert cell([True, 1]) == "[true, 1]" and cell({"a": 1}) == '{"a": 1}' and cell([]) == "[]"
