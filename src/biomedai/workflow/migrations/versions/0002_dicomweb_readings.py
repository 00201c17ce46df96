"""DICOMweb index (dicom_instances), the SR/SEG made from results (derived_exports), readings (reports).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

Idempotent like 0001: a database made by ``create_all`` with these models is adopted without
touching its rows (each table and index is created only when missing).
"""
from __future__ import annotations

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if 'readings' not in existing:
        _readings()
    if 'derived_exports' not in existing:
        _derived_exports()
    if 'dicom_instances' not in existing:
        _dicom_instances()
    present = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes('dicom_instances')}
    with op.batch_alter_table('dicom_instances', schema=None) as batch_op:
        for column in ('series_uid', 'sop_uid', 'study_id', 'study_uid'):
            name = f'ix_dicom_instances_{column}'
            if name not in present:
                batch_op.create_index(batch_op.f(name), [column], unique=False)


def _readings() -> None:
    op.create_table('readings',
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('signed_by', sa.String(length=64), nullable=True),
    sa.Column('signed_at', sa.DateTime(), nullable=True),
    sa.Column('sr_path', sa.String(length=512), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('study_id')
    )


def _derived_exports() -> None:
    op.create_table('derived_exports',
    sa.Column('result_id', sa.Integer(), nullable=False),
    sa.Column('objects', sa.JSON(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['result_id'], ['results.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('result_id')
    )


def _dicom_instances() -> None:
    op.create_table('dicom_instances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=True),
    sa.Column('result_id', sa.Integer(), nullable=True),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('study_uid', sa.String(length=128), nullable=False),
    sa.Column('series_uid', sa.String(length=128), nullable=False),
    sa.Column('sop_uid', sa.String(length=128), nullable=False),
    sa.Column('sop_class_uid', sa.String(length=128), nullable=False),
    sa.Column('transfer_syntax', sa.String(length=128), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['files.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['result_id'], ['results.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('file_id')
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('dicom_instances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dicom_instances_study_uid'))
        batch_op.drop_index(batch_op.f('ix_dicom_instances_study_id'))
        batch_op.drop_index(batch_op.f('ix_dicom_instances_sop_uid'))
        batch_op.drop_index(batch_op.f('ix_dicom_instances_series_uid'))

    op.drop_table('dicom_instances')
    op.drop_table('derived_exports')
    op.drop_table('readings')
