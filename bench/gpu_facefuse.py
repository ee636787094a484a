"""facefuse on a GPU host: the stand-in swapper through the device path (three threads, and
one thread for comparison) and the host path, with GPU utilisation sampled by NVML over each
run's processing window. Writes one JSON per run and prints a table.

    python3 bench/gpu_facefuse.py --models DIR --out DIR [--providers cuda tensorrt]
    python3 bench/gpu_facefuse.py --serial -- <facefuse benchmark arguments>
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path


def serial_main(arguments: list[str]) -> int:
    """`facefuse benchmark` with the device path's three steps in one thread (the layout
    before the split), for a side-by-side figure."""
    import facefuse.device_pipeline as device_pipeline
    from facefuse.cli import main

    def one_thread(engine, source):  # noqa: ANN001, ANN202
        built = {}

        def work(frames, times):  # noqa: ANN001, ANN202
            key = (frames.shape[2], frames.shape[1])
            if key not in built:
                built[key] = device_pipeline.DeviceFrames(engine, source, *key)
            return built[key](frames, times)

        return [("device", work)]

    device_pipeline.device_stages = one_thread
    return main(["benchmark", *arguments])


class Sampler:
    """GPU utilisation every 100 ms through NVML, with wall-clock stamps."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.nvml = pynvml
        except Exception as error:  # no NVML: utilisation is reported as absent
            print(f"no GPU utilisation: {error}", file=sys.stderr)
            self.nvml = None
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while self.nvml is not None and not self.stop.is_set():
            rates = self.nvml.nvmlDeviceGetUtilizationRates(self.handle)
            self.samples.append((time.time(), int(rates.gpu)))
            time.sleep(0.1)

    def mean(self, start: float, end: float) -> float | None:
        inside = [value for stamp, value in self.samples if start <= stamp <= end]
        return sum(inside) / len(inside) if inside else None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--providers", nargs="+", default=["cuda"])
    parser.add_argument("--frames", default="120")
    parser.add_argument("--resolution", default="720p")
    parser.add_argument("--serial", action="store_true")
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    if args.serial:
        return serial_main(args.rest)
    args.out.mkdir(parents=True, exist_ok=True)
    sampler = Sampler()
    rows = []
    for provider in args.providers:
        for variant in ("device", "device-1-thread", "host"):
            common = ["--execution-providers", provider, "--face-swapper-model", "inswapper_128",
                      "--models-dir", str(args.models), "--skip-download",
                      "--face-selector-mode", "many", "--resolution", args.resolution,
                      "--frames", args.frames, "--no-progress", "--json"]
            if variant == "device-1-thread":
                command = [sys.executable, __file__, "--serial", "--", *common,
                           "--frame-pipeline", "device"]
            else:
                command = [sys.executable, "-m", "facefuse", "benchmark", *common,
                           "--frame-pipeline", variant]
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, timeout=400,
                                  check=False)
            name = f"{provider}-{variant}"
            (args.out / f"{name}.log").write_text(done.stderr[-20000:])
            if done.returncode != 0:
                print(f"{name}: exit {done.returncode}: {done.stderr.strip()[-600:]}")
                continue
            result = json.loads(done.stdout[done.stdout.index("{"):])
            result["gpu_utilisation_mean"] = sampler.mean(*result["window"])
            result["process_s"] = time.perf_counter() - started
            (args.out / f"{name}.json").write_text(json.dumps(result, indent=2))
            rows.append((name, result))
    sampler.stop.set()
    header = (f"{'run':<26}{'fps':>8}{'wall ms':>9}{'infer ms':>9}{'outside % frame':>16}"
              f"{'outside % stages':>17}{'GPU util %':>11}")
    print(header)
    for name, r in rows:
        wall = 1000 * r["wall_s"] / r["frames"]
        infer = 1000 * r["inference_s"] / r["frames"]
        util = r["gpu_utilisation_mean"]
        print(f"{name:<26}{r['frames_per_second']:>8.1f}{wall:>9.2f}{infer:>9.2f}"
              f"{100 * r['frame_time_outside_inference']:>16.1f}"
              f"{100 * r['outside_inference_share']:>17.1f}"
              f"{'n/a' if util is None else f'{util:.0f}':>11}")
        stages = "  ".join(f"{k} {v:.2f}" for k, v in r["stage_ms_per_frame"].items())
        print(f"    ms/frame by stage: {stages}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
