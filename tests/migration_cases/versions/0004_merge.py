"""merge heads

Revision ID: 0004
Revises: 0003a, 0003b
"""
from typing import Sequence, Union

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = ("0003a", "0003b")
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
