"""Shared helpers of ``biomedai.utils``: reading a CSV table back."""
from __future__ import annotations

from pathlib import Path

import pytest

from biomedai.errors import InvalidInputError
from biomedai.utils import read_csv_rows, write_csv_atomic


def test_read_csv_rows_gives_back_what_was_written(tmp_path: Path) -> None:
    rows = [{"case": "a", "volume_ml": 1.5}, {"case": "b", "volume_ml": 0.25}]
    path = write_csv_atomic(tmp_path / "t.csv", rows)
    assert read_csv_rows(path, required=["case", "volume_ml"]) == [{"case": "a", "volume_ml": "1.5"},
                                                                   {"case": "b", "volume_ml": "0.25"}]


def test_read_csv_rows_drops_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("case,n\r\nx,3\r\n".encode("utf-8-sig"))
    assert read_csv_rows(path, required=["case"]) == [{"case": "x", "n": "3"}]


def test_read_csv_rows_names_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not found") as err:
        read_csv_rows(tmp_path / "absent.csv")
    assert err.value.path == tmp_path / "absent.csv"
    path = write_csv_atomic(tmp_path / "t.csv", [{"case": "a"}])
    with pytest.raises(InvalidInputError, match="lacks the column.*volume_ml"):
        read_csv_rows(path, required=["case", "volume_ml"])
    assert read_csv_rows(write_csv_atomic(tmp_path / "empty.csv", [], columns=["case"]), ["case"]) == []


@pytest.mark.parametrize(("content", "problem"), [
    ("id,name\n1,Müller\n".encode("latin-1"), "not UTF-8 text"),
    (b"id,name\n1," + b"x" * 200_000 + b"\n", "not a readable CSV"),  # a field over the csv module's limit
])
def test_read_csv_rows_turns_unreadable_text_into_one_clear_error(tmp_path: Path, content: bytes, problem: str):
    path = tmp_path / "labels.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=problem) as info:
        read_csv_rows(path)
    assert "labels.csv" in str(info.value)


def test_read_csv_rows_refuses_a_file_over_its_limit_before_reading(tmp_path: Path):
    path = write_csv_atomic(tmp_path / "big.csv", [{"a": i} for i in range(1000)])
    with pytest.raises(InvalidInputError, match="over the"):
        read_csv_rows(path, max_bytes=100)


def test_method_tables_go_through_read_csv_rows(tmp_path: Path):
    """A Latin-1 labels table given to a method's reader: one clear error naming it, not a UnicodeDecodeError."""
    from biomedai.methods.msam_meg.recordings import read_labels
    from biomedai.methods.nmosd_ms.dataset import LABELS_FILE, read_cohort

    (tmp_path / "labels.csv").write_bytes("subject_id,subtype,file\nM\xfcller,CPS,a.fif\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        read_labels(tmp_path / "labels.csv")
    (tmp_path / LABELS_FILE).write_bytes("subject_id,diagnosis\nM\xfcller,MS\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        read_cohort(tmp_path)


def test_a_table_never_names_a_file_outside_its_folder(tmp_path: Path):
    """The capsule frame folder and the DBT cohort go through file_named_by_table: '../' names are refused."""
    from biomedai.methods.capsule_mtcsn.data import load_frame_folder
    from biomedai.methods.dbt_maskrcnn.data import load_cohort

    (tmp_path / "secret.png").write_bytes(b"not read")
    frames = tmp_path / "frames"
    (frames / "images").mkdir(parents=True)
    (frames / "labels.csv").write_text("image,cd_class,group\n../../secret.png,clear,a\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="points outside the images folder"):
        load_frame_folder(frames, 32)
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "clinical.csv").write_text("breast_id,split\nb1,train\n", encoding="utf-8")
    (cohort / "boxes.csv").write_text("breast_id,view_id\nb1,../../secret\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="points outside the cohort's volumes folder"):
        load_cohort(cohort, (1.0, 1.0, 1.0))


def test_ids_and_file_columns_of_user_tables_stay_inside_their_folders(tmp_path: Path):
    """dce_nact's patient_id names folders; crc's image/mask and covid_ct's ct columns name files."""
    import pandas as pd

    from biomedai.methods.covid_ct.config import CovidCTConfig
    from biomedai.methods.covid_ct.study import quantify_cases
    from biomedai.methods.crc_radiomics_nomogram.clinical import read_clinical_csv
    from biomedai.methods.dce_nact.cohort import read_clinical

    dce = tmp_path / "dce"
    dce.mkdir()
    (dce / "clinical.csv").write_text("patient_id,cohort,MP_grade,subtype\n../../P1,dev,4,luminal\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="cannot be a file name"):
        read_clinical(dce)
    crc = tmp_path / "crc"
    crc.mkdir()
    (crc / "clinical.csv").write_text("id,cohort,time,event,image\np1,primary,10,1,../../ct.nii.gz\n",
                                      encoding="utf-8")
    with pytest.raises(InvalidInputError, match="points outside the clinical CSV's folder"):
        read_clinical_csv(crc / "clinical.csv")
    cases = pd.DataFrame({"patient": ["p1"], "group": ["a"], "ct": ["../../ct.nii.gz"]})
    with pytest.raises(InvalidInputError, match="points outside the study folder"):
        quantify_cases(cases, tmp_path / "covid", CovidCTConfig())
