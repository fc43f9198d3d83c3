"""The `router` command: serve, policy validate|schema, explain, classify (and the learned router's tools).

Every subcommand is a small function taking parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from router.policy.loader import PolicyInvalid, load_policy
from router.policy.schema import json_schema
from router.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    base = Settings.from_env()
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "workers", "redis_url", "access_log", "metrics_port", "metrics_host"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "policy", None):
        overrides["policy_path"] = Path(args.policy)
    if getattr(args, "shadow_policy", None):
        overrides["shadow_policy"] = Path(args.shadow_policy).resolve()
    return Settings(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **overrides})


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from router.api.connections import raise_file_limit

    settings = _settings(args)
    try:
        policy = load_policy(settings.policy_path)
    except PolicyInvalid as exc:
        print(exc, file=sys.stderr)
        return 1
    if not policy.multi_tenant and not is_loopback(settings.host) and not args.allow_open:
        print(
            f"router serve: refusing to serve {settings.host} without tenants: anyone who can reach it could use your models. "
            "Add a tenants: section with API keys, or pass --allow-open if that is what you want.",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per upstream call is noise, and slow
    files, _ = raise_file_limit()
    server = policy.spec.server
    if files < server.max_connections + 1024:
        logging.getLogger("router").warning(
            "open-file limit %d is low for server.max_connections %d: raise it (ulimit -n)", files, server.max_connections
        )
    os.environ.update(settings.to_env())
    uvicorn.run(
        "router.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers if settings.workers > 1 else None,
        loop="uvloop",
        http="router.api.connections:LimitedHttpToolsProtocol",  # httptools, with deadlines and caps
        access_log=False,  # the gateway writes its own structured access line
        proxy_headers=False,  # client addresses are never used; rewriting them costs per request
        server_header=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=30,
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    failed = False
    for path in args.paths:
        try:
            load_policy(path)
        except PolicyInvalid as exc:
            failed = True
            for issue in exc.issues:
                print(issue, file=sys.stderr)
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


def _planner(args: argparse.Namespace) -> Any:
    from router.gateway import Gateway

    return Gateway.build(_settings(args))


def _context(gw: Any) -> Any:
    from router.pipeline import RequestContext
    from router.policy.decide import Hints

    return RequestContext("cli", Hints(), gw.policies.current)


def cmd_explain(args: argparse.Namespace) -> int:
    from router import pipeline
    from router.errors import RouterError

    if args.request:
        body = json.loads(Path(args.request).read_text())
    elif args.text:
        body = {"model": args.route, "messages": [{"role": "user", "content": " ".join(args.text)}]}
    else:
        print("router explain: give TEXT or --request FILE.json", file=sys.stderr)
        return 2
    try:
        gw = _planner(args)
        print(json.dumps(asyncio.run(pipeline.explain(gw, _context(gw), body)), indent=2))
    except PolicyInvalid as exc:
        print(exc, file=sys.stderr)
        return 1
    except RouterError as exc:
        print(f"router explain: {exc.message}", file=sys.stderr)
        return 1
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from router import pipeline
    from router.errors import RouterError

    try:
        gw = _planner(args)
    except PolicyInvalid as exc:
        print(exc, file=sys.stderr)
        return 1
    ctx = _context(gw)
    try:
        resolved = asyncio.run(pipeline.resolve(gw, ctx, args.route))
    except RouterError as exc:
        print(f"router classify: {exc.message}", file=sys.stderr)
        return 1
    out = sys.stdout
    for number, line in enumerate(sys.stdin, 1):
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("each line must be a JSON object")
            body = dict(row) if "messages" in row else {"messages": [{"role": "user", "content": str(row.get("prompt", ""))}]}
            body["model"] = args.route
            classification, decision = pipeline.plan(gw, ctx, body, resolved, ctx.hints)
            result: dict[str, Any] = classification.as_dict(explain=False) | {
                "tier": decision.tier,
                "model": decision.candidates[0],
                "reason": decision.reason,
            }
            if isinstance(row.get("id"), (str, int)):
                result = {"id": row["id"]} | result
        except (ValueError, RouterError) as exc:
            message = exc.message if isinstance(exc, RouterError) else str(exc)
            print(f"<stdin>:{number}: {message}", file=sys.stderr)
            result = {"error": message}
        out.write(json.dumps(result) + "\n")
    return 0


def cmd_usage(args: argparse.Namespace) -> int:
    """Read the usage ledger from a running gateway (any store) and print it as a table."""

    params = {k: v for k, v in (("tenant", args.tenant), ("day_from", args.day_from), ("day_to", args.day_to)) if v}
    answer = _admin_get(args, "/router/usage", "router usage", params)
    if answer is None:
        return 1
    rows = answer["data"]
    if answer.get("partial"):
        print(
            f"router usage: PARTIAL: {answer.get('warning', 'the gateway could read only part of the ledger')}", file=sys.stderr
        )
    columns = ("day", "tenant", "model", "tier", "requests", "prompt_tokens", "completion_tokens", "cost_usd", "saved_usd")
    table = [columns] + [tuple(f"{r[c]:.6f}" if isinstance(r[c], float) else str(r[c]) for c in columns) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        print("  ".join(cell.ljust(w) if i < 4 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
    total_cost = sum(r["cost_usd"] for r in rows)
    total_saved = sum(r["saved_usd"] for r in rows)
    print(
        f"\n{sum(r['requests'] for r in rows)} requests, cost {total_cost:.6f} USD, saved {total_saved:.6f} USD against the LLM tier"
    )
    return 0


def _admin_get(args: argparse.Namespace, path: str, command: str, params: dict[str, str] | None = None) -> Any:
    """GET an admin endpoint of a running gateway; None (after saying why on stderr) when it fails."""
    import httpx

    headers = {"authorization": f"Bearer {args.admin_key}"} if args.admin_key else {}
    try:
        response = httpx.get(f"{args.url.rstrip('/')}{path}", params=params, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        print(f"{command}: cannot reach {args.url}: {exc}", file=sys.stderr)
        return None
    if response.status_code != 200:
        print(f"{command}: {response.status_code}: {response.text}", file=sys.stderr)
        return None
    return response.json()


def cmd_shadow_report(args: argparse.Namespace) -> int:
    """Read a running gateway's shadow tally: what the candidate policy would have decided differently."""

    report = _admin_get(args, "/router/shadow", "router shadow report")
    if report is None:
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    candidate = report["candidate"] or {}
    print(f"candidate {candidate.get('source')} (version {candidate.get('version')})")
    for name, r in report["routes"].items():
        print(
            f"route {name}: {r['requests']} requests, {r['changed']} decided differently, "
            f"estimated cost {r['live_cost_usd']:.6f} -> {r['candidate_cost_usd']:.6f} USD ({r['cost_change_usd']:+.6f})"
        )
        for pair, n in sorted(r["reasons"].items(), key=lambda kv: -kv[1]):
            print(f"    reason {pair}: {n}")
        for pair, n in sorted(r["moves"].items(), key=lambda kv: -kv[1]):
            print(f"    model  {pair}: {n}")
    print(f"\n{report['requests']} requests, {report['changed']} changed, cost change {report['cost_change_usd']:+.6f} USD")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="router", description="OpenAI-compatible model-router gateway")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--policy", help="policy file (default: $ROUTER_POLICY or the packaged default)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--redis-url", dest="redis_url")
    serve.add_argument(
        "--metrics-port", dest="metrics_port", type=int, help="serve GET /metrics without a key on this port too (for Prometheus)"
    )
    serve.add_argument("--metrics-host", dest="metrics_host", help="address of the metrics listener (default 127.0.0.1)")
    serve.add_argument(
        "--access-log", dest="access_log", help="one JSON line per request to stderr (default), stdout, off, or a file"
    )
    serve.add_argument("--allow-open", action="store_true", help="serve a non-loopback address without tenants (no API keys)")
    serve.add_argument("--shadow-policy", dest="shadow_policy", help="a candidate policy decided alongside (no model call)")
    serve.set_defaults(func=cmd_serve)

    shadow = sub.add_parser("shadow", help="shadow policy tools").add_subparsers(dest="shadow_command", required=True)
    report = shadow.add_parser("report", help="what a running gateway's candidate policy would have decided differently")
    report.add_argument("--url", default="http://127.0.0.1:8400")
    report.add_argument("--admin-key", default=None, help="default: $ROUTER_ADMIN_KEY")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.set_defaults(func=cmd_shadow_report)

    usage = sub.add_parser("usage", help="print the usage ledger of a running gateway")
    usage.add_argument("--url", default="http://127.0.0.1:8400")
    usage.add_argument("--admin-key", default=None, help="default: $ROUTER_ADMIN_KEY")
    usage.add_argument("--tenant")
    usage.add_argument("--from", dest="day_from", help="YYYY-MM-DD (UTC), default today")
    usage.add_argument("--to", dest="day_to", help="YYYY-MM-DD (UTC), default today")
    usage.set_defaults(func=cmd_usage)

    policy = sub.add_parser("policy", help="policy file tools").add_subparsers(dest="policy_command", required=True)
    validate = policy.add_parser("validate", help="check policy files: exit 1 with file:line: message per error")
    validate.add_argument("paths", nargs="+")
    validate.set_defaults(func=cmd_validate)
    policy.add_parser("schema", help="print the JSON Schema of policy files").set_defaults(func=cmd_schema)

    explain = sub.add_parser("explain", help="show the routing decision for a prompt or request, no model called")
    explain.add_argument("text", nargs="*")
    explain.add_argument("--request", help="a chat-completion request body (JSON file)")
    explain.add_argument("--route", default="auto", help="the route for TEXT (default auto)")
    explain.add_argument("--policy")
    explain.set_defaults(func=cmd_explain)

    classify = sub.add_parser("classify", help="JSONL in (prompt or chat request per line), JSONL judgements out")
    classify.add_argument("--policy")
    classify.add_argument("--route", default="auto")
    classify.set_defaults(func=cmd_classify)

    try:
        from router.learn.commands import add_subcommands
    except ImportError:
        pass
    else:
        add_subcommands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "command", None) in ("usage", "shadow") and args.admin_key is None:
        import os

        args.admin_key = os.environ.get("ROUTER_ADMIN_KEY")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
