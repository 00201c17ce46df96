"""De-identification on export: no identifier survives, references stay consistent, outputs still read."""
from __future__ import annotations

import copy
import datetime as dt
import io
import os
import stat

import numpy as np
import pytest

from biomedai.errors import ConfigError, InvalidInputError
from biomedai.workflow.deid import date_shift_days, deid_key, deidentify, deidentify_bytes, pseudonym

from .test_dicom_seg import _ct_labels, _ct_series_files, add_result, ingest_ct

pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")

KEY = b"test-key-0123456789abcdef"


def _identified_ct():
    """A real CT slice (with private tags) plus identifiers in many places, nested ones included."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(_ct_series_files()[0])
    ds.PatientBirthDate, ds.StudyDate, ds.SeriesDate, ds.AcquisitionDate = "19610412", "20240102", "20240102", \
        "20240102"
    ds.StudyTime, ds.AccessionNumber, ds.InstitutionName = "101500", "ACC-998877", "St Elsewhere Hospital"
    ds.ReferringPhysicianName, ds.OperatorsName, ds.OtherPatientIDs = "House^Gregory", "Tech^Tina", "MRN-55555"
    ds.PatientAddress, ds.StudyDescription, ds.PatientComments = "12 Baker Street", "CT for Doe", "anxious"
    item = Dataset()
    item.RequestingPhysician = "Cuddy^Lisa"
    item.RequestedProcedureID = "RP-4242"
    ds.RequestAttributesSequence = Sequence([item])
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = ds.SOPClassUID, "1.2.3.4.5.6.7.8.9"
    ref.PerformingPhysicianName = "Wilson^James"  # an identifier nested where the table does not look
    ds.ReferencedImageSequence = Sequence([ref])
    ds.add_new(0x60000010, "US", 16)  # an overlay group
    ds.add_new(0x60003000, "OW", b"\0" * 32)
    return ds


def test_no_identifier_survives_and_the_image_still_reads():
    ds = _identified_ct()
    original_pixels = ds.pixel_array.copy()
    phi = [str(ds.PatientName), ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID,
           ds.FrameOfReferenceUID, "19610412", "20240102", "ACC-998877", "St Elsewhere", "House", "Tech^Tina",
           "MRN-55555", "Baker Street", "CT for Doe", "anxious", "Cuddy", "RP-4242", "Wilson", "1.2.3.4.5.6.7.8.9"]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert all(p.encode() in buffer.getvalue() for p in phi)  # the test data really holds them
    assert any(e.tag.is_private for e in ds)

    data = deidentify_bytes(buffer.getvalue(), KEY)
    for value in phi:
        assert value.encode() not in data, value
    clean = pydicom.dcmread(io.BytesIO(data))
    assert not [e for e in clean.iterall() if e.tag.is_private]
    assert not [e for e in clean if e.tag.group == 0x6000]
    assert clean.PatientIdentityRemoved == "YES"
    assert clean.PatientID == clean.PatientName == pseudonym("Doe^Peter" if not ds.PatientID else ds.PatientID, KEY)
    assert clean.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert clean.LongitudinalTemporalInformationModified == "REMOVED"
    assert clean.StudyDate == "" and "AcquisitionDate" not in clean and clean.AccessionNumber == ""
    assert clean.file_meta.MediaStorageSOPInstanceUID == clean.SOPInstanceUID != ds.SOPInstanceUID
    assert clean.SOPClassUID == ds.SOPClassUID  # standard UIDs are kept
    assert clean.ReferencedImageSequence[0].ReferencedSOPClassUID == ds.SOPClassUID
    np.testing.assert_array_equal(clean.pixel_array, original_pixels)


def test_uids_map_consistently_and_dates_shift_per_patient():
    a, b = _identified_ct(), _identified_ct()
    b.SOPInstanceUID = "1.2.3.999"
    clean_a = deidentify(copy.deepcopy(a), KEY, dates="shift")
    clean_b = deidentify(copy.deepcopy(b), KEY, dates="shift")
    assert clean_a.StudyInstanceUID == clean_b.StudyInstanceUID != a.StudyInstanceUID
    assert clean_a.SOPInstanceUID != clean_b.SOPInstanceUID
    assert clean_a.StudyInstanceUID.startswith("2.25.") and len(clean_a.StudyInstanceUID) <= 64
    assert deidentify(copy.deepcopy(a), b"another-key-0123456789").StudyInstanceUID != clean_a.StudyInstanceUID
    days = date_shift_days(a.PatientID or str(a.PatientName), KEY)
    assert 1 <= days <= 3650
    expected = (dt.date(2024, 1, 2) - dt.timedelta(days=days)).strftime("%Y%m%d")
    assert clean_a.StudyDate == expected and clean_a.StudyTime == "101500"
    assert not clean_a.PatientBirthDate  # emptied: shifting applies to timeline dates, not birth dates
    assert clean_a.LongitudinalTemporalInformationModified == "MODIFIED"
    assert [c.CodeValue for c in clean_a.DeidentificationMethodCodeSequence] == ["113100", "113107"]


def test_refusals_and_key(store, monkeypatch):
    ds = _identified_ct()
    with pytest.raises(ConfigError, match="dates='blur'"):
        deidentify(copy.deepcopy(ds), KEY, dates="blur")
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(InvalidInputError, match="burned-in"):
        deidentify(ds, KEY)
    with pytest.raises(InvalidInputError, match="not a DICOM file"):
        deidentify_bytes(b"hello", KEY)
    monkeypatch.delenv("BIOMEDAI_DEID_KEY", raising=False)
    key = deid_key(store)
    assert key == deid_key(store) and len(key) >= 32
    assert stat.S_IMODE(os.stat(store.data_dir / "deid.key").st_mode) == 0o600
    monkeypatch.setenv("BIOMEDAI_DEID_KEY", "x" * 20)
    assert deid_key(store) == b"x" * 20
    monkeypatch.setenv("BIOMEDAI_DEID_KEY", "short")
    with pytest.raises(ConfigError):
        deid_key(store)


def test_deidentified_sr_and_seg_reference_the_deidentified_sources(store, monkeypatch):
    from biomedai.workflow.export import export_objects

    monkeypatch.setenv("BIOMEDAI_DEID_KEY", KEY.decode())
    study_id, series_input, inputs = ingest_ct(store)
    image, labels = _ct_labels(store, series_input)
    rid = add_result(store, study_id, inputs, {"ct_labels.nii.gz": image.with_array(labels)},
                     metrics={"segments": {"1": "fat", "2": "muscle"}, "muscle_fraction": 0.4})
    objects, skipped = export_objects(store, rid, deidentify=True)
    assert [k for k, _ in objects] == ["SR", "SEG"] and skipped == {}
    sources = [deidentify(pydicom.dcmread(p), KEY) for p in _ct_series_files()]
    source_uids = {ds.SOPInstanceUID for ds in sources}
    seg = hd.seg.segread(io.BytesIO(objects[1][1]))
    sr = hd.sr.srread(io.BytesIO(objects[0][1]))
    for obj in (seg, sr):
        assert obj.PatientIdentityRemoved == "YES" and obj.PatientID == sources[0].PatientID
        assert obj.StudyInstanceUID == sources[0].StudyInstanceUID
        assert b"Doe^Peter" not in (objects[0][1] + objects[1][1])
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    assert {u for _, _, u in seg.get_source_image_uids()} == source_uids
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.SeriesInstanceUID == sources[0].SeriesInstanceUID
    assert {item.ReferencedSOPInstanceUID for item in evidence.ReferencedSOPSequence} == source_uids
    # the SEG's frames still sit on the right (renamed) slices
    normal = np.cross(np.asarray(sources[0].ImageOrientationPatient[:3], float),
                      np.asarray(sources[0].ImageOrientationPatient[3:], float))
    order = [ds.SOPInstanceUID for ds in sorted(sources, key=lambda d: float(np.dot(d.ImagePositionPatient, normal)))]
    back = seg.get_pixels_by_source_instance(order, combine_segments=True, assert_missing_frames_are_empty=True)
    np.testing.assert_array_equal(back, labels)
    # with SR content kept: the measurement is still there
    assert "muscle_fraction" in str(sr)


def test_every_profile_keyword_is_a_dicom_keyword():
    """A misspelt keyword in the action table would silently let that attribute through."""
    from pydicom.datadict import tag_for_keyword

    from biomedai.workflow.deid import ACTIONS, KEEP_UIDS

    assert [k for k in (*ACTIONS, *KEEP_UIDS) if tag_for_keyword(k) is None] == []
    assert len(ACTIONS) > 150
