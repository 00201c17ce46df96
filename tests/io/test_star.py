"""STAR and CSV particle-coordinate IO."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.io.star import read_particle_coordinates, read_star, write_particle_coordinates, write_star

RELION = """
# RELION style
data_optics

loop_
_rlnOpticsGroup #1
_rlnVoltage #2
1 300.0

data_particles

loop_
_rlnCoordinateX #1
_rlnCoordinateY #2
_rlnCoordinateZ #3
_rlnClassName #4
10.5 20 30 ribosome
11 21.25 31 "two words"
"""


def test_read_relion_star(tmp_path):
    p = tmp_path / "p.star"
    p.write_text(RELION)
    blocks = read_star(p)
    assert blocks["optics"]["rlnVoltage"] == [300.0]
    assert blocks["particles"]["rlnClassName"] == ["ribosome", "two words"]
    xyz, names = read_particle_coordinates(p)
    assert xyz.tolist() == [[10.5, 20, 30], [11, 21.25, 31]] and names == ["ribosome", "two words"]


def test_round_trip_star_and_csv(tmp_path):
    xyz = np.array([[1.5, 2, 3], [4, 5, 6.25]])
    for name in ("a.star", "a.csv"):
        path = write_particle_coordinates(tmp_path / name, xyz, ["x1", "x2"], {"score": [0.5, 0.25]})
        back, classes = read_particle_coordinates(path)
        assert np.allclose(back, xyz) and classes == ["x1", "x2"]
    assert read_star(tmp_path / "a.star")["particles"]["score"] == [0.5, 0.25]


def test_bad_star_and_csv_name_file_and_problem(tmp_path):
    bad = tmp_path / "bad.star"
    bad.write_text("data_x\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 2 3\n")
    with pytest.raises(InvalidInputError, match=r"bad.star.*3 values for 2 columns"):
        read_star(bad)
    nocoord = tmp_path / "n.star"
    write_star(nocoord, {"x": {"rlnAngleRot": [1.0]}})
    with pytest.raises(InvalidInputError, match="rlnCoordinateX"):
        read_particle_coordinates(nocoord)
    csv = tmp_path / "c.csv"
    csv.write_text("x,y\n1,2\n")
    with pytest.raises(InvalidInputError, match=r"c.csv.*missing 'z'"):
        read_particle_coordinates(csv)
    csv.write_text("x,y,z\n1,2,abc\n")
    with pytest.raises(InvalidInputError, match="not all numbers"):
        read_particle_coordinates(csv)
    other = tmp_path / "c.json"
    other.write_text("{}")
    with pytest.raises(InvalidInputError, match=r"\.star or \.csv"):
        read_particle_coordinates(other)
