"""The one figure registry (bows.plots.registry) serves the analyses, the report and the README."""

from __future__ import annotations

from pathlib import Path

from bows.analysis import report
from bows.plots import registry

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_figure_guide_is_the_registry():
    assert registry.guide_markdown() in README.read_text(), (
        "README's figure table is out of date: paste bows.plots.registry.guide_markdown()"
    )


def test_every_figure_is_declared_once_with_a_report_section():
    names = [f.name for f in (*registry.RUN_FIGURES, *registry.SWEEP_FIGURES)]
    assert len(names) == len(set(names)) == len(registry.FIGURES)
    for f in registry.FIGURES.values():
        assert f.section in report.SECTIONS and f.caption and f.look_for and f.needs, f.name


def test_the_report_lays_out_what_the_registry_declares():
    assert [s.name for s in report.RUN_FIGURES] == [f.name for f in registry.RUN_FIGURES]
    assert [s.caption for s in report.SWEEP_FIGURES] == [f.look_for for f in registry.SWEEP_FIGURES]
    assert report.SWEEP_NEEDS["phase_diagram"] == (("weight_decay", 2), ("latent_size", 2))
