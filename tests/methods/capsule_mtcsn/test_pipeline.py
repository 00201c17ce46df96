"""train -> evaluate -> predict through the registered method on a tiny SIMULATED frame folder; data-folder errors;
the triage-scoring helpers on a hand-made case."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.io import read_image, write_image
from biomedai.io.image import Image
from biomedai.methods.capsule_mtcsn.data import load_frame_folder, simulate_clips, split_frames, write_frame_folder
from biomedai.methods.capsule_mtcsn.keyframes import KeyframeRule
from biomedai.methods.capsule_mtcsn.simulator import VideoTruth
from biomedai.methods.capsule_mtcsn.triage_eval import segment_recall, sweep_rule

TINY = {"input_size": 32, "light_widths": [4, 4, 8, 8], "cls_channels": 8, "seg_channels": 8, "iterations": 6,
        "batch_size": 4, "device": "cpu"}


def test_train_evaluate_predict_on_a_simulated_folder(tmp_path) -> None:
    pytest.importorskip("torch")
    from biomedai.methods.capsule_mtcsn import MtcsnMethod

    data = write_frame_folder(tmp_path / "data", simulate_clips(10, 3, 48, seed=0))
    method = MtcsnMethod(TINY)
    trained = method.train(data, tmp_path / "train")
    model = tmp_path / "train" / "model"
    info = json.loads((model / "model.json").read_text())
    assert info["simulated"] is True and info["architecture"]["input_size"] == 32
    assert "(SIMULATED)" in trained.metrics["data"] and trained.metrics["steps"] >= 6
    evaluated = method.evaluate(data, tmp_path / "eval", weights=model)
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "miou", "macc"):
        assert 0.0 <= evaluated.metrics[key] <= 1.0
    assert np.asarray(evaluated.metrics["confusion_matrix"]).sum() == 30
    frame = data / "images" / "clip0000_00.png"
    method.predict([frame], tmp_path / "pred", weights=model)
    assert (tmp_path / "pred" / "overlays" / "clip0000_00_overlay.png").is_file()


def test_split_keeps_clips_whole_and_bad_masks_are_named(tmp_path) -> None:
    frames = simulate_clips(12, 3, 40, seed=1)
    parts = split_frames(frames, 0.2, 0.2, seed=0)
    groups = [set(p.groups) for p in parts.values()]
    assert sum(len(g) for g in groups) == 12 and not (groups[0] & groups[1] or groups[0] & groups[2])
    data = write_frame_folder(tmp_path / "data", frames.subset([0, 1]))
    loaded = load_frame_folder(data, 40)
    assert np.array_equal(loaded.masks, frames.masks[:2]) and loaded.simulated
    mask_path = data / "masks" / "clip0000_00.png"
    rgb = np.array(read_image(mask_path).array)
    rgb[5, 5] = (12, 34, 56)
    write_image(Image(rgb, channel_axis=-1), mask_path)
    with pytest.raises(InvalidInputError, match=r"clip0000_00.png.*outside the 8-class palette"):
        load_frame_folder(data, 40)
    (data / "labels.csv").write_text("image,cd_class,group\nclip0000_01.png,sharp,a\n")
    with pytest.raises(InvalidInputError, match="cd_class 'sharp'"):
        load_frame_folder(data, 40)


def test_segment_recall_and_rule_sweep() -> None:
    segments = [(10, 14), (30, 31), (50, 60)]
    assert segment_recall([0, 12, 61], segments) == {"segments": 3, "segments_found": 1, "segment_recall": 1 / 3}
    rows = [{"frame_idx": i, "time": i / 4, "cd_class": "clear", "p_clear": 0.5, "%tissue": 90.0,
             "%lesion": 3.0 if 10 <= i <= 14 else (1.0 if 30 <= i <= 31 else 0.0)} for i in range(70)]
    sweep = sweep_rule(rows, segments, KeyframeRule(), [0.005, 0.02, 0.05])
    assert [s["segments_found"] for s in sweep] == [2, 1, 0]
    assert [round(s["frames_kept"] * 70) for s in sweep] == [7, 5, 0]


def test_simulate_video_tool_and_score_triage(tmp_path, capsys) -> None:
    pytest.importorskip("torch")
    from biomedai.methods.capsule_mtcsn import MtcsnMethod

    method = MtcsnMethod()
    parser = method.tool_parser("biomedai tool capsule_mtcsn")
    video = tmp_path / "exam.mp4"
    assert method.run_tool(parser.parse_args(["simulate-video", "-o", str(video), "--frames", "60", "--size", "48",
                                              "--lesion-rate", "1.0", "--seed", "3"])) == 0
    truth_csv = tmp_path / "exam_truth.csv"
    lines = truth_csv.read_text().splitlines()
    assert lines[0] == "frame_idx,time,cd_class,lesion_fraction,scene" and len(lines) == 61
    # a triage CSV that marks exactly the first frame of every true lesion segment finds them all
    segments = VideoTruth.read_csv(truth_csv).lesion_segments()
    assert segments
    starts = {s for s, _ in segments}
    rows = ["frame_idx,time,cd_class,p_clear,p_blur,p_invisible,%tissue,%lesion,%bubble,%excreta,marked,mark_reason"]
    rows += [f"{i},{i / 4:.3f},clear,0.9,0.05,0.05,80,0,0,0,{int(i in starts)},{'lesion' if i in starts else ''}"
             for i in range(60)]
    (tmp_path / "frames.csv").write_text("\n".join(rows) + "\n")
    capsys.readouterr()
    method.run_tool(parser.parse_args(["score-triage", str(tmp_path / "frames.csv"), str(truth_csv)]))
    result = json.loads(capsys.readouterr().out)
    assert result["as_run"]["segment_recall"] == 1.0
    assert result["as_run"]["frames_kept"] == pytest.approx(len(starts) / 60)
