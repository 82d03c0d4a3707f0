"""Stage 7, signing: evidence, results and reports signed by the auditor's key, verified offline.

- :mod:`auditor.signing.keys`: a signing key and its certificate, made by `auditor keygen`;
- :mod:`auditor.signing.attestation`: a DSSE envelope over an in-toto statement naming every
  file of a run with its sha256, the auditor version and the packs and frameworks (with digests);
- :mod:`auditor.signing.pdf_signature`: the PDF report signed as PAdES (an incremental update, so
  PDF/A-3b and the attached results file stay);
- :mod:`auditor.signing.verify`: `auditor verify FILE...`, offline.

Needs the `sign` extra (cryptography, pyHanko), imported only when a run signs or verifies.
"""
