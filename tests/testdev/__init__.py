"""testdev: a real PrivateUse1 backend for the tests (see backend.py; importing this package
registers nothing, importing ``tests.testdev.backend`` does, as ``--import`` would)."""
