"""The rule packs as this deployment configures them: payer file and edit tables from env."""

from __future__ import annotations

import os
from functools import cache

from rules.knowledge.load import load_knowledge
from rules.knowledge.model import Knowledge


@cache
def default_knowledge() -> Knowledge:
    """The packs, with the operator's payer file and imported edit tables when configured."""
    return load_knowledge(
        payer_settings_file=os.environ.get("TRACTION_PAYER_SETTINGS") or None,
        edits_dir=os.environ.get("TRACTION_EDITS_DIR") or None,
    )
