"""DICOMweb and compressed transfer syntaxes: WADO-RS honours the client's ``transfer-syntax=`` (as stored, or
transcoded to and from Explicit VR Little Endian), frames and rendered images of RLE and JPEG 2000 instances
decode, STOW-RS takes compressed instances, and what cannot be served is a 406 in the DICOMweb error format.
dicomweb-client is the client; the RLE and JPEG 2000 instances are made with pydicom's own encoders."""
from __future__ import annotations

import io

import numpy as np
import pytest

from .conftest import login
from .test_dicomweb import EXPLICIT_LE, ct_slice, dicom_client, live_server

RLE, J2K = "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.90"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
STUDY = "1.2.826.0.1.3680043.8.498.7"


def _j2k_available() -> bool:
    from biomedai.io.dicom_syntax import can_decode, can_encode

    return can_encode(J2K) and can_decode(J2K)


def compressed_slice(tmp_path, index: int, syntax: str, frames: int = 1):
    """A CT instance (known int16 pixels) re-encoded by pydicom in ``syntax``; returns (dataset, pixels)."""
    import pydicom

    path, _ = ct_slice(tmp_path / f"c{index}.dcm", index, STUDY, f"{STUDY}.{index}", "Zip^Zoe", frames=frames)
    ds = pydicom.dcmread(path)
    rng = np.random.default_rng(index)  # 48x64: JPEG 2000's 6 wavelet levels need 32 pixels a side at least
    pixels = (rng.integers(-1000, 1000, (frames, 48, 64)) + np.arange(64)).astype(np.int16)
    ds.Rows, ds.Columns, ds.PixelData = 48, 64, pixels.tobytes()
    if syntax != EXPLICIT_LE:
        ds.compress(syntax)
    return ds, pixels


def _part(body: bytes) -> bytes:
    return body[body.index(b"\r\n\r\n") + 4:body.rindex(b"\r\n--")]


@pytest.fixture
def stored(app, client, tmp_path):
    """Three instances sent by STOW-RS with dicomweb-client: RLE (3 frames), JPEG 2000 lossless (when its encoder
    is installed) and an uncompressed one."""
    syntaxes = [RLE, EXPLICIT_LE] + ([J2K] if _j2k_available() else [])
    made = {syntax: compressed_slice(tmp_path, i, syntax, frames=3 if syntax == RLE else 1)
            for i, syntax in enumerate(syntaxes, 1)}
    with live_server(app) as base:
        dicom_client(base, login(client, "otto")).store_instances([ds for ds, _ in made.values()])
        yield base, made


def _uids(ds):
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


def test_instances_as_stored_or_transcoded(client, stored):
    base, made = stored
    dw = dicom_client(base, login(client, "vic"))
    for syntax, (ds, pixels) in made.items():
        as_stored = dw.retrieve_instance(*_uids(ds), media_types=(("application/dicom", "*"),))
        assert as_stored.file_meta.TransferSyntaxUID == syntax  # STOW kept it compressed
        assert np.array_equal(as_stored.pixel_array.reshape(pixels.shape), pixels)
        for target in (EXPLICIT_LE, RLE) + ((J2K,) if J2K in made else ()):
            got = dw.retrieve_instance(*_uids(ds), media_types=(("application/dicom", target),))
            assert got.file_meta.TransferSyntaxUID == target, (syntax, target)
            assert np.array_equal(got.pixel_array.reshape(pixels.shape), pixels), (syntax, target)
    # a whole series asked for uncompressed: every instance decoded
    ds, pixels = made[RLE]
    series = dw.retrieve_series(ds.StudyInstanceUID, ds.SeriesInstanceUID, media_types=(("application/dicom",
                                                                                           EXPLICIT_LE),))
    assert [s.file_meta.TransferSyntaxUID for s in series] == [EXPLICIT_LE]
    assert "PixelData" in series[0] and series[0].NumberOfFrames == 3


def test_frames_decoded_or_as_encoded(client, stored):
    base, made = stored
    dw = dicom_client(base, login(client, "vic"))
    ds, pixels = made[RLE]
    assert dw.retrieve_instance_frames(*_uids(ds), [3, 1]) == [pixels[2].tobytes(), pixels[0].tobytes()]
    encoded = dw.retrieve_instance_frames(*_uids(ds), [2], media_types=(("image/x-dicom-rle", RLE),))
    from pydicom.pixels import get_decoder

    decoded = get_decoder(RLE).as_array(_one_frame_dataset(ds, encoded[0]))[0]
    assert np.array_equal(decoded, pixels[1])
    plain, plain_pixels = made[EXPLICIT_LE]
    url = "/dicom-web/studies/{}/series/{}/instances/{}/frames/1".format(*_uids(plain))
    as_rle = client.get(url, headers={**login(client, "vic"), "Accept": 'multipart/related; '
                                      f'type="application/octet-stream"; transfer-syntax={RLE}'})
    assert as_rle.status_code == 200 and f"application/octet-stream; transfer-syntax={RLE}" in as_rle.text[:200]
    frame = get_decoder(RLE).as_array(_one_frame_dataset(plain, _part(as_rle.content)))[0]
    assert np.array_equal(frame, plain_pixels[0])  # encoded on request (dicomweb-client asks RLE as image/*)
    if J2K in made:
        j2k, j2k_pixels = made[J2K]
        assert dw.retrieve_instance_frames(*_uids(j2k), [1]) == [j2k_pixels[0].tobytes()]
        code = dw.retrieve_instance_frames(*_uids(j2k), [1], media_types=(("image/jp2", J2K),))[0]
        assert code[:4] == b"\xff\x4f\xff\x51"  # a JPEG 2000 codestream (SOC, SIZ)
        assert np.array_equal(get_decoder(J2K).as_array(_one_frame_dataset(j2k, code, J2K))[0], j2k_pixels[0])


def _one_frame_dataset(ds, frame: bytes, syntax: str = RLE):
    """A one-frame copy of ``ds`` holding ``frame`` (encapsulated), for pydicom's decoder."""
    import copy

    from pydicom.encaps import encapsulate

    one = copy.deepcopy(ds)
    one.NumberOfFrames = 1
    one.file_meta.TransferSyntaxUID = syntax
    one.PixelData = encapsulate([frame])
    one["PixelData"].VR = "OB"
    return one


def test_rendered_compressed_instances(client, stored):
    from PIL import Image

    base, made = stored
    dw = dicom_client(base, login(client, "vic"))
    for syntax, (ds, pixels) in made.items():
        png = dw.retrieve_instance_frames_rendered(*_uids(ds), [1], media_types=("image/png",))
        picture = np.asarray(Image.open(io.BytesIO(png)))
        assert picture.shape[:2] == pixels.shape[1:] and picture.std() > 0, syntax


def test_what_cannot_be_served_is_a_406(client, stored):
    """JPEG baseline is lossy: the service never encodes it, so asking for it answers 406 in the DICOMweb way."""
    _, made = stored
    ds, _ = made[EXPLICIT_LE]
    headers = login(client, "vic")
    url = "/dicom-web/studies/{}/series/{}/instances/{}".format(*_uids(ds))
    for suffix, accept in (("", f'multipart/related; type="application/dicom"; transfer-syntax={JPEG_BASELINE}'),
                           ("/frames/1", (f'multipart/related; type="application/octet-stream"; '
                                          f"transfer-syntax={JPEG_BASELINE}")),
                           ("/frames/1", 'multipart/related; type="image/jpeg"')):
        r = client.get(url + suffix, headers={**headers, "Accept": accept})
        assert r.status_code == 406, (suffix, accept, r.text)
        assert r.headers["warning"].startswith("299 biomedai: ") and "cannot be sent as" in r.json()["detail"]


def test_an_encoder_that_refuses_is_a_406_not_a_broken_stream(client, store, tmp_path):
    """8x10 pixels are too few for JPEG 2000's six wavelet levels: OpenJPEG refuses, the client gets a 406."""
    if not _j2k_available():
        pytest.skip("no JPEG 2000 encoder (pylibjpeg-openjpeg) installed")
    from biomedai.workflow.intake import ingest

    path, _ = ct_slice(tmp_path / "tiny.dcm", 1, STUDY, f"{STUDY}.1", "Zip^Zoe")
    ingest(store, [(path.name, path)], methods=[])
    r = client.get(f"/dicom-web/studies/{STUDY}/series/{STUDY}.1", headers={
        **login(client, "vic"), "Accept": f'multipart/related; type="application/dicom"; transfer-syntax={J2K}'})
    assert r.status_code == 406 and "cannot be sent as" in r.json()["detail"], r.text


def test_bundled_jpeg2000_ct_decodes(client, store):
    """The bundled JPEG 2000 head CT (pydicom's test file): as stored, as Explicit VR Little Endian (decoded),
    its frame decoded; when no JPEG 2000 decoder is installed the decoded forms are 406, never a 500."""
    import pydicom

    from biomedai.data.samples import sample_path
    from biomedai.workflow.intake import ingest

    path = sample_path("ct_head_jpeg2k")
    ds = pydicom.dcmread(path)
    ingest(store, [(path.name, path)], methods=[])
    headers = login(client, "vic")
    url = "/dicom-web/studies/{}/series/{}/instances/{}".format(*_uids(ds))
    anything = client.get(url, headers={**headers, "Accept": 'multipart/related; type="application/dicom"; '
                                                              "transfer-syntax=*"})
    assert anything.status_code == 200 and f"transfer-syntax={ds.file_meta.TransferSyntaxUID}" in anything.text[:300]
    explicit = client.get(url, headers={**headers, "Accept": 'multipart/related; type="application/dicom"; '
                                                             f"transfer-syntax={EXPLICIT_LE}"})
    frame = client.get(f"{url}/frames/1", headers=headers)
    if not _j2k_available():
        assert explicit.status_code == frame.status_code == 406
        return
    assert explicit.status_code == 200, explicit.text
    decoded = pydicom.dcmread(io.BytesIO(_part(explicit.content)))
    assert decoded.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert np.array_equal(decoded.pixel_array, ds.pixel_array)
    assert frame.status_code == 200 and _part(frame.content) == ds.pixel_array.astype("<i2").tobytes()
