"""Hot reload: watch the policy file and swap the compiled Policy atomically when it changes.

The file is polled (stat, then content digest) rather than watched with inotify, because editors and
Kubernetes ConfigMaps replace files by rename and symlink swaps that inotify watchers often miss. An
invalid edit is refused: the last good policy keeps serving and the error is kept for GET /router/policy.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from router.policy.compiled import Policy
from router.policy.loader import PolicyInvalid, load_policy

log = logging.getLogger("router.policy")


@dataclass(frozen=True, slots=True)
class ReloadError:
    message: str
    at: float


class PolicyHolder:
    """Owns the current Policy; readers take `holder.current` once per request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: Policy = load_policy(path)  # the first load must succeed: raise otherwise
        self.last_error: ReloadError | None = None
        self.reloads = 0
        self.failed_reloads = 0
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def check(self) -> bool:
        """Reload if the file changed; True when a new policy was swapped in."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            if hashlib.sha256(self.path.read_bytes()).hexdigest()[:12] == self.current.digest:
                self.last_error = None  # the file is back to what is serving
                return False
            policy = load_policy(self.path)
        except (PolicyInvalid, OSError) as exc:
            self.failed_reloads += 1
            self.last_error = ReloadError(str(exc), time.time())
            log.error("policy reload refused, still serving version %s: %s", self.current.digest, exc)
            return False
        self.current = policy
        self.last_error = None
        self.reloads += 1
        log.info("policy reloaded from %s: version %s", self.path, policy.digest)
        return True

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.current.spec.server.reload_interval_s)
            self.check()
