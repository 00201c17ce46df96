"""virtual_ihc's input check for the workflow router: RGB H&E with tissue, large enough; slides on a thumbnail."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biomedai.io.wsi import write_pyramidal_tiff
from biomedai.methods.virtual_ihc.config import VirtualIHCConfig
from biomedai.methods.virtual_ihc.input_check import MIN_SIDE_PX, he_input_problem
from biomedai.methods.virtual_ihc.pipeline import VirtualIHCMethod
from biomedai.methods.virtual_ihc.simulate import simulate_set
from biomedai.viz import save_png
from biomedai.workflow.routing import checks_content, screen


def _he_tile() -> np.ndarray:
    pairs = simulate_set(4, seed=3)
    return np.concatenate([np.concatenate([pairs[0].he, pairs[1].he], 1),
                           np.concatenate([pairs[2].he, pairs[3].he], 1)], 0)


def _on_glass(tile: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    img = np.full((*shape, 3), (236, 234, 240), np.uint8)
    img[:tile.shape[0], :tile.shape[1]] = tile
    return img


def test_he_image_is_accepted_and_the_router_sees_a_content_check(tmp_path: Path) -> None:
    he = save_png(_he_tile(), tmp_path / "he.png")
    assert he_input_problem(he, VirtualIHCConfig()) is None
    assert VirtualIHCMethod().check_input(he) is None
    for example in VirtualIHCMethod.example_inputs(tmp_path / "ex"):
        assert VirtualIHCMethod().check_input(example) is None
    assert checks_content(VirtualIHCMethod)


@pytest.mark.parametrize("name,pixels,reason", [
    ("grey.png", np.tile(np.linspace(60, 240, 96, dtype=np.uint8), (96, 1)), "grey"),
    ("grey_rgb.png", np.repeat(np.tile(np.linspace(60, 240, 96, dtype=np.uint8), (96, 1))[..., None], 3, -1),
     "no colour"),
    ("glass.png", np.full((96, 96, 3), (235, 230, 240), np.uint8), "no tissue"),
    ("tiny.png", None, "too small"),
    ("ihc.png", "ihc", "IHC"),
])
def test_what_it_cannot_take_is_refused_with_a_reason(tmp_path: Path, name, pixels, reason) -> None:
    if pixels is None:
        pixels = _he_tile()[:MIN_SIDE_PX - 8, :MIN_SIDE_PX - 8]
    elif isinstance(pixels, str):
        pairs = simulate_set(4, seed=3)
        pixels = np.concatenate([p.ihc for p in pairs], 1)
    path = save_png(pixels, tmp_path / name)
    answer = VirtualIHCMethod().check_input(path)
    assert answer is not None and reason in answer, answer
    run, declined = screen(["virtual_ihc"], path)
    assert run == [] and declined[0].status == "declined" and reason in declined[0].reason


def test_the_bundled_fundus_and_ihc_samples_are_declined() -> None:
    from biomedai.data.samples import sample_path

    assert "fundus" in VirtualIHCMethod().check_input(sample_path("retina"))
    assert "IHC" in VirtualIHCMethod().check_input(sample_path("ihc"))


def test_unreadable_file_is_refused_not_raised(tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    assert "cannot read" in VirtualIHCMethod().check_input(junk)


def test_slides_are_checked_on_a_thumbnail(tmp_path: Path) -> None:
    he = write_pyramidal_tiff(_on_glass(np.tile(_he_tile(), (2, 2, 1)), (1024, 1536)), tmp_path / "he.tif", mpp=0.5)
    glass = write_pyramidal_tiff(np.full((1024, 1536, 3), 236, np.uint8), tmp_path / "glass.tif", mpp=0.5)
    cfg = VirtualIHCConfig()
    assert he_input_problem(he, cfg) is None
    assert "no tissue" in he_input_problem(glass, cfg)
    assert "slide_level 7 does not exist" in he_input_problem(he, cfg.replace(slide_level=7))


def test_a_large_tiff_without_pyramid_is_looked_at_through_windows(tmp_path: Path, monkeypatch) -> None:
    """A plain TIFF counted as a slide (``slide_min_pixels``) is not decoded whole: windows of it are read."""
    import tifffile

    from biomedai.data import content
    from biomedai.io.wsi import WSIReader

    img = _on_glass(np.tile(_he_tile(), (3, 3, 1)), (1536, 1536))
    path = tmp_path / "flat.tif"
    tifffile.imwrite(path, img, tile=(64, 64), photometric="rgb")
    read: list[int] = []
    real = WSIReader.read_region

    def counting(self, location, level, size):
        read.append(size[0] * size[1])
        return real(self, location, level, size)

    monkeypatch.setattr(WSIReader, "read_region", counting)
    monkeypatch.setattr(content.look_at_slide, "__defaults__", (content.THUMBNAIL, 100_000))  # < 2.4 Mpx: sample
    assert he_input_problem(path, VirtualIHCConfig(slide_min_pixels=500_000)) is None
    assert read and sum(read) < img.shape[0] * img.shape[1] // 4
