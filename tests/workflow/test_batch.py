"""``biomedai batch``: inputs from folders/globs/CSV lists, resume, bad files skipped, local pool and Ray."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.workflow.batch import collect_inputs, result_complete, run_batch, unit_name

from .conftest import WF_METHODS, make_png


def _inputs(folder: Path, n: int, bad: bool = True) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = [make_png(folder / f"img{i:03d}.png", value=60 + 10 * i, seed=i) for i in range(n)]
    if bad:
        from PIL import Image

        Image.fromarray(np.full((8, 8), 7, np.uint8)).save(folder / "flat.png")  # the method refuses it
        (folder / "broken.png").write_bytes(b"not a png at all")  # unreadable
    return files


def _summary(path: Path) -> dict[str, dict[str, str]]:
    with open(path / "summary.csv", newline="") as fh:
        return {Path(r["input"]).name: r for r in csv.DictReader(fh)}


def _runs(tmp_path: Path) -> int:
    folder = tmp_path / "markers" / "wf_brightness"
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def test_collect_inputs_folder_glob_and_csv(tmp_path):
    files = _inputs(tmp_path / "in", 3, bad=False)
    (tmp_path / "in" / ".hidden").write_text("x")
    sub = tmp_path / "in" / "sub"
    sub.mkdir()
    make_png(sub / "deep.png")
    listing = tmp_path / "list.csv"
    listing.write_text("ID,Path\na,in/img000.png\nb,in/sub/deep.png\n")
    assert [p.name for p in collect_inputs([tmp_path / "in"])] == ["img000.png", "img001.png", "img002.png",
                                                                  "deep.png"]
    assert [p.name for p in collect_inputs([str(tmp_path / "in" / "img00[12].png")])] == ["img001.png", "img002.png"]
    both = collect_inputs([listing, files[0]])  # duplicates counted once
    assert sorted(p.name for p in both) == ["deep.png", "img000.png"]
    with pytest.raises(InvalidInputError, match="no such file"):
        collect_inputs([tmp_path / "missing"])
    bad_list = tmp_path / "bad.csv"
    bad_list.write_text("name\nx\n")
    with pytest.raises(InvalidInputError, match="no path/input/file/image column"):
        collect_inputs([bad_list])
    assert unit_name(files[0]) == unit_name(files[0]) != unit_name(sub / "img000.png")


def test_batch_skips_bad_files_and_resumes(tmp_path, wf_methods):
    files = _inputs(tmp_path / "in", 5)
    out = tmp_path / "out"
    summary = run_batch("wf_brightness", [tmp_path / "in"], out)
    assert (summary.done, summary.skipped, summary.failed) == (5, 0, 2)
    rows = _summary(out)
    assert {n: r["status"] for n, r in rows.items()} == {**{f.name: "done" for f in files},
                                                        "flat.png": "failed", "broken.png": "failed"}
    assert "flat image" in rows["flat.png"]["error"] and "broken.png" in rows["broken.png"]["error"]
    for f in files:  # the summary carries the method's numbers, equal to what result.json says
        data = json.loads((out / unit_name(f) / "result.json").read_text())
        assert float(rows[f.name]["metric.mean"]) == pytest.approx(data["metrics"]["mean"])
        assert float(rows[f.name]["metric.per_file"]) == pytest.approx(data["metrics"]["per_file"][f.name])
        assert result_complete(out / unit_name(f), "wf_brightness")
    assert not any(c.startswith("metric.per_file.") for c in next(iter(rows.values())))  # not a column per input
    assert not list(out.glob(".tmp-*"))  # failed tasks leave no half-written folders
    runs = _runs(tmp_path)

    again = run_batch("wf_brightness", [tmp_path / "in"], out)  # resume: only the failed ones run again
    assert (again.done, again.skipped, again.failed) == (0, 5, 2)
    assert _runs(tmp_path) == runs + 2  # only the two failed inputs ran again
    (out / unit_name(files[2]) / "result.json").unlink()  # an interrupted unit
    third = run_batch("wf_brightness", [tmp_path / "in"], out)
    assert (third.done, third.skipped) == (1, 4)
    assert _summary(out)[files[2].name]["status"] == "done"




def test_cli_batch_with_local_processes(tmp_path, wf_methods, capsys, cli_logging):
    from biomedai.cli import main

    _inputs(tmp_path / "in", 4, bad=False)
    listing = tmp_path / "list.csv"
    listing.write_text("path\n" + "\n".join(f"in/img{i:03d}.png" for i in range(4)) + "\n")
    code = main(["batch", "wf_brightness", str(listing), "-o", str(tmp_path / "out"), "--jobs", "2",
                 "--import", WF_METHODS])
    assert code == 0, capsys.readouterr().err
    assert "4 done, 0 already done, 0 failed" in capsys.readouterr().out
    assert _runs(tmp_path) == 4
    assert main(["batch", "no_such_method", str(listing), "-o", str(tmp_path / "o2")]) == 2


def test_ray_batch_local_cluster(tmp_path, wf_methods):
    pytest.importorskip("ray", reason="Ray is optional: pip install 'biomedai[ray]'")
    files = _inputs(tmp_path / "in", 20)
    start = time.monotonic()
    summary = run_batch("wf_brightness", [str(tmp_path / "in" / "*.png")], tmp_path / "ray", use_ray=True, jobs=2,
                        imports=[WF_METHODS])
    took = time.monotonic() - start
    assert (summary.done, summary.failed) == (20, 2), summary.rows
    assert _runs(tmp_path) == 22  # every input exactly once
    local = run_batch("wf_brightness", files[:3], tmp_path / "local")  # same numbers as a local run
    ray_rows, local_rows = _summary(tmp_path / "ray"), _summary(tmp_path / "local")
    for f in files[:3]:
        assert ray_rows[f.name]["metric.mean"] == local_rows[f.name]["metric.mean"]
    print(f"local Ray, 2 CPUs: 22 inputs in {took:.1f} s")


def test_docstring_examples():
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("biomedai.workflow.batch"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
