"""DCE inputs: 4-D NIfTI + JSON times, NIfTI phases, DICOM with acquisition times; the bad inputs of the issue."""
from __future__ import annotations

import json

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from biomedai.errors import InvalidInputError  # noqa: E402
from biomedai.methods.dce_nact.config import DceNactConfig  # noqa: E402
from biomedai.methods.dce_nact.patient import find_visit_input, prepare_visit  # noqa: E402
from biomedai.methods.dce_nact.preprocess import choose_phase, subtraction_image  # noqa: E402
from biomedai.methods.dce_nact.series import load_dce_series  # noqa: E402

TIMES = [0, 90, 133, 177, 221]


def _phases(n=5, shape=(6, 10, 12), flat=False):
    rng = np.random.default_rng(0)
    base = rng.uniform(50, 60, shape).astype(np.float32)
    out = []
    for k in range(n):
        arr = base.copy()
        if not flat:
            arr[2:4, 3:7, 4:8] += 20 * k
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing((0.9, 0.9, 2.2))
        out.append(img)
    return out


def _write4d(path, phases, times):
    sitk.WriteImage(sitk.JoinSeries(phases), str(path))
    if times is not None:
        path.with_name(path.name.replace(".nii.gz", ".json")).write_text(json.dumps({"times": times}))


def test_nifti4d_with_sidecar(tmp_path):
    _write4d(tmp_path / "dce.nii.gz", _phases(), TIMES)
    s = load_dce_series(tmp_path / "dce.nii.gz")
    assert len(s) == 5 and s.times.tolist() == TIMES and s.array().shape == (5, 6, 10, 12)
    k, reason = choose_phase(s, "index", index=3)
    assert k == 3 and "3 of 4" in reason
    assert choose_phase(s, "time", target_time=130)[0] == 2
    assert choose_phase(s, "max_enhancement")[0] == 4
    sub = sitk.GetArrayFromImage(subtraction_image(s, 3))
    assert sub[3, 5, 5] == pytest.approx(60) and abs(sub[0, 0, 0]) < 1e-4


@pytest.fixture
def keep_locale():
    """Writing the DICOM test series (SimpleITK/GDCM) leaves LC_CTYPE at "C" in this process, after which
    ``Path.read_text()`` decodes ASCII in later tests; restore it."""
    import locale

    saved = locale.setlocale(locale.LC_ALL)
    yield
    locale.setlocale(locale.LC_ALL, saved)


def test_nifti_phase_folder_and_dicom(tmp_path, keep_locale):
    folder = tmp_path / "phases"
    folder.mkdir()
    for i, p in enumerate(_phases()):
        sitk.WriteImage(p, str(folder / f"phase{i}.nii.gz"))
    (folder / "times.json").write_text(json.dumps(TIMES))
    assert load_dce_series(folder).times.tolist() == TIMES
    dicom = tmp_path / "dicom"
    for i, p in enumerate(_phases()):
        writer_dir = dicom / f"s{i}"
        writer_dir.mkdir(parents=True)
        img = sitk.Cast(p, sitk.sitkInt16)
        series_uid = f"1.2.826.0.1.3680043.2.1125.{i + 1}"
        hh, mm, ss = divmod(TIMES[i] + 36000, 3600)[0], *divmod(divmod(TIMES[i] + 36000, 3600)[1], 60)
        for z in range(img.GetDepth()):
            sl = img[:, :, z]
            for key, value in (("0020|000e", series_uid), ("0008|0060", "MR"),
                               ("0020|0032", f"0\\0\\{z * 2.2}"), ("0020|0037", "1\\0\\0\\0\\1\\0"),
                               ("0028|0030", "0.9\\0.9"), ("0020|0013", str(z + 1)),
                               ("0008|0032", f"{hh:02d}{mm:02d}{ss:02d}.000")):
                sl.SetMetaData(key, value)
            writer = sitk.ImageFileWriter()
            writer.KeepOriginalImageUIDOn()
            writer.SetFileName(str(writer_dir / f"{z}.dcm"))
            sl.SetMetaData("0008|0018", f"{series_uid}.{z + 1}")
            writer.Execute(sl)
    s = load_dce_series(dicom)
    assert len(s) == 5 and np.allclose(s.times, TIMES)


@pytest.mark.parametrize("times,match", [(None, "not found"), ([0, 90, 90, 177, 221], "increase"),
                                         ([0, 90, None, 177, 221], "missing"), ([0, 90, 133], "3 times")])
def test_bad_times(tmp_path, times, match):
    _write4d(tmp_path / "dce.nii.gz", _phases(), times)
    with pytest.raises(InvalidInputError, match=match):
        load_dce_series(tmp_path / "dce.nii.gz")


def test_phases_with_different_geometry(tmp_path):
    folder = tmp_path / "phases"
    folder.mkdir()
    phases = _phases()
    phases[2].SetSpacing((1.0, 0.9, 2.2))
    for i, p in enumerate(phases):
        sitk.WriteImage(p, str(folder / f"phase{i}.nii.gz"))
    (folder / "times.json").write_text(json.dumps(TIMES))
    with pytest.raises(InvalidInputError, match="phase 2 has a different geometry"):
        load_dce_series(folder)


def test_too_few_phases(tmp_path):
    _write4d(tmp_path / "dce.nii.gz", _phases(3), TIMES[:3])
    with pytest.raises(InvalidInputError, match=">= 3 post-contrast"):
        load_dce_series(tmp_path / "dce.nii.gz")


def _visit(tmp_path, phases, mask_shape=None):
    folder = tmp_path / "baseline"
    folder.mkdir(parents=True)
    _write4d(folder / "dce.nii.gz", phases, TIMES)
    if mask_shape is not None:
        m = np.zeros(mask_shape, np.uint8)
        m[2:4, 3:7, 4:8] = 1
        sitk.WriteImage(sitk.GetImageFromArray(m), str(folder / "mask.nii.gz"))
    return folder


def test_mask_outside_volume_and_flat_curve_and_missing_baseline(tmp_path):
    cfg = DceNactConfig(n4=False, resample_spacing_mm=None)
    folder = _visit(tmp_path / "a", _phases(), mask_shape=(6, 10, 14))
    with pytest.raises(InvalidInputError, match="outside the volume"):
        prepare_visit(find_visit_input(folder.parent, "baseline"), cfg)
    folder = _visit(tmp_path / "b", _phases(flat=True), mask_shape=(6, 10, 12))
    with pytest.raises(InvalidInputError, match="flat"):
        prepare_visit(find_visit_input(folder.parent, "baseline"), cfg)
    (tmp_path / "c" / "followup").mkdir(parents=True)
    with pytest.raises(InvalidInputError, match="without its baseline"):
        find_visit_input(tmp_path / "c", "baseline")
    folder = _visit(tmp_path / "d", _phases(), mask_shape=(6, 10, 12))
    vi = prepare_visit(find_visit_input(folder.parent, "baseline"), cfg)
    assert vi.mask_source == "imported mask" and int(sitk.GetArrayFromImage(vi.mask).sum()) == 32
