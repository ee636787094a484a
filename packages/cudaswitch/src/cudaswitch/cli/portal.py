"""``cudaswitch portal``: the web portal, its workers, and its accounts."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from ..errors import UsageError
from .render import emit, table


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database", metavar="URL",
                   help="postgresql://USER@HOST/NAME or sqlite:///PATH (default: SQLite under "
                        "$CUDASWITCH_HOME/portal)")
    p.add_argument("--data", metavar="DIR",
                   help="folder for uploads, results and logs (default: "
                        "$CUDASWITCH_HOME/portal); every worker must see the same folder")


def _add_limits(p: argparse.ArgumentParser, web: bool) -> None:
    p.add_argument("--workers", type=int, default=2, metavar="N",
                   help="jobs this process runs at once, at most (default 2)"
                        + ("; 0 serves pages only and leaves the jobs to `cudaswitch portal "
                           "worker` processes on the same database" if web else ""))
    p.add_argument("--per-gpu", type=int, default=1, metavar="N",
                   help="jobs at once on one GPU, over all workers (default 1)")
    p.add_argument("--cpu-jobs", type=int, default=1, metavar="N",
                   help="jobs at once on the CPU provider, over all workers (default 1)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("portal", help="web portal: pick a runtime, run face-swap jobs in a "
                                      "browser")
    _add_store(p)
    _add_limits(p, web=True)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    p.add_argument("--max-upload-mib", type=int, default=50, metavar="N",
                   help="largest upload, per file (default 50)")
    p.add_argument("--nodes", metavar="FILE",
                   help="`kubectl get nodes -o json` output: adds the Fleet page")
    p.add_argument("--secure-cookies", action="store_true",
                   help="mark the session cookie Secure (set this behind HTTPS)")
    p.set_defaults(func=run_serve)
    ps = p.add_subparsers(dest="portal_command", metavar="SUBCOMMAND")

    w = ps.add_parser("worker", help="run jobs only (more machines on the same database)")
    _add_store(w)
    _add_limits(w, web=False)
    w.set_defaults(func=run_worker)

    u = ps.add_parser("user", help="add or list portal accounts")
    us = u.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    a = us.add_parser("add", help="add an account (password from the terminal or stdin)")
    a.add_argument("name", help="the user's login name")
    a.add_argument("--role", required=True, choices=("viewer", "runner", "admin"),
                   help="what the user may do: view, run jobs, or administer")
    a.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    _add_store(a)
    a.set_defaults(func=run_user_add)
    ls = us.add_parser("list", help="list accounts")
    _add_store(ls)
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_user_list)

    t = ps.add_parser("token", help="make a token for scripts (printed once)")
    t.add_argument("user", help="the user the token acts as")
    t.add_argument("--name", default="script", help="what the token is for")
    _add_store(t)
    t.set_defaults(func=run_token)


def _modules():  # noqa: ANN202
    try:
        from ..portal import accounts, config, db, server
    except ImportError as e:
        raise UsageError(f"the portal is not installed ({e.name} is missing): "
                         "pip install 'cudaswitch[portal]'") from e
    return accounts, config, db, server


def _config(args: argparse.Namespace, least_workers: int = 1,
            **kw: object):  # noqa: ANN202
    _a, config, db, _s = _modules()
    if args.database:
        db.check_url(args.database)
    if getattr(args, "workers", 1) < least_workers:
        raise UsageError(f"--workers: must be {least_workers} or more")
    for name in ("per_gpu", "cpu_jobs"):
        if getattr(args, name, 1) < 1:
            raise UsageError(f"--{name.replace('_', '-')}: must be 1 or more")
    extra = {"per_gpu": getattr(args, "per_gpu", 1), "cpu_jobs": getattr(args, "cpu_jobs", 1)}
    return config.default_config(os.environ, args.database, args.data, **extra, **kw)


def run_serve(args: argparse.Namespace) -> int:
    if args.max_upload_mib < 1:
        raise UsageError("--max-upload-mib: must be 1 or more")
    if args.nodes and not os.path.isfile(args.nodes):
        raise UsageError(f"--nodes {args.nodes}: no such file (give `kubectl get nodes -o json` "
                         "output)")
    cfg = _config(args, least_workers=0, max_upload=args.max_upload_mib * 2**20,
                  nodes_file=args.nodes, secure_cookies=args.secure_cookies)
    _a, _c, _d, server = _modules()
    print(f"cudaswitch portal: http://{args.host}:{args.port}/ (data {cfg.data_dir}, "
          f"{args.workers} worker(s))", file=sys.stderr, flush=True)
    server.serve(cfg, os.environ, args.host, args.port, args.workers)
    return 0


def run_worker(args: argparse.Namespace) -> int:
    _a, _c, _d, server = _modules()
    server.work(_config(args), os.environ, args.workers)
    return 0


def _database(args: argparse.Namespace):  # noqa: ANN202
    _a, _c, db, _s = _modules()
    cfg = _config(args)
    database = db.Database(cfg.database_url)
    db.migrate(database.engine)
    return database


def run_user_add(args: argparse.Namespace) -> int:
    accounts, _c, _d, _s = _modules()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ; nothing was changed")
    database = _database(args)
    with database.session() as s:
        accounts.create_user(s, args.name, password, args.role)
        from ..portal.audit import record

        record(s, getpass.getuser(), "user.create", args.name, f"{args.role} (command line)")
    print(f"cudaswitch: portal user {args.name} ({args.role}) added", file=sys.stderr)
    return 0


def run_user_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from ..portal.models import User

    database = _database(args)
    with database.session() as s:
        users = [{"name": u.name, "role": u.role, "disabled": u.disabled}
                 for u in s.scalars(select(User).order_by(User.name))]
    emit({"users": users}, args.json,
         lambda d: table([(u["name"], u["role"], "yes" if u["disabled"] else "")
                          for u in d["users"]], ("NAME", "ROLE", "DISABLED")))
    return 0


def run_token(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from ..portal.models import User

    accounts, _c, _d, _s = _modules()
    database = _database(args)
    with database.session() as s:
        user = s.scalar(select(User).where(User.name == args.user))
        if user is None:
            raise UsageError(f"no portal user {args.user!r}; add one with "
                             "cudaswitch portal user add")
        token = accounts.new_token(s, user.id, args.name)
        from ..portal.audit import record

        record(s, getpass.getuser(), "token.create", args.name, f"for {args.user} "
               "(command line)")
    print(token)
    return 0
