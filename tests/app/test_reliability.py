"""Every reliability probe (tests/app/probes.py) ends with a clear error and loses nothing."""

from __future__ import annotations

import pytest

from .probes import PROBES, run_probe


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: f"{p.family}: {p.name}")
def test_probe_gives_a_clear_error_and_loses_nothing(probe, tmp_path):
    column, seen = run_probe(probe, tmp_path)
    assert column == "clear", f"{column}: {seen}"


def test_the_probes_cover_every_family_of_the_issue():
    families = {p.family for p in PROBES}
    assert len(PROBES) >= 80 and len(families) >= 6
