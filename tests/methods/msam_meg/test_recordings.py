"""MNE reading and preparation on small files written with MNE's own writers; subject-wise CV without leakage."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.msam_meg.config import MsamConfig
from biomedai.methods.msam_meg.recordings import (
    WindowSet,
    cut_windows,
    prepare_cohort,
    preprocess,
    read_raw,
    windows_from_file,
)
from biomedai.methods.msam_meg.splits import inner_validation, subject_folds

mne = pytest.importorskip("mne")
CFG = MsamConfig(sfreq=200.0, h_freq=40.0, notch=50.0, window_s=1.0, overlap=0.5, reject_amplitude=None)


def _raw(n_ch=4, seconds=6.0, sfreq=400.0, names=None, kind="mag", seed=0):
    rng = np.random.default_rng(seed)
    names = names or [f"MEG{i:03d}" for i in range(n_ch)]
    info = mne.create_info(names, sfreq, kind)
    t = np.arange(int(seconds * sfreq)) / sfreq
    data = 1e-13 * (np.sin(2 * np.pi * 10 * t) + 0.1 * rng.standard_normal((len(names), t.size)))
    return mne.io.RawArray(data, info, verbose="error")


def test_fif_roundtrip_filter_resample_windows(tmp_path):
    path = tmp_path / "sub_raw.fif"
    _raw().save(path, verbose="error")
    raw = preprocess(read_raw(path), CFG, path)
    assert raw.info["sfreq"] == 200.0 and raw.info["highpass"] == pytest.approx(0.03)
    x = cut_windows(raw, CFG, path)
    # 6 s, 1 s windows, 0.5 s step -> 11 windows of 200 samples
    assert x.shape == (11, 4, 200)
    # the 10 Hz rhythm survives the 40 Hz low-pass; a 50 Hz notch does not remove it
    spectrum = np.abs(np.fft.rfft(x[5, 0]))
    assert np.argmax(spectrum[1:]) + 1 == 10


def test_edf_written_by_mne_reads_back(tmp_path):
    pytest.importorskip("edfio")
    raw = _raw(kind="eeg")
    raw.apply_function(lambda d: d * 1e7)  # microvolt range for EDF's physical limits
    path = tmp_path / "rec.edf"
    mne.export.export_raw(path, raw, fmt="edf", verbose="error")
    x, names, sfreq = windows_from_file(path, CFG)
    assert names == raw.ch_names and sfreq == 200.0 and x.shape[1:] == (4, 200)


def test_amplitude_rejection_drops_the_window_with_an_artefact(tmp_path):
    raw = _raw(seconds=4.0)
    raw._data[1, 800:810] += 5e-11  # a jump at 2.0 s
    cfg = MsamConfig(sfreq=400.0, h_freq=100.0, notch=None, window_s=1.0, overlap=0.0, reject_amplitude=4e-12)
    assert cut_windows(raw, cfg).shape[0] == 3
    assert cut_windows(raw, MsamConfig(sfreq=400.0, notch=None, window_s=1.0, overlap=0.0,
                                       reject_amplitude=None)).shape[0] == 4


def test_bad_recordings_raise_clear_errors(tmp_path):
    short = tmp_path / "short_raw.fif"
    _raw(seconds=0.5).save(short, verbose="error")
    with pytest.raises(InvalidInputError, match="shorter than one"):
        windows_from_file(short, CFG)
    nan = _raw()
    nan._data[0, 10] = np.nan
    nan_path = tmp_path / "nan_raw.fif"
    nan.save(nan_path, verbose="error")
    with pytest.raises(InvalidInputError, match="NaN"):
        windows_from_file(nan_path, CFG)
    corrupt = tmp_path / "bad_raw.fif"
    corrupt.write_bytes(b"not a fif file")
    with pytest.raises(InvalidInputError, match="MNE cannot read"):
        read_raw(corrupt)
    with pytest.raises(InvalidInputError, match="not found"):
        read_raw(tmp_path / "missing_raw.fif")


def _cohort(tmp_path, n=6, extra_channel_for=None, head_movement=None):
    rows = []
    for i in range(n):
        names = [f"MEG{j:03d}" for j in range(4)] + (["MEG999"] if i == extra_channel_for else [])
        f = f"s{i}_raw.fif"
        _raw(names=names, seed=i).save(tmp_path / f, verbose="error")
        rows.append({"subject_id": f"s{i}", "subtype": "CPS" if i % 2 else "SPS", "file": f,
                     "head_movement_mm": head_movement.get(i, "") if head_movement else ""})
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_prepare_cohort_ids_channels_head_movement_and_cache(tmp_path):
    _cohort(tmp_path, extra_channel_for=2, head_movement={3: "7.5"})
    ws = prepare_cohort(tmp_path, CFG, cache_dir=tmp_path / "cache")
    assert set(ws.subjects) == {"s0", "s1", "s2", "s4", "s5"}  # s3 moved 7.5 mm > 5 mm
    assert ws.ch_names == [f"MEG{j:03d}" for j in range(4)]    # common channels only
    assert ws.x.shape[1:] == (4, 200)
    assert set(ws.y[ws.subjects == "s1"]) == {1} and set(ws.y[ws.subjects == "s0"]) == {0}
    np.testing.assert_allclose(ws.x.mean(-1), 0, atol=1e-4)  # per-window z-score
    caches = list((tmp_path / "cache").glob("windows-*.npz"))
    assert len(caches) == 1
    again = prepare_cohort(tmp_path, CFG, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.x, ws.x)
    with pytest.raises(InvalidInputError, match="channel sets differ"):
        prepare_cohort(tmp_path, CFG, channel_policy="error")


def test_labels_naming_unknown_files_or_subtypes_fail(tmp_path):
    (tmp_path / "labels.csv").write_text("subject_id,subtype,file\na,CPS,nope_raw.fif\n")
    with pytest.raises(InvalidInputError, match="not found"):
        prepare_cohort(tmp_path, CFG)
    (tmp_path / "labels.csv").write_text("subject_id,subtype,file\na,XYZ,nope_raw.fif\n")
    with pytest.raises(InvalidInputError, match="not CPS or SPS"):
        prepare_cohort(tmp_path, CFG)


def test_subject_folds_never_put_a_test_subject_window_in_training():
    rng = np.random.default_rng(0)
    subjects = np.repeat([f"p{i}" for i in range(16)], rng.integers(3, 9, 16))
    labels = {f"p{i}": i % 2 for i in range(16)}
    y = np.array([labels[s] for s in subjects])
    seen_test = []
    for train, test in subject_folds(y, subjects, k=4, seed=1):
        assert not set(subjects[train]) & set(subjects[test])
        assert set(y[test]) == {0, 1}  # stratified
        fit, val = inner_validation(y[train], subjects[train], seed=2)
        assert not set(subjects[train][fit]) & set(subjects[train][val])
        seen_test += list(subjects[test])
    assert sorted(set(seen_test)) == sorted(set(subjects)) and len(seen_test) == len(subjects)
    with pytest.raises(InvalidInputError):
        list(subject_folds(y[:5], subjects[:5], k=4))


def test_window_set_save_load(tmp_path):
    ws = WindowSet(np.zeros((3, 2, 5), np.float32), np.array([0, 1, 1]), np.array(["a", "b", "b"]), ["x", "y"], 100.)
    back = WindowSet.load(ws.save(tmp_path / "w.npz"))
    assert back.ch_names == ["x", "y"] and list(back.subjects) == ["a", "b", "b"]


def _head_pos(times, shifts_mm):
    """An MNE head-position array: identity rotation, the head origin shifted along x by ``shifts_mm``."""
    pos = np.zeros((len(times), 10))
    pos[:, 0] = times
    pos[:, 1:4] = 0.0  # quaternion (q1, q2, q3) of the identity
    pos[:, 4] = np.asarray(shifts_mm, float) / 1000.0
    pos[:, 5] = 0.0
    pos[:, 6] = 0.04
    pos[:, 7:] = (0.99, 1e-3, 0.0)
    return pos


def test_windows_with_head_movement_over_5_mm_are_dropped(tmp_path):
    path = tmp_path / "sub_raw.fif"
    _raw(seconds=6.0).save(path, verbose="error")
    cfg = MsamConfig(sfreq=200.0, h_freq=40.0, notch=None, window_s=1.0, overlap=0.0, reject_amplitude=None)
    assert windows_from_file(path, cfg)[0].shape[0] == 6  # no head positions: nothing dropped
    # the head drifts 6 mm away from 3.5 s to 4.6 s and comes back at 5 s: windows 3-4 s and 4-5 s go
    mne.chpi.write_head_pos(tmp_path / "sub.pos", _head_pos([0, 1, 2, 3, 3.5, 4.6, 5.0], [0, 1, 2, 2, 6, 6, 1]))
    x, _, _ = windows_from_file(path, cfg)
    assert x.shape[0] == 4
    kept = windows_from_file(path, cfg.replace(max_head_movement_mm=10.0))[0]
    assert kept.shape[0] == 6
    np.testing.assert_array_equal(x, kept[[0, 1, 2, 5]])  # the windows at 3 s and 4 s are the ones removed


def test_head_pos_column_must_stay_inside_the_cohort_folder(tmp_path):
    from biomedai.methods.msam_meg.recordings import prepare_cohort

    folder = tmp_path / "cohort"
    folder.mkdir()
    _raw(seconds=4.0).save(folder / "s1_raw.fif", verbose="error")
    mne.chpi.write_head_pos(tmp_path / "outside.pos", _head_pos([0, 1], [0, 9]))
    (folder / "labels.csv").write_text("subject_id,subtype,file,head_pos\ns1,CPS,s1_raw.fif,../outside.pos\n")
    with pytest.raises(InvalidInputError, match="outside the cohort folder"):
        prepare_cohort(folder, CFG)
    (folder / "labels.csv").write_text("subject_id,subtype,file\ns1,CPS,../cohort/../outside.fif\n")
    with pytest.raises(InvalidInputError):
        prepare_cohort(folder, CFG)
    (folder / "bad.pos").write_text("not a head position file\n")
    (folder / "labels.csv").write_text("subject_id,subtype,file,head_pos\ns1,CPS,s1_raw.fif,bad.pos\n")
    with pytest.raises(InvalidInputError, match="head-position"):
        prepare_cohort(folder, CFG)
