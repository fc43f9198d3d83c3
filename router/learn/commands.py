"""`router train | eval | calibrate`: argparse wiring for the learned router's offline tools.

Each subcommand's `func` takes the parsed arguments and returns an exit code. Problems with input
(unreadable files, bad JSONL lines, unusable weights) are reported as `file:line: message` on stderr,
never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from router.classify.learned import WEIGHTS_PATH, LearnedScorer

DEFAULT_OUT = Path("learned.npz")  # in the current directory: never the packaged weights unless asked


def add_subcommands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `train`, `eval` and `calibrate` on a `router` argument parser's subparsers."""
    p = subparsers.add_parser("train", help="fit the learned router's weights from labelled JSONL rows")
    p.add_argument("--data", type=Path, nargs="+", required=True, help="labelled JSONL files")
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where to write the weights (default: ./{DEFAULT_OUT}; the packaged file only when named)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds")
    p.add_argument(
        "--cv", type=int, default=5, metavar="K", help="folds of the report with one benchmark (several: leave-one-out; 0: none)"
    )
    p.set_defaults(func=run_train)

    p = subparsers.add_parser("eval", help="APGR and CPT per benchmark of the learned router")
    p.add_argument("--data", type=Path, nargs="+", default=[], help="labelled JSONL files")
    p.add_argument("--weights", type=Path, default=None, help="weights file (default: the shipped weights)")
    p.add_argument("--plot", type=Path, default=None, help="write the quality-vs-strong-share curve as PNG")
    p.add_argument("--cv", type=int, default=0, metavar="K", help="cross-validate: train on the other K-1 folds")
    p.add_argument(
        "--leave-one-out",
        action="store_true",
        help="for every benchmark B in the data: train without B, report on B (how the router carries over)",
    )
    p.add_argument(
        "--translations",
        type=Path,
        default=None,
        help='JSONL of one request in several languages ({"en": ..., "de": ..., ...}): per language, the share '
        "whose tier agrees with English (--data then optional)",
    )
    p.add_argument(
        "--threshold", type=float, default=None, help="tier threshold for --translations (default: the packaged policy's)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds")
    p.set_defaults(func=run_eval)

    p = subparsers.add_parser("calibrate", help="the p_strong threshold sending a target share to the LLM tier")
    p.add_argument("--target-llm-share", type=float, required=True, help="share of requests for the LLM tier, 0..1")
    p.add_argument("--data", type=Path, nargs="+", required=True, help="JSONL prompts or chat requests")
    p.add_argument("--weights", type=Path, default=None, help="weights file (default: the shipped weights)")
    p.set_defaults(func=run_calibrate)


def _report(errors: list[str]) -> None:
    for line in errors:
        print(line, file=sys.stderr)


def _scorer(path: Path | None) -> LearnedScorer | None:
    try:
        return LearnedScorer.from_package() if path is None else LearnedScorer.from_file(path)
    except (OSError, ValueError, KeyError) as exc:
        print(f"{path or WEIGHTS_PATH}:0: cannot load weights: {exc}", file=sys.stderr)
        return None


def run_train(args: argparse.Namespace) -> int:
    """`router train`: fit, write the weights, print the held-out table."""
    from router.learn.evaluate import format_table
    from router.learn.train import train

    try:
        report = train(args.data, args.out, seed=args.seed, folds=args.cv)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.out}:0: cannot write weights: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"trained on {report.n_rows} rows -> {report.out_path}")
    if report.held_out:
        several = len(report.held_out) > 1
        print(
            "leave-one-benchmark-out (trained without the row's benchmark):" if several else f"{args.cv}-fold cross-validation:"
        )
        print(format_table(report.held_out))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """`router eval`: score labelled rows (or validate on held-out parts) and print APGR / CPT."""
    from router.learn.evaluate import by_benchmark, format_table, plot
    from router.learn.train import features, leave_one_out, load_rows, out_of_fold, outcomes

    if args.translations is not None:
        return _run_agreement(args)
    rows, errors = load_rows(args.data)
    _report(errors)
    if not rows:
        print("no usable rows", file=sys.stderr)
        return 1
    if args.leave_one_out:
        if len({r.benchmark for r in rows}) < 2:
            print("--leave-one-out needs rows of two benchmarks or more", file=sys.stderr)
            return 1
        results = leave_one_out(rows, features([r.prompt for r in rows]))
        print("leave-one-benchmark-out (trained without the row's benchmark):")
        print(format_table(results))
        print(f"worst held-out APGR: {min(m.apgr for m in results.values()):.3f}")
        return 1 if errors else 0
    if args.cv:
        if args.cv < 2 or args.cv > len(rows):
            print(f"--cv must be within 2..{len(rows)}", file=sys.stderr)
            return 1
        p_strong = [float(p) for p in out_of_fold(rows, args.cv, args.seed)]
    else:
        scorer = _scorer(args.weights)
        if scorer is None:
            return 1
        p_strong = [s.p_strong for s in scorer.score_batch([(r.prompt, "") for r in rows])]
    scored = outcomes(rows, p_strong)
    print(format_table(by_benchmark(scored)))
    if args.plot is not None:
        try:
            plot(scored, args.plot)
        except OSError as exc:
            print(f"{args.plot}:0: cannot write plot: {exc.strerror or exc}", file=sys.stderr)
            return 1
    return 1 if errors else 0


def _run_agreement(args: argparse.Namespace) -> int:
    from router.learn.agreement import agreement, format_agreement, read_translations

    scorer = _scorer(args.weights)
    if scorer is None:
        return 1
    threshold = args.threshold if args.threshold is not None else default_threshold()
    try:
        rows = read_translations(args.translations)
    except (OSError, ValueError) as exc:
        print(f"{args.translations}:0: {exc}", file=sys.stderr)
        return 1
    print(f"tier agreement with English at threshold {threshold}:")
    print(format_agreement(agreement(scorer, rows, threshold)))
    return 0


def default_threshold() -> float:
    """The threshold of the packaged default policy's `auto` route."""
    from router.policy.loader import default_policy_path, load_policy

    return load_policy(default_policy_path()).spec.routes["auto"].threshold


def run_calibrate(args: argparse.Namespace) -> int:
    """`router calibrate`: print the threshold for the target LLM share over the given prompts."""
    from router.learn.calibrate import calibrate_files

    share = args.target_llm_share
    if not 0.0 <= share <= 1.0:
        print(f"--target-llm-share must be within 0..1, got {share}", file=sys.stderr)
        return 1
    scorer = _scorer(args.weights)
    if scorer is None:
        return 1
    threshold, n, errors = calibrate_files(scorer, args.data, share)
    _report(errors)
    if n == 0:
        print("no usable prompts", file=sys.stderr)
        return 1
    print(f"{threshold:.6f}")
    return 1 if errors else 0
