from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.errors import ConfigError, MethodNotFoundError
from biomedai.methods import registry
from biomedai.methods.base import Method

from .toy_method import OtsuMethod


@pytest.fixture()
def toy():
    registry.register(OtsuMethod)
    yield OtsuMethod
    registry.unregister(OtsuMethod.name)


def test_register_and_find(toy):
    assert registry.get_method("toy_otsu") is toy
    assert toy in registry.list_methods()
    assert toy.describe()["task"] == "binary segmentation"


def test_unknown_method_lists_known(toy):
    with pytest.raises(MethodNotFoundError, match="toy_otsu"):
        registry.get_method("nope")


def test_register_rejects_non_methods_and_name_clash(toy):
    with pytest.raises(TypeError):
        registry.register(int)  # type: ignore[arg-type]

    class Other(OtsuMethod):
        pass

    with pytest.raises(ValueError, match="taken"):
        registry.register(Other)


def test_method_config_from_dict_validated(toy):
    assert toy({"min_size": 9}).config.min_size == 9
    with pytest.raises(ConfigError, match="min_sise"):
        toy({"min_sise": 9})


def test_abstract_interface_enforced():
    class Half(Method):
        name = "half"

    with pytest.raises(TypeError):
        Half()


def test_predict_writes_result_json_with_provenance(toy, tmp_path):
    from biomedai.io import write_image
    from biomedai.io.image import Image

    image = np.zeros((40, 40), np.uint8)
    image[10:30, 10:20] = 200
    path = tmp_path / "in.png"
    write_image(Image(image), path)
    result = toy().predict([path], tmp_path / "out")
    data = json.loads(result.result_json.read_text())
    assert data["metrics"]["foreground_fraction"]["in.png"] == pytest.approx(200 / 1600)
    prov = data["provenance"]
    assert prov["seed"] == 0 and prov["config"]["min_size"] == 4
    assert prov["inputs"][0]["sha256"] and len(prov["inputs"][0]["sha256"]) == 64
    assert prov["biomedai_version"] and "predict" in prov["timings_s"]
    assert (tmp_path / "out" / "in_mask.png").is_file()
    report = toy().report(tmp_path / "out")
    assert "in_mask.png" in report.read_text()
