from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from biomedai.cli import main
from biomedai.methods import registry

from ..methods.toy_method import OtsuMethod


@pytest.fixture()
def toy():
    registry.register(OtsuMethod)
    yield OtsuMethod
    registry.unregister(OtsuMethod.name)


def test_help_is_fast_and_imports_nothing_heavy():
    code = ("import sys, time; t=time.perf_counter(); from biomedai.cli import build_parser; build_parser(); "
            "heavy=[m for m in ('numpy','torch','monai','SimpleITK','pydicom','skimage') if m in sys.modules]; "
            "print(heavy, time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("[]"), out
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "biomedai", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "predict" in proc.stdout
    assert time.perf_counter() - start < 1.0


def test_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.dcm")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.dcm" in err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.png" in err and "Traceback" not in err
    assert main(["predict", "no_such_method", str(bad), "-o", str(tmp_path / "o")]) == 2
    assert "no method named" in capsys.readouterr().err


def test_list_and_json(toy, capsys):
    assert main(["list"]) == 0
    assert "toy_otsu" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["name"] == "toy_otsu" and r["modality"] for r in rows)


def test_info_on_real_dicom(capsys):
    from biomedai.data.samples import sample_path

    assert main(["info", str(sample_path("ct_small")), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    text = json.dumps(info)
    assert "CT" in text and "128" in text


def test_predict_evaluate_train_through_cli(toy, tmp_path, capsys):
    from biomedai.io import write_image
    from biomedai.io.image import Image

    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "masks").mkdir()
    img = np.zeros((32, 32), np.uint8)
    img[8:24, 8:24] = 180
    write_image(Image(img), tmp_path / "data" / "images" / "a.png")
    write_image(Image((img > 0).astype(np.uint8) * 255), tmp_path / "data" / "masks" / "a.png")
    out = tmp_path / "pred"
    assert main(["predict", "toy_otsu", str(tmp_path / "data" / "images" / "a.png"), "-o", str(out),
                 "--set", "min_size=2"]) == 0
    assert json.loads((out / "result.json").read_text())["provenance"]["config"]["min_size"] == 2
    assert main(["evaluate", "toy_otsu", "--data", str(tmp_path / "data"), "-o", str(tmp_path / "ev")]) == 0
    assert json.loads((tmp_path / "ev" / "result.json").read_text())["metrics"]["dice_mean"] == pytest.approx(1.0)
    assert main(["train", "toy_otsu", "--data", str(tmp_path / "data"), "-o", str(tmp_path / "tr")]) == 2
    assert "nothing to train" in capsys.readouterr().err
    assert main(["predict", "toy_otsu", "x.png", "-o", str(out), "--set", "min_sise=2"]) == 2
    assert "min_sise" in capsys.readouterr().err


def test_demo_gallery(toy, tmp_path):
    from biomedai.demo import run_demo

    index = run_demo(tmp_path / "demo", methods=["toy_otsu"])
    html = index.read_text()
    assert "toy_otsu" in html and "Bundled samples" in html
    summary = json.loads((tmp_path / "demo" / "demo-summary.json").read_text())
    assert summary["methods"]["toy_otsu"]["status"] == "ok"
    assert len(summary["samples"]) >= 4 and all("error" not in s for s in summary["samples"])
    assert (tmp_path / "demo" / "toy_otsu" / "result.json").is_file()
    pngs = list((tmp_path / "demo" / "samples").glob("*.png"))
    assert len(pngs) == len(summary["samples"])


def test_bench_runner(tmp_path, capsys):
    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    (bench_dir / "bench_toy.py").write_text("print('case: ours 1.0 s, peer 2.0 s, ratio 2.0')\n")
    assert main(["bench", "--dir", str(bench_dir), "--list"]) == 0
    assert "toy" in capsys.readouterr().out
    assert main(["bench", "--dir", str(bench_dir)]) == 0
    assert "ratio 2.0" in capsys.readouterr().out
    assert main(["bench", "--dir", str(bench_dir), "nope"]) == 2


def test_method_tools(tmp_path, capsys):
    from biomedai.io import write_image
    from biomedai.io.image import Image

    from ..methods.toy_method import OtsuWithTools

    registry.register(OtsuWithTools)
    try:
        img = np.zeros((20, 20), np.uint8)
        img[:, 10:] = 200
        write_image(Image(img), tmp_path / "a.png")
        assert main(["tool", "toy_otsu_tools", "threshold", str(tmp_path / "a.png")]) == 0
        value = float(capsys.readouterr().out.split()[-1])
        assert 0 <= value < 200
        assert main(["tool", "toy_otsu_tools", "nope"]) == 2
        assert main(["tool", "--help"]) == 0
        assert "toy_otsu_tools" in capsys.readouterr().out
    finally:
        registry.unregister(OtsuWithTools.name)
    assert main(["tool", "toy_otsu_tools", "threshold", "x"]) == 2
