"""The ``CudaRuntime`` custom resource definition, as data (the chart's CRD file is this, a test
holds them equal)."""

from __future__ import annotations

GROUP = "cudaswitch.io"
VERSION = "v1alpha1"
KIND = "CudaRuntime"
PLURAL = "cudaruntimes"
SINGULAR = "cudaruntime"
CRD_NAME = f"{PLURAL}.{GROUP}"
API_VERSION = f"{GROUP}/{VERSION}"

_SPEC = {
    "type": "object",
    "description": "Which CUDA a pod gets and from which multi-CUDA image.",
    "required": ["cuda", "image"],
    "properties": {
        "cuda": {"type": "string", "minLength": 1, "maxLength": 64,
                 "description": "A CUDA version spec as the CLI takes it: 12.4, 12, >=12.1,<13."},
        "image": {"type": "string", "minLength": 1, "maxLength": 512,
                  "description": "A multi-CUDA image built by cudaswitch image build."},
        "slot": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$",
                 "description": "A slot of that image; selects it by name instead of cuda."},
        "env": {
            "type": "array", "maxItems": 64,
            "description": "Extra variables for the pod's GPU containers.",
            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"},
                "value": {"type": "string", "maxLength": 32768}}},
        },
        "minDriver": {"type": "string", "pattern": r"^[0-9]{1,4}(\.[0-9]{1,4}){1,2}$",
                      "description": "Oldest driver to place on; from the compat data if unset."},
        "gpuArch": {"type": "string", "maxLength": 64,
                    "description": "Compute capability range, e.g. >=8.0 or 9.0."},
    },
}

_STATUS = {
    "type": "object",
    "properties": {
        "observedGeneration": {"type": "integer", "format": "int64"},
        "cuda": {"type": "string", "description": "The release nodes are judged against."},
        "minDriver": {"type": "string"},
        "fitting": {"type": "integer", "description": "How many nodes can run it."},
        "fittingNodes": {"type": "array", "items": {"type": "string"}},
        "unfitNodes": {"type": "array", "items": {
            "type": "object", "required": ["node", "reason"],
            "properties": {"node": {"type": "string"}, "verdict": {"type": "string"},
                           "reason": {"type": "string"}}}},
        "conditions": {"type": "array", "items": {
            "type": "object", "required": ["type", "status"],
            "properties": {
                "type": {"type": "string"},
                "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                "reason": {"type": "string"},
                "message": {"type": "string"},
                "observedGeneration": {"type": "integer", "format": "int64"},
                "lastTransitionTime": {"type": "string", "format": "date-time"}}}},
    },
}


def crd() -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {"kind": KIND, "plural": PLURAL, "singular": SINGULAR,
                      "listKind": f"{KIND}List", "shortNames": ["cudart"]},
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "CUDA", "type": "string", "jsonPath": ".spec.cuda"},
                    {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
                    {"name": "Fitting", "type": "integer", "jsonPath": ".status.fitting",
                     "description": "nodes whose driver and GPU can run it"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": _SPEC,
                        "status": _STATUS,
                    },
                }},
            }],
        },
    }
