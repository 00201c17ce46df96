from __future__ import annotations

import zipfile

import pytest
from sqlalchemy import func, select

from biomedai.errors import InvalidInputError
from biomedai.workflow.intake import classify, ingest, remove_study, scan_folder
from biomedai.workflow.models import Job, StoredFile, Study
from biomedai.workflow.previews import make_pending_previews
from biomedai.workflow.routing import Router

from .conftest import make_dicom, make_png


def _count(store, model):
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_same_upload_twice_is_stored_once(store, tmp_path, wf_methods):
    router = Router.from_data({"rules": [{"match": {}, "methods": ["wf_brightness"]}]})
    png = make_png(tmp_path / "a.png")
    first = ingest(store, [("a.png", png)], router=router)
    second = ingest(store, [("a.png", png)], router=router)
    assert first.new_studies == first.studies and len(first.jobs) == 1
    assert second.studies == first.studies and second.new_studies == [] and second.jobs == []
    assert second.duplicate_files == ["a.png"]
    assert _count(store, Study) == 1 and _count(store, StoredFile) == 1 and _count(store, Job) == 1
    assert make_pending_previews(store) == 1  # previews are a worker's job, not intake's
    with store.session() as s:
        row = s.scalars(select(StoredFile)).one()
        assert row.kind == "image/grey" and row.preview.endswith(".png")
        assert store.storage.resolve(row.path).read_bytes() == png.read_bytes()


def test_dicom_grouped_by_study_uid_and_series_folder(store, tmp_path, wf_methods):
    a = make_dicom(tmp_path / "1.dcm", "1.2.3", "1.2.3.1", instance=1)
    b = make_dicom(tmp_path / "2.dcm", "1.2.3", "1.2.3.1", instance=2)
    other = make_dicom(tmp_path / "3.dcm", "1.2.9", "1.2.9.1", modality="CT", body_part="CHEST")
    assert classify(a).kind == "dicom/DX" and classify(other).body_part == "CHEST"
    router = Router.from_data({"rules": [{"match": {"modality": "DX"}, "methods": ["wf_brightness"]}]},
                              check_methods=False)
    wf_methods.WfBrightness.input_kinds = ("image/grey", "image/rgb", "dicom/*")
    try:
        report = ingest(store, [("1.dcm", a), ("2.dcm", b), ("3.dcm", other)], router=router)
    finally:
        wf_methods.WfBrightness.input_kinds = ("image/grey", "image/rgb")
    assert len(report.studies) == 2 and len(report.new_files) == 3
    with store.session() as s:
        uids = sorted(s.scalars(select(Study.uid)))
        jobs = s.scalars(select(Job)).all()
    assert uids == ["1.2.3", "1.2.9"]
    assert len(jobs) == 1 and jobs[0].inputs[0].split("/")[-1].startswith("series-")  # the series folder
    again = ingest(store, [("2.dcm", b)], router=router)
    assert again.new_files == [] and again.jobs == []


def test_zipped_series_and_zip_slip(store, tmp_path, wf_methods):
    a = make_dicom(tmp_path / "1.dcm", "9.9", "9.9.1", instance=1)
    b = make_dicom(tmp_path / "2.dcm", "9.9", "9.9.1", instance=2)
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(a, "series/1.dcm")
        zf.write(b, "series/2.dcm")
        zf.writestr("__MACOSX/._1.dcm", b"junk")
    report = ingest(store, [("series.zip", archive)], router=Router.from_data({"rules": []}))
    assert len(report.new_files) == 2 and len(report.studies) == 1
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.txt", b"x")
    with pytest.raises(InvalidInputError, match="leaves its folder"):
        ingest(store, [("evil.zip", evil)])
    assert not (store.data_dir.parent / "escape.txt").exists()


@pytest.mark.parametrize("name", ["../a.png", "/etc/passwd", "a/../../b.png", "C:\\x.png", "a\x00.png"])
def test_bad_names_refused_before_storing(store, tmp_path, name):
    png = make_png(tmp_path / "a.png")
    with pytest.raises(InvalidInputError):
        ingest(store, [(name, png)])
    assert _count(store, StoredFile) == 0


def test_unreadable_file_is_skipped_with_reason(store, tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not a png at all")
    report = ingest(store, [("x.png", bad)])
    assert "x.png" in report.skipped and "PNG" in report.skipped["x.png"]
    assert str(tmp_path) not in report.skipped["x.png"]  # no server paths leak into messages


def test_watched_folder_ingests_once_and_moves_files(store, tmp_path, wf_methods):
    watch = tmp_path / "inbox"
    watch.mkdir()
    make_png(watch / "w.png", value=90)
    (watch / "broken.png").write_bytes(b"nope")
    router = Router.from_data({"rules": [{"match": {"source": "watch"}, "methods": ["wf_brightness"]}]})
    report = scan_folder(store, watch, router=router, min_age_s=0)
    assert report is not None and len(report.jobs) == 1
    assert (watch / ".done" / "w.png").exists() and (watch / ".failed" / "broken.png.txt").exists()
    assert scan_folder(store, watch, router=router, min_age_s=0) is None


def test_remove_study_deletes_rows_and_files(store, tmp_path, wf_methods):
    report = ingest(store, [("a.png", make_png(tmp_path / "a.png"))])
    study_id = report.studies[0]
    folder = store.storage.resolve(f"studies/{study_id}")
    assert folder.exists()
    assert remove_study(store, study_id)
    assert not folder.exists() and _count(store, Study) == 0 and _count(store, Job) == 0


def test_volume_and_rgb_kinds_and_previews(store, tmp_path):
    import numpy as np

    from biomedai.io import write_image

    volume = np.random.default_rng(0).random((6, 20, 20)).astype(np.float32)
    mrc = write_image(volume, tmp_path / "tomo.mrc")
    nii = write_image(volume, tmp_path / "ct.nii.gz")
    rgb = make_png(tmp_path / "he.png", rgb=True)
    assert classify(mrc).kind == "volume/mrc" and classify(nii).kind == "volume/nifti"
    assert classify(rgb).kind == "image/rgb"
    report = ingest(store, [("tomo.mrc", mrc), ("ct.nii.gz", nii), ("he.png", rgb)],
                    router=Router.from_data({"rules": []}))
    assert len(report.new_files) == 3 and len(report.studies) == 1
    make_pending_previews(store)
    with store.session() as s:
        rows = s.scalars(select(StoredFile)).all()
        assert all(r.preview for r in rows), [(r.original_name, r.preview) for r in rows]
