"""One or more examples per command, shown at the end of its ``--help``.

Kept apart from the command modules so that they are data in one place: ``build_parser``
attaches them, and a test checks that every command has one.
"""

from __future__ import annotations

EXAMPLES: dict[str, tuple[str, ...]] = {
    "": ("cudaswitch list",
         "cudaswitch exec --cuda 12 -- python train.py",
         'eval "$(cudaswitch env 11.8)"'),
    "list": ("cudaswitch list", "cudaswitch list --sizes --json"),
    "which": ("cudaswitch which 12", "cudaswitch which --slot cuda12.4 --json"),
    "compat": ("cudaswitch compat 12.4 --driver 535.104.05",
               "cudaswitch compat 13.0 --driver 580.65.06 --arch 7.0"),
    "require": ("cudaswitch require check 'cuda>=12.2 brand=tesla,driver>=535' "
                "--driver 535.104.05 --cuda 12.2",),
    "require check": ("cudaswitch require check 'cuda>=12.2' --driver 535.104.05 --cuda 12.2",
                      "cudaswitch require check --env"),
    "exec": ("cudaswitch exec --cuda 12.4 -- python -m facefuse --help",
             "cudaswitch exec --slot cuda12 --verify -- python app.py",
             "cudaswitch exec --cuda 11.8 --dry-run --json"),
    "env": ('eval "$(cudaswitch env 12.4)"',
            "cudaswitch env 12.4 | source              # fish",
            'eval "$(cudaswitch env --off)"'),
    "use": ("sudo cudaswitch use 12.4", "cudaswitch use 11.8 --link ~/cuda"),
    "doctor": ("cudaswitch doctor", "cudaswitch doctor --json"),
    "launcher": ("cudaswitch launcher /usr/local/bin/cudaswitch-entrypoint",),
    "install": ("cudaswitch install 12.4 --with cudart,cublas,cudnn",
                "cudaswitch install 12.4 --name ort12 --python python3 "
                "--package onnxruntime-gpu==1.22.0 --with cudart,cublas,cufft,curand,nvrtc,cudnn"),
    "uninstall": ("cudaswitch uninstall cuda12.4",),
    "sync": ("cudaswitch sync", "cudaswitch sync --slot cuda12 --locked"),
    "lock": ("cudaswitch lock", "cudaswitch lock --wheelhouse ./wheels"),
    "download": ("cudaswitch download 12.4 --with cudart,nvrtc --wheelhouse ./wheels",
                 "cudaswitch download --manifest cudaswitch.toml --wheelhouse ./wheels"),
    "slot": ("cudaswitch slot suggest --cuda 12.4", "cudaswitch slot list"),
    "slot suggest": ("cudaswitch slot suggest --cuda 12.4 >> cudaswitch.toml",),
    "slot list": ("cudaswitch slot list", "cudaswitch slot list --json"),
    "matrix": ("cudaswitch matrix -- python -m pytest -q",
               "cudaswitch matrix --slots cuda11.8,cuda12.4 -j 2 --junit report.xml -- make test",
               "cudaswitch matrix --emit github --install-from "
               "dist/cudaswitch-0.1.0-py3-none-any.whl -- python -m pytest"),
    "image": ("cudaswitch image init --recipe facefuse",
              "cudaswitch image build --tag facefuse:1"),
    "image generate": ("cudaswitch image generate -o Containerfile",),
    "image build": ("cudaswitch image build --tag facefuse:1",),
    "image init": ("cudaswitch image init --recipe facefusion -o cudaswitch.toml",),
    "k8s": ("cudaswitch k8s nodes --from nodes.json", "cudaswitch k8s manifests"),
    "k8s nodes": ("kubectl get nodes -o json > nodes.json; "
                  "cudaswitch k8s nodes --from nodes.json --cuda 12.4",),
    "k8s manifests": ("cudaswitch k8s manifests | kubectl apply -f -",),
    "k8s webhook": ("cudaswitch k8s webhook --cert tls.crt --key tls.key --runtimes rt.yaml",),
    "k8s operator": ("cudaswitch k8s operator --namespace gpu-jobs",),
    "portal": ("cudaswitch portal --port 8080",),
    "portal worker": ("cudaswitch portal worker --workers 2",),
    "portal user": ("cudaswitch portal user add alice --role runner",),
    "portal user add": ("cudaswitch portal user add alice --role runner --password-stdin",),
    "portal user list": ("cudaswitch portal user list --json",),
    "portal token": ("cudaswitch portal token alice",),
}


def epilog_for(path: str) -> str | None:
    lines = EXAMPLES.get(path)
    if not lines:
        return None
    return "example" + ("s" if len(lines) > 1 else "") + ":\n" + "\n".join(
        f"  {line}" for line in lines)
