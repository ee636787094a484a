"""The fleet page's table: the rows of ``cudaswitch k8s nodes``, from the k8s layer itself.

The k8s layer is another optional part, so it is imported only when a nodes file is
configured; the portal never keeps a second copy of its placement rules.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..errors import UsageError


def fleet_table(nodes_file: str, runtimes: Sequence[tuple[str, str]]) -> list[dict]:
    """Each node of ``nodes_file`` (``kubectl get nodes -o json``) with each runtime's verdict.

    ``runtimes`` is (name, CUDA version) per slot; slots without a version are left out.
    """
    try:
        from ..k8s import placement
    except ImportError as e:
        raise UsageError("the fleet page needs the k8s part of cudaswitch "
                         "(pip install 'cudaswitch[k8s]')") from e
    try:
        with open(nodes_file, encoding="utf-8") as f:
            nodes = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"--nodes {nodes_file}: cannot read the node list: {e}") from e
    requests = []
    for name, cuda in runtimes:
        try:
            requests.append(placement.make_request(name, cuda, slot=name))
        except placement.PlacementError:
            continue
    try:
        rows = placement.fleet_table(nodes, requests)
    except placement.PlacementError as e:
        raise UsageError(f"--nodes {nodes_file}: {e}") from e
    return [row.as_dict() for row in rows]
