"""computed sets and audit events

Computed sets, their molecules and inspirations (molecule <-> protein), and the audit
trail. computed_sets.job_request_id has no foreign key yet: job_requests comes in a
parallel migration; the merge revision may add fk_computed_sets_job_request_id_job_requests.

Revision ID: 6b0ed52c3689
Revises: 29e07b021a51
Create Date: 2026-11-22 04:28:00.609035

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6b0ed52c3689'
down_revision = '29e07b021a51'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=150), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=True),
    sa.Column('object_name', sa.String(length=200), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_events_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_object_type'), ['object_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_time'), ['time'], unique=False)

    op.create_table('computed_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('submitter_name', sa.String(length=200), nullable=False),
    sa.Column('submitter_email', sa.String(length=254), nullable=False),
    sa.Column('submitter_institution', sa.String(length=200), nullable=False),
    sa.Column('method', sa.String(length=200), nullable=False),
    sa.Column('ref_url', sa.String(length=1000), nullable=False),
    sa.Column('generation_date', sa.Date(), nullable=False),
    sa.Column('descriptions', sa.JSON(), nullable=False),
    sa.Column('score_names', sa.JSON(), nullable=False),
    sa.Column('sdf_file', sa.String(length=500), nullable=False),
    sa.Column('zip_file', sa.String(length=500), nullable=True),
    sa.Column('job_request_id', sa.Integer(), nullable=True),
    sa.Column('molecule_count', sa.Integer(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_computed_sets_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['target_id'], ['targets.id'], name=op.f('fk_computed_sets_target_id_targets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_computed_sets')),
    sa.UniqueConstraint('job_request_id', name=op.f('uq_computed_sets_job_request_id')),
    sa.UniqueConstraint('name', name=op.f('uq_computed_sets_name'))
    )
    with op.batch_alter_table('computed_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_computed_sets_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_computed_sets_target_id'), ['target_id'], unique=False)

    op.create_table('computed_molecules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('computed_set_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('smiles', sa.Text(), nullable=False),
    sa.Column('original_smiles', sa.Text(), nullable=False),
    sa.Column('mol_block', sa.Text(), nullable=False),
    sa.Column('ref_mols', sa.JSON(), nullable=False),
    sa.Column('ref_pdb', sa.String(length=255), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('depiction_svg', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['computed_set_id'], ['computed_sets.id'], name=op.f('fk_computed_molecules_computed_set_id_computed_sets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_computed_molecules')),
    sa.UniqueConstraint('computed_set_id', 'name', name='uq_computed_molecules_set_name')
    )
    with op.batch_alter_table('computed_molecules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_computed_molecules_computed_set_id'), ['computed_set_id'], unique=False)

    op.create_table('computed_molecule_inspirations',
    sa.Column('molecule_id', sa.Integer(), nullable=False),
    sa.Column('protein_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['molecule_id'], ['computed_molecules.id'], name=op.f('fk_computed_molecule_inspirations_molecule_id_computed_molecules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['protein_id'], ['proteins.id'], name=op.f('fk_computed_molecule_inspirations_protein_id_proteins'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('molecule_id', 'protein_id', name=op.f('pk_computed_molecule_inspirations'))
    )


def downgrade():
    op.drop_table('computed_molecule_inspirations')
    with op.batch_alter_table('computed_molecules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_computed_molecules_computed_set_id'))

    op.drop_table('computed_molecules')
    with op.batch_alter_table('computed_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_computed_sets_target_id'))
        batch_op.drop_index(batch_op.f('ix_computed_sets_owner_id'))

    op.drop_table('computed_sets')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_time'))
        batch_op.drop_index(batch_op.f('ix_audit_events_object_type'))

    op.drop_table('audit_events')
