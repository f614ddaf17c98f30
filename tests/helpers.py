"""Small helpers the end-to-end tests share."""

import time


def wait_for(predicate, timeout: float = 60.0, every: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes (for real processes; never a backoff)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())
