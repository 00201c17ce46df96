"""Torch datasets over files (through biomedai.io) and over arrays; WSI tiling over a real reader."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from biomedai.data.datasets import ImageDataset, PatchDataset, image_to_channels_first
from biomedai.data.phantoms import lesion_volume_phantom, nuclei_phantom
from biomedai.data.tiling import iter_wsi_tiles
from biomedai.errors import InvalidInputError
from biomedai.io import read_image, write_image


@pytest.fixture
def nuclei_files(tmp_path):
    items = []
    for seed in range(3):
        image, labels = nuclei_phantom((64, 80), n_nuclei=4, radius_range=(4, 6), seed=seed)
        img_path = write_image(image, tmp_path / f"img{seed}.png")
        mask_path = write_image(labels.with_array(labels.array.astype(np.uint8)), tmp_path / f"mask{seed}.png")
        items.append((img_path, mask_path, image.array, labels.array))
    return items


def test_image_dataset_reads_pairs_through_io(nuclei_files) -> None:
    ds = ImageDataset([(str(i), m) for i, m, _, _ in nuclei_files])
    assert len(ds) == 3
    sample = ds[1]
    _, _, rgb, lab = nuclei_files[1]
    assert sample["image"].dtype == torch.float32 and tuple(sample["image"].shape) == (3, 64, 80)
    assert torch.equal(sample["image"], torch.from_numpy(np.moveaxis(rgb, -1, 0).astype(np.float32)))
    assert sample["target"].dtype == torch.int64
    assert torch.equal(sample["target"], torch.from_numpy(lab.astype(np.int64)))
    assert sample["image_path"].endswith("img1.png") and sample["target_path"].endswith("mask1.png")
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert tuple(batch["image"].shape) == (3, 3, 64, 80) and tuple(batch["target"].shape) == (3, 64, 80)


def test_image_dataset_labels_transform_and_numpy(nuclei_files) -> None:
    seen = []

    def transform(sample):
        seen.append(type(sample["image"]))
        sample["image"] = sample["image"] / 255.0
        return sample

    ds = ImageDataset([(i, k) for k, (i, _, _, _) in enumerate(nuclei_files)], transform=transform)
    s = ds[2]
    assert seen == [np.ndarray]  # transforms see numpy; tensors come afterwards
    assert float(s["image"].max()) <= 1.0 and s["target"].item() == 2
    raw = ImageDataset([i for i, _, _, _ in nuclei_files], as_tensor=False)[0]
    assert isinstance(raw["image"], np.ndarray) and raw["target"] is None


def test_image_dataset_errors_name_the_file(nuclei_files, tmp_path) -> None:
    small = write_image(np.zeros((10, 10), np.uint8), tmp_path / "small.png")
    with pytest.raises(InvalidInputError, match="small.png"):
        ImageDataset([(nuclei_files[0][0], small)])[0]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(InvalidInputError, match="broken.png"):
        ImageDataset([broken])[0]


def test_image_to_channels_first() -> None:
    image, _ = nuclei_phantom((32, 40), n_nuclei=1, radius_range=(3, 4))
    assert image_to_channels_first(image).shape == (3, 32, 40)
    assert image_to_channels_first(np.zeros((5, 6))).shape == (1, 5, 6)
    assert image_to_channels_first(np.zeros((2, 5, 6)), channel_axis=0).shape == (2, 5, 6)


def test_patch_dataset_is_reproducible_per_epoch() -> None:
    images = [nuclei_phantom((96, 96), n_nuclei=5, seed=s) for s in range(2)]
    ds = PatchDataset([i for i, _ in images], 32, targets=[lab for _, lab in images], patches_per_image=5, seed=1)
    assert len(ds) == 10
    a = [ds[i]["origin"] for i in range(10)]
    assert a == [ds[i]["origin"] for i in range(10)]
    ds.set_epoch(1)
    assert a != [ds[i]["origin"] for i in range(10)]
    s = ds[7]
    assert s["image_index"] == 1
    y, x = s["origin"]
    assert torch.equal(s["image"], torch.from_numpy(
        np.moveaxis(images[1][0].array[y:y + 32, x:x + 32], -1, 0).astype(np.float32)))
    assert torch.equal(s["target"], torch.from_numpy(images[1][1].array[y:y + 32, x:x + 32].astype(np.int64)))


def test_patch_dataset_foreground_sampling_3d_and_padding() -> None:
    ph = lesion_volume_phantom((32, 48, 48), n_lesions=1, radius_range=(3, 4), seed=0)
    ds = PatchDataset([ph.volume], (8, 12, 12), targets=[ph.labels], patches_per_image=20, foreground_fraction=1.0)
    assert all(ds[i]["target"].sum() > 0 for i in range(len(ds)))  # every patch holds lesion
    bg = PatchDataset([ph.volume], (8, 12, 12), targets=[ph.labels], patches_per_image=20)
    assert sum(int(bg[i]["target"].sum() > 0) for i in range(len(bg))) < 20
    small = PatchDataset([np.ones((5, 6), np.float32)], (8, 8), patches_per_image=2)
    patch = small[0]["image"]
    assert tuple(patch.shape) == (1, 8, 8) and patch.sum() == 30  # zero padded
    with pytest.raises(InvalidInputError):
        PatchDataset([np.zeros((10, 10))], (4, 4, 4))
    with pytest.raises(InvalidInputError, match="does not match"):
        PatchDataset([np.zeros((10, 10))], 4, targets=[np.zeros((9, 10))])


def test_iter_wsi_tiles_over_a_real_pyramidal_tiff(tmp_path) -> None:
    wsi = pytest.importorskip("biomedai.io.wsi")
    rgb, _ = nuclei_phantom((300, 420), n_nuclei=10, seed=0)
    path = wsi.write_pyramidal_tiff(rgb.array, tmp_path / "slide.tif", mpp=0.5, tile=128, levels=2)
    with wsi.open_wsi(path) as reader:
        assert reader.level_count == 2
        for level in (0, 1):
            width, height = reader.level_dimensions[level]
            full = reader.read_region((0, 0), level, (width, height))
            rebuilt = np.zeros_like(full)
            for t, region in iter_wsi_tiles(reader, level=level, tile=96, overlap=16):
                rebuilt[t.slices] = region
            assert np.array_equal(rebuilt, full)
    assert np.array_equal(read_image(path).array, rgb.array)
