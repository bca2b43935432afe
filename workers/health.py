"""The gate a worker passes before it takes jobs: the sandbox self-test (grader/selftest.py)."""

from __future__ import annotations

import logging
import socket

from app.config import Settings
from app.health import Flag, record
from grader import jail, sandbox, selftest

log = logging.getLogger("zerograd.worker")


def gate(settings: Settings, worker: str | None = None) -> bool:
    """Run the self-test, publish the flag, log loudly; False: this worker must not grade."""
    jail.configure(settings.sandbox_uid_base, settings.sandbox_uid_slots,
                   settings.sandbox_slot_dir)
    name = worker or f"{socket.gethostname()}"
    if settings.sandbox_backend == "fallback":
        record(settings, Flag(name, True, sandbox.FALLBACK_WARNING, unsafe=True))
        log.warning("zerograd worker %s grades with the %s", name, sandbox.FALLBACK_WARNING)
        return True
    st = selftest.run(settings.sandbox_backend, settings.worker_gpu_devices or None)
    if st.ok:
        record(settings, Flag(name, True, selftest.describe()))
        log.info("zerograd worker %s: sandbox self-test passed (%s)", name, selftest.describe())
        return True
    record(settings, Flag(name, False, "sandbox self-test failed: refusing to grade",
                          st.failures))
    log.critical("zerograd worker %s REFUSES TO TAKE JOBS: sandbox self-test failed: %s",
                 name, "; ".join(st.failures))
    return False
