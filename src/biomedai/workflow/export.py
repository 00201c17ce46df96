"""Export a result as a DICOM Structured Report (highdicom TID 1500 Measurement Report).

Each finite number in the result's metrics becomes a numeric measurement (concept name = the
metric's key, local coding scheme ``99BIOMEDAI``, unit ``1`` because methods do not declare units
yet), and each finding a qualitative evaluation. The SR joins the source study (same
StudyInstanceUID, patient and study attributes) and references the DICOM instances as evidence,
so it can be sent back to the PACS. Studies without DICOM files have no identifiers to join and
are refused.
"""
from __future__ import annotations

import hashlib
import io
from typing import Any

from sqlalchemy import select

from ..errors import InvalidInputError
from .models import Result, StoredFile
from .priors import numeric_measurements
from .store import Store

SCHEME = "99BIOMEDAI"
_PATIENT_STUDY_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                       "AccessionNumber", "ReferringPhysicianName", "StudyID")


def _code(key: str, meaning: str) -> Any:
    import highdicom as hd

    return hd.sr.CodedConcept(value=hashlib.sha1(key.encode()).hexdigest()[:16], scheme_designator=SCHEME,
                              meaning=meaning[:64] or key[:64])


def result_to_sr(store: Store, result_id: int, max_measurements: int = 500) -> bytes:
    """The DICOM SR (bytes) of one result; InvalidInputError when its study has no DICOM files."""
    import pydicom

    with store.session() as s:
        result = s.get(Result, result_id)
        if result is None:
            raise InvalidInputError(f"no result {result_id}")
        rows = s.scalars(select(StoredFile).where(StoredFile.study_id == result.study_id,
                                                  StoredFile.format == "dicom").order_by(StoredFile.id)).all()
        method, metrics, findings, study_id = result.method, result.metrics, result.findings, result.study_id
    if not rows:
        raise InvalidInputError(f"study {study_id} has no DICOM files: a DICOM SR needs DICOM source images")
    evidence = []
    for row in rows[:1000]:
        ds = pydicom.dcmread(store.storage.resolve(row.path), stop_before_pixels=True)
        for key in _PATIENT_STUDY_KEYS:
            if getattr(ds, key, None) is None:
                setattr(ds, key, "")
        evidence.append(ds)
    no_units = ("1", "no units")
    measurements = [(key, value, no_units)
                    for key, value in list(numeric_measurements(metrics).items())[:max_measurements]]
    evaluations = [(f"{f.get('label')}:{f.get('severity')}", f"{f.get('label', '')} (severity {_severity_text(f)})")
                   for f in findings or [] if isinstance(f, dict)]
    sr = structured_report(evidence, method, measurements, evaluations, tracking=f"biomedai result {result_id}",
                           series_number=900 + result_id % 100)
    buffer = io.BytesIO()
    sr.save_as(buffer)
    return buffer.getvalue()


def _severity_text(finding: dict) -> str:
    """A finding's severity as text: numbers in short form, words as they are."""
    severity = finding.get("severity", 0)
    if isinstance(severity, (int, float)) and not isinstance(severity, bool):
        return f"{severity:g}"
    return str(severity)


def structured_report(evidence: list[Any], method: str, measurements: list[tuple[str, float, tuple[str, str]]],
                      evaluations: list[tuple[str, str]] = (), *, tracking: str = "biomedai",
                      series_number: int = 900, seed: list[str] | None = None) -> Any:
    """A TID 1500 Comprehensive 3D SR over ``evidence`` (source datasets).

    ``measurements``: ``(name, value, (UCUM code, unit meaning))``, e.g. ``("right upper lobe lesion volume",
    12.5, ("cm3", "cubic centimeter"))``; ``evaluations``: ``(key, text)`` qualitative findings. With
    ``seed``, the UIDs are derived from it (the same seed gives the same instance).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    for ds in evidence:
        for key in _PATIENT_STUDY_KEYS:
            if getattr(ds, key, None) is None:
                setattr(ds, key, "")

    def uid(tag: str) -> str:
        return generate_uid(entropy_srcs=[*seed, tag]) if seed else hd.UID()

    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(uid=uid("device"),
                                                                                   name=f"biomedai {method}"[:64]))
    items = [hd.sr.Measurement(name=_code(key, key), value=value, unit=hd.sr.CodedConcept(unit[0], "UCUM", unit[1]))
             for key, value, unit in measurements]
    qualitative = [hd.sr.QualitativeEvaluation(name=_code("finding", "finding"), value=_code(key, text))
                   for key, text in evaluations]
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=uid("tracking"), identifier=tracking[:64]),
        measurements=items or None, qualitative_evaluations=qualitative or None)
    report = hd.sr.MeasurementReport(observation_context=hd.sr.ObservationContext(observer_device_context=observer),
                                     procedure_reported=hd.sr.CodedConcept("363679005", "SCT", "Imaging procedure"),
                                     imaging_measurements=[group])
    return hd.sr.Comprehensive3DSR(evidence=evidence, content=report[0], series_number=series_number,
                                   series_instance_uid=uid("series"), sop_instance_uid=uid("instance"),
                                   instance_number=1, manufacturer="biomedai",
                                   series_description=f"biomedai {method}"[:64])


def parse_destination(text: str) -> tuple[str, tuple[str, str, int]]:
    """``NAME=AET@host:port`` -> ``(NAME, (AET, host, port))`` (a configured PACS to send results to).

    Example:
        >>> parse_destination("pacs=ORTHANC@127.0.0.1:4242")
        ('pacs', ('ORTHANC', '127.0.0.1', 4242))
    """
    from ..errors import ConfigError

    try:
        name, rest = text.split("=", 1)
        aet, address = rest.split("@", 1)
        host, port = address.rsplit(":", 1)
        if not (name and aet and host) or len(aet) > 16:
            raise ValueError
        return name.strip(), (aet.strip(), host.strip(), int(port))
    except ValueError:
        raise ConfigError(f"destination {text!r}: write NAME=AET@host:port (AE title at most 16 characters)") from None


def send_dicom(data: bytes, ae_title: str, host: str, port: int, calling_ae: str = "BIOMEDAI",
               timeout_s: float = 30.0) -> int:
    """C-STORE one DICOM instance (bytes) to a PACS; returns the DIMSE status (0 = stored)."""
    import pydicom
    from pynetdicom import AE

    from ..errors import BiomedaiError

    ds = pydicom.dcmread(io.BytesIO(data))
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate(host, port, ae_title=ae_title)
    if not assoc.is_established:
        raise BiomedaiError(f"could not associate with {ae_title}@{host}:{port}")
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    code = int(getattr(status, "Status", 0xFFFF)) if status else 0xFFFF
    if code != 0:
        raise BiomedaiError(f"{ae_title}@{host}:{port} answered C-STORE with status 0x{code:04X}")
    return code


EXPORT_KINDS = ("SR", "SEG")


def export_objects(store: Store, result_id: int, kinds: list[str] | None = None, deidentify: bool = False,
                   dates: str = "remove") -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """A result's DICOM objects to download or send: ``([(kind, bytes), ...], {kind: why skipped})``.

    ``kinds=None`` gives the SR and, when the result lists masks, the SEG (a SEG that cannot be made,
    e.g. masks of another geometry, is skipped with its reason); named ``kinds`` (``["SEG"]``) raise
    instead. ``deidentify`` applies :func:`biomedai.workflow.deid.deidentify` with the service's key,
    so the SR and SEG keep referencing the (de-identified) source instances.
    """
    import logging

    from .dicom_seg import result_masks, result_to_seg

    builders = {"SR": result_to_sr, "SEG": result_to_seg}
    if kinds is None:
        wanted = ["SR"] + (["SEG"] if result_masks(store, result_id)[2] else [])
    else:
        wanted = [str(k).upper() for k in kinds]
        unknown = [k for k in wanted if k not in builders]
        if unknown or not wanted:
            raise InvalidInputError(f"unknown DICOM export {unknown or kinds!r}: choose from {', '.join(EXPORT_KINDS)}")
    objects, skipped = [], {}
    for kind in wanted:
        try:
            objects.append((kind, builders[kind](store, result_id)))
        except InvalidInputError as exc:
            if kinds is not None or kind == "SR":
                raise
            skipped[kind] = str(exc)
            logging.getLogger(__name__).warning("result %s: no %s: %s", result_id, kind, exc)
    if deidentify:
        from .deid import deid_key, deidentify_bytes

        key = deid_key(store)
        objects = [(kind, deidentify_bytes(data, key, dates)) for kind, data in objects]
    return objects, skipped
