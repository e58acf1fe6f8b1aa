"""The word explorer (``analysis/explorer.html``): the Python packing (neighbours, co-occurrence partners,
held-out examples, base64 arrays) checked against direct computations, the pages written by ``analyze``
for a run and a sweep, and -- in headless Chromium -- the page's neighbour list and ring score against
Python's."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import tiny_config
from test_report import _browser, _chromium
from tiny_runs import linear_weights, make_run, make_windows_artifact, tiny_vocab

from bows.analysis import analyze, explorer, report
from bows.artifacts import Files
from bows.core import discovery as disc
from bows.core.groups import MONTHS
from bows.data.coactivation import phi

OVERRIDES = ("analyze.umap=false", "analyze.heldout_windows=300", "stats.sample_windows=1500", "stats.min_count=3")


# ----------------------------------------------------------------------------- packing (fast)
def _cosines(W: np.ndarray) -> np.ndarray:
    Wd = np.asarray(W, dtype=np.float64)
    n = np.linalg.norm(Wd, axis=0)
    return (Wd / np.where(n > 0, n, 1)).T @ (Wd / np.where(n > 0, n, 1))


def test_cosine_neighbours_are_the_exact_top_k_and_skip_dead_words():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(8, 300)).astype(np.float32)
    W[:, 7] = 0  # a dead word: no direction
    got = explorer.cosine_neighbours(W, 5, chunk=64)  # several chunks
    S = _cosines(W)
    for j in (0, 1, 150, 299):
        s = S[j].copy()
        s[[j, 7]] = np.nan
        order = np.argsort(-np.nan_to_num(s, nan=-np.inf), kind="stable")
        assert got["nearest"][j].tolist() == order[:5].tolist()
        assert np.allclose(got["nearest_cos"][j], s[order[:5]], atol=1e-5)
        opp = np.argsort(np.nan_to_num(s, nan=np.inf), kind="stable")
        assert got["opposed"][j].tolist() == opp[:5].tolist()
        assert 7 not in got["nearest"][j] and j not in got["nearest"][j]
    assert (got["nearest"][7] == -1).all() and np.isnan(got["nearest_cos"][7]).all()


def test_cooccurrence_partners_rank_by_phi_with_pmi_and_counts():
    rng = np.random.default_rng(1)
    X = (rng.random((500, 40)) < 0.15).astype(np.int64)
    X[:, 3] = X[:, 2]  # word 3 always with word 2: phi 1
    full = X.T @ X
    cooc = sp.csr_matrix(np.triu(full))
    got = explorer.cooccurrence_neighbours(cooc, 500, 4, block=7)
    counts = np.diag(full)
    for i in (0, 2, 3, 39):
        row = phi(full[i], counts[i], counts, 500)
        row[i] = np.nan
        row[full[i] == 0] = np.nan  # never together: not a partner
        order = np.argsort(-np.nan_to_num(row, nan=-np.inf), kind="stable")[:4]
        assert got["ids"][i].tolist() == order.tolist()
        assert np.allclose(got["phi"][i], row[order], atol=1e-6)
        assert got["count"][i].tolist() == full[i, order].tolist()
    assert got["ids"][2, 0] == 3 and got["phi"][2, 0] == pytest.approx(1.0)
    assert got["pmi"][2, 0] == pytest.approx(np.log(500 / counts[2]), rel=1e-5)


def test_window_examples_are_the_windows_above_and_below_the_threshold():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(4, 30)).astype(np.float32)
    b = rng.normal(size=30).astype(np.float32) - 1
    X = sp.csr_matrix((rng.random((200, 30)) < 0.2).astype(np.float32))
    got = explorer.window_examples(W, b, X, 3, chunk=33)
    Z = X.toarray() @ W.T @ W + b
    for j in range(30):
        rows = np.flatnonzero(X.toarray()[:, j])
        z = Z[rows, j]
        lifted = rows[z > 0][np.argsort(-z[z > 0], kind="stable")][:3]
        missed = rows[z <= 0][np.argsort(z[z <= 0], kind="stable")][:3]
        assert got["lifted"][j][: len(lifted)].tolist() == lifted.tolist()
        assert got["missed"][j][: len(missed)].tolist() == missed.tolist()
        assert (got["lifted_z"][j][: len(lifted)] > 0).all() and (got["missed_z"][j][: len(missed)] <= 0).all()


def test_large_models_get_int8_vectors_within_half_a_step():
    rng = np.random.default_rng(3)
    W = rng.normal(size=(50, 40)).astype(np.float32)
    W[:, 5] = 0
    small = explorer.encode_vectors(W)
    big = explorer.encode_vectors(W, budget_mb=0)
    assert small["coding"] == "f2" and big["coding"] == "q8"
    back = explorer.decode_vectors(big, 50)
    step = np.abs(W).max(axis=0) / 127
    assert (np.abs(back - W.T) <= step[:, None] / 2 + 1e-7).all()
    assert (back[5] == 0).all()
    assert len(big["data"]) < 0.6 * len(small["data"])


def _dimensionality(W: np.ndarray, vocab: list[str], freq: np.ndarray) -> pd.DataFrame:
    norm2 = (W.astype(np.float64) ** 2).sum(axis=0)
    return pd.DataFrame({"word": vocab, "dimensionality": norm2 / 2, "norm2": norm2, "freq": freq})


def test_word_table_keeps_the_most_frequent_words_within_the_cap():
    rng = np.random.default_rng(4)
    W = rng.normal(size=(4, 6)).astype(np.float32)
    vocab = ["January", "cat", "x", "y", "z", "Christmas"]
    table = explorer.word_table(W, vocab, _dimensionality(W, vocab, np.array([0.1, 0.5, 0.0, 0.2, 0.3, 0.4])), 12)
    assert table["word"].tolist() == ["cat", "Christmas", "z"]  # 12 values / L=4: the 3 most frequent
    assert np.array_equal(np.stack(table["vector"].tolist()), W[:, [1, 5, 4]].T)
    assert np.allclose(table["norm"], np.linalg.norm(W[:, [1, 5, 4]], axis=0))
    assert len(explorer.word_table(W, vocab, _dimensionality(W, vocab, np.ones(6)))) == 6


def test_word_table_is_logged_offline_as_a_wandb_table(tmp_path, monkeypatch):
    from bows import tracking
    from bows.config import WandbConfig

    monkeypatch.delenv("WANDB_MODE", raising=False)
    W = np.arange(6, dtype=np.float32).reshape(2, 3)
    vocab = ["May", "June", "snow"]
    frame = explorer.word_table(W, vocab, _dimensionality(W, vocab, np.array([0.3, 0.2, 0.1])))
    with tracking.tracking_run(WandbConfig(mode="offline"), name="w", job_type="test", config={}, dir=tmp_path) as tr:
        tr.embedding_table("tables/words", frame)
    files = list((tmp_path / "wandb").glob("offline-run-*/files/media/table/**/*.table.json"))
    assert len(files) == 1, files
    logged = json.loads(files[0].read_text())
    assert logged["columns"] == ["word", "frequency", "category", "norm", "D", "vector"]
    assert logged["data"][0][0] == "May" and logged["data"][0][5] == [0.0, 3.0]


def test_base64_round_trip_keeps_values_and_byte_order():
    a = np.array([[1.5, -2.25], [np.nan, 65504]], dtype=np.float32)
    back = explorer.unb64(explorer.b64(a.astype(np.float16), "f2"), "f2", (2, 2))
    assert np.array_equal(back.astype(np.float32), a, equal_nan=True)
    ids = np.array([-1, 0, 70000], dtype=np.int64)
    assert explorer.unb64(explorer.b64(ids, "i4"), "i4").tolist() == [-1, 0, 70000]


# ----------------------------------------------------------------------------- pages written by analyze
@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> tuple[Path, list[Path]]:
    """Two analysed tiny runs (weight decay 4 and 1, L = 12) in a sweep index, with its analysis."""
    cfg = tiny_config(tmp_path_factory.mktemp("explorer"), *OVERRIDES, "analyze.figures=false")
    vocab = tiny_vocab()
    windows = make_windows_artifact(cfg.paths.root_path, vocab, n_train=1500, n_val=300)
    sweep_dir = cfg.paths.root_path / "multirun" / "tinysweep"
    sweep_dir.mkdir(parents=True)
    rows, runs = [], []
    for wd, scale in ((4.0, 0.5), (1.0, 0.3)):
        W, b = linear_weights(windows, len(vocab), 12, scale=scale)
        run_cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, weight_decay=wd))
        run_dir = make_run(cfg.paths.root_path, run_cfg, windows, W, b, f"key{wd:g}explorer")
        rows.append({"job": len(rows), "status": "finished", "run_dir": str(run_dir)})
        runs.append(run_dir)
    pd.DataFrame(rows).to_parquet(sweep_dir / Files.SWEEP_INDEX)
    sweep_cfg = dataclasses.replace(
        cfg, analyze=dataclasses.replace(cfg.analyze, sweep=str(sweep_dir / Files.SWEEP_INDEX))
    )
    report.run(sweep_cfg)
    return sweep_dir / analyze.ANALYSIS_DIR, runs


def test_run_explorer_holds_the_model_and_is_linked_from_the_report(tiny_sweep):
    _, runs = tiny_sweep
    out = runs[0] / analyze.ANALYSIS_DIR
    page = out / explorer.EXPLORER
    data = explorer.read_model_data(page)
    from bows.training.checkpoint import load_run

    W = np.asarray(load_run(runs[0]).W, dtype=np.float32)
    L, V = W.shape
    assert data["info"]["latent_size"] == L and len(data["words"]) == V
    assert data["vectors"]["coding"] == "f2"  # a small model: float16 vectors
    assert np.allclose(explorer.decode_vectors(data["vectors"], L), W.T, atol=1e-3, rtol=1e-3)
    nearest = explorer.unb64(data["neighbours"]["nearest"], "i4", (V, explorer.NEIGHBOURS))
    assert nearest.tolist() == explorer.cosine_neighbours(W, explorer.NEIGHBOURS)["nearest"].tolist()
    assert any(g["name"] == "months" and g["words"] == list(MONTHS) for g in data["groups"])
    assert data["metrics"]["geometry/months/ring_score"] is not None
    assert "explorer.html" in (out / report.REPORT).read_text()  # linked from the report's first screen
    assert page.read_text().count("Plotly") > 10  # plotly's bundle is inline: no network, no server


def test_sweep_explorer_loads_one_script_per_model_with_the_metrics_table(tiny_sweep):
    analysis_dir, runs = tiny_sweep
    text = (analysis_dir / explorer.EXPLORER).read_text()
    found = re.search(r'<script id="bows-head" type="application/json">(.*?)</script>', text, re.S)
    assert found
    head = json.loads(found.group(1))
    assert [m["src"] for m in head["models"]] == ["explorer/model-0.js", "explorer/model-1.js"]
    assert [r["weight_decay"] for r in head["sweep"]] == [1.0, 4.0]
    for i in range(2):
        assert (analysis_dir / "explorer" / f"model-{i}.js").read_text().startswith(f"BOWS_EXPLORER.add({i}, ")
    assert "explorer.html" in (analysis_dir / report.REPORT).read_text()


def test_a_missing_explorer_makes_the_analysis_out_of_date(tiny_sweep):
    analysis_dir, runs = tiny_sweep
    cfg = tiny_config(runs[0].parent.parent, *OVERRIDES, "analyze.figures=false")
    assert analyze.current_analysis(runs[1], cfg) == runs[1] / analyze.ANALYSIS_DIR
    (runs[1] / analyze.ANALYSIS_DIR / explorer.EXPLORER).unlink()
    assert analyze.current_analysis(runs[1], cfg) is None
    analyze.analyze_run(runs[1], cfg)
    assert (runs[1] / analyze.ANALYSIS_DIR / explorer.EXPLORER).is_file()


# ----------------------------------------------------------------------------- in headless Chromium
ERRORS = """<script>window.BOWS_ERRORS = [];
window.addEventListener('error', function (e) { window.BOWS_ERRORS.push(String(e.message)); });
(function () { var orig = console.error; console.error = function () { window.BOWS_ERRORS.push(Array.prototype.join.call(arguments, ' ')); orig.apply(console, arguments); }; })();
</script>"""
PROBE = """<script>(function () {
  var out = {ready: window.BOWS_READY_MS || null};
  try {
    var input = document.getElementById('word-input');
    input.value = %(word)s; input.dispatchEvent(new Event('change'));
    out.nearest = Array.prototype.map.call(document.querySelectorAll('#nearest li'), function (li) { return li.getAttribute('data-word'); });
    out.opposed = Array.prototype.map.call(document.querySelectorAll('#opposed li'), function (li) { return li.getAttribute('data-word'); });
    out.cooc = document.querySelectorAll('#cooc li').length;
    document.querySelector('button[data-tab=group]').click();
    var ta = document.getElementById('group-input');
    ta.value = %(group)s; document.getElementById('group-show').click();
    out.ring = parseFloat(document.getElementById('ring-score').getAttribute('data-value'));
    out.circ = parseFloat(document.getElementById('circ-score').getAttribute('data-value'));
    out.line = parseFloat(document.getElementById('line-score').getAttribute('data-value'));
    out.shapeRing = parseFloat(document.getElementById('shape-ring').getAttribute('data-value'));
    document.querySelector('button[data-tab=map]').click();
    out.mapPoints = document.getElementById('map').data.reduce(function (s, t) { return s + t.x.length; }, 0);
  } catch (e) { window.BOWS_ERRORS.push('probe: ' + e); }
  out.errors = window.BOWS_ERRORS;
  var pre = document.createElement('pre'); pre.id = 'bows-check'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();</script>"""


def explore_in_browser(browser: str, page: Path, probe_dir: Path, word: str, group: list[str]) -> dict:
    """Open a copy of an explorer page, search ``word``, type ``group`` into the Group view, open the
    map; return what the page showed, its console errors and its load time (ms)."""
    probe = Path(probe_dir) / f"probe-{page.parent.parent.name}.html"
    text = page.read_text(encoding="utf-8").replace("<head>", "<head>" + ERRORS, 1)
    tail = PROBE % {"word": json.dumps(word), "group": json.dumps(" ".join(group))}
    probe.write_text(text.replace("</body></html>", tail + "</body></html>"), encoding="utf-8")
    dom = _chromium(browser, probe, "--virtual-time-budget=20000", "--dump-dom")
    found = re.search(r'<pre id="bows-check">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run:\n" + dom[-1000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.slow
def test_explorer_in_headless_chromium_matches_python(tiny_sweep, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("headless Chromium not found (Debian: apt-get install chromium, or `make browser`)")
    _, runs = tiny_sweep
    out = runs[0] / analyze.ANALYSIS_DIR
    from bows.training.checkpoint import load_run

    W = np.asarray(load_run(runs[0]).W, dtype=np.float32)
    vocab = explorer.read_model_data(out / explorer.EXPLORER)["words"]
    word = "January"
    j = vocab.index(word)
    S = _cosines(W)
    S[j, j] = np.nan
    expected = [vocab[i] for i in np.argsort(-np.nan_to_num(S[j], nan=-np.inf), kind="stable")[: explorer.NEIGHBOURS]]
    started = time.perf_counter()
    got = explore_in_browser(browser, out / explorer.EXPLORER, tmp_path, word, list(MONTHS))
    print(f"explorer: loaded in {got['ready']:.0f} ms in Chromium (whole probe {time.perf_counter() - started:.1f} s)")
    assert got["errors"] == [], got["errors"]
    assert got["nearest"] == expected
    metrics = json.loads((out / "metrics.json").read_text())
    assert got["ring"] == pytest.approx(metrics["geometry/months/ring_score"])
    assert got["circ"] == pytest.approx(metrics["geometry/months/circular_rank_corr"], abs=1e-3)
    # the label-free shapes of the cosine block, as the discovery computes them
    ids = [vocab.index(w) for w in MONTHS]
    shapes = disc.group_shapes(disc.unit_cosine(W[:, ids].T), np.arange(12)[None, :])
    assert got["line"] == pytest.approx(float(shapes["line"][0]), abs=2e-3)
    assert got["shapeRing"] == pytest.approx(float(shapes["ring"][0]), abs=2e-3)
    assert got["mapPoints"] == len(vocab)
    # the same page with int8 vectors (as a large model gets): the same ring, the shapes within 1e-2
    data = explorer.read_model_data(out / explorer.EXPLORER)
    data["vectors"] = explorer.encode_vectors(W, budget_mb=0)
    (tmp_path / "q8" / "analysis").mkdir(parents=True)
    q8 = explorer.write_run_explorer(tmp_path / "q8" / "analysis", data)
    got = explore_in_browser(browser, q8, tmp_path, word, list(MONTHS))
    assert got["errors"] == [] and got["nearest"] == expected
    assert got["ring"] == pytest.approx(metrics["geometry/months/ring_score"])
    assert got["line"] == pytest.approx(float(shapes["line"][0]), abs=1e-2)
