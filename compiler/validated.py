"""Remember which (schema, document) pairs already validated, across processes.

Loading jsonschema and validating both catalogs is most of a cold `syncmap check`; the result
depends only on the two texts, so a marker named by their digest in the temp directory lets
later runs skip both. A marker that cannot be written or read just means validating again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

_DIR = os.path.join(tempfile.gettempdir(), "syncmap-validated")


def _marker(schema_text: str, document_text: str) -> str:
    digest = hashlib.sha256(schema_text.encode() + b"\0" + document_text.encode()).hexdigest()
    return os.path.join(_DIR, digest)


def known_valid(schema_text: str, document_text: str) -> bool:
    return os.path.exists(_marker(schema_text, document_text))


def remember_valid(schema_text: str, document_text: str) -> None:
    try:
        os.makedirs(_DIR, exist_ok=True)
        with open(_marker(schema_text, document_text), "w"):
            pass
    except OSError:
        pass
