"""Intake: turn received files into stored studies and queued jobs.

:func:`ingest` takes files already on local disk (an upload's temporary files, a watched
folder's files, later a DICOM receiver's) with the names the sender gave them:

1. zip archives are expanded (member names checked like upload names; count and size capped);
2. each file is classified (:func:`classify`): its format, its *kind* (what methods declare in
   ``input_kinds``: ``image/grey``, ``image/rgb``, ``dicom/<Modality>``, ``volume/mrc``,
   ``volume/nifti``, ``wsi``, ``annotation/<format>``) and, for DICOM, the header fields routing
   needs;
3. files are grouped into studies: DICOM by StudyInstanceUID, everything else of one call into
   one study whose uid is ``sha256:`` of its files' hashes. A study that exists already is reused
   and a file already in it (same SHA-256) is not stored again, so sending the same thing twice
   changes nothing;
4. new files are copied into ``storage/studies/<study id>/<series>/`` and grouped into units
   (one per non-DICOM file, one per DICOM series; a multi-file series is given to a method as
   its folder), and each unit is routed and its jobs queued. Previews are left pending for a
   worker (:mod:`.previews`): nothing is decoded here, in the request that uploads.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import BiomedaiError, InvalidInputError, UnsupportedFormatError
from .models import StoredFile, Study
from .previews import initial_preview
from .routing import Router, Unit
from .storage import safe_file_name, safe_relative_path, sha256_bytes_of
from .store import Store

log = logging.getLogger(__name__)

MAX_ZIP_MEMBERS = 5000
MAX_ZIP_TOTAL_BYTES = 8 * 1024 ** 3
_RASTER = {"png", "jpeg", "tiff", "gif", "bmp"}
#: A plain TIFF with more pixels than this is routed as a whole slide.
WSI_PIXELS = 100_000_000


@dataclasses.dataclass
class FileInfo:
    format: str
    kind: str
    study_uid: str = ""
    series_uid: str = ""
    series_description: str = ""
    modality: str = ""
    body_part: str = ""
    patient_id: str = ""
    study_description: str = ""


@dataclasses.dataclass
class IngestReport:
    """What one :func:`ingest` call did."""

    studies: list[int] = dataclasses.field(default_factory=list)
    new_studies: list[int] = dataclasses.field(default_factory=list)
    new_files: list[int] = dataclasses.field(default_factory=list)
    duplicate_files: list[str] = dataclasses.field(default_factory=list)
    jobs: list[int] = dataclasses.field(default_factory=list)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _dicom_info(path: Path) -> FileInfo:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as exc:
        raise InvalidInputError(f"unreadable DICOM header ({exc})", path) from exc

    def text(keyword: str) -> str:
        return str(getattr(ds, keyword, "") or "").strip()

    modality = text("Modality").upper() or "OT"
    study_uid = text("StudyInstanceUID")
    if not study_uid:
        raise InvalidInputError("DICOM file has no StudyInstanceUID", path)
    return FileInfo(format="dicom", kind=f"dicom/{modality}", study_uid=study_uid,
                    series_uid=text("SeriesInstanceUID") or study_uid, series_description=text("SeriesDescription"),
                    modality=modality, body_part=text("BodyPartExamined").upper(), patient_id=text("PatientID"),
                    study_description=text("StudyDescription"))


#: RGB files up to this size are looked at (a thumbnail) to call grey content "image/grey": a radiograph
#: saved as a 3-channel JPEG goes to the methods that read grey films, not to the stain methods
GREY_LOOK_PIXELS = 50_000_000


def _holds_only_grey(path: Path) -> bool:
    from ..data.content import holds_only_grey, look_at

    try:
        return holds_only_grey(look_at(path))
    except Exception:  # noqa: BLE001 - unreadable here: the header's word stands, the method reports the error
        return False


def classify(path: str | Path) -> FileInfo:
    """The format and routing kind of one file (DICOM header fields included).

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image as PILImage
        >>> red = np.zeros((4, 4, 3), np.uint8); red[..., 0] = 200
        >>> p = Path(tempfile.mkdtemp()) / "a.png"; PILImage.fromarray(red).save(p)
        >>> classify(p).kind
        'image/rgb'
        >>> PILImage.fromarray(np.full((4, 4, 3), 90, np.uint8)).save(p)  # grey content in three channels
        >>> classify(p).kind
        'image/grey'
    """
    from ..io.formats import detect_format

    path = Path(path)
    try:
        fmt = detect_format(path)
    except UnsupportedFormatError:
        if path.suffix.lower() == ".json":
            return FileInfo(format="json", kind="annotation/json")
        raise
    if fmt == "dicom":
        return _dicom_info(path)
    if fmt in _RASTER:
        from ..io.probe import probe_raster

        header = probe_raster(path)  # header only: a huge TIFF is not decoded to route it
        if fmt == "tiff" and (header.levels > 1 or header.pixels > WSI_PIXELS):
            return FileInfo(format="wsi", kind="wsi")
        grey = header.is_grey or (header.pixels <= GREY_LOOK_PIXELS and _holds_only_grey(path))
        return FileInfo(format=fmt, kind="image/grey" if grey else "image/rgb")
    if fmt == "wsi":
        return FileInfo(format=fmt, kind="wsi")
    if fmt in ("mrc", "nifti", "nrrd", "metaimage"):
        return FileInfo(format=fmt, kind=f"volume/{fmt}")
    if fmt in ("geojson", "labelme", "csv"):
        return FileInfo(format=fmt, kind=f"annotation/{fmt}")
    return FileInfo(format=fmt, kind=fmt)


def expand_zip(path: Path, into: Path, max_members: int = MAX_ZIP_MEMBERS,
               max_total_bytes: int = MAX_ZIP_TOTAL_BYTES) -> list[tuple[str, Path]]:
    """Extract a zip safely: every member name checked, member count and total size capped."""
    out: list[tuple[str, Path]] = []
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InvalidInputError(f"not a valid zip archive ({exc})", path) from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > max_members:
            raise InvalidInputError(f"zip holds {len(members)} files, more than the limit {max_members}", path)
        total = 0
        for member in members:
            rel = safe_relative_path(member.filename)  # refuses ../ and absolute names: zip-slip
            if rel.parts[0] == "__MACOSX" or rel.name.startswith("."):
                continue
            total += member.file_size
            if total > max_total_bytes:
                raise InvalidInputError(f"zip expands to more than {max_total_bytes} bytes", path)
            target = into / f"{len(out):05d}_{safe_file_name(rel.name)}"
            with archive.open(member) as src, open(target, "wb") as dst:
                written = 0
                for block in iter(lambda: src.read(1 << 20), b""):
                    written += len(block)
                    if written > member.file_size:  # a lying header: stop at the declared size
                        raise InvalidInputError(f"zip member {member.filename!r} is larger than declared", path)
                    dst.write(block)
            out.append((str(rel), target))
    return out


def _study_for(store: Store, uid: str, info: FileInfo, source: str) -> tuple[int, bool]:
    for _ in range(3):
        with store.session() as s:
            existing = s.scalar(select(Study.id).where(Study.uid == uid))
            if existing is not None:
                return existing, False
        try:
            with store.session() as s:
                study = Study(uid=uid, patient_id=info.patient_id, modality=info.modality, body_part=info.body_part,
                              description=info.study_description, source=source)
                s.add(study)
                s.flush()
                return study.id, True
        except IntegrityError:
            continue  # another process created it at the same moment: use theirs
    raise BiomedaiError(f"could not create study {uid}")


def _classified(items: Iterable[tuple[str, Path]], tmp: Path, report: IngestReport
                ) -> list[tuple[str, Path, FileInfo, str]]:
    out = []
    for name, path in items:
        safe_relative_path(name)
        if zipfile.is_zipfile(path) and name.lower().endswith(".zip"):
            sub = Path(tempfile.mkdtemp(dir=tmp))
            out.extend(_classified(expand_zip(path, sub), tmp, report))
            continue
        try:
            info = classify(path)
        except BiomedaiError as exc:
            report.skipped[name] = str(exc).replace(str(path), name)
            continue
        out.append((name, path, info, sha256_bytes_of(path)))
    return out


def ingest(store: Store, items: Sequence[tuple[str, Path]], router: Router | None = None, source: str = "upload",
           username: str = "", methods: Sequence[str] | None = None, max_attempts: int = 3,
           timeout_s: float = 3600.0, patient_id: str = "") -> IngestReport:
    """Store ``items`` (``(sender's name, local path)``) as studies and queue their jobs.

    ``methods`` (chosen by hand) replaces routing for the new units; the methods must exist and
    accept the unit's kind. Names with ``..``, absolute paths or control characters raise
    :class:`InvalidInputError` before anything is stored. ``patient_id`` is given to new non-DICOM
    studies (DICOM studies take the PatientID of their files).
    """
    for name, _ in items:
        safe_relative_path(name)
    router = router or Router()
    report = IngestReport()
    written: list[str] = []
    try:
        _ingest(store, items, router, report, written, source, username, methods, max_attempts, timeout_s,
                patient_id)
    except BaseException:
        _undo(store, report, written)  # an upload is all or nothing (a killed one: remove_incomplete)
        raise
    return report


def _undo(store: Store, report: IngestReport, written: Sequence[str]) -> None:
    """Remove what a failed :func:`ingest` call created: its new studies, files, rows and jobs."""
    from .models import Job

    try:
        with store.session() as s:
            for job_id in report.jobs:
                job = s.get(Job, job_id)
                if job is not None:
                    s.delete(job)
            for file_id in report.new_files:
                row = s.get(StoredFile, file_id)
                if row is not None:
                    s.delete(row)
        for study_id in report.new_studies:
            remove_study(store, study_id)
        with store.session() as s:
            kept = set(s.scalars(select(StoredFile.path).where(StoredFile.path.in_(list(written)))))
        for rel in written:
            if rel not in kept:
                store.storage.remove_tree(rel)
    except Exception as exc:  # noqa: BLE001 - the start-up check removes what is left
        log.error("could not undo a failed intake (%s); remove_incomplete will at start-up", exc)


def remove_incomplete(store: Store, min_age_s: float = 600.0) -> dict[str, int]:
    """Remove what killed uploads left behind: studies without files or jobs, and stored files (and
    temporary ``.incoming-*`` files) that no database row names. Run at start-up; ``min_age_s`` spares
    an upload another server process may be making right now."""
    import datetime as _dt
    import time

    from .models import Study, utcnow

    removed = {"studies": 0, "files": 0}
    cutoff = utcnow() - _dt.timedelta(seconds=min_age_s)
    with store.session() as s:
        empty = s.scalars(select(Study.id).where(Study.created_at <= cutoff, ~Study.files.any(),
                                                 ~Study.jobs.any())).all()
    for study_id in empty:
        removed["studies"] += int(remove_study(store, study_id))
    with store.session() as s:
        known = set(s.scalars(select(StoredFile.path))) | set(s.scalars(select(StoredFile.preview)))
    root = store.storage.resolve("studies") if (store.storage.root / "studies").exists() else None
    now = time.time()
    for path in sorted(root.rglob("*")) if root is not None else []:
        if not path.is_file() or now - path.stat().st_mtime < min_age_s:
            continue
        if store.storage.relative(path) not in known:
            path.unlink()
            removed["files"] += 1
    if any(removed.values()):
        log.warning("removed what interrupted uploads left: %d empty stud(ies), %d unlisted file(s)",
                    removed["studies"], removed["files"])
    return removed


def _ingest(store: Store, items: Sequence[tuple[str, Path]], router: Router, report: IngestReport,
            written: list[str], source: str, username: str, methods: Sequence[str] | None, max_attempts: int,
            timeout_s: float, patient_id: str) -> None:
    from .queue import JobQueue

    queue = JobQueue(store)
    with tempfile.TemporaryDirectory(prefix="biomedai-intake-") as tmp_name:
        classified = _classified(items, Path(tmp_name), report)
        plain = [c for c in classified if c[2].format != "dicom"]
        plain_uid = "sha256:" + hashlib.sha256("".join(sorted({c[3] for c in plain})).encode()).hexdigest()
        new_units: dict[tuple[int, str], list[tuple[StoredFile, FileInfo]]] = {}
        for name, path, info, digest in classified:
            uid = info.study_uid if info.format == "dicom" else plain_uid
            if info.format != "dicom" and patient_id:
                info.patient_id = patient_id[:128]
            study_id, created = _study_for(store, uid, info, source)
            if study_id not in report.studies:
                report.studies.append(study_id)
            if created and study_id not in report.new_studies:
                report.new_studies.append(study_id)
            series_key = ("series-" + hashlib.sha1(info.series_uid.encode()).hexdigest()[:12]
                          if info.format == "dicom" else "files")
            rel_dir = f"studies/{study_id}"
            if info.format == "dicom":  # a flat series folder, as DICOM series readers expect
                rel = f"{rel_dir}/{series_key}/{digest[:12]}_{safe_file_name(name)}"
            else:  # the sender's (cleaned) name, so that methods name their outputs after it
                rel = f"{rel_dir}/{series_key}/{digest[:12]}/{safe_file_name(name)}"
            with store.session() as s:
                if s.scalar(select(StoredFile.id).where(StoredFile.study_id == study_id,
                                                        StoredFile.sha256 == digest)) is not None:
                    report.duplicate_files.append(name)
                    continue
            written.append(rel)
            stored = store.storage.put_file(path, rel)
            preview = initial_preview(info.kind, stored.stat().st_size)  # made later by a worker (.previews)
            try:
                with store.session() as s:
                    row = StoredFile(study_id=study_id, path=rel, original_name=name[:256], sha256=digest,
                                     size=stored.stat().st_size, format=info.format, kind=info.kind,
                                     series_uid=info.series_uid, series_description=info.series_description,
                                     modality=info.modality, body_part=info.body_part, preview=preview)
                    s.add(row)
                    s.flush()
            except IntegrityError:
                report.duplicate_files.append(name)  # the same file arrived concurrently
                continue
            report.new_files.append(row.id)
            unit_key = info.series_uid if info.format == "dicom" else f"file-{row.id}"
            new_units.setdefault((study_id, unit_key), []).append((row, info))
        for (study_id, _key), members in new_units.items():
            report.jobs.extend(_queue_unit(store, queue, router, study_id, members, source, username, methods,
                                           max_attempts, timeout_s))


def unit_inputs(store: Store, study_id: int, rows: Sequence[StoredFile]) -> list[str]:
    """What a method gets for a unit: the one file, or the series folder for a multi-file series."""
    if len(rows) == 1 and not rows[0].series_uid:
        return [rows[0].path]
    folder = str(Path(rows[0].path).parent.as_posix())
    with store.session() as s:
        in_series = s.scalars(select(StoredFile).where(StoredFile.study_id == study_id,
                                                       StoredFile.series_uid == rows[0].series_uid)).all()
    return [folder] if len(in_series) > 1 else [rows[0].path]


def _queue_unit(store: Store, queue: Any, router: Router, study_id: int, members: list[tuple[StoredFile, FileInfo]],
                source: str, username: str, methods: Sequence[str] | None, max_attempts: int,
                timeout_s: float) -> list[int]:
    from sqlalchemy import select as _select

    from .models import Job
    from .routing import kind_accepted

    first = members[0][1]
    unit = Unit(kind=first.kind, format=first.format, modality=first.modality, body_part=first.body_part,
                series_description=first.series_description, source=source)
    if methods:
        from ..methods.registry import get_method

        names = [m for m in methods if kind_accepted(unit.kind, get_method(m).input_kinds)]
        priority, rule = 0, None
    else:
        names, priority, _rule = router.route(unit)
        rule = router.rule_for(unit)
    inputs = unit_inputs(store, study_id, [row for row, _ in members])
    names = screen_unit(store, study_id, names, inputs,
                        {n: rule.options_for(n) for n in names} if rule is not None else None)
    jobs = []
    for name in names:
        with store.session() as s:  # a series arriving file by file: one queued job per series and method
            queued = s.scalars(_select(Job).where(Job.study_id == study_id, Job.method == name,
                                                  Job.status == "queued")).all()
            if any(job.inputs == inputs for job in queued):
                continue
        jobs.append(queue.enqueue(study_id, name, inputs, priority=priority, max_attempts=max_attempts,
                                  timeout_s=timeout_s, created_by=username,
                                  options=rule.options_for(name) if rule is not None else None))
    return jobs


def screen_unit(store: Store, study_id: int, names: Sequence[str], inputs: Sequence[str],
                options: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """The methods of ``names`` that can run on a unit (:func:`biomedai.workflow.routing.screen`); the others
    are noted on the study (``route_notes``) with their reason, once per method and input."""
    from sqlalchemy import select as _select

    from .models import RouteNote
    from .routing import screen

    if not names or not inputs:
        return list(names)
    run, declined = screen(names, store.storage.resolve(inputs[0]), options)
    if declined:
        with store.session() as s:
            have = {(n.method, n.input) for n in s.scalars(_select(RouteNote).where(RouteNote.study_id == study_id))}
            for d in declined:
                log.info("study %s: %s %s: %s", study_id, d.method, d.status, d.reason)
                if (d.method, inputs[0]) not in have:
                    s.add(RouteNote(study_id=study_id, method=d.method, input=inputs[0], status=d.status,
                                    reason=d.reason[:2000]))
            s.commit()
    return run


def remove_study(store: Store, study_id: int) -> bool:
    """Delete a study, its files, jobs and results (database rows and storage)."""
    with store.session() as s:
        study = s.get(Study, study_id)
        if study is None:
            return False
        s.delete(study)
    store.storage.remove_tree(f"studies/{study_id}")
    store.storage.remove_tree(f"results/study-{study_id}")
    return True


def scan_folder(store: Store, folder: str | Path, router: Router | None = None, min_age_s: float = 2.0
                ) -> IngestReport | None:
    """One pass over a watched folder: ingest files untouched for ``min_age_s``, then move them.

    Ingested files move to ``<folder>/.done/``, refused ones to ``<folder>/.failed/`` (with a
    ``.txt`` saying why), so each file is handled once and nothing is lost.
    """
    import time

    folder = Path(folder)
    now = time.time()
    ready = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and now - p.stat().st_mtime >= min_age_s)
    if not ready:
        return None
    report = ingest(store, [(p.name, p) for p in ready], router=router, source="watch", username="watch-folder")
    for path in ready:
        target_dir = folder / (".failed" if path.name in report.skipped else ".done")
        target_dir.mkdir(exist_ok=True)
        if path.name in report.skipped:
            (target_dir / f"{path.name}.txt").write_text(report.skipped[path.name] + "\n", encoding="utf-8")
        shutil.move(str(path), target_dir / path.name)
    store.audit("watch-folder", "ingest", "folder", str(folder), f"{len(ready)} file(s), jobs {report.jobs}")
    return report


#: what `biomedai serve --seed-samples` (`make serve`) ingests from the bundled samples: only images a registered
#: method reads with what ships in the package (a Ki-67 IHC field -> ki67, a fundus photograph ->
#: vessels_biosegment). The bundled CT/MR slices and the coins photo are not seeded: no bundled method reads them,
#: and a study nothing can process is not a study to read.
DEFAULT_SEED_SAMPLES = ("ihc", "retina")


@dataclasses.dataclass(frozen=True)
class SeedStudy:
    """A real sample seeded from a data folder laid out as ``../shared/data`` (read there, never copied into the
    repository; ingested into the service's own storage like any upload)."""

    name: str
    relpath: str
    method: str  # the method routing by content is expected to send it to


#: what ``--seed-data DIR`` adds (when the files are there): studies a method with a bundled model or no learned
#: part processes. The two chest CT slices are one COVID-19 patient's prior and current study (COVID-19-NY-SBU),
#: so the viewer can compare them.
SHARED_SEED_STUDIES = (
    SeedStudy("chest_ct_prior", "chest_ct/covid19_ny_sbu_axial_slices/A002304_19001231-076.dcm", "covid_ct"),
    SeedStudy("chest_ct", "chest_ct/covid19_ny_sbu_axial_slices/A002304_19010112-135.dcm", "covid_ct"),
    SeedStudy("ms_flair", "ms_lesions/flair_mni/patient07.nii.gz", "nmosd_ms"),
    SeedStudy("he_tile", "nuclei/gbm40/images/01.png", "nuclei_hannet"),
    SeedStudy("panoramic", "teeth/ufba_subset/images/cate1-00002.jpg", "dental_perio"),
)


def seed_items(names: Sequence[str] = DEFAULT_SEED_SAMPLES, data_dir: str | Path | None = None
               ) -> list[tuple[str, list[tuple[str, Path]]]]:
    """``(name, [(file name, path), ...])`` per study to seed: the bundled ``names``, then the
    :data:`SHARED_SEED_STUDIES` found under ``data_dir`` (missing ones are logged and left out)."""
    from ..data.samples import sample_path

    studies = []
    for name in names:
        path = sample_path(name)
        studies.append((name, [(f"{name}/{p.name}", p) for p in sorted(path.iterdir()) if p.is_file()]
                        if path.is_dir() else [(path.name, path)]))
    if data_dir is not None:
        root = Path(data_dir)
        if not root.is_dir():
            raise InvalidInputError("no such data folder to seed from", root)
        for seed in SHARED_SEED_STUDIES:
            path = root / seed.relpath
            if path.is_file():
                studies.append((seed.name, [(path.name, path)]))
            else:
                log.warning("seed %s: %s is absent; not seeded", seed.name, path)
    return studies


def seed_samples(store: Store, names: Sequence[str] = DEFAULT_SEED_SAMPLES, router: Router | None = None,
                 data_dir: str | Path | None = None) -> IngestReport:
    """Ingest sample studies (one study each) so that a fresh service has something to read.

    Bundled samples are found through :mod:`biomedai.data.samples` (files inside installed wheels); a
    sample folder (a DICOM series) is sent file by file. With ``data_dir`` (a folder laid out as
    ``../shared/data``) the real studies of :data:`SHARED_SEED_STUDIES` are seeded too. Seeding twice
    changes nothing.
    """
    total = IngestReport()
    for _name, items in seed_items(names, data_dir):
        report = ingest(store, items, router=router, source="sample", username="seed")
        for field in dataclasses.fields(IngestReport):
            value = getattr(total, field.name)
            extra = getattr(report, field.name)
            value.update(extra) if isinstance(value, dict) else value.extend(extra)
    return total
