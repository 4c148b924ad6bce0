"""The dev kit: what tests, benchmarks and the demo need and production never imports.

The simulated bank world and its teacher (:mod:`devkit.sim`), the local Kafka
broker (:mod:`devkit.localkafka`, ``distillery kafka up``), tiny models for fast
tests (:mod:`devkit.tiny_student`, :mod:`devkit.tiny_adapters`) and the
redaction baseline the benchmark measures against (:mod:`devkit.redact_baseline`).
``tests/unit/test_layout.py`` checks that no worker and not the contract import it.
"""
