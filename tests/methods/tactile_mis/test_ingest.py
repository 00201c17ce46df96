"""Ingestion: layouts and gap filling, calibration round trip, readers, and the bad inputs of issue 27."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.tactile_mis.ingest import (calibrate, read_sequence, waves_to_sequence, write_sequence_csv,
                                                 write_sequence_hdf5, write_sequence_npy)
from biomedai.methods.tactile_mis.sensors import (Calibration, SensorLayout, fill_gaps, fit_calibration,
                                                  read_calibration, read_layout)
from biomedai.methods.tactile_mis.simulate import biotac_like_layout


def test_gap_filling_is_the_mean_of_known_neighbours():
    image = np.zeros((3, 3))
    known = np.ones((3, 3), bool)
    known[1, 1] = False
    image[known] = np.arange(8.0) * 3 + 1
    filled = fill_gaps(image, known)
    assert filled[1, 1] == pytest.approx(image[known].mean())
    assert np.array_equal(filled[known], image[known])


def test_sparse_layout_fills_every_cell_and_keeps_the_electrodes():
    layout = biotac_like_layout()
    assert (layout.n_elements, layout.shape) == (24, (12, 11))
    values = np.random.default_rng(0).uniform(1, 2, (3, 24))
    images = layout.to_image(values)
    assert images.shape == (3, 12, 11) and np.isfinite(images).all()
    assert np.allclose(layout.from_image(images), values)
    # filled cells are bounded by the electrode values (a mean of means never leaves the range)
    assert images.min() >= values.min() - 1e-12 and images.max() <= values.max() + 1e-12


def test_layout_file_round_trip_and_errors(tmp_path):
    layout = biotac_like_layout()
    back = read_layout(layout.save(tmp_path / "biotac.json"))
    assert back.name == layout.name and np.array_equal(back.elements, layout.elements)
    (tmp_path / "bad.json").write_text(json.dumps({"rows": 2, "cols": 2, "elements": [[0, 0], [2, 0]]}))
    with pytest.raises(InvalidInputError, match="outside"):
        read_layout(tmp_path / "bad.json")
    (tmp_path / "grid.yaml").write_text("rows: 3\ncols: 4\nname: pad\n")
    assert read_layout(tmp_path / "grid.yaml").n_elements == 12


def test_calibration_fit_and_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    gain, offset = rng.uniform(0.5, 2.0, 6), rng.uniform(-0.1, 0.1, 6)
    raw = rng.uniform(0, 100, (20, 6))
    cal = fit_calibration(raw, raw * gain + offset, "pad")
    assert np.allclose(cal.gain, gain) and np.allclose(cal.offset, offset)
    assert np.allclose(cal.to_raw(cal.to_force(raw)), raw)
    back = read_calibration(cal.save(tmp_path / "cal.json"))
    assert np.allclose(back.to_force(raw), raw * gain + offset)


def test_calibration_for_another_sensor_is_refused():
    seq = waves_to_sequence(np.arange(2.0), np.ones((2, 6)), SensorLayout.regular(2, 3, "pad"))
    other = Calibration("biotac", np.ones(24), np.zeros(24))
    with pytest.raises(InvalidInputError, match="calibration is for sensor 'biotac' with 24 elements"):
        calibrate(seq, other)


def test_npy_orders_csv_hdf5_round_trip(tmp_path):
    frames = np.random.default_rng(2).uniform(0, 1, (5, 4, 3))
    for order in ("MNT", "TMN"):
        seq = read_sequence(write_sequence_npy(tmp_path / f"s_{order}.npy", frames, order), array_order=order)
        assert np.allclose(seq.frames, frames)
    layout = SensorLayout.regular(4, 3, "pad")
    times = np.arange(5) / 50.0
    seq = read_sequence(write_sequence_csv(tmp_path / "s.csv", times, layout.from_image(frames), layout))
    assert np.allclose(seq.frames, frames, atol=1e-6) and np.allclose(seq.times_s, times)
    seq = read_sequence(write_sequence_hdf5(tmp_path / "s.h5", frames, 50.0))
    assert np.allclose(seq.frames, frames) and seq.times_s[1] == pytest.approx(0.02)


def test_wave_diagram_and_image_sequence_convert_both_ways():
    layout = biotac_like_layout()
    waves = np.random.default_rng(3).uniform(0, 1, (7, 24))
    seq = waves_to_sequence(np.arange(7.0), waves, layout)
    assert seq.frames.shape == (7, 12, 11)
    assert np.allclose(seq.waves(), waves)


def test_ros2_bag_reader(tmp_path):
    rosbags = pytest.importorskip("rosbags")
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    del rosbags
    store = get_typestore(Stores.ROS2_HUMBLE)
    array_t, layout_t = store.types["std_msgs/msg/Float32MultiArray"], store.types["std_msgs/msg/MultiArrayLayout"]
    frames = np.random.default_rng(4).uniform(0, 1, (3, 2, 3)).astype(np.float32)
    with Writer(tmp_path / "bag", version=8) as writer:
        conn = writer.add_connection("/tactile", array_t.__msgtype__, typestore=store)
        for t, frame in enumerate(frames):
            msg = array_t(layout=layout_t(dim=[], data_offset=0), data=frame.ravel())
            writer.write(conn, t * 12_500_000, store.serialize_cdr(msg, array_t.__msgtype__))
    seq = read_sequence(tmp_path / "bag", SensorLayout.regular(2, 3))
    assert np.allclose(seq.frames, frames) and seq.times_s[-1] == pytest.approx(0.025)


def test_frame_shape_must_match_the_layout(tmp_path):
    path = write_sequence_npy(tmp_path / "s.npy", np.ones((2, 5, 5)))
    with pytest.raises(InvalidInputError, match="frames are 5 x 5 but layout 'pad' is 4 x 3"):
        read_sequence(path, SensorLayout.regular(4, 3, "pad"))


def test_dead_taxels_are_masked_filled_and_reported(tmp_path):
    frames = np.ones((4, 3, 3))
    frames[:, 1, 1] = np.nan        # dead in every frame
    frames[2, 0, 0] = np.nan        # one dropout
    seq = read_sequence(write_sequence_npy(tmp_path / "s.npy", frames, "TMN"), array_order="TMN")
    report = seq.report()
    assert report["dead_taxels"] == [[1, 1]] and report["dropout_readings"] == 1
    assert np.allclose(seq.frames, 1.0)


def test_negative_forces_are_refused_small_ones_clipped():
    layout = SensorLayout.regular(1, 2, "pad")
    seq = waves_to_sequence(np.arange(2.0), np.array([[0.5, -0.01], [0.2, 0.1]]), layout)
    assert calibrate(seq, None).frames.min() == 0.0
    bad = waves_to_sequence(np.arange(2.0), np.array([[0.5, -0.3], [0.2, 0.1]]), layout)
    with pytest.raises(InvalidInputError, match="negative force"):
        calibrate(bad, None)


def test_shipped_layout_files_read():
    from pathlib import Path

    import biomedai.methods.tactile_mis as package

    folder = Path(package.__file__).parent / "layouts"
    assert read_layout(folder / "biotac_sp_like.json").n_elements == 24
    assert read_layout(folder / "tactarray_15x4.json").shape == (15, 4)
