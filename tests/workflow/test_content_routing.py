"""Routing by content: each method's check_input on bundled samples and real data, and the router that never
runs a declining method nor sends a picture to every method that takes its pixel type."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from biomedai.data.samples import sample_path
from biomedai.methods.registry import get_method
from biomedai.workflow.intake import classify, ingest
from biomedai.workflow.models import Job, RouteNote
from tests.conftest import shared_subdir

from .conftest import make_dicom


def check(method: str, path: Path) -> str | None:
    return get_method(method)().check_input(Path(path))


def grey_as_rgb(source: Path, target: Path) -> Path:
    """A grey image saved as a 3-channel JPEG (how radiographs often arrive)."""
    from PIL import Image

    Image.open(source).convert("L").convert("RGB").save(target, quality=92)
    return target


def test_stain_checks_on_the_bundled_ihc_and_a_grey_film(tmp_path):
    ihc = sample_path("ihc")
    assert check("ki67", ihc) is None
    assert "IHC" in check("nuclei_hannet", ihc)
    coins = grey_as_rgb(sample_path("coins"), tmp_path / "coins.jpg")
    assert "grey" in check("ki67", coins) and "grey" in check("nuclei_hannet", coins).lower()
    assert classify(coins).kind == "image/grey" and classify(ihc).kind == "image/rgb"


def test_film_checks_decline_the_coins_photo_and_dicom_of_another_body_part(tmp_path):
    coins = sample_path("coins")
    assert "symmetry" in check("dental_perio", coins) and "symmetry" in check("hip_dysplasia", coins)
    chest = make_dicom(tmp_path / "chest.dcm", "1.2.3", "1.2.3.1", modality="DX", body_part="CHEST")
    assert "chest" in check("dental_perio", chest) and "chest" in check("hip_dysplasia", chest)
    pelvis = make_dicom(tmp_path / "pelvis.dcm", "1.2.4", "1.2.4.1", modality="DX", body_part="PELVIS")
    assert check("hip_dysplasia", pelvis) is None
    pano = make_dicom(tmp_path / "pano.dcm", "1.2.5", "1.2.5.1", modality="PX", body_part="")
    assert check("dental_perio", pano) is None


def test_checks_on_real_data(shared_data, tmp_path):
    """Panoramic X-rays (UFBA-425 subset) pass the dental check, H&E tiles (GBM40) the nuclei check; each is
    declined by the stain method it does not fit."""
    teeth = sorted(shared_subdir(shared_data, "teeth", "ufba_subset", "images").glob("*.jpg"))
    he = sorted(shared_subdir(shared_data, "nuclei", "gbm40", "images").glob("*.png"))
    accepted = [check("dental_perio", p) is None for p in teeth[::10]]
    assert np.mean(accepted) >= 0.95, accepted  # 360 of 365 over the whole set (README)
    assert all(classify(p).kind == "image/grey" for p in teeth[:5])  # 3-channel JPEGs of grey films
    assert all(check("nuclei_hannet", p) is None for p in he[:5])
    assert all("H&E" in check("ki67", p) for p in he[:5])


@pytest.fixture
def bundled_router():
    """Routing with every registered method and no rules file (``auto``), as ``biomedai serve`` starts."""
    from biomedai.workflow.routing import Router

    return Router()


def _routed(store, study_id):
    with store.session() as s:
        jobs = sorted(j.method for j in s.scalars(select(Job).where(Job.study_id == study_id)))
        notes = {n.method: (n.status, n.reason) for n in s.scalars(select(RouteNote).where(
            RouteNote.study_id == study_id))}
    return jobs, notes


def test_auto_routes_by_content(store, tmp_path, bundled_router):
    coins = ingest(store, [("coins.png", sample_path("coins"))], router=bundled_router)
    jobs, notes = _routed(store, coins.studies[0])
    assert jobs == []  # no method for a photo of coins
    assert notes["dental_perio"][0] == notes["hip_dysplasia"][0] == "declined"
    ihc = ingest(store, [("ihc.png", sample_path("ihc"))], router=bundled_router)
    jobs, notes = _routed(store, ihc.studies[0])
    assert jobs == ["ki67"], (jobs, notes)  # not nuclei (H&E), not every method that reads RGB
    assert notes["nuclei_hannet"][0] == "declined" and "IHC" in notes["nuclei_hannet"][1]


def test_a_method_without_a_model_is_not_configured_not_failed(store, tmp_path, bundled_router):
    pano = make_dicom(tmp_path / "pano.dcm", "1.2.6", "1.2.6.1", modality="PX", body_part="")
    report = ingest(store, [("pano.dcm", pano)], router=bundled_router)
    jobs, notes = _routed(store, report.studies[0])
    if get_method("dental_perio").default_model:
        assert jobs == ["dental_perio"]
    else:
        assert jobs == [] and notes["dental_perio"][0] == "not configured"
        assert "biomedai train dental_perio" in notes["dental_perio"][1]


def test_a_check_that_raises_declines(store, tmp_path, monkeypatch):
    from biomedai.workflow.routing import Router

    def broken(self, path):
        raise RuntimeError("boom")

    monkeypatch.setattr(get_method("ki67"), "check_input", broken)
    report = ingest(store, [("ihc.png", sample_path("ihc"))],
                    router=Router.from_data({"rules": [{"match": {}, "methods": ["ki67"]}]}))
    jobs, notes = _routed(store, report.studies[0])
    assert jobs == [] and "boom" in notes["ki67"][1]


def test_ct_fundus_and_flair_checks(tmp_path):
    assert "not a chest CT" in check("covid_ct", sample_path("ct_small"))
    assert "not a chest CT" in check("covid_ct", sample_path("ct_series"))
    assert check("vessels_biosegment", sample_path("retina")) is None
    assert "fundus" in check("vessels_biosegment", sample_path("ihc"))
    assert "fluorescence" in check("vessels_biosegment", sample_path("coins"))
    assert "NIfTI" in check("nmosd_ms", sample_path("mr_small"))
    assert "fundus" in check("nuclei_hannet", sample_path("retina")) and "fundus" in check("ki67", sample_path("retina"))


def test_chest_ct_and_fundus_real_data_pass(shared_data):
    cip = shared_subdir(shared_data, "chest_ct", "cip_chest") / "ct-64.nrrd"
    slices = sorted(shared_subdir(shared_data, "chest_ct", "covid19_ny_sbu_axial_slices").glob("*.dcm"))[:5]
    assert check("covid_ct", cip) is None and all(check("covid_ct", p) is None for p in slices)
    drive = sorted(shared_subdir(shared_data, "vessels", "drive", "test", "images").glob("*"))[:5]
    assert all(check("vessels_biosegment", p) is None for p in drive)


def test_seeded_samples_each_get_a_method_or_a_reason(store, bundled_router):
    """What `make serve` seeds: the IHC field goes to Ki-67 only, the fundus to the vessel method only, and every
    other study says, per method that takes its kind, why that method does not run."""
    from biomedai.workflow.intake import DEFAULT_SEED_SAMPLES, seed_samples
    from biomedai.workflow.models import Study

    seed_samples(store, router=bundled_router)
    with store.session() as s:
        studies = {st.id: st for st in s.scalars(select(Study))}
    by_sample = {}
    for study_id in studies:
        jobs, notes = _routed(store, study_id)
        by_sample[study_id] = (jobs, notes)
    routed = sorted(tuple(jobs) for jobs, _ in by_sample.values())
    assert len(by_sample) == len(DEFAULT_SEED_SAMPLES)
    assert routed == [(), (), (), (), ("ki67",), ("vessels_biosegment",)], by_sample
    for jobs, notes in by_sample.values():
        assert jobs or notes  # a study without a method says why
