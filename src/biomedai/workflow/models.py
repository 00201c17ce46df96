"""The workflow service's database tables (SQLAlchemy 2 declarative models).

Times are naive UTC ``datetime`` values (SQLite has no time zones; PostgreSQL stores them as
``timestamp without time zone``). JSON columns hold plain dicts/lists.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("viewer", "operator", "admin")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")


def utcnow() -> _dt.datetime:
    """Now, as a naive UTC datetime (what every table stores)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="viewer")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class Token(Base):
    """An API token; only its SHA-256 is stored, so a leaked database does not leak tokens."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    expires_at: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False)
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    user: Mapped[User] = relationship()


class Study(Base):
    """One study, stored once: ``uid`` is the StudyInstanceUID or ``sha256:<content hash>``."""

    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    patient_id: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    modality: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    body_part: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    description: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    source: Mapped[str] = mapped_column(String(32), nullable=False, default="upload")
    priority: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    findings: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    files: Mapped[list[StoredFile]] = relationship(back_populates="study", cascade="all, delete-orphan",
                                                   order_by="StoredFile.id")
    jobs: Mapped[list[Job]] = relationship(back_populates="study", cascade="all, delete-orphan", order_by="Job.id")


class StoredFile(Base):
    """A file of a study, kept under the storage folder at ``path`` (relative, checked)."""

    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("study_id", "sha256", name="uq_file_study_sha"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), nullable=False)
    path: Mapped[str] = mapped_column(String(512), nullable=False)
    original_name: Mapped[str] = mapped_column(String(256), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    format: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    series_uid: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    series_description: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    modality: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    body_part: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    preview: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    study: Mapped[Study] = relationship(back_populates="files")


class Job(Base):
    """One method run on one input unit of a study; the durable queue is this table."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), nullable=False)
    method: Mapped[str] = mapped_column(String(64), nullable=False)
    inputs: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    #: ``{"weights": path, "config": {...}}`` from the routing rule (both optional)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued", index=True)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    timeout_s: Mapped[float] = mapped_column(Float, nullable=False, default=3600.0)
    not_before: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    lease_until: Mapped[_dt.datetime | None] = mapped_column(DateTime, nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    started_at: Mapped[_dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[_dt.datetime | None] = mapped_column(DateTime, nullable=True)
    study: Mapped[Study] = relationship(back_populates="jobs")
    result: Mapped[Result | None] = relationship(back_populates="job", cascade="all, delete-orphan",
                                                 uselist=False)


class Result(Base):
    """The stored outcome of a finished job: one row per job at most (``job_id`` is unique)."""

    __tablename__ = "results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True, nullable=False)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), nullable=False)
    method: Mapped[str] = mapped_column(String(64), nullable=False)
    output_dir: Mapped[str] = mapped_column(String(512), nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    files: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    priority: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    findings: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    job: Mapped[Job] = relationship(back_populates="result")


class AuditEvent(Base):
    """Who saw or changed what, and when."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    object_id: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    client: Mapped[str] = mapped_column(String(64), nullable=False, default="")


class DicomInstance(Base):
    """One DICOM instance that DICOMweb serves: a stored file of a study (``file_id``) or an object the
    service made from a result (``result_id``: its SR or SEG). The query attributes are copied from the
    header once (:mod:`biomedai.workflow.dicom_index`); ``path`` is relative to the storage folder."""

    __tablename__ = "dicom_instances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), nullable=False, index=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), nullable=True,
                                                unique=True)
    result_id: Mapped[int | None] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), nullable=True)
    path: Mapped[str] = mapped_column(String(512), nullable=False)
    study_uid: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    series_uid: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    sop_uid: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    transfer_syntax: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    #: the query attributes (PS3.18 Table 10.6.1-5 keys and the instance's geometry), keyword -> value
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class DerivedExport(Base):
    """That a result's DICOM objects (SR, SEG) were made for DICOMweb, or why not (``detail``)."""

    __tablename__ = "derived_exports"
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), primary_key=True)
    objects: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class Reading(Base):
    """A radiologist's reading of a study: who holds it (one reader at a time), the report text and its
    sign-off (``status``: draft -> final); the final report's DICOM SR is kept at ``sr_path``."""

    __tablename__ = "readings"
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[_dt.datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    signed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signed_at: Mapped[_dt.datetime | None] = mapped_column(DateTime, nullable=True)
    sr_path: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    updated_at: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class RouteNote(Base):
    """A method that routing did not run on an input, and why: it declined what the input shows
    (``status`` "declined") or it has no model (``status`` "not configured", the reason says what to do)."""

    __tablename__ = "route_notes"
    __table_args__ = (UniqueConstraint("study_id", "method", "input", name="uq_route_note"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), nullable=False, index=True)
    method: Mapped[str] = mapped_column(String(64), nullable=False)
    input: Mapped[str] = mapped_column(String(512), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
