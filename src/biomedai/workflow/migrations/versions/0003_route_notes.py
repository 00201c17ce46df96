"""route_notes: methods that routing did not run on an input, and why (declined, not configured).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

Idempotent like 0001 (a database made by ``create_all`` with these models is adopted as it is).
"""
from __future__ import annotations

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    if 'route_notes' not in set(sa.inspect(op.get_bind()).get_table_names()):
        _route_notes()
    if 'ix_route_notes_study_id' not in {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes('route_notes')}:
        with op.batch_alter_table('route_notes', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_route_notes_study_id'), ['study_id'], unique=False)


def _route_notes() -> None:
    op.create_table('route_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=64), nullable=False),
    sa.Column('input', sa.String(length=512), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('study_id', 'method', 'input', name='uq_route_note')
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('route_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_route_notes_study_id'))

    op.drop_table('route_notes')
