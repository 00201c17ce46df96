"""DICOM SEG export: label maps from a real CT series become segments that reference the source."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.workflow.intake import ingest
from biomedai.workflow.models import Job, Result
from biomedai.workflow.routing import Router

from .conftest import make_dicom, make_png, operator_client_and_pacs

hd = pytest.importorskip("highdicom")


def _ct_series_files() -> list[Path]:
    from biomedai.data.samples import sample_path

    return sorted(p for p in sample_path("ct_series").iterdir() if p.is_file())


def ingest_ct(store) -> tuple[int, str, list[str]]:
    """The bundled 5-slice CT series as a study: (study id, stored series input, job inputs)."""
    from biomedai.workflow.intake import unit_inputs
    from biomedai.workflow.models import StoredFile
    from sqlalchemy import select

    files = _ct_series_files()
    report = ingest(store, [(p.name, p) for p in files], router=Router.from_data({"rules": []}))
    with store.session() as s:
        rows = s.scalars(select(StoredFile).where(StoredFile.study_id == report.studies[0])).all()
        inputs = unit_inputs(store, report.studies[0], rows)
    return report.studies[0], inputs[0], inputs


def add_result(store, study_id: int, inputs: list[str], files: dict[str, np.ndarray | Path], metrics=None,
               method: str = "wf_ct_threshold") -> int:
    """A done job + result whose output folder holds ``files`` (arrays are written with write_image)."""
    from biomedai.io import write_image

    with store.session() as s:
        job = Job(study_id=study_id, method=method, inputs=inputs, status="done")
        s.add(job)
        s.flush()
        out_rel = f"results/study-{study_id}/job-{job.id}/attempt-1"
        out = store.storage.resolve(out_rel)
        out.mkdir(parents=True)
        for name, content in files.items():
            if isinstance(content, Path):
                (out / name).write_bytes(content.read_bytes())
            elif name.endswith(".npy"):
                np.save(out / name, content)
            else:
                write_image(content, out / name)
        listed = list(store.storage.files_under(out_rel))
        result = Result(job_id=job.id, study_id=study_id, method=method, output_dir=out_rel,
                        metrics=metrics or {}, files=listed)
        s.add(result)
        s.flush()
        return result.id


def _ct_labels(store, series_input: str):
    from biomedai.io import read_image

    image = read_image(store.storage.resolve(series_input))
    labels = np.zeros(image.shape, np.uint8)
    labels[image.array > -200] = 1
    labels[image.array > -20] = 2
    return image, labels


def test_label_map_of_a_ct_series_becomes_named_segments(store):
    import pydicom

    from biomedai.workflow.dicom_seg import result_to_seg

    study_id, series_input, inputs = ingest_ct(store)
    image, labels = _ct_labels(store, series_input)
    assert set(np.unique(labels)) == {0, 1, 2}
    rid = add_result(store, study_id, inputs, {"ct_labels.nii.gz": image.with_array(labels),
                                               "ct_overlay.png": np.zeros((4, 4), np.uint8)},
                     metrics={"segments": {"1": "fat", "2": "muscle"}})
    data = result_to_seg(store, rid)
    seg = hd.seg.segread(io.BytesIO(data))
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in _ct_series_files()]
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    assert seg.PatientName == sources[0].PatientName
    assert [seg.get_segment_description(n).segment_label for n in seg.segment_numbers] == ["fat", "muscle"]
    assert sorted(u for _, _, u in seg.get_source_image_uids()) == sorted(ds.SOPInstanceUID for ds in sources)
    # frames land on the right slices: read_image orders slices by position along the slice normal
    normal = np.cross(np.asarray(sources[0].ImageOrientationPatient[:3], float),
                      np.asarray(sources[0].ImageOrientationPatient[3:], float))
    order = [ds.SOPInstanceUID for ds in sorted(sources, key=lambda ds: float(np.dot(ds.ImagePositionPatient,
                                                                                        normal)))]
    back = seg.get_pixels_by_source_instance(order, combine_segments=True, assert_missing_frames_are_empty=True)
    np.testing.assert_array_equal(back, labels)
    again = hd.seg.segread(io.BytesIO(result_to_seg(store, rid)))  # the same result gives the same instance
    assert (again.SOPInstanceUID, again.SeriesInstanceUID) == (seg.SOPInstanceUID, seg.SeriesInstanceUID)


def test_single_image_binary_and_fractional_masks(store, tmp_path):
    from pydicom.data import get_testdata_file

    from biomedai.workflow.dicom_seg import result_to_seg

    ct = Path(get_testdata_file("CT_small.dcm", download=False))
    report = ingest(store, [("ct.dcm", ct)], router=Router.from_data({"rules": []}))
    from biomedai.workflow.models import StoredFile

    with store.session() as s:
        path = s.query(StoredFile).filter_by(study_id=report.studies[0]).one().path
    mask = np.zeros((128, 128), np.uint8)
    mask[10:40, 20:60] = 255  # a 0/255 PNG: one binary segment named after the file
    rid = add_result(store, report.studies[0], [path], {"lesion_mask.png": mask})
    seg = hd.seg.segread(io.BytesIO(result_to_seg(store, rid)))
    assert seg.number_of_segments == 1 and seg.get_segment_description(1).segment_label == "lesion_mask"
    assert int(seg.get_pixels_by_source_instance([seg.get_source_image_uids()[0][2]]).sum()) == 30 * 40

    prob = np.zeros((128, 128), np.float32)
    prob[5:15, 5:15] = 0.25
    prob[50:60, 50:60] = 0.75
    rid_f = add_result(store, report.studies[0], [path], {"tumour_prob.npy": prob})
    seg_f = hd.seg.segread(io.BytesIO(result_to_seg(store, rid_f)))
    assert seg_f.SegmentationType == "FRACTIONAL"
    back = seg_f.get_pixels_by_source_instance([seg_f.get_source_image_uids()[0][2]])[0, ..., 0]
    np.testing.assert_allclose(back, prob, atol=1 / 255)


def test_instance_mask_is_one_foreground_segment(store):
    from biomedai.workflow.dicom_seg import result_to_seg

    study_id, series_input, inputs = ingest_ct(store)
    instances = np.zeros((5, 16, 16), np.int32)
    for k in range(5):
        instances[k, k:k + 3, 2:5] = 10 + k
    rid = add_result(store, study_id, inputs, {"cells_instances.npy": instances})
    seg = hd.seg.segread(io.BytesIO(result_to_seg(store, rid)))
    assert seg.number_of_segments == 1
    assert seg.get_segment_description(1).segment_label == "cells_instances (5 instances)"


def test_refusals(store, tmp_path):
    from biomedai.workflow.dicom_seg import result_to_seg

    study_id, series_input, inputs = ingest_ct(store)
    with pytest.raises(InvalidInputError, match=r"mask shape \(4, 16, 16\) does not match the source"):
        result_to_seg(store, add_result(store, study_id, inputs, {"a_labels.npy": np.ones((4, 16, 16), np.uint8)}))
    with pytest.raises(InvalidInputError, match="lists no mask files"):
        result_to_seg(store, add_result(store, study_id, inputs, {"picture_overlay.png": np.ones((4, 4), np.uint8)}))
    with pytest.raises(InvalidInputError, match="mask is empty"):
        result_to_seg(store, add_result(store, study_id, inputs, {"a_mask.npy": np.zeros((5, 16, 16), np.uint8)}))
    with pytest.raises(InvalidInputError, match="probability map in"):
        result_to_seg(store, add_result(store, study_id, inputs, {"a_prob.npy": np.full((5, 16, 16), 1.5)}))
    image, labels = _ct_labels(store, series_input)
    coarse = image.with_array(labels, spacing=(2.5, 0.9, 0.9))
    with pytest.raises(InvalidInputError, match="pixel spacing"):
        result_to_seg(store, add_result(store, study_id, inputs, {"b_labels.nii.gz": coarse}))
    png = ingest(store, [("a.png", make_png(tmp_path / "a.png"))], router=Router.from_data({"rules": []}))
    from biomedai.workflow.models import StoredFile

    with store.session() as s:
        png_path = s.query(StoredFile).filter_by(study_id=png.studies[0]).one().path
    rid = add_result(store, png.studies[0], [png_path], {"a_mask.png": np.ones((24, 24), np.uint8) * 255})
    with pytest.raises(InvalidInputError, match="not a DICOM image: a DICOM SEG needs DICOM source"):
        result_to_seg(store, rid)
    with pytest.raises(InvalidInputError, match="no result 999"):
        result_to_seg(store, 999)


def test_projection_radiograph_without_frame_of_reference(store, tmp_path):
    """A DX image (no patient geometry, no FrameOfReferenceUID) still gets a SEG that references it."""
    from biomedai.workflow.dicom_seg import result_to_seg

    path = make_dicom(tmp_path / "dx.dcm", "9.8.7", "9.8.7.1")
    report = ingest(store, [("dx.dcm", path)], router=Router.from_data({"rules": []}))
    from biomedai.workflow.models import StoredFile

    with store.session() as s:
        stored = s.query(StoredFile).filter_by(study_id=report.studies[0]).one().path
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 1
    seg = hd.seg.segread(io.BytesIO(result_to_seg(store, add_result(store, report.studies[0], [stored],
                                                                    {"hip_mask.png": mask}))))
    assert seg.StudyInstanceUID == "9.8.7" and seg.number_of_segments == 1


def test_seg_endpoint_and_send_with_deidentification(store, tmp_path, monkeypatch):
    """Download SEG (plain and de-identified) and send SR+SEG to our own receiver standing in for a PACS."""
    pytest.importorskip("fastapi")
    pytest.importorskip("pynetdicom")
    import time

    import pydicom
    from sqlalchemy import select

    from biomedai.workflow.models import StoredFile

    monkeypatch.setenv("BIOMEDAI_DEID_KEY", "k" * 32)
    study_id, series_input, inputs = ingest_ct(store)
    image, labels = _ct_labels(store, series_input)
    rid = add_result(store, study_id, inputs, {"ct_labels.nii.gz": image.with_array(labels)})
    rid_none = add_result(store, study_id, inputs, {})
    with operator_client_and_pacs(store) as (client, headers, pacs):
        r = client.get(f"/api/results/{rid}/seg.dcm", headers=headers)
        assert r.status_code == 200 and pydicom.dcmread(io.BytesIO(r.content)).Modality == "SEG"
        assert "seg.dcm" in r.headers["content-disposition"]
        r = client.get(f"/api/results/{rid}/seg.dcm?deidentify=true&dates=shift", headers=headers)
        clean = pydicom.dcmread(io.BytesIO(r.content))
        assert clean.PatientIdentityRemoved == "YES" and b"Doe^Peter" not in r.content
        assert clean.LongitudinalTemporalInformationModified == "MODIFIED"
        r = client.get(f"/api/results/{rid}/sr.dcm?deidentify=true", headers=headers)
        assert pydicom.dcmread(io.BytesIO(r.content)).PatientIdentityRemoved == "YES"
        r = client.get(f"/api/results/{rid_none}/seg.dcm", headers=headers)
        assert r.status_code == 400 and "lists no mask files" in r.json()["detail"]
        assert client.get(f"/api/results/{rid}/seg.dcm?deidentify=true&dates=blur",
                          headers=headers).status_code == 400
        assert client.get(f"/api/results/{rid}/seg.dcm").status_code == 401
        r = client.post(f"/api/results/{rid}/send", headers=headers, json={"destination": "pacs"})
        assert r.status_code == 200, r.text
        assert [o["kind"] for o in r.json()["objects"]] == ["SR", "SEG"] and r.json()["status"] == 0
        r = client.post(f"/api/results/{rid_none}/send", headers=headers, json={"destination": "pacs"})
        assert [o["kind"] for o in r.json()["objects"]] == ["SR"]  # no masks: SR only
        r = client.post(f"/api/results/{rid_none}/send", headers=headers,
                        json={"destination": "pacs", "objects": ["SEG"]})
        assert r.status_code == 400
        deadline = time.monotonic() + 15
        while len(pacs.last_reports) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    with store.session() as s:
        kinds = sorted(s.scalars(select(StoredFile.kind).where(StoredFile.study_id == study_id)))
    assert kinds.count("dicom/SEG") == 1 and kinds.count("dicom/CT") == 5  # the SEG joined its source study
