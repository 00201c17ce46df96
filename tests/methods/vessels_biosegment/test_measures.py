"""Skeleton measures, comparison rules and clDice on shapes with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomedai.methods.vessels_biosegment.compare import (accuracy, agreement_summary, cross_validation_table,
                                                         format_accuracy, percent_error)
from biomedai.methods.vessels_biosegment.measures import lacunarity, skeleton_measures
from biomedai.metrics.segmentation import cldice


def test_straight_vessel_length_density_in_mm():
    mask = np.zeros((200, 200), bool)
    mask[99:102, 50:151] = True  # 3 px wide, 101 px long: skeleton 100 px of length (pixel centres)
    r = skeleton_measures(mask, spacing=2.0)
    assert r["length_unit"] == "mm" and r["density_unit"] == "mm/mm^2"
    assert r["total_length"] == pytest.approx(100 * 2e-3, rel=0.03)
    area = 200 * 200 * (2e-3) ** 2
    assert r["length_density"] == pytest.approx(r["total_length"] / area)
    assert r["end_points"] == 2 and r["junctions"] == 0 and r["branches"] == 1
    assert r["tortuosity"] == pytest.approx(1.0, abs=0.02)
    assert r["vessel_area_fraction"] == pytest.approx(303 / 40000)


def test_cross_has_one_junction_four_ends_and_fov_sets_the_area():
    mask = np.zeros((101, 101), bool)
    mask[50, 10:91] = True
    mask[10:91, 50] = True
    fov = np.zeros_like(mask)
    fov[:, :] = True
    r = skeleton_measures(mask, area_mask=fov)
    assert r["junctions"] == 1 and r["end_points"] == 4 and r["branches"] == 4
    assert r["total_length"] == pytest.approx(160, abs=2)
    half = skeleton_measures(mask, area_mask=np.pad(np.ones((101, 50), bool), ((0, 0), (0, 51))))
    assert half["total_length"] < r["total_length"]  # the skeleton outside the FOV does not count


def test_tortuous_vessel_is_more_tortuous_than_a_straight_one():
    mask = np.zeros((100, 200), bool)
    x = np.arange(10, 190)
    y = (50 + 20 * np.sin(x / 10)).astype(int)
    mask[y, x] = True
    from scipy import ndimage as ndi

    r = skeleton_measures(ndi.binary_dilation(mask))
    assert r["tortuosity"] > 1.3


def test_empty_mask_gives_zero_length_not_an_error():
    r = skeleton_measures(np.zeros((20, 20), bool))
    assert r["total_length"] == 0 and r["length_density"] == 0 and math.isnan(r["tortuosity"])


def test_lacunarity_of_a_uniform_mask_is_one_and_clustered_is_larger():
    assert lacunarity(np.ones((64, 64), bool)) == pytest.approx(1.0)
    clustered = np.zeros((64, 64), bool)
    clustered[:16, :16] = True
    spread = np.random.default_rng(0).random((64, 64)) < 1 / 16  # same density, no clusters
    assert lacunarity(clustered) > lacunarity(spread) > 1.0


def test_3d_length_density_uses_the_voxel_volume():
    vol = np.zeros((10, 40, 40), bool)
    vol[5, 20, 5:35] = True
    r = skeleton_measures(vol, spacing=(5.0, 1.0, 1.0))
    assert r["density_unit"] == "mm/mm^3"
    assert r["total_length"] == pytest.approx(29e-3, rel=0.01)
    assert r["length_density"] == pytest.approx(29e-3 / (10 * 40 * 40 * 5e-9), rel=0.01)


def test_percent_error_accuracy_and_the_na_rule():
    assert percent_error(10, 12) == pytest.approx(20)
    assert accuracy(10, 12) == pytest.approx(80)
    assert accuracy(10, 25.0) is None and format_accuracy(None) == "N/A"  # error 150 % > 100 %
    assert accuracy(10, 20.0) == pytest.approx(0.0)  # exactly 100 % is not N/A
    assert math.isnan(percent_error(0, 3))


def test_agreement_and_tables_layout():
    s = agreement_summary([10, 10, 10, 10], [9, 11, 10, 30])
    assert s["within_10_percent"] == 3 and s["n_accuracy_na"] == 1
    assert s["bland_altman"]["bias"] == pytest.approx(5.0)
    rows = cross_validation_table({1: {"holdout": [1, 3], "validation": [2], "train": [4]},
                                   2: {"holdout": [5], "validation": [6], "train": [8]}})
    assert [r["fold"] for r in rows] == [1, 2, "mean (SD)"]
    assert rows[0]["holdout"] == pytest.approx(2.0) and rows[2]["train"] == "6.00 (2.83)"


def test_cldice_perfect_partial_and_missing_vessels():
    a = np.zeros((30, 60), bool)
    a[10:14, 5:55] = True
    a[20:24, 5:55] = True
    assert cldice(a, a) == pytest.approx(1.0)
    one = a.copy()
    one[20:24] = False
    # precision 1, sensitivity about 0.5 -> about 2/3
    assert cldice(a, one) == pytest.approx(2 / 3, abs=0.05)
    assert cldice(a, np.zeros_like(a)) == 0.0


def test_prune_spurs_cuts_short_terminal_branches_only() -> None:
    from biomedai.methods.vessels_biosegment.measures import prune_spurs

    s = np.zeros((40, 60), bool)
    s[20, 2:58] = True            # the vessel
    s[14:20, 15] = True           # a 6 px spur
    s[5:20, 40] = True            # a 15 px real branch
    pruned = prune_spurs(s, 10)
    assert not pruned[14:20, 15].any() and pruned[5:20, 40].all() and pruned[20, 2:58].all()
    assert int(pruned.sum()) == int(s.sum()) - 6
    r0, r1 = skeleton_measures(s), skeleton_measures(s, spur_length_px=10)
    assert (r0["end_points"], r1["end_points"]) == (4, 3)
    assert r1["total_length"] == pytest.approx(r0["total_length"] - 6, abs=1.0)
    assert prune_spurs(s, 0).sum() == s.sum()


def test_prune_spurs_in_3d_keeps_the_vessel_connected() -> None:
    from scipy import ndimage as ndi

    from biomedai.methods.vessels_biosegment.measures import prune_spurs

    s = np.zeros((12, 30, 30), bool)
    s[6, 15, 1:29] = True         # the vessel: its terminal stretches (9 and 8 px) are longer than the limit
    s[6, 11:15, 10] = True        # spur in-plane (4 px)
    s[2:6, 15, 20] = True         # spur across slices (4 px)
    pruned = prune_spurs(s, 6, spacing=(1.0, 1.0, 1.0))
    assert pruned[6, 15, 1:29].all() and int(pruned.sum()) == 28
    assert ndi.label(pruned, structure=np.ones((3, 3, 3)))[1] == 1


def test_anova_tool_on_a_length_density_table(tmp_path, capsys) -> None:
    import json

    from biomedai.errors import InvalidInputError
    from biomedai.methods import get_method

    rng = np.random.default_rng(0)
    rows = ["method,group,length_density"]
    for method, shift in (("manual", 0.0), ("detector", 0.1), ("unet", -2.0)):
        for group, base in (("control", 10.0), ("treated", 14.0)):
            rows += [f"{method},{group},{base + shift + e:.4f}" for e in rng.normal(0, 0.3, 4)]
    table = tmp_path / "per_image.csv"
    table.write_text("\n".join(rows) + "\n")
    method = get_method("vessels_biosegment")()
    parser = method.tool_parser("biomedai tool vessels_biosegment")
    assert method.run_tool(parser.parse_args(["anova", str(table), "-o", str(tmp_path / "out")])) == 0
    out = json.loads(capsys.readouterr().out)
    anova = {r["source"]: r for r in out["anova"]}
    assert anova["method"]["p"] < 1e-6 and anova["group"]["p"] < 1e-6
    significant = {(c["within"], c["level_a"], c["level_b"]) for c in out["holm_sidak"] if c["significant"]}
    assert ("control", "detector", "unet") in significant and ("control", "detector", "manual") not in significant
    assert (tmp_path / "out" / "posthoc.csv").is_file()
    with pytest.raises(InvalidInputError, match="no column"):
        method.run_tool(parser.parse_args(["anova", str(table), "--value", "density"]))
