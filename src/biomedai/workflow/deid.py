"""De-identification of exported DICOM: a documented subset of the PS3.15 Basic Application Level
Confidentiality Profile (Annex E, Table E.1-1).

    key = deid_key(store)                       # one secret per service (data_dir/deid.key)
    clean = deidentify(dataset, key, dates="remove")
    data = deidentify_bytes(dicom_bytes, key)

What it does, recursively through every sequence item:

* every attribute of :data:`ACTIONS` gets its profile action: ``X`` removed, ``Z`` emptied, ``D``
  replaced by a dummy of its VR; PatientName and PatientID become one keyed pseudonym
  (``ANON-<10 hex>``, the same for the same patient and key, so studies of one patient stay linked);
* every private attribute, curve (50xx) and overlay (60xx) group is removed;
* every UID (VR ``UI``) that is not a standard DICOM UID (SOP classes, transfer syntaxes, ...) or a
  coding scheme is replaced by ``2.25.<128-bit keyed HMAC of the UID>``: the same UID always maps to
  the same new UID, so an SR or SEG de-identified with the same key still references its
  de-identified source images, series, study and frame of reference;
* dates: ``dates="remove"`` empties or removes every date and time (Type 1 ContentDate/Time get a
  dummy), ``dates="shift"`` moves every date back by a per-patient keyed number of days (1-3650)
  and keeps times (the profile's *Retain Longitudinal Temporal Information with Modified Dates*
  option); birth dates are emptied in both modes;
* remaining person names (VR ``PN``) are emptied;
* ``PatientIdentityRemoved=YES``, ``DeidentificationMethod`` and its code sequence (DCM 113100, plus
  113107 when dates are shifted), ``LongitudinalTemporalInformationModified``.

Not done: pixel data is not inspected, so images with ``BurnedInAnnotation=YES`` are refused;
free text inside SR content items is kept (our SRs hold machine-made measurement names and
findings, no patient data); the profile's other options (clean descriptors, retain device identity,
...) are not offered.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import io
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InvalidInputError

log = logging.getLogger(__name__)

DATE_MODES = ("remove", "shift")
KEY_FILE = "deid.key"
PROFILE_NAME = "PS3.15 E.1 Basic Profile (biomedai subset)"

_X = ("AcquisitionComments AcquisitionDeviceProcessingDescription ActualHumanPerformersSequence "
      "AdditionalPatientHistory AdmissionID AdmittingDate AdmittingDiagnosesCodeSequence "
      "AdmittingDiagnosesDescription AdmittingTime AffectedSOPInstanceUID Allergies AuthorObserverSequence "
      "BranchOfService CassetteID CommentsOnThePerformedProcedureStep "
      "ConfidentialityConstraintOnPatientDataDescription ConsultingPhysicianName "
      "ContentCreatorIdentificationCodeSequence ContributionDescription CountryOfResidence "
      "CurrentPatientLocation CustodialOrganizationSequence DataSetTrailingPadding DerivationDescription "
      "DetectorID DigitalSignaturesSequence DischargeDiagnosisDescription DistributionAddress DistributionName "
      "EthnicGroup EvaluatorName FrameComments GantryID GeneratorID GraphicAnnotationSequence "
      "HumanPerformerName HumanPerformerOrganization IconImageSequence IdentifyingComments ImageComments "
      "ImagePresentationComments ImagingServiceRequestComments Impressions InstitutionAddress "
      "InstitutionCodeSequence InstitutionName InstitutionalDepartmentName InsurancePlanIdentification "
      "IntendedRecipientsOfResultsIdentificationSequence InterpretationApproverSequence InterpretationAuthor "
      "InterpretationDiagnosisDescription InterpretationIDIssuer InterpretationRecorder InterpretationText "
      "InterpretationTranscriber IssuerOfAdmissionID IssuerOfPatientID IssuerOfPatientIDQualifiersSequence "
      "IssuerOfServiceEpisodeID LastMenstrualDate MAC MedicalAlerts MedicalRecordLocator MilitaryRank "
      "ModifiedAttributesSequence ModifiedImageDescription ModifyingDeviceID ModifyingDeviceManufacturer "
      "NameOfPhysiciansReadingStudy NamesOfIntendedRecipientsOfResults Occupation "
      "OperatorIdentificationSequence OperatorsName OrderCallbackPhoneNumber OrderEnteredBy "
      "OrderEntererLocation OriginalAttributesSequence OtherPatientIDs OtherPatientIDsSequence "
      "OtherPatientNames ParticipantSequence PatientAddress PatientAge PatientBirthName PatientBirthTime "
      "PatientComments PatientInsurancePlanCodeSequence PatientMotherBirthName "
      "PatientPrimaryLanguageCodeSequence PatientPrimaryLanguageModifierCodeSequence "
      "PatientReligiousPreference PatientSexNeutered PatientSize PatientState PatientTelephoneNumbers "
      "PatientTransportArrangements PatientWeight PerformedLocation PerformedProcedureStepDescription "
      "PerformedProcedureStepEndDate PerformedProcedureStepEndTime PerformedProcedureStepID "
      "PerformedProcedureStepStartDate PerformedProcedureStepStartTime "
      "PerformingPhysicianIdentificationSequence PerformingPhysicianName PersonAddress "
      "PersonIdentificationCodeSequence PersonTelephoneNumbers PhysicianApprovingInterpretation "
      "PhysiciansOfRecord PhysiciansOfRecordIdentificationSequence "
      "PhysiciansReadingStudyIdentificationSequence PlateID PreMedication PregnancyStatus ProtocolName "
      "ReasonForTheImagingServiceRequest ReasonForTheRequestedProcedure ReasonForStudy ReferencedDigitalSignatureSequence "
      "ReferencedPatientAliasSequence ReferencedPatientPhotoSequence ReferencedPatientSequence "
      "ReferencedPerformedProcedureStepSequence ReferencedSOPInstanceMACSequence ReferencedStudySequence "
      "ReferringPhysicianAddress ReferringPhysicianIdentificationSequence ReferringPhysicianTelephoneNumbers "
      "RegionOfResidence RequestAttributesSequence RequestedContrastAgent RequestedProcedureComments "
      "RequestedProcedureDescription RequestedProcedureID RequestedProcedureLocation RequestingPhysician "
      "RequestingService ResponsibleOrganization ResponsiblePerson ResultsComments "
      "ResultsDistributionListSequence ResultsIDIssuer ReviewerName ScheduledHumanPerformersSequence "
      "ScheduledPatientInstitutionResidence ScheduledPerformingPhysicianIdentificationSequence "
      "ScheduledPerformingPhysicianName ScheduledProcedureStepDescription ScheduledProcedureStepEndDate "
      "ScheduledProcedureStepEndTime ScheduledProcedureStepLocation ScheduledProcedureStepStartDate "
      "ScheduledProcedureStepStartTime ScheduledStationAETitle ScheduledStationGeographicLocationCodeSequence "
      "ScheduledStationName ScheduledStationNameCodeSequence ScheduledStudyLocation "
      "ScheduledStudyLocationAETitle SeriesDescription ServiceEpisodeDescription ServiceEpisodeID SmokingStatus "
      "SpecialNeeds StationName StudyComments StudyDescription StudyIDIssuer TextComments TextString "
      "TimezoneOffsetFromUTC TopicAuthor TopicKeywords TopicSubject TopicTitle VerifyingObserverSequence "
      "VerifyingOrganization VisitComments AcquisitionDate AcquisitionTime AcquisitionDateTime SeriesDate "
      "SeriesTime InstanceCreationDate InstanceCreationTime PatientBirthDateInAlternativeCalendar").split()
_Z = ("AccessionNumber ContentCreatorName FillerOrderNumberImagingServiceRequest PatientBirthDate PatientSex "
      "PlacerOrderNumberImagingServiceRequest ReferringPhysicianName StudyID StudyDate StudyTime "
      "VerifyingObserverIdentificationCodeSequence").split()
_D = "ContentDate ContentTime DeviceSerialNumber VerifyingObserverName PersonName".split()
#: keyword -> PS3.15 Table E.1-1 action: X remove, Z empty, D dummy, P keyed pseudonym
ACTIONS: dict[str, str] = {**{k: "X" for k in _X}, **{k: "Z" for k in _Z}, **{k: "D" for k in _D},
                           "PatientName": "P", "PatientID": "P"}
#: UID attributes that name standards, not instances: never remapped
KEEP_UIDS = frozenset(("SOPClassUID", "ReferencedSOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID",
                       "ImplementationClassUID", "CodingSchemeUID", "ContextUID", "MappingResourceUID",
                       "ReferencedSOPClassUIDInFile", "ReferencedTransferSyntaxUIDInFile",
                       "SOPClassesInStudy", "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID"))
#: dates the Modified Dates option does not keep (they identify a person, not a timeline)
NEVER_SHIFTED = frozenset(("PatientBirthDate", "PatientBirthTime", "LastMenstrualDate"))
_DUMMY = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "PN": "ANONYMIZED"}


def deid_key(store: Any) -> bytes:
    """The service's de-identification key: ``$BIOMEDAI_DEID_KEY``, else ``data_dir/deid.key`` (made once, 0600).

    The key must stay secret (it links pseudonyms to patients by trial) and stable (change it and new
    exports no longer match earlier ones).
    """
    text = os.environ.get("BIOMEDAI_DEID_KEY", "").strip()
    if text:
        if len(text) < 16:
            raise ConfigError("BIOMEDAI_DEID_KEY: use at least 16 characters")
        return text.encode()
    path = Path(store.data_dir) / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    value = path.read_text().strip()
    if len(value) < 16:  # a second process read it mid-write: read again
        import time

        time.sleep(0.05)
        value = path.read_text().strip()
    return value.encode()


def _digest(key: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()


def remap_uid(uid: str, key: bytes) -> str:
    """A UID's keyed replacement ``2.25.<int>`` (same input and key, same output).

    Example:
        >>> remap_uid("1.2.3", b"k" * 16) == remap_uid("1.2.3", b"k" * 16) != remap_uid("1.2.4", b"k" * 16)
        True
    """
    return f"2.25.{int.from_bytes(_digest(key, 'uid', uid)[:16], 'big')}"


def pseudonym(patient: str, key: bytes) -> str:
    """The keyed pseudonym that replaces PatientID and PatientName."""
    return f"ANON-{_digest(key, 'patient', patient).hex()[:10].upper()}"


def date_shift_days(patient: str, key: bytes) -> int:
    """Days every date of this patient moves back in ``dates="shift"`` mode (1-3650, keyed)."""
    return 1 + int.from_bytes(_digest(key, "dates", patient)[:4], "big") % 3650


def _multiple(value: Any) -> bool:
    from pydicom.multival import MultiValue

    return isinstance(value, (list, tuple, MultiValue))


class _Deidentifier:
    def __init__(self, key: bytes, dates: str, patient: str) -> None:
        from pydicom._uid_dict import UID_dictionary

        self.key, self.dates, self.patient = key, dates, patient
        self.standard_uids = UID_dictionary
        self.shift = _dt.timedelta(days=date_shift_days(patient, key))

    def uid(self, value: Any) -> Any:
        def one(uid: Any) -> str:
            text = str(uid)
            return text if not text or text in self.standard_uids else remap_uid(text, self.key)

        return [one(v) for v in value] if _multiple(value) else one(value)

    def shifted(self, vr: str, value: Any) -> Any:
        def one(text: str) -> str:
            text = str(text).strip()
            if len(text) < 8 or not text[:8].isdigit():
                return ""
            try:
                day = _dt.datetime.strptime(text[:8], "%Y%m%d") - self.shift
            except ValueError:
                return ""
            return day.strftime("%Y%m%d") + (text[8:] if vr == "DT" else "")

        if _multiple(value):
            return [one(v) for v in value]
        return one(value) if value not in (None, "") else value

    def dataset(self, ds: Any) -> None:
        from pydicom.sequence import Sequence

        for elem in list(ds):
            tag, keyword, vr = elem.tag, elem.keyword, elem.VR
            if tag.is_private or 0x5000 <= tag.group <= 0x50FF or 0x6000 <= tag.group <= 0x60FF:
                del ds[tag]
                continue
            action = ACTIONS.get(keyword)
            if action == "X" and not (self.dates == "shift" and vr in ("DA", "DT", "TM")
                                      and keyword not in NEVER_SHIFTED):
                del ds[tag]
            elif action == "P":
                elem.value = pseudonym(self.patient, self.key)
            elif vr == "SQ":
                if action in ("Z", "D"):
                    elem.value = Sequence()
                else:
                    for item in elem.value:
                        self.dataset(item)
            elif vr in ("DA", "DT", "TM"):
                self.date(ds, elem, action)
            elif action == "Z":
                elem.value = None
            elif action == "D":
                elem.value = _DUMMY.get(vr, "0" if keyword == "DeviceSerialNumber" else "ANONYMIZED")
            elif vr == "UI" and keyword not in KEEP_UIDS and elem.value:
                elem.value = self.uid(elem.value)
            elif vr == "PN" and elem.value:
                elem.value = None

    def date(self, ds: Any, elem: Any, action: str | None) -> None:
        if self.dates == "shift" and elem.keyword not in NEVER_SHIFTED:
            if elem.VR in ("DA", "DT"):
                elem.value = self.shifted(elem.VR, elem.value)
            return  # times are kept (Modified Dates option)
        if action == "D":
            elem.value = _DUMMY[elem.VR]
        elif action == "Z":
            elem.value = None
        else:
            del ds[elem.tag]


def deidentify(ds: Any, key: bytes, dates: str = "remove") -> Any:
    """De-identify a pydicom Dataset in place (and return it); see the module docstring."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    if dates not in DATE_MODES:
        raise ConfigError(f"dates={dates!r}: use one of {', '.join(DATE_MODES)}")
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        raise InvalidInputError("the image has burned-in annotation (BurnedInAnnotation=YES); pixel data is not "
                                "cleaned, so it cannot be exported de-identified")
    patient = str(ds.get("PatientID", "") or ds.get("PatientName", "") or "")
    worker = _Deidentifier(key, dates, patient)
    worker.dataset(ds)
    log.debug("de-identified a %s instance (dates %s)", ds.get("Modality", "?"), dates)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientIdentityRemoved = "YES"
    shifted = dates == "shift"
    ds.DeidentificationMethod = [PROFILE_NAME, "UIDs remapped by keyed hash", "patient keyed pseudonym",
                                 f"dates {'shifted' if shifted else 'removed'}"]
    codes = [("113100", "Basic Application Confidentiality Profile")]
    if shifted:
        codes.append(("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    ds.LongitudinalTemporalInformationModified = "MODIFIED" if shifted else "REMOVED"
    return ds


def deidentify_bytes(data: bytes, key: bytes, dates: str = "remove") -> bytes:
    """:func:`deidentify` on a DICOM file's bytes; returns the de-identified file's bytes."""
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds
        raise InvalidInputError(f"not a DICOM file: {exc}") from None
    deidentify(ds, key, dates)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
