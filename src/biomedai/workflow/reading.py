"""Reading: the radiologists' worklist, one reader per study at a time, and the report from draft to final.

A study is *claimed* by one reader (``claim``; a claim lapses after :data:`CLAIM_TTL_S` without
activity, so a reader who walked away does not block the study); only the holder saves the draft and
signs it. The draft starts as structured text with the AI findings (:func:`prefill`); signing
(:func:`sign`) makes it final with the signer and time (audited by the caller), stores it as a DICOM
Comprehensive SR (highdicom) next to the study's other objects (served by DICOMweb), and a final
report is not edited again.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import BiomedaiError, InvalidInputError
from .models import DicomInstance, Job, Reading, Result, Study, utcnow
from .store import Store
from .worklist import study_status

CLAIM_TTL_S = 30 * 60
REPORT_STATES = ("unread", "draft", "final")
#: a study is flagged urgent from this priority on (findings severity "high" is 75)
URGENT_PRIORITY = 75.0
SORT_KEYS = ("priority", "study_date", "patient", "accession", "modality", "report", "received")


class ClaimError(BiomedaiError):
    """The study is held by another reader (or not by this one), or its report is final already."""


def round_sig(value: float, digits: int = 3) -> float:
    """``value`` to ``digits`` significant digits (12.3456 -> 12.3, 0.012345 -> 0.0123)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def headline(method: str, metrics: dict[str, Any], limit: int = 3) -> str:
    """A method's lead numbers, rounded: its ``headline_metrics``, else its first top-level numbers."""
    from ..methods.registry import get_method

    try:
        keys: Sequence[str] = get_method(method).headline_metrics
    except Exception:  # noqa: BLE001 - a method no longer registered still shows its numbers
        keys = ()
    if not keys:
        keys = [k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    parts = []
    for key in keys:
        value = metrics.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        shown = f"{round_sig(float(value)):g}" if isinstance(value, float) else str(value)
        parts.append(f"{key.replace('_', ' ')} {shown}")
        if len(parts) >= limit:
            break
    return ", ".join(parts)


def ai_summary(results: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """One line over a study's results: ``method: headline`` for each (rounded)."""
    return "; ".join(f"{method}: {headline(method, metrics) or 'done'}" for method, metrics in results)


def _dicom_attributes(store: Store, study_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    if not study_ids:
        return {}
    with store.session() as s:
        first = select(func.min(DicomInstance.id)).where(DicomInstance.study_id.in_(list(study_ids)),
                                                         DicomInstance.file_id.is_not(None)
                                                         ).group_by(DicomInstance.study_id)
        rows = s.execute(select(DicomInstance.study_id, DicomInstance.attributes).where(
            DicomInstance.id.in_(first))).all()
    return {sid: dict(attrs or {}) for sid, attrs in rows}


def reading_worklist(store: Store, sort: str = "priority", descending: bool | None = None, text: str = "",
                     modality: str = "", report: str = "", urgent: bool | None = None, limit: int = 500
                     ) -> list[dict[str, Any]]:
    """The radiologists' worklist: one row per study with patient, accession, study date, description,
    modality, the rounded AI summary, urgency, report status and who holds it; sorted and filtered."""
    from .dicom_index import index_files

    if sort not in SORT_KEYS:
        raise InvalidInputError(f"sort by one of {', '.join(SORT_KEYS)}, not {sort!r}")
    if report and report not in REPORT_STATES:
        raise InvalidInputError(f"report status is one of {', '.join(REPORT_STATES)}, not {report!r}")
    index_files(store)
    with store.session() as s:
        studies = s.scalars(select(Study).order_by(Study.id)).all()
        ids = [st.id for st in studies]
        states: dict[int, list[str]] = {i: [] for i in ids}
        for sid, state in s.execute(select(Job.study_id, Job.status)):
            states.setdefault(sid, []).append(state)
        results: dict[int, list[tuple[str, dict[str, Any]]]] = {i: [] for i in ids}
        for sid, method, metrics in s.execute(select(Result.study_id, Result.method, Result.metrics)
                                              .order_by(Result.id)):
            results.setdefault(sid, []).append((method, metrics or {}))
        readings = {r.study_id: r for r in s.scalars(select(Reading))}
        now = utcnow()
        rows = []
        dicom = _dicom_attributes(store, ids)
        for st in studies:
            attrs = dicom.get(st.id, {})
            reading = readings.get(st.id)
            holder = reading.claimed_by if reading is not None and _claim_live(reading, now) else None
            rows.append({
                "id": st.id, "uid": st.uid, "patient": str(attrs.get("PatientName", "")) or st.patient_id,
                "patient_id": st.patient_id or str(attrs.get("PatientID", "")),
                "accession": str(attrs.get("AccessionNumber", "")),
                "study_date": _date(str(attrs.get("StudyDate", ""))) or st.created_at.date().isoformat(),
                "description": st.description or str(attrs.get("StudyDescription", "")),
                "modality": st.modality, "ai_summary": ai_summary(results.get(st.id, [])),
                "findings": [f.get("label", "") for f in st.findings or [] if isinstance(f, dict)],
                "priority": st.priority, "urgent": st.priority >= URGENT_PRIORITY,
                "jobs": study_status(states.get(st.id, [])),
                "report": reading.status if reading is not None and (reading.text or reading.status == "final")
                else "unread",
                "claimed_by": holder, "signed_by": reading.signed_by if reading is not None else None,
                "received": st.created_at.isoformat(timespec="seconds") + "Z"})
    needle = text.strip().lower()
    rows = [r for r in rows
            if (not needle or needle in " ".join(str(r[k]) for k in ("patient", "patient_id", "accession",
                                                                      "description", "uid")).lower())
            and (not modality or r["modality"].lower() == modality.lower())
            and (not report or r["report"] == report)
            and (urgent is None or r["urgent"] == urgent)]
    key = {"priority": lambda r: (r["priority"], r["received"]), "study_date": lambda r: r["study_date"],
           "patient": lambda r: r["patient"].lower(), "accession": lambda r: r["accession"],
           "modality": lambda r: r["modality"], "report": lambda r: REPORT_STATES.index(r["report"]),
           "received": lambda r: r["received"]}[sort]
    rows.sort(key=key, reverse=(sort in ("priority", "study_date", "received")) if descending is None else descending)
    return rows[:limit]


def _date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else ""


def worklist_version(store: Store) -> str:
    """A fingerprint of what the worklist shows (studies, jobs, results, readings): it changes when a row does."""
    with store.session() as s:
        parts = [s.execute(select(func.count(Study.id), func.max(Study.id), func.sum(Study.priority))).one(),
                 s.execute(select(func.count(Job.id), func.max(Job.finished_at), func.max(Job.started_at),
                                  func.sum(Job.attempts))).one(),
                 s.execute(select(func.count(Result.id), func.max(Result.id))).one(),
                 s.execute(select(func.count(Reading.study_id), func.max(Reading.updated_at))).one()]
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def _claim_live(reading: Reading, now: _dt.datetime) -> bool:
    return bool(reading.claimed_by) and reading.claimed_at is not None and \
        (now - reading.claimed_at).total_seconds() < CLAIM_TTL_S


def _ensure_row(store: Store, study_id: int) -> None:
    with store.session() as s:
        if s.get(Study, study_id) is None:
            raise InvalidInputError(f"no study {study_id}")
        if s.get(Reading, study_id) is not None:
            return
        s.add(Reading(study_id=study_id, status="draft", text=""))
        try:
            s.commit()
        except IntegrityError:  # another request made it first
            s.rollback()


def claim(store: Store, study_id: int, username: str) -> dict[str, Any]:
    """Hold the study for ``username`` (one atomic UPDATE: free, own or lapsed claims only); ClaimError otherwise."""
    _ensure_row(store, study_id)
    now = utcnow()
    lapsed = now - _dt.timedelta(seconds=CLAIM_TTL_S)
    with store.session() as s:
        done = s.execute(update(Reading).where(
            Reading.study_id == study_id,
            (Reading.claimed_by.is_(None)) | (Reading.claimed_by == username) | (Reading.claimed_at < lapsed))
            .values(claimed_by=username, claimed_at=now)).rowcount
        s.commit()
        reading = s.get(Reading, study_id)
        if not done:
            raise ClaimError(f"study {study_id} is being read by {reading.claimed_by} (since "
                             f"{reading.claimed_at.isoformat(timespec='seconds')}Z)")
        return reading_dict(reading)


def release(store: Store, study_id: int, username: str, force: bool = False) -> None:
    """Give the study back (its holder, or ``force`` for an admin)."""
    with store.session() as s:
        query = update(Reading).where(Reading.study_id == study_id)
        if not force:
            query = query.where(Reading.claimed_by == username)
        if not s.execute(query.values(claimed_by=None, claimed_at=None)).rowcount:
            raise ClaimError(f"{username} does not hold study {study_id}")
        s.commit()


def _held(s: Any, study_id: int, username: str) -> Reading:
    reading = s.get(Reading, study_id)
    if reading is None or reading.claimed_by != username or not _claim_live(reading, utcnow()):
        holder = reading.claimed_by if reading is not None and _claim_live(reading, utcnow()) else None
        raise ClaimError(f"claim study {study_id} first" + (f" (it is held by {holder})" if holder else ""))
    if reading.status == "final":
        raise ClaimError(f"the report of study {study_id} is final (signed by {reading.signed_by})")
    return reading


def save_draft(store: Store, study_id: int, username: str, text: str) -> dict[str, Any]:
    """Save the draft text (the holder only; a final report is not changed); refreshes the claim."""
    if len(text) > 100_000:
        raise InvalidInputError("a report of more than 100000 characters")
    with store.session() as s:
        reading = _held(s, study_id, username)
        reading.text, reading.status = text, "draft"
        reading.claimed_at = reading.updated_at = utcnow()
        s.commit()
        return reading_dict(reading)


def sign(store: Store, study_id: int, username: str, text: str | None = None) -> tuple[dict[str, Any], str]:
    """Make the report final, signed by ``username`` now, and store its DICOM SR; returns the reading and
    why no SR was made ('' when it was)."""
    with store.session() as s:
        reading = _held(s, study_id, username)
        if text is not None:
            reading.text = text
        if not reading.text.strip():
            raise InvalidInputError("an empty report cannot be signed")
        reading.status, reading.signed_by, reading.signed_at = "final", username, utcnow()
        reading.claimed_by = reading.claimed_at = None
        reading.updated_at = utcnow()
        s.commit()
        final_text, signed_at = reading.text, reading.signed_at
    why = ""
    try:
        rel = store_report_sr(store, study_id, final_text, username, signed_at)
        with store.session() as s:
            s.get(Reading, study_id).sr_path = rel
            s.commit()
    except InvalidInputError as exc:
        why = str(exc)
    with store.session() as s:
        return reading_dict(s.get(Reading, study_id)), why


def reading_dict(reading: Reading | None) -> dict[str, Any]:
    if reading is None:
        return {"status": "unread", "text": "", "claimed_by": None, "signed_by": None, "signed_at": None,
                "has_sr": False}
    live = _claim_live(reading, utcnow())
    return {"status": reading.status if (reading.text or reading.status == "final") else "unread",
            "text": reading.text, "claimed_by": reading.claimed_by if live else None,
            "signed_by": reading.signed_by,
            "signed_at": reading.signed_at.isoformat(timespec="seconds") + "Z" if reading.signed_at else None,
            "has_sr": bool(reading.sr_path)}


def get_reading(store: Store, study_id: int) -> dict[str, Any]:
    with store.session() as s:
        if s.get(Study, study_id) is None:
            raise InvalidInputError(f"no study {study_id}")
        out = reading_dict(s.get(Reading, study_id))
    out["prefill"] = prefill(store, study_id)
    return out


def prefill(store: Store, study_id: int) -> str:
    """The draft a reader starts from: the AI results as structured text (rounded), then empty sections."""
    with store.session() as s:
        study = s.get(Study, study_id)
        results = s.execute(select(Result.id, Result.method, Result.metrics, Result.findings)
                            .where(Result.study_id == study_id).order_by(Result.id)).all()
        description = study.description if study is not None else ""
    lines = [f"EXAMINATION: {description or study_id}", "", "AI FINDINGS (biomedai, research use; to be confirmed "
             "by the reader):"]
    if not results:
        lines.append("- none (no method result for this study)")
    for result_id, method, metrics, findings in results:
        lines.append(f"- {method} (result {result_id}): {headline(method, metrics or {}, limit=6) or 'done'}")
        for finding in findings or []:
            if isinstance(finding, dict) and finding.get("label"):
                severity = finding.get("severity", "")
                lines.append(f"  - {finding['label']}" + (f" (severity {severity})" if severity != "" else "")
                             + (f": {finding['text']}" if finding.get("text") else ""))
    lines += ["", "FINDINGS:", "", "IMPRESSION:", ""]
    return "\n".join(lines)


def _evidence(store: Store, study_id: int) -> list[Any]:
    import pydicom

    with store.session() as s:
        paths = s.scalars(select(DicomInstance.path).where(DicomInstance.study_id == study_id,
                                                           DicomInstance.file_id.is_not(None))
                          .order_by(DicomInstance.id)).all()
    out = []
    for rel in paths[:1000]:
        ds = pydicom.dcmread(store.storage.resolve(rel), stop_before_pixels=True)
        for key in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "AccessionNumber", "ReferringPhysicianName", "StudyID"):
            if getattr(ds, key, None) is None:
                setattr(ds, key, "")
        out.append(ds)
    return out


def report_sr(evidence: list[Any], text: str, signer: str, signed_at: _dt.datetime, study_id: int) -> bytes:
    """The signed report as a DICOM Comprehensive SR (highdicom): a "Diagnostic imaging report" container with
    the text as one finding, completed and verified by the signer, in the study of ``evidence``."""
    import highdicom as hd
    from pydicom.uid import UID

    seed = f"biomedai-report:{evidence[0].StudyInstanceUID}:{study_id}"
    person = signer if "^" in signer else f"{signer}^"  # a user name is one name component (family name)

    def uid(kind: str) -> UID:
        return UID("2.25." + str(int(hashlib.sha256(f"{seed}:{kind}".encode()).hexdigest()[:30], 16)))

    container = hd.sr.ContainerContentItem(
        name=hd.sr.CodedConcept("18748-4", "LN", "Diagnostic imaging report"),
        template_id="2000")
    container.ContentSequence = [
        hd.sr.TextContentItem(name=hd.sr.CodedConcept("121071", "DCM", "Finding"), value=text,
                              relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)]
    observer = hd.sr.ObserverContext(
        observer_type=hd.sr.CodedConcept("121006", "DCM", "Person"),
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=person))
    container.ContentSequence.extend(hd.sr.ObservationContext(observer_person_context=observer))
    sr = hd.sr.ComprehensiveSR(
        evidence=evidence, content=container, series_instance_uid=uid("series"), series_number=9001,
        sop_instance_uid=uid("sop"), instance_number=1, manufacturer="biomedai",
        series_description="Radiology report (signed)", is_complete=True, is_final=True, is_verified=True,
        verifying_observer_name=person, verifying_organization="biomedai service",
        content_date=signed_at.date(), content_time=signed_at.time())
    out = io.BytesIO()
    sr.save_as(out)
    return out.getvalue()


def store_report_sr(store: Store, study_id: int, text: str, signer: str, signed_at: _dt.datetime) -> str:
    """Write the final report's SR under ``derived/`` and index it for DICOMweb; returns its storage path.
    InvalidInputError when the study has no DICOM images (nothing to join)."""
    import pydicom

    from .dicom_index import index_files, index_row

    index_files(store, study_id)
    evidence = _evidence(store, study_id)
    if not evidence:
        raise InvalidInputError(f"study {study_id} has no DICOM images: a DICOM SR report needs them (the report "
                                "is kept as text)")
    data = report_sr(evidence, text, signer, signed_at, study_id)
    rel = f"derived/study-{study_id}/report/report-sr.dcm"
    target = store.storage.resolve(rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    with store.session() as s:
        old = s.scalars(select(DicomInstance).where(DicomInstance.sop_uid == str(ds.SOPInstanceUID))).all()
        for row in old:
            s.delete(row)
        s.add(index_row(ds, study_id, rel))
        s.commit()
    return rel
