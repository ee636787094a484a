"""Provisioning managed CUDA slots from NVIDIA's PyPI wheels.

``engine`` installs, uninstalls and syncs (told by ``options``); ``venv`` plans and builds a
slot's own Python environment; ``resolve`` turns a slot into exact wheels with pip;
``fetch`` downloads them into a cache, checking hashes; ``store`` keeps every file once, by
content, hard-linked into slots; ``sizes`` measures apparent and unique disk use; ``lockfile``
reads and writes ``cudaswitch.lock``. Nothing is imported here, so that ``cudaswitch.slots``
(which reads ``releases``) stays light.
"""
