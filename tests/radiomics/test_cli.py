"""The radiomics verb: single case, batch with a bad case, resume, parallel jobs."""
from __future__ import annotations

import argparse
import csv

import numpy as np
import pytest

from biomedai.errors import ConfigError
from biomedai.radiomics import cli


def write_case(folder, name: str, seed: int, empty: bool = False):
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    vol = rng.normal(100, 20, (10, 12, 14)).astype(np.float32)
    mask = np.zeros((10, 12, 14), np.uint8)
    if not empty:
        mask[2:8, 3:9, 3:11] = 1
    img_path, msk_path = folder / f"{name}.nrrd", folder / f"{name}_label.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(vol), str(img_path))
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(msk_path))
    return img_path, msk_path


def run(argv):
    try:  # the wired-in entry point once biomedai.cli knows the verb
        from biomedai.cli import build_parser

        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "verb", None) == "radiomics":
            return args.func(args) if hasattr(args, "func") else cli.run(args)
    except SystemExit:
        pass
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="verb"))
    return cli.run(parser.parse_args(argv))


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_single_case_csv_and_json(tmp_path):
    img, msk = write_case(tmp_path, "a", 0)
    params = tmp_path / "params.yaml"
    params.write_text("setting:\n  binWidth: 10\nfeatureClass:\n  glcm: [Contrast]\n  firstorder: [Mean]\n")
    out = tmp_path / "features.csv"
    assert run(["radiomics", str(img), str(msk), "-p", str(params), "-o", str(out)]) == 0
    rows = read(out)
    assert len(rows) == 1 and rows[0]["error"] == ""
    assert float(rows[0]["original_glcm_Contrast"]) > 0
    assert rows[0]["diagnostics_Configuration_Settings"].startswith("{")
    js = tmp_path / "f.json"
    assert run(["radiomics", str(img), str(msk), "-p", str(params), "-o", str(js), "--no-diagnostics"]) == 0
    import json

    data = json.loads(js.read_text())
    assert set(k for k in data if k.startswith("original_")) == {"original_glcm_Contrast", "original_firstorder_Mean"}


def test_batch_bad_case_then_resume(tmp_path, monkeypatch):
    cases = tmp_path / "cases.csv"
    lines = ["ID,Image,Mask"]
    for i in range(3):
        img, msk = write_case(tmp_path, f"c{i}", i, empty=(i == 1))
        lines.append(f"c{i},{img.name},{msk.name}")  # relative to the CSV's folder
    cases.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    params = tmp_path / "p.json"
    params.write_text('{"featureClass": {"firstorder": ["Mean"], "glszm": []}}')
    assert run(["radiomics", "--batch", str(cases), "-o", str(out), "-p", str(params), "--jobs", "2"]) == 1
    rows = {r["ID"]: r for r in read(out)}
    assert list(rows) == ["c0", "c1", "c2"]
    assert "empty" in rows["c1"]["error"] and rows["c0"]["error"] == "" and rows["c2"]["error"] == ""
    assert float(rows["c2"]["original_firstorder_Mean"]) == pytest.approx(100, abs=5)

    # resume: finished cases are skipped (the extractor is not even called for them)
    calls = []
    real = cli._extract_case

    def counting(case, *a, **k):
        calls.append(case["ID"])
        return real(case, *a, **k)

    monkeypatch.setattr(cli, "_extract_case", counting)
    assert run(["radiomics", "--batch", str(cases), "-o", str(out), "-p", str(params)]) == 1
    assert calls == ["c1"]
    assert [r["ID"] for r in read(out)] == ["c0", "c1", "c2"]


def test_usage_errors(tmp_path):
    with pytest.raises(ConfigError, match="IMAGE and MASK"):
        run(["radiomics"])
    with pytest.raises(ConfigError, match="--output"):
        run(["radiomics", "--batch", str(tmp_path / "c.csv")])
    bad = tmp_path / "c.csv"
    bad.write_text("Img,Msk\na,b\n")
    from biomedai.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="no 'Image' column"):
        run(["radiomics", "--batch", str(bad), "-o", str(tmp_path / "o.csv")])


def test_biomedai_main_entry_point(tmp_path, capsys):
    cli_main = pytest.importorskip("biomedai.cli").main
    img, msk = write_case(tmp_path, "m", 3)
    out = tmp_path / "f.csv"
    assert cli_main(["radiomics", str(img), str(msk), "-o", str(out), "--no-diagnostics"]) == 0
    row = read(out)[0]
    assert row["error"] == "" and "original_glszm_ZoneEntropy" in row
    empty_img, empty_msk = write_case(tmp_path, "e", 4, empty=True)
    assert cli_main(["radiomics", str(empty_img), str(empty_msk)]) == 2
    assert "empty" in capsys.readouterr().err


def test_tiny_case_command_line_imports_nothing_heavy(tmp_path):
    """Issue 29's lean start-up: ``biomedai radiomics`` on a tiny case imports no scipy, numpy.ma or torch."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    img, msk = write_case(tmp_path, "t", 5)
    out = tmp_path / "t.csv"
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['biomedai', 'radiomics', {str(img)!r}, {str(msk)!r}, '-o', {str(out)!r}]\n"
        "try:\n    runpy.run_module('biomedai', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = ('scipy', 'numpy.ma', 'torch', 'sklearn', 'pandas', 'matplotlib')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules), 'EXIT', code)\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert "LOADED [] EXIT 0" in done.stdout, done.stdout + done.stderr
    assert "original_glcm_Contrast" in out.read_text()
