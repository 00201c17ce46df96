"""DICOMweb under ``/dicom-web`` (Orthanc's root): QIDO-RS search, WADO-RS retrieve, STOW-RS store.

QIDO-RS (``application/dicom+json``): ``/studies``, ``/series``, ``/instances``,
``/studies/{study}/series``, ``/studies/{study}/instances``, ``/studies/{study}/series/{series}/instances``
with the standard keys (keyword or ``ggggeeee``), wildcards, UID lists, date/time ranges,
``fuzzymatching``, ``includefield`` (keywords, tags or ``all``), ``limit`` and ``offset``.

WADO-RS: ``/studies/{study}[/series/{series}[/instances/{sop}]]`` as ``multipart/related;
type="application/dicom"`` (``transfer-syntax=*``: as stored; none named: Explicit VR Little Endian, the
standard's default; else the one the client names in ``transfer-syntax=``:
native syntaxes and, where the encoders are installed, RLE / JPEG 2000 / JPEG-LS lossless, transcoded by
:mod:`biomedai.io.dicom_syntax`; 406 when it cannot be decoded or written), ``.../metadata`` as DICOM JSON
(pydicom's ``to_json_dict``; binary elements as ``BulkDataURI``), ``.../instances/{sop}/frames/{1,2,...}``
(``application/octet-stream`` decoded little-endian pixels for ``transfer-syntax=*`` or Explicit VR Little
Endian; a compressed syntax, or ``image/jp2``, ``image/dicom-rle``, ``image/jls``, ``image/jpeg``: each frame's
encoded bytes, as stored or transcoded), ``.../instances/{sop}/bulk/{tag}``, ``.../instances/{sop}/rendered`` and
``.../frames/{n}/rendered`` (PNG or JPEG, ``window=center,width[,linear]``, ``viewport=w,h``), and
``.../series/{series}/thumbnail``. The DICOM SR and SEG that the service makes from its results are
in the study as their own series.

Every route needs a token and the viewer role (STOW: operator), like the rest of the API. Errors
answer with their status, a JSON ``detail`` and a ``Warning: 299 biomedai: <reason>`` header
(PS3.18 8.6.3): 400 malformed parameters, 404 unknown UIDs, frames out of range and studies without
DICOM instances, 406 media or transfer syntaxes that cannot be served.
"""
from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import select

from ..errors import InvalidInputError, UnsupportedFormatError
from ..io import dicom_syntax
from ..workflow import dicom_index as index
from ..workflow.models import DicomInstance, Study, User
from .deps import audit, need, store_of
from .stow import dicomweb_root

log = logging.getLogger(__name__)

ROOT = "/dicom-web"
router = APIRouter(prefix=ROOT)

EXPLICIT_LE = dicom_syntax.EXPLICIT_LE
_BULK_VRS = ("OB", "OD", "OF", "OL", "OV", "OW", "UN")
_PIXEL_DATA = 0x7FE00010
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
MAX_RESULTS = 1000


class DicomWebError(Exception):
    """An error answered in the DICOMweb way: a status, a JSON detail and a ``Warning: 299`` header."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error_response(status: int, message: str) -> JSONResponse:
    warning = "299 biomedai: " + re.sub(r"[\r\n\"]", " ", message)[:300]
    return JSONResponse({"detail": message}, status_code=status, headers={"Warning": warning})


# -- Accept header --------------------------------------------------------------------------------------

def media_ranges(request: Request) -> list[tuple[str, dict[str, str]]]:
    """The Accept header (or an ``accept`` query parameter) as ``[(type, {param: value}), ...]``."""
    text = request.query_params.get("accept") or request.headers.get("accept") or "*/*"
    out = []
    for item in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", text):
        pieces = [p.strip() for p in item.split(";")]
        if not pieces[0]:
            continue
        params = {}
        for p in pieces[1:]:
            key, _, value = p.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        out.append((pieces[0].lower(), params))
    return out or [("*/*", {})]


def _multipart_ranges(request: Request, part_type: str) -> list[str]:
    """Transfer syntaxes the client accepts for ``multipart/related; type=part_type`` (``*`` = as stored;
    ``""`` = none named); empty when the Accept header does not allow that type at all."""
    accepted = []
    for media, params in media_ranges(request):
        inner = params.get("type", part_type).lower()
        if media in ("*/*", "multipart/*") or (media == "multipart/related" and inner in (part_type, "*/*")):
            accepted.append(params.get("transfer-syntax", "*" if media != "multipart/related" else ""))
        elif media == part_type:  # a single-part type: treated as the multipart form of it
            accepted.append(params.get("transfer-syntax", ""))
    return accepted


def _json_accepted(request: Request) -> None:
    for media, _ in media_ranges(request):
        if media in ("application/dicom+json", "application/json", "*/*", "application/*"):
            return
    raise DicomWebError(406, "this resource is served as application/dicom+json only "
                             f"(asked for {request.headers.get('accept')!r})")


def _transfer_syntax_for(row: DicomInstance, accepted: Sequence[str]) -> str | None:
    """What to send ``row`` as, given the accepted transfer syntaxes (in the client's order); None when none
    can be served: the stored one, or one we can transcode it into (:mod:`biomedai.io.dicom_syntax`)."""
    stored = row.transfer_syntax or EXPLICIT_LE
    for wanted in accepted:
        wanted = wanted or EXPLICIT_LE  # application/dicom without transfer-syntax: Explicit VR LE (PS3.18 8.7.3)
        if wanted in ("*", stored):
            return stored
        if dicom_syntax.can_decode(stored) and dicom_syntax.can_encode(wanted):
            return wanted
    return None


# -- helpers --------------------------------------------------------------------------------------------

def _check_uid(value: str, what: str) -> None:
    if len(value) > 64 or not _UID.match(value):
        raise DicomWebError(400, f"{what} {value!r} is not a DICOM UID (digits and dots, at most 64 characters)")


def _study_rows(request: Request, study_uid: str, series_uid: str | None = None,
                sop_uid: str | None = None, derived: bool = True) -> list[DicomInstance]:
    """The index rows of a study (series, instance); 404 with the reason when there are none. ``derived``:
    also make the SR/SEG of results that have none yet (study and series requests; instance-level reads
    such as frames skip it, the viewer found the instance through one of those first)."""
    store = store_of(request)
    with store.session() as s:
        study = s.scalars(select(Study).where(Study.uid == study_uid)).first()
        study_id = study.id if study is not None else None
    if study_id is None:
        _check_uid(study_uid, "study")
        raise DicomWebError(404, f"no study {study_uid}")
    index.sync(store, study_id, derived=derived)
    rows = index.instances(store, study_uid, series_uid, sop_uid)
    if not rows:
        if not index.instances(store, study_uid):
            raise DicomWebError(404, f"study {study_uid} holds no DICOM instances (it was uploaded as other "
                                     f"files: see /api/studies/{study_id})")
        for value, what in ((series_uid, "series"), (sop_uid, "instance")):
            if value is not None:
                _check_uid(value, what)
        what = f"instance {sop_uid} in series {series_uid}" if sop_uid else f"series {series_uid}"
        raise DicomWebError(404, f"study {study_uid} has no {what}")
    return rows


def _base(request: Request) -> str:
    return dicomweb_root(request)


def _instance_url(request: Request, row: DicomInstance) -> str:
    return f"{_base(request)}/studies/{row.study_uid}/series/{row.series_uid}/instances/{row.sop_uid}"


def _boundary() -> str:
    return uuid.uuid4().hex


def _multipart(parts: Iterator[tuple[str, bytes]], part_type: str, boundary: str) -> Iterator[bytes]:
    for content_type, data in parts:
        yield f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        yield data
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def _multipart_response(parts: Iterator[tuple[str, bytes]], part_type: str, extra: str = "") -> StreamingResponse:
    boundary = _boundary()
    media = f'multipart/related; type="{part_type}"; boundary={boundary}{extra}'
    return StreamingResponse(_multipart(parts, part_type, boundary), media_type=media,
                             headers={"Cache-Control": "no-store"})


def _instance_bytes(request: Request, row: DicomInstance, syntax: str) -> bytes:
    path = index.instance_path(store_of(request), row)
    stored = row.transfer_syntax or EXPLICIT_LE
    if syntax == stored:
        return path.read_bytes()
    try:
        return dicom_syntax.transcode(path, syntax, where=f"instance {row.sop_uid}")
    except UnsupportedFormatError as exc:
        raise DicomWebError(406, f"instance {row.sop_uid} is stored as {stored}; it cannot be sent as {syntax}: "
                                 f"{exc}") from None


# -- QIDO-RS --------------------------------------------------------------------------------------------

def _qido(request: Request, user: User, level: str, study_uid: str | None = None,
          series_uid: str | None = None) -> Response:
    _json_accepted(request)
    store = store_of(request)
    limit, offset, fuzzy, include, matchers, unsupported = MAX_RESULTS, 0, False, set(), [], []
    raw: list[tuple[str, str]] = list(request.query_params.multi_items())
    for key, value in raw:
        if key == "fuzzymatching":
            if value.lower() not in ("true", "false"):
                raise DicomWebError(400, f"fuzzymatching={value!r}: true or false")
            fuzzy = value.lower() == "true"
    for key, value in raw:
        if key in ("fuzzymatching", "accept", "charset"):
            continue
        if key in ("limit", "offset"):
            if not value.isdigit() or len(value) > 9 or (key == "limit" and int(value) == 0):
                raise DicomWebError(400, f"{key}={value!r}: a whole number{' > 0' if key == 'limit' else ''}")
            limit, offset = (min(int(value), MAX_RESULTS), offset) if key == "limit" else (limit, int(value))
            continue
        try:
            if key == "includefield":
                for name in [v for v in re.split(r"[,\s]+", value) if v]:
                    include.add("all" if name == "all" else index.keyword_of(name))
                continue
            keyword = index.keyword_of(key)
            if level == "study" and keyword == "Modality":
                keyword = "ModalitiesInStudy"  # a study matches when one of its series has the modality
            if keyword not in index.LEVEL_KEYS[level]:
                unsupported.append(keyword)
                continue
            matchers.append(index.Matcher(keyword, value, fuzzy))
            include.add(keyword)
        except InvalidInputError as exc:
            raise DicomWebError(400, str(exc)) from None
    if study_uid is not None:
        _study_rows(request, study_uid, series_uid)
    else:
        index.sync(store)
    rows = index.instances(store, study_uid, series_uid)
    found = index.filter_records(index.records(rows, level), matchers)
    page = found[offset:offset + limit]
    body = [_qido_json(request, store, record, include) for record in page]
    headers = {}
    warnings = []
    if unsupported:
        warnings.append(f"299 biomedai: The following query keys are not supported at the {level} level: "
                        + ", ".join(sorted(set(unsupported))))
    if len(found) > offset + limit:
        warnings.append("299 biomedai: There are additional results that can be requested")
    if warnings:
        headers["Warning"] = ", ".join(warnings)
    audit(request, user, "dicomweb_query", "study", study_uid or "", f"{level}: {len(body)} of {len(found)}")
    if not body:
        return Response(status_code=204, headers=headers)
    import json

    return Response(json.dumps(body), media_type="application/dicom+json", headers=headers)


def _qido_json(request: Request, store: Any, record: index.Record, include: set[str]) -> dict[str, Any]:
    from pydicom.dataset import Dataset

    ds = Dataset()
    for keyword, value in record.attributes.items():
        if keyword in index.LEVEL_KEYS[record.level]:
            setattr(ds, keyword, value)
    extra = include - set(record.attributes)
    if extra:
        header = index.read_header(store, record.rows[0])
        for element in header:
            if element.tag.group == 0x7FE0 or element.VR in _BULK_VRS:
                continue
            if "all" in extra or element.keyword in extra:
                ds.add(element)
    first = record.rows[0]
    url = {"study": f"{_base(request)}/studies/{first.study_uid}",
           "series": f"{_base(request)}/studies/{first.study_uid}/series/{first.series_uid}",
           "instance": _instance_url(request, first)}[record.level]
    ds.RetrieveURL = url
    if record.level == "instance":
        ds.InstanceAvailability = "ONLINE"
    return ds.to_json_dict()


@router.get("/studies")
def search_studies(request: Request, user: User = Depends(need("viewer"))) -> Response:
    return _qido(request, user, "study")


@router.get("/series")
def search_all_series(request: Request, user: User = Depends(need("viewer"))) -> Response:
    return _qido(request, user, "series")


@router.get("/instances")
def search_all_instances(request: Request, user: User = Depends(need("viewer"))) -> Response:
    return _qido(request, user, "instance")


@router.get("/studies/{study}/series")
def search_series(request: Request, study: str, user: User = Depends(need("viewer"))) -> Response:
    return _qido(request, user, "series", study)


@router.get("/studies/{study}/instances")
def search_study_instances(request: Request, study: str, user: User = Depends(need("viewer"))) -> Response:
    return _qido(request, user, "instance", study)


@router.get("/studies/{study}/series/{series}/instances")
def search_instances(request: Request, study: str, series: str, user: User = Depends(need("viewer"))) -> Response:
    return _qido(request, user, "instance", study, series)


# -- WADO-RS: instances and metadata --------------------------------------------------------------------

def _retrieve(request: Request, user: User, study: str, series: str | None = None, sop: str | None = None
              ) -> Response:
    rows = _study_rows(request, study, series, sop)
    accepted = _multipart_ranges(request, "application/dicom")
    if not accepted:
        raise DicomWebError(406, 'instances are served as multipart/related; type="application/dicom" '
                                 f"(asked for {request.headers.get('accept')!r})")
    chosen = []
    for row in rows:
        syntax = _transfer_syntax_for(row, accepted)
        if syntax is None:
            raise DicomWebError(406, f"instance {row.sop_uid} is stored as {row.transfer_syntax}; it cannot be "
                                     f"sent as {', '.join(a for a in accepted if a)} (writable here: "
                                     f"{', '.join(dicom_syntax.writable_syntaxes())}; decodable from the stored "
                                     f"syntax: {dicom_syntax.can_decode(row.transfer_syntax or EXPLICIT_LE)})")
        chosen.append((row, syntax))
    audit(request, user, "dicomweb_retrieve", "study", study, f"{len(rows)} instance(s)")
    first = {}  # the first transcoded instance is made before answering: an encoder's refusal is a 406, not a
    for row, syntax in chosen:  # broken stream (one series is encoded alike, so the rest stream)
        if syntax != (row.transfer_syntax or EXPLICIT_LE):
            first[row.sop_uid] = _instance_bytes(request, row, syntax)
            break
    parts = ((f"application/dicom; transfer-syntax={syntax}",
              first.pop(row.sop_uid, None) or _instance_bytes(request, row, syntax)) for row, syntax in chosen)
    return _multipart_response(parts, "application/dicom")


def _metadata_of(request: Request, row: DicomInstance) -> dict[str, Any]:
    import pydicom
    from pydicom.datadict import dictionary_VR

    ds = pydicom.dcmread(index.instance_path(store_of(request), row), defer_size=1024)
    bulk = {}
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        vr = getattr(raw, "VR", None) or (dictionary_VR(tag) if tag.is_private is False else "UN")
        length = getattr(raw, "length", None)
        if length is None:
            value = getattr(raw, "value", None)
            length = len(value) if isinstance(value, (bytes, bytearray)) else 0
        if tag == _PIXEL_DATA or (vr in _BULK_VRS and length > 1024):
            bulk[tag] = "OB" if vr in ("OB or OW", "UN") and tag == _PIXEL_DATA else vr
            del ds[tag]
    out = ds.to_json_dict()
    base = _instance_url(request, row)
    for tag, vr in bulk.items():
        out[f"{tag:08X}"] = {"vr": vr if vr != "OB or OW" else "OW", "BulkDataURI": f"{base}/bulk/{tag:08X}"}
    meta = getattr(ds, "file_meta", None)
    if meta is not None and getattr(meta, "TransferSyntaxUID", None):
        out["00020010"] = {"vr": "UI", "Value": [str(meta.TransferSyntaxUID)]}
    return dict(sorted(out.items()))


def _metadata(request: Request, user: User, study: str, series: str | None = None, sop: str | None = None
              ) -> Response:
    import json

    _json_accepted(request)
    rows = _study_rows(request, study, series, sop)
    body = [_metadata_of(request, row) for row in rows]
    audit(request, user, "dicomweb_metadata", "study", study, f"{len(rows)} instance(s)")
    return Response(json.dumps(body), media_type="application/dicom+json", headers={"Cache-Control": "no-store"})


@router.get("/studies/{study}")
def retrieve_study(request: Request, study: str, user: User = Depends(need("viewer"))) -> Response:
    return _retrieve(request, user, study)


@router.get("/studies/{study}/series/{series}")
def retrieve_series(request: Request, study: str, series: str, user: User = Depends(need("viewer"))) -> Response:
    return _retrieve(request, user, study, series)


@router.get("/studies/{study}/series/{series}/instances/{sop}")
def retrieve_instance(request: Request, study: str, series: str, sop: str,
                      user: User = Depends(need("viewer"))) -> Response:
    return _retrieve(request, user, study, series, sop)


@router.get("/studies/{study}/metadata")
def study_metadata(request: Request, study: str, user: User = Depends(need("viewer"))) -> Response:
    return _metadata(request, user, study)


@router.get("/studies/{study}/series/{series}/metadata")
def series_metadata(request: Request, study: str, series: str, user: User = Depends(need("viewer"))) -> Response:
    return _metadata(request, user, study, series)


@router.get("/studies/{study}/series/{series}/instances/{sop}/metadata")
def instance_metadata(request: Request, study: str, series: str, sop: str,
                      user: User = Depends(need("viewer"))) -> Response:
    return _metadata(request, user, study, series, sop)


# -- WADO-RS: frames, bulk data, rendered ---------------------------------------------------------------

def _frame_numbers(text: str) -> list[int]:
    items = [t.strip() for t in text.split(",")]
    if not items or any(not t.isdigit() or len(t) > 9 or int(t) < 1 for t in items):
        raise DicomWebError(400, f"frames {text!r}: a comma-separated list of frame numbers from 1")
    return [int(t) for t in items]


#: media types of compressed frames (PS3.18 8.7.3.5) and the transfer syntaxes each carries
FRAME_MEDIA = {
    "image/jp2": ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"),
    "image/dicom-rle": ("1.2.840.10008.1.2.5",),
    "image/x-dicom-rle": ("1.2.840.10008.1.2.5",),
    "image/jls": ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"),
    "image/x-jls": ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"),
    "image/jpeg": ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
                   "1.2.840.10008.1.2.4.70"),
}
_OCTET = "application/octet-stream"


def frame_ranges(request: Request) -> list[tuple[str, str]]:
    """``[(part media type, transfer syntax or "" or "*"), ...]`` the client accepts for frames, in its order."""
    out = []
    for media, params in media_ranges(request):
        syntax = params.get("transfer-syntax", "")
        if media in ("*/*", "multipart/*"):
            out.append((_OCTET, syntax or "*"))
        elif media == "multipart/related":
            inner = params.get("type", _OCTET).lower()
            if inner in (_OCTET, "*/*") or inner in FRAME_MEDIA:
                out.append((_OCTET if inner == "*/*" else inner, syntax))
        elif media == _OCTET or media in FRAME_MEDIA:
            out.append((media, syntax))
    return out


def frame_syntax_for(stored: str, ranges: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """``(part media type, transfer syntax)`` to send frames stored as ``stored`` in, or None.

    ``application/octet-stream`` with ``*``, no syntax or Explicit VR Little Endian: the decoded pixels
    (what viewers read without codecs); with a compressed syntax: the frames encoded in it. A compressed
    media type (``image/jp2``...): the stored syntax when it is one of that type's, else one we can encode.
    """
    for media, wanted in ranges:
        if media == _OCTET:
            if wanted in ("*", "", EXPLICIT_LE):
                if dicom_syntax.can_decode(stored):
                    return _OCTET, EXPLICIT_LE
            elif wanted == stored or (dicom_syntax.can_decode(stored) and dicom_syntax.can_encode(wanted)):
                return _OCTET, wanted
            continue
        options = FRAME_MEDIA[media]
        if wanted not in ("", "*"):
            options = tuple(o for o in options if o == wanted)
        for option in options:
            if option == stored or (dicom_syntax.can_decode(stored) and dicom_syntax.can_encode(option)):
                return media, option
    return None


def frames_of(path: Any, numbers: Sequence[int], syntax: str = EXPLICIT_LE) -> list[bytes]:
    """The frames ``numbers`` (from 1) of an instance in ``syntax`` (native: decoded little-endian pixels);
    DicomWebError 404 for frames it does not have, 406 when they cannot be decoded or encoded here."""
    try:
        return dicom_syntax.frames(path, numbers, syntax)
    except IndexError as exc:
        raise DicomWebError(404, str(exc)) from None
    except UnsupportedFormatError as exc:
        status = 404 if "no pixel data" in str(exc) else 406
        raise DicomWebError(status, str(exc)) from None


@router.get("/studies/{study}/series/{series}/instances/{sop}/frames/{frames}")
def retrieve_frames(request: Request, study: str, series: str, sop: str, frames: str,
                    user: User = Depends(need("viewer"))) -> Response:
    numbers = _frame_numbers(frames)
    ranges = frame_ranges(request)
    if not ranges:
        raise DicomWebError(406, 'frames are served as multipart/related; type="application/octet-stream" '
                                 f"(or {', '.join(FRAME_MEDIA)}), asked for {request.headers.get('accept')!r}")
    row = _study_rows(request, study, series, sop, derived=False)[0]
    stored = row.transfer_syntax or EXPLICIT_LE
    chosen = frame_syntax_for(stored, ranges)
    if chosen is None:
        raise DicomWebError(406, f"frames of instance {row.sop_uid} are stored as {stored}; they cannot be sent as "
                                 f"{', '.join(f'{m} {t}'.strip() for m, t in ranges)} (writable here: "
                                 f"{', '.join(dicom_syntax.writable_syntaxes())})")
    media, syntax = chosen
    data = frames_of(index.instance_path(store_of(request), row), numbers, syntax)
    parts = ((f"{media}; transfer-syntax={syntax}", d) for d in data)
    return _multipart_response(iter(list(parts)), media)


@router.get("/studies/{study}/series/{series}/instances/{sop}/bulk/{tag}")
def retrieve_bulk(request: Request, study: str, series: str, sop: str, tag: str,
                  user: User = Depends(need("viewer"))) -> Response:
    import pydicom

    if not re.fullmatch(r"[0-9A-Fa-f]{8}", tag):
        raise DicomWebError(400, f"bulk data tag {tag!r}: eight hex digits (ggggeeee)")
    if not _multipart_ranges(request, "application/octet-stream"):
        raise DicomWebError(406, 'bulk data is served as multipart/related; type="application/octet-stream"')
    row = _study_rows(request, study, series, sop, derived=False)[0]
    ds = pydicom.dcmread(index.instance_path(store_of(request), row))
    element = ds.get(int(tag, 16))
    if element is None or not isinstance(element.value, (bytes, bytearray)):
        raise DicomWebError(404, f"instance {sop} has no bulk data element {tag.upper()}")
    syntax = ds.file_meta.TransferSyntaxUID
    return _multipart_response(iter([(f"application/octet-stream; transfer-syntax={syntax}",
                                      bytes(element.value))]), "application/octet-stream")


def _rendered_type(request: Request) -> str:
    for media, _ in media_ranges(request):
        if media in ("image/png", "image/jpeg"):
            return media
        if media in ("*/*", "image/*"):
            return "image/png"
    raise DicomWebError(406, f"rendered images are image/png or image/jpeg (asked for "
                             f"{request.query_params.get('accept') or request.headers.get('accept')!r})")


def _window(request: Request) -> tuple[float | None, float | None]:
    text = request.query_params.get("window")
    if text is None:
        return None, None
    pieces = [p.strip() for p in text.split(",")]
    try:
        if len(pieces) not in (2, 3):
            raise ValueError
        center, width = float(pieces[0]), float(pieces[1])
    except ValueError:
        raise DicomWebError(400, f"window={text!r}: center,width[,function]") from None
    if not width > 0 or pieces[2:] not in ([], ["linear"], ["linear-exact"]):
        raise DicomWebError(400, f"window={text!r}: width > 0 and function linear (sigmoid is not supported)")
    return center, width


def _viewport(request: Request) -> tuple[int, int] | None:
    text = request.query_params.get("viewport")
    if text is None:
        return None
    pieces = text.split(",")
    if len(pieces) not in (2, 4, 6) or not all(p.strip().isdigit() and 0 < int(p) <= 8192 for p in pieces[:2]):
        raise DicomWebError(400, f"viewport={text!r}: width,height in pixels (1..8192)")
    return int(pieces[0]), int(pieces[1])


def _render(request: Request, row: DicomInstance, frame: int | None,
            default_viewport: tuple[int, int] | None = None) -> Response:
    from ..workflow.previews import render_in_child

    media = _rendered_type(request)
    center, width = _window(request)
    viewport = _viewport(request) or default_viewport
    count = int(row.attributes.get("NumberOfFrames", 1) or 1)
    if "Rows" not in row.attributes:
        raise DicomWebError(400, f"instance {row.sop_uid} has no pixel data to render (SOP class "
                                 f"{row.sop_class_uid})")
    if frame is not None and frame > count:
        raise DicomWebError(404, f"no frame {frame}: the instance has {count} frame(s)")
    slice_index = frame - 1 if frame is not None and count > 1 else None
    try:
        data = render_in_child(index.instance_path(store_of(request), row), center, width, slice_index)
    except InvalidInputError as exc:
        raise DicomWebError(400, f"instance {row.sop_uid} cannot be rendered: {exc}") from None
    if viewport is not None or media == "image/jpeg":
        data = _convert(data, media, viewport, request.query_params.get("quality"))
    return Response(data, media_type=media, headers={"Cache-Control": "no-store"})


def _convert(png: bytes, media: str, viewport: tuple[int, int] | None, quality: str | None) -> bytes:
    import io

    from PIL import Image

    if quality is not None and (not quality.isdigit() or not 1 <= int(quality) <= 100):
        raise DicomWebError(400, f"quality={quality!r}: 1..100")
    picture = Image.open(io.BytesIO(png))
    if viewport is not None:
        picture.thumbnail(viewport)
    out = io.BytesIO()
    if media == "image/jpeg":
        picture.convert("RGB" if picture.mode not in ("L", "RGB") else picture.mode).save(
            out, "JPEG", quality=int(quality or 90))
    else:
        picture.save(out, "PNG")
    return out.getvalue()


@router.get("/studies/{study}/series/{series}/instances/{sop}/rendered")
def rendered_instance(request: Request, study: str, series: str, sop: str,
                      user: User = Depends(need("viewer"))) -> Response:
    return _render(request, _study_rows(request, study, series, sop, derived=False)[0], None)


@router.get("/studies/{study}/series/{series}/instances/{sop}/frames/{frames}/rendered")
def rendered_frame(request: Request, study: str, series: str, sop: str, frames: str,
                   user: User = Depends(need("viewer"))) -> Response:
    numbers = _frame_numbers(frames)
    if len(numbers) != 1:
        raise DicomWebError(400, "a rendered frame is one frame number")
    return _render(request, _study_rows(request, study, series, sop, derived=False)[0], numbers[0])


@router.get("/studies/{study}/series/{series}/thumbnail")
def series_thumbnail(request: Request, study: str, series: str, user: User = Depends(need("viewer"))) -> Response:
    rows = [r for r in _study_rows(request, study, series) if "Rows" in r.attributes]
    if not rows:
        raise DicomWebError(404, f"series {series} has no images")
    return _render(request, rows[len(rows) // 2], None, default_viewport=(128, 128))


def add_dicomweb(app: FastAPI) -> None:
    """Mount the DICOMweb routes and answer their errors in the DICOMweb way."""
    from .stow import stow_handler

    @app.exception_handler(DicomWebError)
    async def dicomweb_error(_request: Request, exc: DicomWebError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    app.include_router(router)
    handler = stow_handler(app)
    app.add_api_route(f"{ROOT}/studies", handler, methods=["POST"])
    app.add_api_route(f"{ROOT}/studies/{{study}}", handler, methods=["POST"])
