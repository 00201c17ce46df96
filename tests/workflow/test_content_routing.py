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


def _seeded(store, router, data_dir=None):
    """``{seed name: (study id, queued methods, route notes)}`` after seeding as ``make serve`` does."""
    from biomedai.workflow.intake import seed_items, seed_samples

    seed_samples(store, router=router, data_dir=data_dir)
    out = {}
    for name, items in seed_items(data_dir=data_dir):
        report = ingest(store, items, router=router)  # the same files again: the same study, no new jobs
        assert report.new_studies == [] and report.jobs == [], (name, report)
        jobs, notes = _routed(store, report.studies[0])
        out[name] = (report.studies[0], jobs, notes)
    return out


def test_every_bundled_seed_goes_to_the_method_that_reads_it(store, bundled_router):
    """What `make serve` seeds from the bundled samples: only studies a method really processes (the IHC field to
    Ki-67 only, the fundus to the vessel method only); none is seeded just to sit there with no method."""
    from biomedai.workflow.intake import DEFAULT_SEED_SAMPLES

    seeded = _seeded(store, bundled_router)
    assert sorted(seeded) == sorted(DEFAULT_SEED_SAMPLES)
    assert {name: jobs for name, (_, jobs, _) in seeded.items()} == {"ihc": ["ki67"],
                                                                     "retina": ["vessels_biosegment"]}
    assert all(notes["virtual_ihc"][0] == "declined" for _, _, notes in seeded.values())  # IHC, fundus: not H&E


def test_every_real_seed_goes_to_the_method_that_reads_it(store, bundled_router, shared_data):
    """`make serve` with ../shared/data present (--seed-data): the chest CT prior and current to covid_ct, the MS
    FLAIR to nmosd_ms (dbt_maskrcnn, which also takes NIfTI, declines it: no breast view), the H&E
    tile to nuclei_hannet and virtual_ihc (both read H&E), the panoramic to dental_perio: one runnable method each
    but the H&E."""
    from biomedai.workflow.intake import SHARED_SEED_STUDIES

    seeded = _seeded(store, bundled_router, shared_data)
    also = {"he_tile": ["virtual_ihc"]}  # H&E -> synthetic Ki-67: virtual_ihc's check accepts it (it declines IHC)
    for seed in SHARED_SEED_STUDIES:
        _, jobs, notes = seeded[seed.name]
        assert jobs == sorted([seed.method, *also.get(seed.name, [])]), (seed.name, jobs, notes)
    status, reason = seeded["ms_flair"][2]["dbt_maskrcnn"]  # it takes NIfTI too, but a FLAIR is not a DBT view
    assert status == "declined" and "CC or MLO" in reason, (status, reason)
    assert seeded["chest_ct"][0] != seeded["chest_ct_prior"][0]  # two studies of one patient: a prior to compare


def test_a_missing_seed_data_folder_is_refused(store, tmp_path):
    from biomedai.errors import InvalidInputError
    from biomedai.workflow.intake import seed_samples

    with pytest.raises(InvalidInputError, match="no such data folder"):
        seed_samples(store, data_dir=tmp_path / "nowhere")


def _run_seeded_to_the_end(store, seeded):
    from biomedai.workflow.models import Result
    from biomedai.workflow.worker import Worker

    Worker(store, poll_s=0.1, lease_s=60).run(idle_exit_s=1)
    with store.session() as s:
        for name, (study_id, methods, _notes) in seeded.items():
            jobs = s.scalars(select(Job).where(Job.study_id == study_id)).all()
            assert sorted(j.method for j in jobs) == methods
            for job in jobs:
                assert job.status == "done", (name, job.method, job.status, job.error)
                result = s.scalars(select(Result).where(Result.job_id == job.id)).one()
                assert result.files, (name, job.method)


def test_the_seeded_ihc_study_ends_done_with_a_result(store, bundled_router):
    """The fast one of the end-to-end runs (Ki-67 on the IHC field, about 8 s); all seeds: the slow test below."""
    from biomedai.workflow.intake import seed_samples

    report = seed_samples(store, ["ihc"], router=bundled_router)
    _run_seeded_to_the_end(store, {"ihc": (report.studies[0], ["ki67"], {})})


@pytest.mark.slow
def test_every_seeded_study_ends_done_with_a_result(store, bundled_router):
    """Every study `make serve` seeds runs to "done" with stored result files, none "failed" and none without a
    method: the bundled seeds always, the real ones when ../shared/data is present (84 s on one thread under load 5)."""
    from tests.conftest import SHARED_DATA

    seeded = _seeded(store, bundled_router, SHARED_DATA if SHARED_DATA.is_dir() else None)
    assert all(methods for _, methods, _ in seeded.values()), seeded
    _run_seeded_to_the_end(store, seeded)


def test_dbt_takes_only_volumes_that_say_their_breast_view(tmp_path):
    """dbt_maskrcnn reads NIfTI like nmosd_ms: its check wants the view and laterality (header or file name)."""
    view = tmp_path / "case1_LCC.nii.gz"
    other = tmp_path / "patient07.nii.gz"
    for path in (view, other):
        path.write_bytes(b"\0")  # the check reads names and headers only
    assert check("dbt_maskrcnn", view) is None
    assert "CC or MLO" in check("dbt_maskrcnn", other)
