"""NVIDIA's compatibility facts (data.py), verdicts over them, and the requirement language."""
