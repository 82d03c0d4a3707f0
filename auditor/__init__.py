"""auditor: a container compliance auditor (CIS Docker, CIS Kubernetes, PSS, NIST, PCI DSS)."""

__version__ = "0.1.0"
