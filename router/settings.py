"""Process settings: from flags, else the environment (ROUTER_*), else defaults. Read once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from router.policy.loader import default_policy_path


@dataclass(frozen=True, slots=True)
class Settings:
    policy_path: Path
    host: str = "127.0.0.1"
    port: int = 8400
    workers: int = 1
    redis_url: str | None = None
    transport: str = "aiohttp"  # upstream HTTP transport under httpx: aiohttp | httpx
    log_level: str = "info"
    access_log: str = "stderr"  # one JSON line per request: stderr | stdout | off | a file path
    drain_s: float = 5.0  # after SIGTERM: answer 503 and report not ready this long before shutting down
    shadow_policy: Path | None = None  # a candidate policy decided alongside (else the policy's server.shadow)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            policy_path=Path(env["ROUTER_POLICY"]) if env.get("ROUTER_POLICY") else default_policy_path(),
            host=env.get("ROUTER_HOST", "127.0.0.1"),
            port=int(env.get("ROUTER_PORT", "8400")),
            workers=int(env.get("ROUTER_WORKERS", "1")),
            redis_url=env.get("ROUTER_REDIS_URL") or None,
            transport=env.get("ROUTER_UPSTREAM_TRANSPORT", "aiohttp"),
            log_level=env.get("ROUTER_LOG_LEVEL", "info"),
            access_log=env.get("ROUTER_ACCESS_LOG", "stderr"),
            drain_s=float(env.get("ROUTER_DRAIN_SECONDS", "5")),
            shadow_policy=Path(env["ROUTER_SHADOW_POLICY"]) if env.get("ROUTER_SHADOW_POLICY") else None,
        )

    def to_env(self) -> dict[str, str]:
        """The same settings as environment variables, for worker processes started by uvicorn."""
        env = {
            "ROUTER_POLICY": str(self.policy_path),
            "ROUTER_HOST": self.host,
            "ROUTER_PORT": str(self.port),
            "ROUTER_WORKERS": str(self.workers),
            "ROUTER_UPSTREAM_TRANSPORT": self.transport,
            "ROUTER_LOG_LEVEL": self.log_level,
            "ROUTER_ACCESS_LOG": self.access_log,
            "ROUTER_DRAIN_SECONDS": str(self.drain_s),
        }
        if self.redis_url:
            env["ROUTER_REDIS_URL"] = self.redis_url
        if self.shadow_policy is not None:
            env["ROUTER_SHADOW_POLICY"] = str(self.shadow_policy)
        return env
