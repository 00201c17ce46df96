"""ROC and learning-curve figures of the classifier benchmark (report.py) from recorded results."""
from __future__ import annotations

import numpy as np
from PIL import Image

from biomedai.methods.nmosd_ms.report import plot_learning_curves, plot_roc


def test_roc_and_learning_curve_pngs(tmp_path):
    rng = np.random.default_rng(0)
    true = [0] * 20 + [1] * 20
    oof = {"twoview-r18": {"true": true, "prob": list(np.r_[rng.uniform(0, .6, 20), rng.uniform(.4, 1, 20)])},
           "3d-r18": {"true": true, "prob": list(rng.uniform(0, 1, 40))}}
    hist = {a: [[{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e} for e in range(1, 6)]] * 3 for a in oof}
    for path in (plot_roc(oof, tmp_path / "roc.png", "SIMULATED"),
                 plot_learning_curves(hist, tmp_path / "lc.png", "SIMULATED")):
        img = np.asarray(Image.open(path).convert("L"))
        assert img.shape[0] > 200 and img.std() > 10  # drawn, not blank


def test_predict_writes_the_html_report_and_report_rebuilds_it(tmp_path):
    import nibabel as nib

    from biomedai.methods.nmosd_ms import NmosdMsMethod
    from biomedai.methods.nmosd_ms.phantom import flair_phantom

    flair, _, lesion = flair_phantom()
    nib.save(nib.Nifti1Image(flair, np.eye(4)), str(tmp_path / "sub1.nii.gz"))
    out = tmp_path / "out"
    NmosdMsMethod().predict([tmp_path / "sub1.nii.gz"], out)
    page = (out / "report.html").read_text()
    for text in ("sub1", "lesion volume (ml)", "normalised lesion load", "Lesion location: not computed",
                 "Classifier: not run", "sub1_overlay_slices.png"):
        assert text in page, text
    strip = np.asarray(Image.open(out / "sub1_overlay_slices.png").convert("RGB"))
    assert strip.shape[1] > 3 * flair.shape[1]  # several slices side by side
    (out / "report.html").unlink()
    assert NmosdMsMethod().report(out) == out / "report.html" and "sub1" in (out / "report.html").read_text()


def test_location_summary_on_an_mni_grid_and_in_the_report(tmp_path):
    from biomedai.methods.nmosd_ms.location import is_mni_grid, location_summary_mni
    from biomedai.methods.nmosd_ms.outputs import overlay_slices
    from biomedai.methods.nmosd_ms.report import write_html_report

    fsl_1mm = np.diag([1.0, 1.0, 1.0, 1.0]); fsl_1mm[:3, 3] = (-91, -126, -72)
    assert is_mni_grid((182, 218, 182), fsl_1mm) and not is_mni_grid((182, 218, 181), fsl_1mm)
    assert not is_mni_grid((182, 218, 182), np.eye(4))
    lesion = np.zeros((182, 218, 182), bool)
    # a lesion 2 mm above the left lateral ventricle's body (MNI about (-16, -10, 24)) and one in the pons
    def vox(x, y, z):
        return tuple(int(v) for v in np.linalg.inv(fsl_1mm)[:3] @ np.array([x, y, z, 1.0]))
    for centre in (vox(-16, -10, 24), vox(0, -28, -32)):
        lesion[tuple(slice(c - 3, c + 3) for c in centre)] = True
    counts = location_summary_mni(lesion, fsl_1mm)
    assert counts["infratentorial"] == 1 and sum(counts.values()) == 2
    picks = overlay_slices(lesion, 4)  # lesion z: 37..42 (pons) and 93..98 (periventricular), equal sizes
    assert len(picks) == 4 and all(37 <= k <= 42 for k in picks[:2]) and all(93 <= k <= 98 for k in picks[2:])
    rows = [{"case": "s", "wmh_ml": 0.43, "lesion_count": 2, "p_nmosd": 0.8, "prediction": "NMOSD",
             **{f"loc_{k}": v for k, v in counts.items()}}]
    page = write_html_report(tmp_path, rows, {"simulated": "trained on SIMULATED subjects"}).read_text()
    assert "infratentorial" in page and "P(NMOSD) = 0.800" in page and "SIMULATED" in page
