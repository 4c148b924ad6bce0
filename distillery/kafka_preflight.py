"""The start-time check of the cluster's security settings: the capture SDK's, re-exported.

:func:`preflight` lives in :mod:`distillery_capture.preflight` (the SDK's producer
diagnoses a refused login with it, installed alone); the workers import it from here.
"""

from __future__ import annotations

from distillery_capture.preflight import Cluster, preflight  # noqa: F401 - re-exported
