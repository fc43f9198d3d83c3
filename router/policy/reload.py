"""Hot reload: watch the policy file and swap the compiled Policy atomically when it changes.

The file is polled (stat, then content digest) rather than watched with inotify, because editors and
Kubernetes ConfigMaps replace files by rename and symlink swaps that inotify watchers often miss. An
invalid edit is refused: the last good policy keeps serving and the error is kept for GET /router/policy.

A file is read and parsed in a worker thread, so a large or hostile file never stalls the event loop
(the loader bounds its cost too), and the watcher outlives any failure: whatever a check raises is a
refused reload, logged and reported, and the next edit is checked as usual.
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
from router.policy.loader import PolicyInvalid, load_policy, parse_policy, read_policy_bytes

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

    def _load_if_changed(self, digest: str) -> Policy | None:
        """Runs in a worker thread: the new policy, None when the content is what is serving, or raises."""
        raw = read_policy_bytes(self.path)
        if hashlib.sha256(raw).hexdigest()[:12] == digest:
            return None
        return parse_policy(raw, str(self.path), os.environ)

    async def check(self) -> bool:
        """Reload if the file changed; True when a new policy was swapped in."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            policy = await asyncio.to_thread(self._load_if_changed, self.current.digest)
        except Exception as exc:  # PolicyInvalid, or anything else: never let it end the watcher
            self._refuse(exc)
            return False
        if policy is None:
            self.last_error = None  # the file is back to what is serving
            return False
        self.current = policy
        self.last_error = None
        self.reloads += 1
        log.info("policy reloaded from %s: version %s", self.path, policy.digest)
        return True

    def _refuse(self, exc: Exception) -> None:
        message = (
            str(exc) if isinstance(exc, PolicyInvalid) else f"{self.path}: policy reload failed: {type(exc).__name__}: {exc}"
        )
        self.failed_reloads += 1
        self.last_error = ReloadError(message, time.time())
        log.error("policy reload refused, still serving version %s: %s", self.current.digest, message)

    async def watch(self) -> None:
        """Check the file every reload_interval_s, for as long as the gateway runs."""
        while True:
            await asyncio.sleep(self.current.spec.server.reload_interval_s)
            try:
                await self.check()
            except Exception:  # a bug here must not stop later edits from applying
                log.exception("policy watcher: unexpected error; still watching %s", self.path)
