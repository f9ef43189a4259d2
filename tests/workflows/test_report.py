"""`pds report` on a tiny run (with evaluations and a synthesis inside) and on a benchmark directory."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_evaluate import tiny_evaluated  # noqa: F401  (session fixture shared with test_evaluate)

from pds_mri.cli import main
from pds_mri.errors import PdsError
from pds_mri.report.mosaic import mosaic_png
from pds_mri.workflows.report import run_report

CHROMIUM = Path("/usr/bin/chromium")


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> Collector:
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"https?://", html), "a report must not reference anything online"
    collector = Collector()
    collector.feed(html)
    collector.close()
    assert not {"script", "link", "iframe"} & set(collector.tags)
    for src in collector.images:
        assert src.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    return collector


def test_run_report_is_self_contained_with_metrics_curves_and_config(
    tiny_evaluated: dict[str, Path],  # noqa: F811
    capsys: pytest.CaptureFixture,
) -> None:
    run = tiny_evaluated["run"]
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / "report.html")
    page = parse(run / "report.html")
    text = " ".join(page.text)
    assert "table" in page.tags and "pre" in page.tags
    assert "not diagnostic images" in text
    for heading in ("Evaluation (eval-f2d)", "Evaluation (eval-d2f)", "Synthesis (synth-auto)", "Training curves"):
        assert heading in text
    assert "Model card — PDS" in text and "base_channels" in text  # the model card and the YAML config
    assert "Disease signal: AD − NC, real vs synthetic" in text  # difference maps, or why there are none
    scored = json.loads((run / "eval-f2d" / "metrics.json").read_text())["rows"]
    assert all(r["participant_id"] in text for r in scored) and "PSNR (dB)" in text and "Not scored" in text
    # curves + one mosaic per scored subject (up to 3 per direction) + the unevaluated synthesis' mosaics
    assert len(page.images) >= 1 + 2 * min(3, len(scored)) + 1
    # the uncertainty section: the f2d syntheses have std maps (a table and the calibration plot), d2f none
    assert text.count("Uncertainty") >= 2 and "binned predicted std vs observed |error|" in text
    assert "no std maps among these syntheses" in text


def test_benchmark_report_renders_results_table_and_figures(tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    (bench / "figures" / "fmri2dmri").mkdir(parents=True)
    volume = np.random.default_rng(0).uniform(-1, 1, (10, 10, 8))
    (bench / "figures" / "fmri2dmri" / "sub-01.png").write_bytes(
        mosaic_png([("source", volume), ("real", volume), ("pds", volume), ("absolute error", abs(volume))])
    )
    results = {
        "table": [
            {"method": "pds", "direction": "fmri2dmri", "psnr_mean": 21.5, "psnr_std": 0.4},
            {"method": "unet", "direction": "fmri2dmri", "psnr_mean": 20.1, "psnr_std": 0.5, "note": "<b>x</b>"},
        ],
        "machine": "2 CPU cores",
        "folds": 3,
        "protocol": {"psnr": "10 log10(1 / MSE)"},
        "paired": {"unet": {"fmri2dmri": {"delta_psnr": 1.4, "ci": [0.9, 1.9]}}},
    }
    (bench / "results.json").write_text(json.dumps(results))
    (bench / "results.md").write_text("# Results\n\n| method | PSNR |\n|---|---|\n| pds | 21.5 |\n")
    out = run_report(bench)
    page = parse(out)
    text = " ".join(page.text)
    assert out == bench / "report.html" and len(page.images) == 1
    assert "unet" in text and "21.5" in text and "2 CPU cores" in text and "delta_psnr" in text
    assert "<b>x</b>" in text  # shown as text, escaped in the HTML
    assert "figures/fmri2dmri/sub-01.png" in text
    (bench / "results.json").write_text("{not json")
    assert "not a readable JSON object" in " ".join(parse(run_report(bench, tmp_path / "r2.html")).text)


def test_benchmark_report_without_figures_builds_mosaics_from_its_runs(
    tiny_evaluated: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    bench = tmp_path / "bench"
    for model in ("unet", "pds"):
        (bench / "runs" / model / "fold-0").mkdir(parents=True)
        (bench / "runs" / model / "fold-0" / "synth-fmri2dmri").symlink_to(tiny_evaluated["run"] / "synth-f2d")
    results = {"prepared_dir": str(tiny_evaluated["prepared"]), "reference": "pds", "table": [{"model": "pds"}]}
    (bench / "results.json").write_text(json.dumps(results))
    page = parse(run_report(bench))
    rows = (tiny_evaluated["run"] / "synth-f2d" / "synthesized.tsv").read_text().strip().splitlines()[1:]
    assert len(page.images) == min(3, len(rows))
    assert "absolute error of pds" in " ".join(page.text)


def test_report_of_an_unknown_directory_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "neither a run directory" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)")
def test_run_report_renders_in_headless_chromium(
    tiny_evaluated: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    report = run_report(tiny_evaluated["run"], tmp_path / "report.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars"]
    shot = tmp_path / "shot.png"
    home = tmp_path / "home"  # chromium writes a profile; keep it out of the user's home
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [str(CHROMIUM), *flags, "--window-size=1280,2400", f"--screenshot={shot}", report.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
        env=env,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (2400, 1280) and pixels.std() > 20, "the screenshot looks blank"
    dom = subprocess.run(
        [str(CHROMIUM), *flags, "--dump-dom", report.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    ).stdout
    assert "<table" in dom and "PSNR (dB)" in dom and "data:image/png;base64," in dom
    shutil.rmtree(home, ignore_errors=True)


def test_diagnosis_outputs_inside_a_directory_become_diagnosis_sections(tmp_path: Path) -> None:
    pilot = Path(__file__).parents[2] / "benchmarks" / "results" / "pilot" / "diagnosis.json"
    bench = tmp_path / "bench"
    (bench / "diagnosis").mkdir(parents=True)
    shutil.copy(pilot, bench / "diagnosis" / "diagnosis.json")
    (bench / "broken").mkdir()
    (bench / "broken" / "diagnosis.json").write_text("[1, 2")
    (bench / "runs" / "pds" / "fold-0").mkdir(parents=True)  # a run's own files are not searched
    (bench / "runs" / "pds" / "fold-0" / "diagnosis.json").write_text("{}")
    (bench / "results.json").write_text(json.dumps({"table": [{"model": "pds"}]}))
    text = " ".join(parse(run_report(bench)).text)
    expected = json.loads(pilot.read_text())
    assert "Diagnosis (diagnosis)" in text and "Diagnosis (broken)" in text and "Diagnosis (runs" not in text
    assert "not a readable `pds diagnose` output" in text
    assert all(row["protocol"] in text for row in expected["table"])
    first = expected["table"][0]
    ci = first["balanced_accuracy_ci"]
    assert f"{first['balanced_accuracy']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" in text
    assert "balanced accuracy" in text and expected["classifier"] in text


def test_diagnosis_section_shows_like_for_like_and_paired_differences(tmp_path: Path) -> None:
    measured = Path(__file__).parents[2] / "benchmarks" / "results" / "diagnosis90" / "diagnosis.json"
    bench = tmp_path / "bench"
    (bench / "diagnosis").mkdir(parents=True)
    shutil.copy(measured, bench / "diagnosis" / "diagnosis.json")
    (bench / "results.json").write_text(json.dumps({"table": [{"model": "pds"}]}))
    text = " ".join(parse(run_report(bench)).text)
    expected = json.loads(measured.read_text())
    assert "Missing-modality strategies scored on the same complete subjects" in text
    assert "Paired differences" in text
    pair = expected["comparisons"][0]
    ci = pair["balanced_accuracy_ci"]
    assert f"{pair['a']} − {pair['b']}" in text
    assert f"{pair['balanced_accuracy']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]" in text


def test_prepared_report_refuses_a_pages_folder_it_did_not_write(prepared: Path, tmp_path: Path) -> None:
    """--out study.html would replace study_subjects/: a folder of that name holding anything but its pages is
    refused before any page is written."""
    from pds_mri.workflows.report import write_prepared_report

    theirs = tmp_path / "study_subjects"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(PdsError, match="not written by `pds report`"):
        write_prepared_report(prepared, tmp_path / "study.html")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["notes.txt", "study_subjects"]
    write_prepared_report(prepared, tmp_path / "qc.html")
    write_prepared_report(prepared, tmp_path / "qc.html")  # its own folder is replaced
    assert (tmp_path / "qc.html").is_file() and any((tmp_path / "qc_subjects").glob("*.html"))


def test_a_prepared_report_failing_part_way_leaves_no_staging_folder(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pds_mri.workflows import report

    pages = report.prepared_pages

    def one_page_then_fail(path: Path, index_name: str):  # type: ignore[no-untyped-def]
        first = next(iter(pages(path, index_name)))
        yield first
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "prepared_pages", one_page_then_fail)
    with pytest.raises(KeyboardInterrupt):
        report.write_prepared_report(prepared, tmp_path / "qc.html")
    assert list(tmp_path.iterdir()) == []
