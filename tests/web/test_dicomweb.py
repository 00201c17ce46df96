"""DICOMweb (QIDO-RS, WADO-RS, STOW-RS under /dicom-web): dicomweb-client as a real client against the
service on a loopback port, the DICOM JSON model of the answers, and the bad-input answers."""
from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest

from .conftest import login

EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
CT_STUDY, CT_SERIES = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.1.1"
DX_STUDY, DX_SERIES = "1.2.826.0.1.3680043.8.498.2", "1.2.826.0.1.3680043.8.498.2.1"


def ct_slice(path, index: int, study=CT_STUDY, series=CT_SERIES, name="Doe^John", date="20200115",
             accession="ACC1", modality="CT", frames: int = 1, implicit: bool = False):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = f"{series}.{index}"
    meta.TransferSyntaxUID = IMPLICIT_LE if implicit else EXPLICIT_LE
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.Modality, ds.BodyPartExamined, ds.SeriesDescription = modality, "CHEST", "axial"
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.StudyTime = name, "P-" + name[:3], date, "101500"
    ds.AccessionNumber, ds.StudyDescription, ds.SeriesNumber, ds.InstanceNumber = accession, "CT chest", 2, index
    ds.ReferringPhysicianName, ds.StudyID, ds.PatientBirthDate, ds.PatientSex = "", "1", "19600101", "M"
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, float(index)], [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.0
    ds.FrameOfReferenceUID = study + ".9"
    ds.Rows, ds.Columns = 8, 10
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    pixels = (np.arange(frames * 80, dtype=np.int16).reshape(frames, 8, 10) + 100 * index)
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, implicit_vr=implicit, little_endian=True, enforce_file_format=True)
    return path, pixels


@pytest.fixture
def studies(store, tmp_path):
    """A 3-slice CT study (Doe^John, 2020), a 4-frame DX instance (Roe^Jane, 2021, implicit VR) and a PNG
    upload (no DICOM)."""
    from biomedai.workflow.intake import ingest
    from tests.workflow.conftest import make_png

    folder = tmp_path / "in"
    folder.mkdir()
    items, pixels = [], {}
    for i in (1, 2, 3):
        path, px = ct_slice(folder / f"ct{i}.dcm", i)
        items.append((path.name, path))
        pixels[f"{CT_SERIES}.{i}"] = px
    path, px = ct_slice(folder / "dx.dcm", 1, DX_STUDY, DX_SERIES, "Roe^Jane", "20211201", "ACC2", "DX", frames=4,
                        implicit=True)
    items.append((path.name, path))
    pixels[f"{DX_SERIES}.1"] = px
    report = ingest(store, items, methods=[])
    png = ingest(store, [("photo.png", make_png(folder / "photo.png"))], methods=[])
    with store.session() as s:
        from biomedai.workflow.models import Study

        png_uid = s.get(Study, png.studies[0]).uid
    return {"pixels": pixels, "studies": report.studies, "png_uid": png_uid}


@contextlib.contextmanager
def live_server(app):
    """The app under uvicorn on a free loopback port, in a thread (dicomweb-client speaks real HTTP)."""
    import uvicorn

    from .service import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def dicom_client(base: str, headers: dict[str, str]):
    dicomweb_client = pytest.importorskip("dicomweb_client")
    return dicomweb_client.DICOMwebClient(f"{base}/dicom-web", headers=headers)


# -- the DICOM JSON model (PS3.18 F.2) -------------------------------------------------------------------

def check_dicom_json(dataset: dict, path: str = "") -> None:
    """Every key a tag, every element a known VR with Value / BulkDataURI / InlineBinary of the right shape."""
    from pydicom.datadict import dictionary_has_tag, dictionary_VR

    vrs = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV",
           "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"}
    assert isinstance(dataset, dict)
    for key, element in dataset.items():
        where = f"{path}{key}"
        assert len(key) == 8 and key == key.upper() and int(key, 16) >= 0, where
        assert element["vr"] in vrs, where
        tag = int(key, 16)
        if dictionary_has_tag(tag) and (tag >> 16) % 2 == 0:
            assert element["vr"] in dictionary_VR(tag).replace(" or ", " ").split(), (where, element["vr"])
        payload = set(element) - {"vr"}
        assert len(payload) <= 1 and payload <= {"Value", "BulkDataURI", "InlineBinary"}, where
        if "Value" in element:
            assert isinstance(element["Value"], list), where
            if element["vr"] == "SQ":
                for item in element["Value"]:
                    check_dicom_json(item, where + ".")
            elif element["vr"] == "PN":
                assert all(isinstance(v, dict) and set(v) <= {"Alphabetic", "Ideographic", "Phonetic"}
                           for v in element["Value"]), where
            elif element["vr"] in ("IS", "US", "UL", "SS", "SL", "FL", "FD", "DS"):
                assert all(isinstance(v, (int, float)) for v in element["Value"]), where
            else:
                assert all(isinstance(v, str) for v in element["Value"]), where
        if "BulkDataURI" in element:
            assert element["vr"] in ("OB", "OD", "OF", "OL", "OV", "OW", "UN"), where
            assert element["BulkDataURI"].startswith("http"), where


def value(dataset: dict, keyword: str):
    from pydicom.datadict import tag_for_keyword

    element = dataset.get(f"{tag_for_keyword(keyword):08X}", {})
    values = element.get("Value", [None])
    return values[0] if len(values) == 1 else values


# -- dicomweb-client against the running service --------------------------------------------------------

def test_dicomweb_client_query_and_retrieve(app, client, studies):
    headers = login(client, "vic")
    with live_server(app) as base:
        dw = dicom_client(base, headers)
        found = dw.search_for_studies()
        assert {value(s, "StudyInstanceUID") for s in found} == {CT_STUDY, DX_STUDY}  # the PNG study is not DICOM
        for study in found:
            check_dicom_json(study)
        ct = next(s for s in found if value(s, "StudyInstanceUID") == CT_STUDY)
        assert value(ct, "NumberOfStudyRelatedInstances") == 3 and value(ct, "ModalitiesInStudy") == "CT"
        assert value(ct, "PatientName") == {"Alphabetic": "Doe^John"} and value(ct, "AccessionNumber") == "ACC1"
        assert value(ct, "RetrieveURL").endswith(f"/dicom-web/studies/{CT_STUDY}")
        # query keys: fuzzy person name, date range, UID list, limit/offset, includefield
        assert [value(s, "StudyInstanceUID") for s in dw.search_for_studies(
            search_filters={"PatientName": "jo"}, fuzzymatching=True)] == [CT_STUDY]
        assert dw.search_for_studies(search_filters={"PatientName": "jo"}) == []
        assert [value(s, "StudyInstanceUID") for s in dw.search_for_studies(
            search_filters={"PatientName": "roe*"})] == [DX_STUDY]
        assert [value(s, "StudyInstanceUID") for s in dw.search_for_studies(
            search_filters={"StudyDate": "20210101-"})] == [DX_STUDY]
        assert [value(s, "StudyInstanceUID") for s in dw.search_for_studies(
            search_filters={"StudyDate": "20200101-20201231"})] == [CT_STUDY]
        assert len(dw.search_for_studies(search_filters={"StudyInstanceUID": f"{CT_STUDY},{DX_STUDY}"})) == 2
        assert len(dw.search_for_studies(limit=1)) == 1 and len(dw.search_for_studies(limit=1, offset=1)) == 1
        assert dw.search_for_studies(offset=2) == []
        with_sex = dw.search_for_studies(search_filters={"ModalitiesInStudy": "CT"}, fields=["PatientSex",
                                                                                              "00180050"])
        assert value(with_sex[0], "PatientSex") == "M" and value(with_sex[0], "SliceThickness") == 1.0
        assert [value(s, "StudyInstanceUID") for s in dw.search_for_studies(search_filters={"Modality": "DX"})] \
            == [DX_STUDY]  # Modality at the study level means "a series of that modality"
        series = dw.search_for_series(CT_STUDY)
        assert [value(s, "SeriesInstanceUID") for s in series] == [CT_SERIES]
        assert value(series[0], "NumberOfSeriesRelatedInstances") == 3 and value(series[0], "Modality") == "CT"
        assert len(dw.search_for_series(search_filters={"Modality": "DX"})) == 1
        instances = dw.search_for_instances(CT_STUDY, CT_SERIES)
        assert [value(i, "InstanceNumber") for i in instances] == [1, 2, 3]
        assert [value(i, "SOPInstanceUID") for i in dw.search_for_instances(
            search_filters={"InstanceNumber": "2"})] == [f"{CT_SERIES}.2"]
        # retrieve: study, series, instance as Part 10 datasets; the pixels are those that were stored
        retrieved = dw.retrieve_study(CT_STUDY)
        assert sorted(ds.SOPInstanceUID for ds in retrieved) == [f"{CT_SERIES}.{i}" for i in (1, 2, 3)]
        for ds in retrieved:
            assert np.array_equal(ds.pixel_array, studies["pixels"][ds.SOPInstanceUID][0])
        assert len(dw.retrieve_series(CT_STUDY, CT_SERIES)) == 3
        one = dw.retrieve_instance(DX_STUDY, DX_SERIES, f"{DX_SERIES}.1")  # dicomweb-client asks "*" by default
        assert one.file_meta.TransferSyntaxUID == IMPLICIT_LE and one.NumberOfFrames == 4  # "*": as stored
        unnamed = dw.retrieve_instance(DX_STUDY, DX_SERIES, f"{DX_SERIES}.1", media_types=("application/dicom",))
        assert unnamed.file_meta.TransferSyntaxUID == EXPLICIT_LE  # no syntax named: the standard's default
        as_explicit = dw.retrieve_instance(DX_STUDY, DX_SERIES, f"{DX_SERIES}.1",
                                           media_types=(("application/dicom", EXPLICIT_LE),))
        assert as_explicit.file_meta.TransferSyntaxUID == EXPLICIT_LE
        assert np.array_equal(as_explicit.pixel_array, studies["pixels"][f"{DX_SERIES}.1"])
        # metadata as DICOM JSON with the pixel data as a BulkDataURI that retrieves it
        metadata = dw.retrieve_series_metadata(CT_STUDY, CT_SERIES)
        assert len(metadata) == 3
        for item in metadata:
            check_dicom_json(item)
            assert "BulkDataURI" in item["7FE00010"] and "Value" not in item["7FE00010"]
        uri = metadata[0]["7FE00010"]["BulkDataURI"]
        sop = value(metadata[0], "SOPInstanceUID")
        assert dw.retrieve_bulkdata(uri) == [studies["pixels"][sop].tobytes()]
        assert len(dw.retrieve_study_metadata(DX_STUDY)) == 1
        # frames: raw little-endian pixels of the asked frames, in order
        frames = dw.retrieve_instance_frames(DX_STUDY, DX_SERIES, f"{DX_SERIES}.1", [3, 1])
        px = studies["pixels"][f"{DX_SERIES}.1"]
        assert frames == [px[2].tobytes(), px[0].tobytes()]
        # rendered PNG / JPEG with a window
        png = dw.retrieve_instance_rendered(CT_STUDY, CT_SERIES, f"{CT_SERIES}.1", media_types=("image/png",),
                                            params={"window": "-900,200"})
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        jpeg = dw.retrieve_instance_frames_rendered(DX_STUDY, DX_SERIES, f"{DX_SERIES}.1", [2],
                                                    media_types=("image/jpeg",))
        assert jpeg[:3] == b"\xff\xd8\xff"


def test_dicomweb_client_stores(app, client, store, tmp_path):
    import pydicom

    headers = login(client, "otto")
    path, _ = ct_slice(tmp_path / "new.dcm", 7, "1.2.3.77", "1.2.3.77.1", "Poe^Ed")
    with live_server(app) as base:
        dw = dicom_client(base, headers)
        dw.store_instances([pydicom.dcmread(path)])
        assert [value(s, "PatientName") for s in dw.search_for_studies()] == [{"Alphabetic": "Poe^Ed"}]
        viewer = dicom_client(base, login(client, "vic"))
        with pytest.raises(Exception, match="403"):
            viewer.store_instances([pydicom.dcmread(path)])


# -- the answers themselves -----------------------------------------------------------------------------

def test_rendered_window_changes_the_picture(client, studies):
    import io

    from PIL import Image

    headers = login(client, "vic")
    url = f"/dicom-web/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SERIES}.3/rendered"
    # stored values 300..379 -> HU -724..-645: a window around them spreads them, one far above is black
    wide = np.asarray(Image.open(io.BytesIO(client.get(url, params={"window": "-685,80"}, headers=headers).content)))
    dark = np.asarray(Image.open(io.BytesIO(client.get(url, params={"window": "400,100"}, headers=headers).content)))
    assert wide.max() - wide.min() > 200 and dark.max() == 0
    small = client.get(url, params={"viewport": "5,4"}, headers={**headers, "Accept": "image/png"})
    assert Image.open(io.BytesIO(small.content)).size == (5, 4)
    thumb = client.get(f"/dicom-web/studies/{CT_STUDY}/series/{CT_SERIES}/thumbnail", headers=headers)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"


def test_metadata_json_round_trips_through_pydicom(client, studies):
    from pydicom import Dataset

    headers = login(client, "vic")
    r = client.get(f"/dicom-web/studies/{DX_STUDY}/metadata", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/dicom+json")
    item = r.json()[0]
    check_dicom_json(item)
    ds = Dataset.from_json(item, bulk_data_uri_handler=lambda uri: b"")
    assert ds.PatientName == "Roe^Jane" and ds.NumberOfFrames == 4 and ds.Rows == 8
    assert item["00020010"]["Value"] == [IMPLICIT_LE]


def test_unauthenticated_and_roles(client, studies):
    r = client.get("/dicom-web/studies")
    assert r.status_code == 401  # not a redirect to the login page
    assert client.get("/dicom-web/studies", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.parametrize("url, params, accept, status", [
    ("/dicom-web/studies", {"limit": "-1"}, None, 400),
    ("/dicom-web/studies", {"limit": "ten"}, None, 400),
    ("/dicom-web/studies", {"offset": "x"}, None, 400),
    ("/dicom-web/studies", {"StudyDate": "2020-01-01"}, None, 400),
    ("/dicom-web/studies", {"StudyDate": "20200101-2021"}, None, 400),
    ("/dicom-web/studies", {"NoSuchKeyword": "1"}, None, 400),
    ("/dicom-web/studies", {"FFFF0001": "1"}, None, 400),
    ("/dicom-web/studies", {"includefield": "NotAnAttribute"}, None, 400),
    ("/dicom-web/studies", {"fuzzymatching": "maybe"}, None, 400),
    ("/dicom-web/studies", {"NumberOfStudyRelatedInstances": "two"}, None, 400),
    ("/dicom-web/instances", {"InstanceNumber": "two"}, None, 400),
    ("/dicom-web/studies", {}, "application/dicom+xml", 406),
    ("/dicom-web/studies/1.2.3.999", {}, None, 404),
    ("/dicom-web/studies/not-a-uid", {}, None, 400),
    (f"/dicom-web/studies/{CT_STUDY}/series/1.2.3.999", {}, None, 404),
    (f"/dicom-web/studies/{CT_STUDY}/series/{CT_SERIES}/instances/1.2.3.999/metadata", {}, None, 404),
    ("/dicom-web/studies/1.2.3.999/series", {}, None, 404),
    (f"/dicom-web/studies/{CT_STUDY}", {}, 'multipart/related; type="application/dicom"; transfer-syntax='
                                           "1.2.840.10008.1.2.4.50", 406),
    (f"/dicom-web/studies/{CT_STUDY}", {}, "application/json", 406),
    (f"/dicom-web/studies/{DX_STUDY}/series/{DX_SERIES}/instances/{DX_SERIES}.1/frames/5", {}, None, 404),
    (f"/dicom-web/studies/{DX_STUDY}/series/{DX_SERIES}/instances/{DX_SERIES}.1/frames/0", {}, None, 400),
    (f"/dicom-web/studies/{DX_STUDY}/series/{DX_SERIES}/instances/{DX_SERIES}.1/frames/1,x", {}, None, 400),
    (f"/dicom-web/studies/{DX_STUDY}/series/{DX_SERIES}/instances/{DX_SERIES}.1/frames/1", {},
     'multipart/related; type="image/jpeg"', 406),
    (f"/dicom-web/studies/{DX_STUDY}/series/{DX_SERIES}/instances/{DX_SERIES}.1/frames/9/rendered", {}, None, 404),
    (f"/dicom-web/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SERIES}.1/rendered", {"window": "40"},
     None, 400),
    (f"/dicom-web/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SERIES}.1/rendered", {"window": "40,0"},
     None, 400),
    (f"/dicom-web/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SERIES}.1/rendered",
     {"window": "40,400,sigmoid"}, None, 400),
    (f"/dicom-web/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SERIES}.1/rendered", {"viewport": "0,0"},
     None, 400),
    (f"/dicom-web/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SERIES}.1/rendered", {}, "image/gif", 406),
    (f"/dicom-web/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SERIES}.1/bulk/7FE0", {}, None, 400),
    (f"/dicom-web/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SERIES}.1/bulk/00091001", {}, None, 404),
])
def test_bad_input_answers_in_the_dicomweb_way(client, studies, url, params, accept, status):
    headers = login(client, "vic")
    if accept:
        headers["Accept"] = accept
    r = client.get(url, params=params, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["warning"].startswith("299 biomedai: ") and r.json()["detail"]


def test_non_dicom_study_asked_for_dicom(client, studies):
    headers = login(client, "vic")
    for suffix in ("", "/metadata", "/series"):
        r = client.get(f"/dicom-web/studies/{studies['png_uid']}{suffix}", headers=headers)
        assert r.status_code == 404 and "holds no DICOM instances" in r.json()["detail"], (suffix, r.text)


def test_unsupported_key_is_ignored_with_a_warning(client, studies):
    headers = login(client, "vic")
    r = client.get("/dicom-web/studies", params={"PatientWeight": "70", "limit": "1"}, headers=headers)
    assert r.status_code == 200 and len(r.json()) == 1
    assert "not supported" in r.headers["warning"] and "additional results" in r.headers["warning"]


def test_stow_rs_answers_the_store_response(client, store, tmp_path):
    from tests.web.test_stow import _multipart

    good, _ = ct_slice(tmp_path / "a.dcm", 1, "1.2.3.88", "1.2.3.88.1")
    other, _ = ct_slice(tmp_path / "b.dcm", 1, "1.2.3.89", "1.2.3.89.1")
    body, content_type = _multipart([good.read_bytes(), b"\x89PNG not dicom", other.read_bytes()])
    headers = {**login(client, "otto"), "Content-Type": content_type}
    r = client.post("/dicom-web/studies/1.2.3.88", content=body, headers=headers)
    assert r.status_code == 202, r.text
    answer = r.json()
    check_dicom_json(answer)
    stored = answer["00081199"]["Value"]
    assert [value(item, "ReferencedSOPInstanceUID") for item in stored] == ["1.2.3.88.1.1"]
    assert sorted(value(item, "FailureReason") for item in answer["00081198"]["Value"]) == [0xC000, 0xC409]
    assert value(answer, "RetrieveURL").endswith("/dicom-web/studies/1.2.3.88")
    again = client.post("/dicom-web/studies", content=_multipart([b"junk"])[0],
                        headers={**headers, "Content-Type": _multipart([b"junk"])[1]})
    assert again.status_code == 409 and "00081199" not in again.json()


def test_service_seg_and_sr_are_in_the_study(client, store):
    """A result with a label map on the bundled CT series: its SEG and SR are served as series of the study."""
    import io

    import pydicom

    from biomedai.workflow.models import DerivedExport, Study
    from tests.workflow.test_dicom_seg import _ct_labels, add_result, ingest_ct

    pytest.importorskip("highdicom")
    study_id, series_input, inputs = ingest_ct(store)
    image, labels = _ct_labels(store, series_input)
    add_result(store, study_id, inputs, {"ct_labels.nii.gz": image.with_array(labels)},
               metrics={"segments": {"1": "lung", "2": "soft tissue"}, "fraction_2": 0.5})
    with store.session() as s:
        uid = s.get(Study, study_id).uid
    headers = login(client, "vic")
    series = client.get(f"/dicom-web/studies/{uid}/series", headers=headers).json()
    by_modality = {value(s, "Modality"): value(s, "SeriesInstanceUID") for s in series}
    assert set(by_modality) == {"CT", "SEG", "SR"}
    studies = client.get("/dicom-web/studies", headers=headers).json()
    assert value(studies[0], "ModalitiesInStudy") == ["CT", "SEG", "SR"]
    seg_meta = client.get(f"/dicom-web/studies/{uid}/series/{by_modality['SEG']}/metadata", headers=headers).json()
    check_dicom_json(seg_meta[0])
    sop = value(seg_meta[0], "SOPInstanceUID")
    r = client.get(f"/dicom-web/studies/{uid}/series/{by_modality['SEG']}/instances/{sop}", headers=headers)
    body = r.content
    start = body.index(b"\r\n\r\n") + 4
    seg = pydicom.dcmread(io.BytesIO(body[start:body.rindex(b"\r\n--")]))
    assert seg.Modality == "SEG" and seg.StudyInstanceUID == uid and len(seg.SegmentSequence) == 2
    ct_uids = {value(i, "SOPInstanceUID") for i in client.get(
        f"/dicom-web/studies/{uid}/series/{by_modality['CT']}/instances", headers=headers).json()}
    referenced = {ref.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence
                  for ref in item.ReferencedInstanceSequence}
    assert referenced == ct_uids
    sr = client.get(f"/dicom-web/studies/{uid}/series/{by_modality['SR']}/metadata", headers=headers).json()
    check_dicom_json(sr[0])
    assert "0040A730" in sr[0]  # the content sequence, nested items validated above
    frame = client.get(f"/dicom-web/studies/{uid}/series/{by_modality['SEG']}/instances/{sop}/frames/1",
                       headers=headers)
    assert frame.status_code == 200
    with store.session() as s:
        assert s.get(DerivedExport, 1).objects == ["SR", "SEG"]


def test_result_of_a_non_dicom_study_makes_no_dicom(store, tmp_path):
    from biomedai.workflow.dicom_index import index_result, instances
    from biomedai.workflow.intake import ingest
    from biomedai.workflow.models import DerivedExport
    from tests.workflow.conftest import make_png
    from tests.workflow.test_dicom_seg import add_result

    report = ingest(store, [("x.png", make_png(tmp_path / "x.png"))], methods=[])
    rid = add_result(store, report.studies[0], [], {"x_mask.png": np.ones((24, 24), np.uint8)})
    assert index_result(store, rid) == [] and instances(store) == []
    with store.session() as s:
        assert "no DICOM" in s.get(DerivedExport, rid).detail


def test_concurrent_first_requests_index_once(store, studies):
    """Several requests that find the same files unindexed at once (a fresh server under load) all succeed and
    index each file once (the benchmark's 8 clients found this race)."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import delete, func, select

    from biomedai.workflow.dicom_index import index_files
    from biomedai.workflow.models import DicomInstance

    with store.session() as s:
        s.execute(delete(DicomInstance))
        s.commit()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: index_files(store), range(6)))
    with store.session() as s:
        assert s.scalar(select(func.count(DicomInstance.id))) == 4
