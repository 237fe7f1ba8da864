"""Whether the process a lock file names still runs (kubeconfig and pytest locks)."""
from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """A reused pid looks alive; callers then wait and time out with a fix."""
    if pid <= 0:
        return False  # os.kill(0, ...) would signal our own process group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OverflowError:
        return False
    except PermissionError:
        return True
    return True
