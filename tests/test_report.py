"""The report stage builds self-contained HTML pages from tiny hand-made runs: a study of two weight
decays (as `make all` leaves it), a run, and a sweep over latent sizes; the slow test opens them in
headless Chromium."""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import tiny_config
from tiny_runs import linear_weights, make_run, make_windows_artifact, tiny_vocab

from bows.analysis import analyze, claims, report
from bows.artifacts import Files, write_checked_json

OVERRIDES = ("analyze.umap=false", "analyze.heldout_windows=300", "stats.sample_windows=1500", "stats.min_count=3")
VERDICT = re.compile(r"<span class='v v-(reproduced|partial|not-reproduced|not-measurable)'>")


def _cfg(make_config, **changes):
    cfg = make_config(*OVERRIDES)
    return dataclasses.replace(cfg, analyze=dataclasses.replace(cfg.analyze, **changes))


def _with(cfg, **analyze_changes):
    return dataclasses.replace(cfg, analyze=dataclasses.replace(cfg.analyze, **analyze_changes))


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """Two analysed runs (weight decay 4 and 1, L = 12) in a study index, with every page written."""
    cfg = tiny_config(tmp_path_factory.mktemp("study"), *OVERRIDES)
    vocab = tiny_vocab()
    windows = make_windows_artifact(cfg.paths.root_path, vocab, n_train=1500, n_val=300)
    study_dir = cfg.paths.root_path / "study" / "tinystudy"
    study_dir.mkdir(parents=True)
    rows = []
    for wd, scale in ((4.0, 0.5), (1.0, 0.3)):
        W, b = linear_weights(windows, len(vocab), 12, scale=scale)
        run_cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, weight_decay=wd))
        run_dir = make_run(cfg.paths.root_path, run_cfg, windows, W, b, f"key{wd:g}abcdef")
        rows.append({"job": len(rows), "status": "finished", "run_dir": str(run_dir)})
    pd.DataFrame(rows).to_parquet(study_dir / Files.SWEEP_INDEX)
    return report.run(_with(cfg, sweep=str(study_dir / Files.SWEEP_INDEX)))


def _h1(text: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", text)
    assert found, "no <h1>"
    return found.group(1)


def test_study_page_reads_like_a_results_section(study):
    text = study.read_text()
    assert study.name == "report.html" and study.parent.name == analyze.ANALYSIS_DIR
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    title = _h1(text)
    assert title.startswith("BOWS study: L = 12, weight decay 4 vs 1, 1 steps, corpus embedded")
    assert "key4abcdef" not in title and "key4abcdef" in text  # hashes only in the details line
    # claims first, one row per claim, each with a verdict and a link to a figure shown on the page
    table = text[text.index("id='claims'") : text.index("</table>", text.index("id='claims'"))]
    assert len(VERDICT.findall(table)) == len(claims.CLAIMS)
    for claim in claims.CLAIMS:
        assert html.escape(claim.statement, quote=True) in table
    assert "<a href='#months_ring'" in table and "id='months_ring'" in text
    # figures in the order of the questions: rings, then data vs model, then mechanism
    where = [text.index(f"id='{name}'") for name in ("claims", "months_ring", "days_ring", "months_data", "r2")]
    assert where == sorted(where)
    # the two weight decays side by side, wd 4 first
    ring_row = text[text.rfind("<div class='cmp'", 0, text.index("id='months_ring'")) : text.index("id='days_ring'")]
    assert "repeat(2," in ring_row and ring_row.count("<img") == 2
    assert ring_row.index("weight decay 4 (L 12)") < ring_row.index("weight decay 1 (L 12)")
    # every figure has a caption saying what to look for
    assert text.count("<p class='caption'>Look for") >= 8
    # sweep figures with nothing to compare (one L, two weight decays) are left out with a note
    assert 'alt="structure_vs_latent"' not in text and 'alt="metrics_vs_weight_decay"' not in text
    assert re.search(r"Left out, nothing to compare: .*structure_vs_latent.* latent size; these runs have 12", text)
    assert "Not drawn: <code>umap</code>: UMAP was skipped (analyze.umap=false)" in text
    # numbers at the bottom, collapsed, with human labels and keys; missing words are notes
    numbers = text[text.index("<h2>Numbers</h2>") :]
    assert numbers.startswith("<h2>Numbers</h2><details><summary>All metrics per run")
    assert (
        "Months ring: calendar neighbours adjacent (share)</td><td><code>geometry/months/ring_score</code>" in numbers
    )
    found = re.search(r"<details><summary>Notes \(\d+\): words the analyses looked for.*?</details>", text)
    assert found, "no notes"
    notes = found.group(0)
    assert "replaced by" in notes and "mbar" in notes and notes.index("Notes") < text.index("id='months_ring'")
    assert "#a00" not in text and "crimson" not in text
    images = re.findall(r'<img class="fig" src="([^"]+)" alt="([^"]+)"', text)
    assert len(images) >= 16 and all(src.startswith("data:image/png;base64,") for src, _ in images)
    assert len(images) == text.count("<img")
    hrefs = [h for h in re.findall(r"<a href='([^']+)'", text) if not h.startswith("#")]
    assert len(hrefs) == 3 and hrefs[0] == "explorer.html"  # the explorer first, then the run pages
    assert all((study.parent / h).resolve().is_file() for h in hrefs)


def test_run_page_names_the_run_and_shows_claims_before_figures(study):
    table = pd.read_parquet(study.parent / analyze.SWEEP_METRICS)
    page = Path(table.loc[table["weight_decay"] == 4.0, "analysis_dir"].iloc[0]) / report.REPORT
    text = page.read_text()
    assert _h1(text) == "BOWS run: L = 12, weight decay 4, 1 steps, corpus embedded"
    assert "run <code>key4abcdef</code>" in text
    assert len(VERDICT.findall(text)) == len(claims.CLAIMS)
    assert "the weight-decay comparison is on the study page" in text
    assert text.index("id='claims'") < text.index("id='months_ring'") < text.index("<h2>Numbers</h2>")
    assert "<summary>Angular order of months around the ring (raw PCA)</summary>" in text
    assert "Not drawn: <code>umap</code>: UMAP was skipped" in text
    assert not list(page.parent.glob(".*tmp*"))  # written atomically, no leftovers


def test_a_null_metric_is_not_measurable_with_the_missing_words(study, tmp_path):
    table = pd.read_parquet(study.parent / analyze.SWEEP_METRICS)
    analysis_dir = tmp_path / "analysis"
    shutil.copytree(Path(table["analysis_dir"].iloc[0]), analysis_dir)
    metrics = json.loads((analysis_dir / "metrics.json").read_text())
    metrics["geometry/months/ring_score"] = None
    (analysis_dir / "metrics.json").write_text(json.dumps(metrics))
    groups = json.loads((analysis_dir / "groups.json").read_text())
    groups["months"]["missing"] = ["May"]
    (analysis_dir / "groups.json").write_text(json.dumps(groups))
    meta = json.loads((analysis_dir / "meta.json").read_text())  # re-record the edited numbers' checksums
    write_checked_json(analysis_dir / "meta.json", {**meta, "files": analyze.numbers_files(analysis_dir)})
    text = report.run_page(analysis_dir)
    row = re.search(r"<tr id='claim-months_ring'>.*?</tr>", text)
    assert row and "v-not-measurable" in row.group(0) and "missing words: May" in row.group(0)
    assert "<td class='num'>n/a</td>" in text


def test_a_new_figure_appears_without_touching_the_lists(study):
    table = pd.read_parquet(study.parent / analyze.SWEEP_METRICS)
    analysis_dir = Path(table["analysis_dir"].iloc[0])
    new = analysis_dir / analyze.FIGURE_DIR / "brand_new_figure.png"
    shutil.copy(analysis_dir / analyze.FIGURE_DIR / "days_ring.png", new)
    try:
        text = report.run_page(analysis_dir)
    finally:
        new.unlink()
    assert "<h2>More figures</h2>" in text and 'alt="brand_new_figure"' in text
    listed = dataclasses.replace(report.RUN_FIGURES[1], name="brand_new_figure", caption="Look for the new thing.")
    assert "Look for the new thing." in report._figure_html(listed, analysis_dir / analyze.FIGURE_DIR / "days_ring.png")


def test_report_of_a_sweep_over_latent_sizes(make_config, tmp_path):
    cfg = _cfg(make_config)
    vocab = tiny_vocab()
    windows = make_windows_artifact(cfg.paths.root_path, vocab, n_train=1500, n_val=300)
    rows = []
    for latent in (4, 12):
        W, b = linear_weights(windows, len(vocab), latent)
        run_dir = make_run(cfg.paths.root_path, cfg, windows, W, b, f"r{latent}")
        rows.append({"job": latent, "status": "finished", "run_dir": str(run_dir)})
    sweep = tmp_path / "multirun"
    sweep.mkdir()
    pd.DataFrame(rows).to_parquet(sweep / Files.SWEEP_INDEX)
    page = report.run(_with(cfg, sweep=str(sweep / Files.SWEEP_INDEX), figures=False))
    assert page == sweep / analyze.ANALYSIS_DIR / "report.html"
    text = page.read_text()
    assert _h1(text).startswith("BOWS sweep: 2 runs, L = 4 vs 12, weight decay")
    assert 'alt="structure_vs_latent"' in text  # two latent sizes: the structure figure has something to show
    assert re.search(r"Left out, nothing to compare: <code>metrics_vs_weight_decay</code>", text)
    assert len(VERDICT.findall(text)) == len(claims.CLAIMS)  # claims from the largest L
    table = pd.read_parquet(page.parent / analyze.SWEEP_METRICS)
    (wd, chosen), *_ = report.representatives(table)
    assert list(chosen["latent_size"]) == [12]  # the claims and side-by-side figures use the largest L
    hrefs = [h for h in re.findall(r"<a href='([^']+)'", text) if not h.startswith("#")]
    assert len(hrefs) == 3 and hrefs[0] == "explorer.html"
    assert all((page.parent / h).resolve().is_file() for h in hrefs)


# ----------------------------------------------------------------------------- in a real browser
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHECK = """<script>window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var table = document.getElementById('claims');
  var out = {
    images: imgs.length,
    broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.alt; }),
    claims: table ? table.rows.length - 1 : -1,
    tableOverflow: table ? table.scrollWidth - table.clientWidth : null,
    tableRight: table ? table.getBoundingClientRect().right : null,
    pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    width: window.innerWidth
  };
  var pre = document.createElement('pre'); pre.id = 'bows-check'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});</script>"""


def _browser() -> str | None:
    return os.environ.get("BOWS_CHROMIUM") or next((b for b in map(shutil.which, BROWSERS) if b), None)


def _chromium(browser: str, page: Path, *args: str) -> str:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900"]
    done = subprocess.run([*cmd, *args, page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _check_in_browser(browser: str, page: Path, tmp_path: Path, extra: str = "") -> dict:
    """Open a copy of ``page`` with a checking script (and ``extra`` HTML) appended; return what it found."""
    probe = tmp_path / f"probe-{page.parent.parent.name}.html"
    probe.write_text(page.read_text().replace("</body>", f"{extra}{CHECK}</body>"))
    dom = _chromium(browser, probe, "--virtual-time-budget=10000", "--dump-dom")
    found = re.search(r'<pre id="bows-check">(.*?)</pre>', dom, re.S)
    assert found, "the checking script did not run:\n" + dom[-1000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.slow
def test_pages_load_in_headless_chromium(study, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("headless Chromium not found (Debian: apt-get install chromium, or `make browser`)")
    table = pd.read_parquet(study.parent / analyze.SWEEP_METRICS)
    pages = [study, Path(table["analysis_dir"].iloc[0]) / report.REPORT]
    for page in pages:
        got = _check_in_browser(browser, page, tmp_path)
        assert got["width"] == 1280
        assert got["images"] >= 8 and got["broken"] == [], got
        assert got["claims"] == len(claims.CLAIMS)
        assert got["tableOverflow"] <= 0 and got["tableRight"] <= 1280 and got["pageOverflow"] <= 0, got
    # the checks can fail: a broken image and a table wider than the window are caught
    bad = '<img alt="broken-on-purpose" src="data:image/png;base64,AAAA"><table><tr><td style="min-width:2000px">x</td></tr></table>'
    got = _check_in_browser(browser, study, tmp_path, bad)
    assert got["broken"] == ["broken-on-purpose"] and got["pageOverflow"] > 0
    shots = os.environ.get("BOWS_SCREENSHOTS")  # keep first-screen screenshots for a human to look at
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        for name, page in zip(("study", "run"), pages):
            _chromium(browser, page, f"--screenshot={Path(shots).resolve() / f'{name}.png'}")


def test_seeds_are_averaged_and_null_stays_null():
    from bows.analysis.compute import Analysis

    def view(**metrics):
        return report.RunView(Path("."), Analysis(metrics=metrics), {"weight_decay": 1.0, "latent_size": 8}, {})

    mean = report._mean_metrics([view(a=1.0, b=None, c=None), view(a=0.5, b=2.0, c=float("nan"))])
    assert mean == {"a": 0.75, "b": 2.0, "c": None}


def test_claims_table_shows_each_rows_own_verdict_numbers_and_reason():
    """Every row of the claims table carries its own verdict, numbers and reason (not another row's)."""
    verdicts = [claims.REPRODUCED, claims.PARTIAL, claims.NOT_REPRODUCED, claims.NOT_MEASURABLE]
    rows = [
        claims.ClaimResult(claim, (("wd 4", f"number {i}"),), f"chance {i}", verdicts[i % 4], f"reason {i}")
        for i, claim in enumerate(claims.CLAIMS)
    ]
    text = report.claims_table(rows, {claims.CLAIMS[0].figure})
    for i, claim in enumerate(claims.CLAIMS):
        row = re.search(rf"<tr id='claim-{claim.key}'>.*?</tr>", text)
        assert row, claim.key
        assert VERDICT.findall(row.group(0)) == [verdicts[i % 4].replace(" ", "-")], claim.key
        assert f"number {i}<" in row.group(0) and f"<i>reason {i}</i>" in row.group(0)
    assert f"<a href='#{claims.CLAIMS[0].figure}'" in text  # shown figures are linked, others are not
    assert f"<a href='#{claims.CLAIMS[1].figure}'" not in text or claims.CLAIMS[1].figure == claims.CLAIMS[0].figure


def test_a_damaged_figure_is_a_note_not_a_broken_image(study, tmp_path):
    """A truncated PNG (figures carry no checksum) is named on the page with the fix, never embedded."""
    table = pd.read_parquet(study.parent / analyze.SWEEP_METRICS)
    analysis_dir = tmp_path / "analysis"
    shutil.copytree(Path(table["analysis_dir"].iloc[0]), analysis_dir)
    png = analysis_dir / analyze.FIGURE_DIR / "months_ring.png"
    intact = report.run_page(analysis_dir).count("<img")
    png.write_bytes(png.read_bytes()[:-100])
    text = report.run_page(analysis_dir)
    assert "Figure <code>months_ring.png</code> is damaged" in text and "re-run the analysis" in text
    assert text.count("<img") == intact - 1
