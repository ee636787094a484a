"""Kubernetes front of the flow (the ``k8s`` extra): placement, admission webhook, operator.

Nothing in the core or the entrypoint imports this package (an import-linter contract holds
that). ``placement`` and the modules under it are plain functions over plain data; only
``webhook``, ``operator`` and ``apiclient`` reach for aiohttp or kopf.
"""
