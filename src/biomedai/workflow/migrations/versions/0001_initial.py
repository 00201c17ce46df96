"""The initial schema: the tables as ``Base.metadata.create_all`` made them before migrations existed.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Idempotent on purpose: a database created by ``create_all`` (before this package had migrations)
has some or all of these tables and no ``alembic_version``; each table and index is created only
when it is missing, so such a database is adopted at this revision without touching its rows.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _indexes(table: str) -> set[str]:
    return {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes(table)}


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if 'audit' not in existing:
        op.create_table('audit',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('time', sa.DateTime(), nullable=False),
            sa.Column('username', sa.String(length=64), nullable=False),
            sa.Column('action', sa.String(length=64), nullable=False),
            sa.Column('object_type', sa.String(length=32), nullable=False),
            sa.Column('object_id', sa.String(length=128), nullable=False),
            sa.Column('detail', sa.Text(), nullable=False),
            sa.Column('client', sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint('id')
            )
    if 'ix_audit_time' not in _indexes('audit'):
        op.create_index(op.f('ix_audit_time'), 'audit', ['time'], unique=False)
    if 'studies' not in existing:
        op.create_table('studies',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('uid', sa.String(length=128), nullable=False),
            sa.Column('patient_id', sa.String(length=128), nullable=False),
            sa.Column('modality', sa.String(length=16), nullable=False),
            sa.Column('body_part', sa.String(length=64), nullable=False),
            sa.Column('description', sa.String(length=256), nullable=False),
            sa.Column('source', sa.String(length=32), nullable=False),
            sa.Column('priority', sa.Float(), nullable=False),
            sa.Column('findings', sa.JSON(), nullable=False),
            sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint('id'),
            sa.UniqueConstraint('uid')
            )
    if 'users' not in existing:
        op.create_table('users',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('username', sa.String(length=64), nullable=False),
            sa.Column('password_hash', sa.String(length=256), nullable=False),
            sa.Column('role', sa.String(length=16), nullable=False),
            sa.Column('active', sa.Boolean(), nullable=False),
            sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint('id'),
            sa.UniqueConstraint('username')
            )
    if 'files' not in existing:
        op.create_table('files',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('study_id', sa.Integer(), nullable=False),
            sa.Column('path', sa.String(length=512), nullable=False),
            sa.Column('original_name', sa.String(length=256), nullable=False),
            sa.Column('sha256', sa.String(length=64), nullable=False),
            sa.Column('size', sa.Integer(), nullable=False),
            sa.Column('format', sa.String(length=32), nullable=False),
            sa.Column('kind', sa.String(length=64), nullable=False),
            sa.Column('series_uid', sa.String(length=128), nullable=False),
            sa.Column('series_description', sa.String(length=256), nullable=False),
            sa.Column('modality', sa.String(length=16), nullable=False),
            sa.Column('body_part', sa.String(length=64), nullable=False),
            sa.Column('preview', sa.String(length=512), nullable=False),
            sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('id'),
            sa.UniqueConstraint('study_id', 'sha256', name='uq_file_study_sha')
            )
    if 'jobs' not in existing:
        op.create_table('jobs',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('study_id', sa.Integer(), nullable=False),
            sa.Column('method', sa.String(length=64), nullable=False),
            sa.Column('inputs', sa.JSON(), nullable=False),
            sa.Column('options', sa.JSON(), nullable=False),
            sa.Column('status', sa.String(length=16), nullable=False),
            sa.Column('priority', sa.Integer(), nullable=False),
            sa.Column('attempts', sa.Integer(), nullable=False),
            sa.Column('max_attempts', sa.Integer(), nullable=False),
            sa.Column('timeout_s', sa.Float(), nullable=False),
            sa.Column('not_before', sa.DateTime(), nullable=False),
            sa.Column('lease_until', sa.DateTime(), nullable=True),
            sa.Column('lease_token', sa.String(length=64), nullable=True),
            sa.Column('worker_id', sa.String(length=128), nullable=True),
            sa.Column('cancel_requested', sa.Boolean(), nullable=False),
            sa.Column('error', sa.Text(), nullable=False),
            sa.Column('created_by', sa.String(length=64), nullable=False),
            sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.Column('started_at', sa.DateTime(), nullable=True),
            sa.Column('finished_at', sa.DateTime(), nullable=True),
            sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('id')
            )
    if 'ix_jobs_status' not in _indexes('jobs'):
        op.create_index(op.f('ix_jobs_status'), 'jobs', ['status'], unique=False)
    if 'tokens' not in existing:
        op.create_table('tokens',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('token_sha256', sa.String(length=64), nullable=False),
            sa.Column('user_id', sa.Integer(), nullable=False),
            sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.Column('expires_at', sa.DateTime(), nullable=False),
            sa.Column('revoked', sa.Boolean(), nullable=False),
            sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('id'),
            sa.UniqueConstraint('token_sha256')
            )
    if 'results' not in existing:
        op.create_table('results',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('job_id', sa.Integer(), nullable=False),
            sa.Column('study_id', sa.Integer(), nullable=False),
            sa.Column('method', sa.String(length=64), nullable=False),
            sa.Column('output_dir', sa.String(length=512), nullable=False),
            sa.Column('metrics', sa.JSON(), nullable=False),
            sa.Column('files', sa.JSON(), nullable=False),
            sa.Column('priority', sa.Float(), nullable=False),
            sa.Column('findings', sa.JSON(), nullable=False),
            sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
            sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('id'),
            sa.UniqueConstraint('job_id')
            )


def downgrade() -> None:
    for table in ("results", "tokens", "jobs", "files", "users", "studies", "audit"):
        op.drop_table(table)
