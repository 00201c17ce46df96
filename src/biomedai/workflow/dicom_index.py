"""The DICOM instances the service's DICOMweb serves, and the QIDO-RS matching over them.

Every stored DICOM file gets one :class:`~biomedai.workflow.models.DicomInstance` row with its
query attributes read once from the header (:func:`sync`); a finished result on a DICOM study gets
its DICOM SR and, when it has masks, its SEG written under ``derived/`` and indexed the same way
(:func:`index_result`), so a viewer finds them in the study next to the images.

Matching follows PS3.18 8.3.4 / PS3.4 C.2.2.2: single value (``*`` and ``?`` wildcards), UID
lists, date/time ranges (``A-B``, ``A-``, ``-B``), universal matching of an empty value, and for
person names case-insensitive matching, with ``fuzzymatching=true`` matching each word of the
query against the start of a name component (``joh`` finds ``Doe^John``).
"""
from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..errors import InvalidInputError
from .models import DerivedExport, DicomInstance, Result, StoredFile, Study
from .store import Store

log = logging.getLogger(__name__)

STUDY_KEYS = ("StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "ReferringPhysicianName",
              "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyID", "StudyDescription")
SERIES_KEYS = ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription", "BodyPartExamined",
               "SeriesDate", "SeriesTime")
INSTANCE_KEYS = ("SOPInstanceUID", "SOPClassUID", "InstanceNumber", "Rows", "Columns", "NumberOfFrames",
                 "BitsAllocated", "SamplesPerPixel", "PhotometricInterpretation", "ContentDate")
#: attributes that the service computes per study or series (PS3.18 Table 10.6.3-2/-3)
STUDY_COMPUTED = ("ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances")
SERIES_COMPUTED = ("NumberOfSeriesRelatedInstances",)
LEVEL_KEYS = {"study": STUDY_KEYS + STUDY_COMPUTED,
              "series": STUDY_KEYS + STUDY_COMPUTED + SERIES_KEYS + SERIES_COMPUTED,
              "instance": STUDY_KEYS + SERIES_KEYS + INSTANCE_KEYS}
_RANGE_VRS = ("DA", "TM", "DT")
_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
_DT = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$")


def _header_attributes(ds: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in STUDY_KEYS + SERIES_KEYS + INSTANCE_KEYS:
        value = getattr(ds, key, None)
        if value is None or value == "":
            continue
        if key in ("SeriesNumber", "InstanceNumber", "Rows", "Columns", "NumberOfFrames", "BitsAllocated",
                   "SamplesPerPixel"):
            try:
                out[key] = int(value)
            except (TypeError, ValueError):
                continue
        else:
            out[key] = str(value)
    return out


def index_row(ds: Any, study_id: int, path: str, file_id: int | None = None,
             result_id: int | None = None) -> DicomInstance:
    meta = getattr(ds, "file_meta", None)
    return DicomInstance(study_id=study_id, file_id=file_id, result_id=result_id, path=path,
                         study_uid=str(ds.StudyInstanceUID), series_uid=str(ds.SeriesInstanceUID),
                         sop_uid=str(ds.SOPInstanceUID), sop_class_uid=str(getattr(ds, "SOPClassUID", "")),
                         transfer_syntax=str(getattr(meta, "TransferSyntaxUID", "") or ""),
                         attributes=_header_attributes(ds))


def index_files(store: Store, study_id: int | None = None) -> int:
    """Index the stored DICOM files that have no row yet (all studies, or one); returns how many."""
    import pydicom

    indexed = select(DicomInstance.file_id).where(DicomInstance.file_id.is_not(None))
    query = select(StoredFile.id, StoredFile.study_id, StoredFile.path).where(
        StoredFile.format == "dicom", StoredFile.id.not_in(indexed))
    if study_id is not None:
        query = query.where(StoredFile.study_id == study_id)
    with store.session() as s:
        todo = s.execute(query).all()
    rows = []
    for file_id, sid, rel in todo:
        try:
            ds = pydicom.dcmread(store.storage.resolve(rel), stop_before_pixels=True)
            rows.append(index_row(ds, sid, rel, file_id=file_id))
        except Exception as exc:  # noqa: BLE001 - a file that intake took but pydicom cannot re-read
            log.warning("file %s is not indexed for DICOMweb: %s", file_id, exc)
    if rows:
        _add_rows(store, rows)
    return len(rows)


def _add_rows(store: Store, rows: list[DicomInstance]) -> None:
    """Insert index rows; rows another request inserted meanwhile (same file) are skipped, not an error."""
    from sqlalchemy.exc import IntegrityError

    try:
        with store.session() as s:
            s.add_all(rows)
            s.commit()
        return
    except IntegrityError:
        pass
    for row in rows:
        try:
            with store.session() as s:
                s.add(row)
                s.commit()
        except IntegrityError:
            continue


def index_result(store: Store, result_id: int) -> list[str]:
    """Write a result's DICOM SR (and SEG when it has masks) under ``derived/`` and index them; once.

    Returns the kinds made. A result on a study without DICOM files (no identifiers to join) is
    recorded with the reason and makes nothing.
    """
    import io

    import pydicom

    from .export import export_objects

    with store.session() as s:
        if s.get(DerivedExport, result_id) is not None:
            return []
        result = s.get(Result, result_id)
        if result is None:
            return []
        study_id = result.study_id
    try:
        objects, skipped = export_objects(store, result_id, None)
    except Exception as exc:  # noqa: BLE001 - e.g. a non-DICOM study: nothing to serve, say why
        objects, skipped = [], {"SR": str(exc)}
    rows = []
    for kind, data in objects:
        rel = f"derived/study-{study_id}/result-{result_id}/{kind.lower()}.dcm"
        target = store.storage.resolve(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        rows.append(index_row(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True), study_id, rel,
                             result_id=result_id))
    from sqlalchemy.exc import IntegrityError

    try:
        with store.session() as s:
            if s.get(DerivedExport, result_id) is not None:  # another process made them meanwhile
                return []
            s.add_all(rows)
            s.add(DerivedExport(result_id=result_id, objects=[k for k, _ in objects],
                                detail="; ".join(f"{k}: {v}" for k, v in skipped.items())[:2000]))
            s.commit()
    except IntegrityError:  # the same race, caught by the primary key
        return []
    return [k for k, _ in objects]


def sync(store: Store, study_id: int | None = None, derived: bool = True) -> None:
    """Bring the index up to date: new stored files, and (``derived``) results without SR/SEG yet."""
    index_files(store, study_id)
    if not derived:
        return
    done = select(DerivedExport.result_id)
    query = select(Result.id).join(Study, Study.id == Result.study_id).where(
        Result.id.not_in(done), Study.uid.not_like("sha256:%"))
    if study_id is not None:
        query = query.where(Result.study_id == study_id)
    with store.session() as s:
        pending = s.scalars(query).all()
    for result_id in pending:
        index_result(store, result_id)


def instances(store: Store, study_uid: str | None = None, series_uid: str | None = None,
              sop_uid: str | None = None) -> list[DicomInstance]:
    """Index rows (detached) for a study, series or instance, in index order."""
    query = select(DicomInstance).order_by(DicomInstance.id)
    if study_uid is not None:
        query = query.where(DicomInstance.study_uid == study_uid)
    if series_uid is not None:
        query = query.where(DicomInstance.series_uid == series_uid)
    if sop_uid is not None:
        query = query.where(DicomInstance.sop_uid == sop_uid)
    with store.session() as s:
        rows = list(s.scalars(query).all())
        s.expunge_all()
    seen, unique = set(), []
    for row in rows:  # the same instance stored twice (two uploads of one file) is served once
        if row.sop_uid not in seen:
            seen.add(row.sop_uid)
            unique.append(row)
    return unique


# -- QIDO-RS --------------------------------------------------------------------------------------------

@dataclass
class Record:
    """One study, series or instance as QIDO-RS answers it: its attributes and its index rows."""

    level: str
    attributes: dict[str, Any]
    rows: list[DicomInstance] = field(default_factory=list)


def _instance_number(row: DicomInstance) -> tuple[int, int]:
    return (int(row.attributes.get("InstanceNumber", 0) or 0), row.id)


def records(rows: Sequence[DicomInstance], level: str) -> list[Record]:
    """Group index rows into study, series or instance records with the computed attributes."""
    if level == "instance":
        return [Record("instance", dict(r.attributes, SOPInstanceUID=r.sop_uid, SOPClassUID=r.sop_class_uid,
                                        SeriesInstanceUID=r.series_uid, StudyInstanceUID=r.study_uid), [r])
                for r in sorted(rows, key=_instance_number)]
    key = (lambda r: r.study_uid) if level == "study" else (lambda r: (r.study_uid, r.series_uid))
    groups: dict[Any, list[DicomInstance]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    out = []
    for members in groups.values():
        members.sort(key=_instance_number)
        first = members[0]
        wanted = STUDY_KEYS if level == "study" else STUDY_KEYS + SERIES_KEYS
        attributes = {k: first.attributes[k] for k in wanted if k in first.attributes}
        attributes["StudyInstanceUID"] = first.study_uid
        if level == "series":
            attributes["SeriesInstanceUID"] = first.series_uid
            attributes["NumberOfSeriesRelatedInstances"] = len(members)
        out.append(Record(level, attributes, members))
    if level in ("study", "series"):
        by_study: dict[str, list[DicomInstance]] = {}
        for row in rows:
            by_study.setdefault(row.study_uid, []).append(row)
        for record in out:
            members = by_study[record.attributes["StudyInstanceUID"]]
            modalities = sorted({str(r.attributes.get("Modality", "")) for r in members} - {""})
            record.attributes.update(ModalitiesInStudy=modalities,
                                     NumberOfStudyRelatedSeries=len({r.series_uid for r in members}),
                                     NumberOfStudyRelatedInstances=len(members))
    if level == "series":
        out.sort(key=lambda r: (r.attributes["StudyInstanceUID"], int(r.attributes.get("SeriesNumber", 0) or 0)))
    return out


def keyword_of(key: str) -> str:
    """A query key (keyword or ``ggggeeee`` tag) as its DICOM keyword; InvalidInputError when it is neither."""
    from pydicom.datadict import dictionary_has_tag, keyword_for_tag, tag_for_keyword

    text = key.strip()
    if re.fullmatch(r"[0-9A-Fa-f]{8}", text):
        tag = int(text, 16)
        if dictionary_has_tag(tag) and keyword_for_tag(tag):
            return keyword_for_tag(tag)
        raise InvalidInputError(f"query key {key!r}: no such DICOM attribute")
    if "." in text:
        raise InvalidInputError(f"query key {key!r}: sequence matching is not supported")
    if tag_for_keyword(text) is None:
        raise InvalidInputError(f"query key {key!r}: neither a DICOM keyword nor a tag (ggggeeee)")
    return text


def vr_of(keyword: str) -> str:
    from pydicom.datadict import dictionary_VR

    return dictionary_VR(keyword)


@dataclass
class Matcher:
    """One query key's value turned into a test on an attribute value."""

    keyword: str
    value: str
    fuzzy: bool = False

    def __post_init__(self) -> None:
        self.vr = vr_of(self.keyword)
        if self.vr in _RANGE_VRS and self.value:
            pattern = {"DA": _DA, "TM": _TM, "DT": _DT}[self.vr]
            low, dash, high = self.value.partition("-") if self.vr != "DT" else _split_dt_range(self.value)
            ends = [low, high] if dash else [low]
            if not any(ends) or any(e and not pattern.match(e) for e in ends):
                raise InvalidInputError(f"{self.keyword}={self.value!r}: a {self.vr} value or range "
                                        f"(e.g. {'20200101-20201231' if self.vr == 'DA' else '080000-170000'})")
            self.range = (low, high) if dash else (low, low)
        if self.vr in ("IS", "US", "UL", "SS", "SL") and self.value:
            try:
                self.numbers = {int(v) for v in re.split(r"[,\\]", self.value)}
            except ValueError:
                raise InvalidInputError(f"{self.keyword}={self.value!r}: a whole number") from None

    def __call__(self, attribute: Any) -> bool:
        if self.value == "" or self.value == "*":
            return True
        values = attribute if isinstance(attribute, list) else [attribute]
        values = [v for v in values if v is not None and v != ""]
        if not values:
            return False
        return any(self._one(v) for v in values)

    def _one(self, value: Any) -> bool:
        text = str(value)
        if self.vr == "UI":
            return text in re.split(r"[,\\]", self.value)
        if self.vr in _RANGE_VRS:
            low, high = self.range
            n = len(low or high)
            head = text[:n] if self.vr != "TM" else text[:max(len(low), len(high))]
            return (not low or head >= low) and (not high or head <= high)
        if hasattr(self, "numbers"):
            try:
                return int(value) in self.numbers
            except (TypeError, ValueError):
                return False
        if self.vr == "PN":
            return _match_name(text, self.value, self.fuzzy)
        return any(fnmatch.fnmatchcase(text, v) for v in re.split(r"\\", self.value))


def _split_dt_range(value: str) -> tuple[str, str, str]:
    # a DT may carry a "-hhmm" offset; the range dash is the one with 4+ digits (or nothing) before it
    match = re.fullmatch(r"([^-]*(?:-\d{4})?)?(-)([^-]*(?:[+-]\d{4})?)?", value)
    if match and match.group(2):
        return match.group(1) or "", "-", match.group(3) or ""
    return value, "", ""


def _match_name(name: str, query: str, fuzzy: bool) -> bool:
    name_l, query_l = name.lower(), query.lower()
    if fnmatch.fnmatchcase(name_l, query_l):
        return True
    if not fuzzy:
        return False
    components = [c for c in re.split(r"[\^= ]+", name_l) if c]
    words = [w for w in re.split(r"[\^= ,]+", query_l.replace("*", "")) if w]
    return bool(words) and all(any(c.startswith(w) for c in components) for w in words)


def filter_records(items: Iterable[Record], matchers: Sequence[Matcher]) -> list[Record]:
    return [r for r in items if all(m(r.attributes.get(m.keyword)) for m in matchers)]


def read_header(store: Store, row: DicomInstance) -> Any:
    """The header (no pixel data) of an indexed instance."""
    import pydicom

    return pydicom.dcmread(store.storage.resolve(row.path), stop_before_pixels=True)


def instance_path(store: Store, row: DicomInstance) -> Path:
    return store.storage.resolve(row.path)
