"""Per-patient HTML report on a simulated film."""
from __future__ import annotations

import csv

import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.dental_perio.abl import measure_abl
from biomedai.methods.dental_perio.report import write_patient_report
from biomedai.methods.dental_perio.synthetic import synthetic_panoramic


def test_patient_report(tmp_path) -> None:
    film = synthetic_panoramic(2, size=(128, 256))
    abl = measure_abl(film.tooth_masks(), film.bone_mask)
    html_path = write_patient_report(tmp_path / "p1", image=film.image, abl=abl, stage=2,
                                     probabilities=[0.1, 0.2, 0.6, 0.1], bone_mask=film.bone_mask,
                                     patient_id="synthetic-2", synthetic=True)
    text = html_path.read_text()
    assert "moderate" in text and "SIMULATED DATA" in text and "crown tip" in text
    for name in ("abl.png", "odontogram.png", "abl.csv"):
        assert (tmp_path / "p1" / name).is_file() and name in text or name == "abl.csv"
    with open(tmp_path / "p1" / "abl.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 32
    imputed = {int(r["fdi"]) for r in rows if r["imputed"] == "True"}
    assert imputed == set(film.missing)
    worst = max(abl.values(), key=lambda r: r.d)
    assert f"<td>{worst.fdi}</td>" in text
    with pytest.raises(InvalidInputError, match="stage"):
        write_patient_report(tmp_path / "p2", image=film.image, abl=abl, stage=4)
    with pytest.raises(InvalidInputError, match="nothing to report"):
        write_patient_report(tmp_path / "p3", image=film.image, abl={}, stage=0)
