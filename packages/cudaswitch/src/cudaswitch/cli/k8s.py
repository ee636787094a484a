"""``cudaswitch k8s``: the fleet table, the quick-start manifests, the webhook and the operator.

Everything here needs the ``k8s`` extra (``pip install 'cudaswitch[k8s]'``); without it the
command says so and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from importlib import resources

from ..errors import CudaswitchError, UsageError
from .common import add_json
from .render import emit, table


def _need_extra() -> None:
    for module in ("yaml", "aiohttp", "kopf"):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise UsageError(f"cudaswitch k8s needs the k8s extra ({module} is missing): "
                             "pip install 'cudaswitch[k8s]'") from e


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("k8s", help="Kubernetes: fleet table, manifests, webhook, operator",
                       description="Place pods on the nodes whose NVIDIA driver and GPU can run "
                       "their CUDA (GPU Feature Discovery labels, CudaRuntime resources).")
    k = p.add_subparsers(dest="k8s_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])

    n = k.add_parser("nodes", help="the fleet: each node's driver, GPU, and which runtimes fit")
    n.add_argument("--from", dest="source", metavar="FILE",
                   help="a saved `kubectl get nodes -o json` (default: the cluster)")
    n.add_argument("--runtimes", metavar="FILE",
                   help="CudaRuntime objects, YAML or JSON (default: the cluster's; none with "
                        "--from)")
    n.add_argument("--cuda", action="append", default=[], metavar="SPEC",
                   help="also judge a bare CUDA spec, as cudaswitch.io/cuda would (repeatable)")
    add_json(n)
    n.set_defaults(func=run_nodes)

    m = k.add_parser("manifests", help="print the rendered quick-start manifests (kubectl apply)")
    m.set_defaults(func=run_manifests)

    w = k.add_parser("webhook", help="serve the admission webhook over HTTPS")
    w.add_argument("--cert", required=True, help="TLS certificate (PEM), e.g. tls.crt")
    w.add_argument("--key", required=True, help="TLS private key (PEM), e.g. tls.key")
    w.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 in a pod)")
    w.add_argument("--port", type=int, default=8443, help="port (default 8443; 0 picks one)")
    src = w.add_mutually_exclusive_group(required=True)
    src.add_argument("--runtimes", metavar="FILE", help="CudaRuntime objects from a file")
    src.add_argument("--from-cluster", action="store_true",
                     help="list CudaRuntimes from the cluster every --refresh seconds")
    w.add_argument("--refresh", type=float, default=10.0, help="seconds between listings")
    w.add_argument("--image", action="append", default=[], metavar="REPO",
                   help="another multi-CUDA image repository pods may use (repeatable)")
    w.add_argument("--workers", type=int, default=1, metavar="N",
                   help="server processes sharing the port, one per core the pod is given "
                        "(default 1)")
    w.set_defaults(func=run_webhook)

    o = k.add_parser("operator", help="run the operator (kopf): keeps CudaRuntime status current")
    o.set_defaults(func=run_operator)


def _runtime_requests(args: argparse.Namespace, cfg_loader):
    from ..k8s.placement import PlacementError, make_request
    from ..k8s.runtime import catalog_from_objects, objects_from_text

    if args.runtimes:
        with open(args.runtimes, encoding="utf-8") as f:
            objects = objects_from_text(f.read(), args.runtimes)
    elif args.source:  # a saved node list is the offline view: no cluster is asked
        objects = []
        if not args.cuda:
            print("cudaswitch: note: no runtime judged; add --runtimes FILE (CudaRuntime "
                  "objects) or --cuda SPEC", file=sys.stderr)
    else:
        from ..k8s.apiclient import RUNTIMES_PATH, list_items
        objects = list_items(cfg_loader(), RUNTIMES_PATH)
    cat = catalog_from_objects(objects)
    for err in cat.errors:
        print(f"cudaswitch: warning: CudaRuntime skipped: {err}", file=sys.stderr)
    requests = list(cat.runtimes.values())
    for spec in args.cuda:
        try:
            requests.append(make_request(f"cuda={spec}", spec))
        except PlacementError as e:
            raise UsageError(f"--cuda {spec!r}: {e}") from e
    return requests


def run_nodes(args: argparse.Namespace) -> int:
    _need_extra()
    from ..k8s.apiclient import NODES_PATH, ApiError, get_json, load_config
    from ..k8s.placement import PlacementError, fleet_table

    try:
        if args.source:
            try:
                with open(args.source, encoding="utf-8") as f:
                    nodes = json.load(f)
            except (OSError, ValueError) as e:
                raise UsageError(f"--from {args.source}: {e}") from e
        else:
            nodes = get_json(load_config(), NODES_PATH)
        rows = fleet_table(nodes, _runtime_requests(args, load_config))
    except (PlacementError, ApiError, OSError) as e:
        raise UsageError(str(e)) from e
    data = [r.as_dict() for r in rows]

    def text(d: list[dict]) -> str:
        body = [[r["node"], r["driver"] or "-", r["driver_cuda"] or "-",
                 r["gpu_product"] or "-", r["compute_capability"] or "-",
                 ",".join(r["fits"]) or "-",
                 "; ".join(f"{x['runtime']}: {x['reason']}" for x in r["does_not_fit"]) or "-"]
                for r in d]
        return table(body, ["NODE", "DRIVER", "CUDA", "GPU", "CC", "FITS", "DOES NOT FIT (WHY)"])
    emit(data, args.json, text)
    return 0


def run_manifests(args: argparse.Namespace) -> int:
    text = resources.files("cudaswitch.k8s").joinpath("manifests/cudaswitch.yaml").read_text(
        encoding="utf-8")
    sys.stdout.write(text)
    return 0


def run_webhook(args: argparse.Namespace) -> int:
    _need_extra()
    import logging

    from ..k8s.apiclient import ApiError, load_config
    from ..k8s.placement import PlacementError
    from ..k8s.sources import ClusterCatalog, catalog_from_file
    from ..k8s.webhook import run, serve, tls_context
    from ..k8s.workers import MAX_WORKERS, run_workers

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a port (0-65535)")
    if not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(f"--workers {args.workers}: give 1 to {MAX_WORKERS} (one per core "
                         f"the webhook may use)")
    try:  # here, once, so that no worker starts with a pair it cannot load
        tls_context(args.cert, args.key)
    except OSError as e:  # ssl.SSLError is one
        raise UsageError(f"--cert {args.cert} / --key {args.key}: cannot load them as a PEM "
                         f"certificate and its private key ({e})") from e
    try:
        if args.runtimes:
            cat = catalog_from_file(args.runtimes, args.image)
            for err in cat.errors:
                print(f"cudaswitch: warning: CudaRuntime skipped: {err}", file=sys.stderr)

            def source():
                return cat
        else:
            source = ClusterCatalog(load_config(), args.image)

        def serve_on(sock=None, ready=None) -> int:
            background = () if args.runtimes else (source.poll(args.refresh),)
            run(serve(source, args.host, args.port, args.cert, args.key, ready=ready,
                      background=background, sock=sock))
            return 0

        if args.workers == 1:
            return serve_on()
        return run_workers(args.workers, args.host, args.port, serve_on,
                           lambda line: print(line, file=sys.stderr, flush=True))
    except (OSError, PlacementError, ApiError) as e:
        raise CudaswitchError(f"webhook: {e}") from e
    except KeyboardInterrupt:
        return 0
    return 0


def run_operator(args: argparse.Namespace) -> int:
    _need_extra()
    from ..k8s.operator import run

    return run()
