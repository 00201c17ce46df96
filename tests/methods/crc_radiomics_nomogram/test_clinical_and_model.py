"""Clinical CSV checks (bad rows named), the saved model and the paper's preset."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.errors import InvalidInputError, WeightsError
from biomedai.methods.crc_radiomics_nomogram.clinical import read_clinical_csv
from biomedai.methods.crc_radiomics_nomogram.model import (PAPER_COEFFICIENTS, NomogramCox, RadiomicsNomogramModel,
                                                           paper_preset)

HEADER = "id,cohort,time,event,age,sex,cea,grade,tnm,ln\n"
GOOD = ["p1,primary,12.5,1,60,M,high,moderate,III,yes", "p2,validation,40,0,71,F,low,,II,no",
        "p3,training,30,0,NA,m,0,1,stage IV,0"]


def _csv(tmp_path, lines, header=HEADER):
    path = tmp_path / "clinical.csv"
    path.write_text(header + "\n".join(lines) + "\n")
    return path


def test_reads_and_codes(tmp_path):
    c = read_clinical_csv(_csv(tmp_path, GOOD))
    assert c.ids == ["p1", "p2", "p3"] and c.cohort.tolist() == ["primary", "validation", "primary"]
    assert c.clinical["tnm"].tolist() == [3, 2, 4] and c.clinical["sex"].tolist() == [1, 0, 1]
    assert np.isnan(c.clinical["grade"][1]) and np.isnan(c.clinical["age"][2])


@pytest.mark.parametrize("bad_line,message", [
    ("p4,primary,-3,1,60,M,high,moderate,III,yes", "line 5: negative time"),
    ("p4,primary,3,2,60,M,high,moderate,III,yes", "line 5: event '2'"),
    ("p4,primary,abc,1,60,M,high,moderate,III,yes", "line 5: column 'time'"),
    ("p4,somewhere,3,1,60,M,high,moderate,III,yes", "line 5: cohort"),
    ("p1,primary,3,1,60,M,high,moderate,III,yes", "line 5: id 'p1' repeats line 2"),
    ("p4,primary,3,1,60,M,high,moderate,V,yes", "line 5: column 'tnm'"),
    ("p4,primary,3,1,260,M,high,moderate,III,yes", "line 5: age"),
])
def test_bad_rows_are_named(tmp_path, bad_line, message):
    with pytest.raises(InvalidInputError, match=message):
        read_clinical_csv(_csv(tmp_path, GOOD + [bad_line]))


def test_missing_columns_and_images(tmp_path):
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['event'\]"):
        read_clinical_csv(_csv(tmp_path, ["p1,primary,3"], header="id,cohort,time\n"))
    with pytest.raises(InvalidInputError, match="line 2: no image for id 'p1'"):
        read_clinical_csv(_csv(tmp_path, GOOD), require_images=True)
    with pytest.raises(InvalidInputError, match="not found"):
        read_clinical_csv(tmp_path / "nothing.csv")


def test_paper_preset_scores_with_the_published_formula():
    model = paper_preset()
    rng = np.random.default_rng(0)
    raw = rng.normal(10, 3, size=(50, 5))
    z = (raw - raw.mean(0)) / raw.std(0, ddof=1)
    expected = (0.075 * z[:, 0] - 0.070 * z[:, 1] + 0.029 * z[:, 2] + 0.028 * z[:, 3] + 0.116 * z[:, 4])
    np.testing.assert_allclose(model.rad_score(raw), expected)
    assert model.cutoff == -0.077 and list(PAPER_COEFFICIENTS) == model.features
    assert model.risk_group(np.array([-0.08, -0.07])).tolist() == [0, 1]


def test_model_round_trip_and_bad_files(tmp_path):
    cox = NomogramCox(["radscore", "tnm"], [1.2, 0.5], [0.0, 2.5], [0.0, 36.0, 60.0], [1.0, 0.8, 0.6])
    model = RadiomicsNomogramModel(["a", "b"], [0.3, -0.2], 0.1, [1.0, 2.0], [0.5, 1.0], cox)
    path = model.save(tmp_path / "model.json")
    back = RadiomicsNomogramModel.load(path)
    raw = np.array([[1.5, 2.0], [0.5, 4.0]])
    np.testing.assert_allclose(back.rad_score(raw), [0.3, -0.3 - 0.4])
    s = back.survival(back.rad_score(raw), {"tnm": np.array([3.0, 1.0])}, 60.0)
    assert s[0] == pytest.approx(0.6 ** np.exp(1.2 * 0.3 + 0.5 * 0.5))
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(WeightsError, match="not a biomedai"):
        RadiomicsNomogramModel.load(tmp_path / "bad.json")
    with pytest.raises(WeightsError, match="not found"):
        RadiomicsNomogramModel.load(tmp_path / "missing.json")
    with pytest.raises(InvalidInputError, match="expected 2 feature columns"):
        back.rad_score(np.zeros((3, 3)))
