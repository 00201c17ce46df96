"""The learned WMH network (patch sampling, tiled inference, training with the shared engine, the model folder
through predict/evaluate) and the DICOM SEG of the lesion mask for a DICOM FLAIR series."""
from __future__ import annotations

import csv

import nibabel as nib
import numpy as np
import pytest
import torch

from biomedai.errors import ConfigError
from biomedai.methods.nmosd_ms import NmosdMsMethod
from biomedai.methods.nmosd_ms.phantom import flair_phantom
from biomedai.methods.nmosd_ms.wmh import lesion_wise_scores
from biomedai.methods.nmosd_ms.wmh_net import (DEFAULT_ARCH, PatchSampler, THRESHOLDS, WmhRecipe, prepare_subject,
                                               segment_wmh_network, train_wmh_net)
from biomedai.train import warmup_cosine
from biomedai.train.model_folder import ModelInfo, save_model_folder


class Threshold(torch.nn.Module):
    """A 'network' with a known answer: logit = 10 (z - 2), i.e. lesion where the z-scored FLAIR exceeds 2."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 10 * (x - 2) + 0 * self.dummy


def test_patch_sampler_shapes_and_lesion_centring():
    flair, brain, lesion = flair_phantom()
    s = prepare_subject(flair, brain, lesion, factor=2)
    assert s.flair.shape == (32, 36, 30) and s.lesion.any()
    ds = PatchSampler([s], patch=16, n=20, seed=0)
    pairs = [ds[i] for i in range(20)]
    assert all(x.shape == (1, 16, 16, 16) and y.shape == (1, 16, 16, 16) for x, y in pairs)
    assert sum(float(y.sum()) > 0 for _, y in pairs) >= 8  # about half are centred on a lesion
    fixed = PatchSampler([s], patch=16, n=4, seed=1, augment=False)
    assert torch.equal(fixed[0][0], fixed[0][0]) and torch.equal(fixed[2][1], fixed[2][1])


def test_patch_sampler_lesion_fraction_and_warmup_cosine():
    flair, brain, lesion = flair_phantom()
    s = prepare_subject(flair, brain, lesion, factor=2)
    ds = PatchSampler([s], patch=16, n=40, seed=0, lesion_fraction=1.0)
    assert all(float(ds[i][1].sum()) > 0 for i in range(40))  # every crop centred on a lesion voxel
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched, lrs = warmup_cosine(opt, warmup_steps=10, total_steps=100), []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[10] == pytest.approx(1.0) and lrs[99] < 0.01
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:11])) and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_tiled_inference_maps_back_to_the_flair_grid():
    flair, brain, lesion = flair_phantom()
    pred = segment_wmh_network(Threshold(), flair, brain, factor=2, patch=16)
    assert pred.shape == flair.shape and not pred[~brain].any()
    assert lesion_wise_scores(lesion, pred)["dice"] > 0.6  # a flipped or shifted mapping would fail this


def test_training_learns_the_phantom_lesions(tmp_path):
    torch.set_num_threads(1)
    flair, brain, lesion = flair_phantom()
    train = [prepare_subject(*flair_phantom(seed=k), factor=2) for k in (1, 2)]
    arch = dict(DEFAULT_ARCH, channels=[4, 8, 16], strides=[2, 2], patch=16)
    recipe = WmhRecipe(steps=320, steps_per_epoch=16, batch=2, lr=1e-2, warmup_steps=10)
    fit = train_wmh_net(train, train, tmp_path / "run", recipe=recipe, max_cpu_minutes=0.75, arch=arch, val_patches=8)
    assert fit["threshold"] in THRESHOLDS and set(fit["val_dice_at_threshold"]) == set(THRESHOLDS)
    pred = segment_wmh_network(fit["model"], flair, brain, factor=2, patch=16, threshold=fit["threshold"])
    assert fit["history"] and lesion_wise_scores(lesion, pred)["dice"] > 0.3  # untrained: ~0
    folder = save_model_folder(tmp_path / "model", fit["model"], ModelInfo(
        method="nmosd_ms", name="wmh_test", architecture={"wmh_net": arch}, class_names=["background", "lesion"],
        simulated=True))
    nib.save(nib.Nifti1Image(flair, np.eye(4)), str(tmp_path / "f.nii.gz"))
    NmosdMsMethod({"segmenter": "network", "wmh_model": str(folder)}).predict([tmp_path / "f.nii.gz"], tmp_path / "o")
    row = next(csv.DictReader(open(tmp_path / "o" / "lesions.csv")))
    assert row["mask_source"] == "network"


def test_network_segmenter_without_a_model_folder_uses_the_bundled_one_or_says_none(monkeypatch, tmp_path):
    import biomedai.methods.nmosd_ms.pipeline as pipeline

    monkeypatch.setattr(pipeline, "default_model_folder", lambda method, name: None)
    flair, _, _ = flair_phantom()
    nib.save(nib.Nifti1Image(flair, np.eye(4)), str(tmp_path / "f.nii.gz"))
    with pytest.raises(ConfigError, match="wmh_model"):
        NmosdMsMethod({"segmenter": "network"}).predict([tmp_path / "f.nii.gz"], tmp_path / "o")


def write_flair_series(folder, zyx: np.ndarray, description: str = "AX T2 FLAIR") -> None:
    """One MR Image Storage file per slice (axial, 1 mm, slices along +z), values x 1000 as uint16."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    stored = np.clip(zyx * 1000, 0, 65535).astype(np.uint16)
    for k in range(zyx.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MRImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"im{k:03d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.PatientName = "MR", "PHANTOM", "Phantom^Flair"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyDate, ds.StudyTime, ds.SeriesNumber, ds.InstanceNumber = "20260101", "120000", 3, k + 1
        ds.SeriesDescription, ds.ImageType = description, ["ORIGINAL", "PRIMARY", "M"]
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0.0, 0.0, float(k)], [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [1.0, 1.0], 1.0
        ds.Rows, ds.Columns = zyx.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = stored[k].tobytes()
        ds.save_as(path, enforce_file_format=True)


def test_dicom_series_gets_a_dicom_seg_in_slice_order(tmp_path):
    import highdicom as hd
    import pydicom

    flair, _, lesion = flair_phantom(shape=(40, 48, 36), n_lesions=4, seed=3)  # read here as [z, y, x]
    write_flair_series(tmp_path / "series", flair)
    result = NmosdMsMethod().predict([tmp_path / "series"], tmp_path / "out")
    seg_path = tmp_path / "out" / "series_wmh_seg.dcm"
    assert seg_path in result.files
    seg = hd.seg.segread(seg_path)
    assert seg.SegmentSequence[0].SegmentLabel == "white matter hyperintensity"
    sources = sorted((pydicom.dcmread(p, stop_before_pixels=True) for p in (tmp_path / "series").glob("*.dcm")),
                     key=lambda d: float(d.ImagePositionPatient[2]))
    frames = seg.get_pixels_by_source_instance([d.SOPInstanceUID for d in sources], segment_numbers=[1],
                                               ignore_spatial_locations=True)[..., 0] > 0
    assert frames.shape == lesion.shape
    assert lesion_wise_scores(lesion, frames)["dice"] > 0.6  # a wrong axis order or flip would fail
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID


def test_non_flair_series_is_refused(tmp_path):
    from biomedai.errors import InvalidInputError

    flair, _, _ = flair_phantom(shape=(40, 48, 36), n_lesions=4, seed=3)
    write_flair_series(tmp_path / "t1", flair, description="AX T1 MPRAGE")
    with pytest.raises(InvalidInputError, match="FLAIR"):
        NmosdMsMethod().predict([tmp_path / "t1"], tmp_path / "out")
