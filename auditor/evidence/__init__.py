"""Stage 2, the evidence bundle: what the collectors gathered, as one hashed document to save,
load and evaluate (see docs/evidence.md)."""

from auditor.evidence.bundle import (
    KIND,
    SCHEMA_VERSION,
    build_bundle,
    content_sha256,
    load_bundle,
    save_bundle,
    utc_now,
)

__all__ = ["KIND", "SCHEMA_VERSION", "build_bundle", "content_sha256", "load_bundle", "save_bundle", "utc_now"]
