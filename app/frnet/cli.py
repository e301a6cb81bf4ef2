"""``frnet-app``: the desktop app (no arguments), or a job on videos, images or a webcam.

::

    frnet-app                                   # the desktop app
    frnet-app --video IN.mp4 --out OUT.mp4      # overlay a video (audio copied)
    frnet-app --image a.jpg photos/ --out OUTDIR  # overlays, meshes, landmark JSON and CSV
    frnet-app --webcam 0 --out rec.mp4          # record the overlay until Ctrl-C
    frnet-app bench [...]                       # the benchmark (frnet.bench)
    frnet-app eval --pred P.csv --gt GT         # landmark NME vs ground truth (frnet.evaluate)

Every option is in docs/cli.md. Exit codes: 0 done, 2 a user error (one line ``frnet-app: error:
…`` on stderr, no traceback unless ``-v``), 130/143/129 interrupted by SIGINT (Ctrl-C), SIGTERM or
SIGHUP (a video being written is discarded, never left half-written; :mod:`frnet.signals`).

This module only parses and dispatches: the jobs themselves are :mod:`frnet.jobs` (typed options
in, a summary out), messages and exit codes are :mod:`frnet.console`. Subcommands live in
:data:`SUBCOMMANDS` (name → ``"module:function"``); each function takes ``(argv, prog)`` and
returns an exit code, and runs under the same error handling as the jobs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

# numpy's BLAS otherwise starts a spinning thread per core for the small per-face products; next to
# the decode, detect and encode threads that made the reconstruct stage ~25x slower. Set before
# numpy loads (the console script imports this module first).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from . import signals  # noqa: E402  (standard library only)
from .console import (  # noqa: E402
    EXIT_OK,
    EXIT_USER_ERROR,
    PROG,
    add_output_arguments,
    configure_logging,
    error_line,
    native_stderr_muted,
    progress_bar,
    say,
)
from .errors import FrnetError  # noqa: E402

log = logging.getLogger("frnet.cli")

# name → "module:function"; the function takes (argv: list[str], prog: str) and returns an exit code.
SUBCOMMANDS: dict[str, str] = {
    "bench": "frnet.bench:main",
    "eval": "frnet.evaluate:main",
    "doctor": "frnet.doctor:main",
    "help": "frnet.about:help_main",
}


# ------------------------------------------------------------------------------------- arguments


def build_parser() -> argparse.ArgumentParser:
    from .animation import ANIMATION_FORMATS
    from .export import MESH_FORMATS
    from .jobs import ENCODER_PRESETS
    from .texture import DEFAULT_TEXTURE_SIZE, TEXTURE_SIZES
    from .regressor import AUTO_ORDER, PRECISIONS
    from .render import COLOURINGS, RENDERER_CHOICES
    from .smoothing import DEFAULT_SMOOTHING, SMOOTHING_LEVELS

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Real-time face alignment and dense 3D face reconstruction (Mobile-FRNet). "
                    "With no arguments: the desktop app.",
        epilog=f"subcommands: {', '.join(f'{PROG} {name} --help' for name in SUBCOMMANDS)}. "
               f"Exit codes: 0 ok, 2 user error, 130 interrupted. Every option explained: {PROG} help cli "
               f"(the installed docs; {PROG} help lists them). Is this machine ready? {PROG} doctor.",
    )
    parser.add_argument("--version", action=_VersionAction, help="frnet's version and its shipped models' versions")
    job = parser.add_argument_group("job (choose one)").add_mutually_exclusive_group()
    job.add_argument("--video", metavar="IN", type=Path, help="overlay a video file; needs --out OUT.mp4")
    job.add_argument("--image", metavar="PATH", type=Path, nargs="+",
                     help="image files and/or folders of images; needs --out OUTDIR")
    job.add_argument("--webcam", metavar="N", type=_camera_number,
                     help="camera number; with --out FILE.mp4 record the overlay until Ctrl-C or "
                          "--max-frames, without --out open it in the desktop app")
    parser.add_argument("--out", metavar="PATH", type=Path,
                        help="output video (.mp4, .mov, .mkv) or, with --image, output folder")
    parser.add_argument("--landmarks-out", metavar="FILE.jsonl", type=Path,
                        help="with --video/--webcam: also write every frame's faces as JSON lines")
    parser.add_argument("--mesh-format", choices=MESH_FORMATS, default="obj",
                        help="with --image: format of the per-face meshes (default: obj)")
    parser.add_argument("--texture", metavar="SIZE", type=int, nargs="?", const=DEFAULT_TEXTURE_SIZE,
                        choices=TEXTURE_SIZES,
                        help=f"with --image: unwrap each face into a SIZE² UV texture (default {DEFAULT_TEXTURE_SIZE}): "
                             "OBJ + MTL + PNG, GLB with the texture embedded, PLY with vertex colours from it")
    parser.add_argument("--anim-out", metavar="FACE.glb", type=Path,
                        help="with --video: write each tracked face's performance as a glTF animation "
                             "(morph targets + head pose; more faces: FACE_track<N>.glb); --out becomes optional")
    parser.add_argument("--anim-format", choices=ANIMATION_FORMATS,
                        help="format of --anim-out: glb, or csv (one row per face and frame: pose and "
                             "coefficients); default: from the file's suffix")
    parser.add_argument("--max-frames", metavar="N", type=_positive_int,
                        help="with --video/--webcam: stop after N frames")
    parser.add_argument("--preset", choices=ENCODER_PRESETS, default="veryfast",
                        help="x264 speed preset of the output video: faster presets cost less CPU and give "
                             "larger files (default: veryfast)")

    engine = parser.add_argument_group("engine")
    engine.add_argument("--device", choices=("auto", *AUTO_ORDER), default="auto",
                        help="ONNX Runtime device (default: auto = TensorRT, CUDA, CPU, whichever is installed)")
    engine.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="network graph: auto = int8 on the CPU (1.7x faster), float32 on GPUs (default: auto)")
    engine.add_argument("--threads", metavar="N", type=thread_count,
                        help="CPU threads for the network, OpenCV and the encoder, at most twice the cores "
                             "(default: all cores)")
    engine.add_argument("--max-faces", metavar="N", type=_positive_int, default=8,
                        help="at most N faces per frame, largest first (default: 8)")
    engine.add_argument("--redetect-every", metavar="N", type=_positive_int, default=10,
                        help="video: run the face detector every N frames, track in between (default: 10)")
    engine.add_argument("--smoothing", choices=tuple(SMOOTHING_LEVELS), default=DEFAULT_SMOOTHING,
                        help="video: temporal smoothing of the faces: none, light (default: lower error than "
                             "none on still, slow and fast motion, jitter about halved) or strong (calmer on "
                             "nearly still faces, a little more error on slow motion); see docs/video.md")
    engine.add_argument("--no-smoothing", action="store_true", help="video: the same as --smoothing none")
    engine.add_argument("--min-confidence", metavar="P", type=float, default=0.5,
                        help="face detector score threshold in [0, 1] (default: 0.5)")

    overlay = parser.add_argument_group("overlay")
    overlay.add_argument("--no-landmarks", action="store_true", help="do not draw the 68 landmarks")
    overlay.add_argument("--no-mesh", action="store_true", help="do not draw the dense mesh")
    overlay.add_argument("--wireframe", action="store_true", help="draw the mesh's edges")
    overlay.add_argument("--axes", action="store_true", help="draw the head pose axes (x red, y green, z blue)")
    overlay.add_argument("--colouring", choices=COLOURINGS, default="shaded",
                         help="mesh colouring (default: shaded)")
    overlay.add_argument("--mesh-opacity", metavar="A", type=float, default=0.6,
                         help="mesh opacity in [0, 1] (default: 0.6)")
    overlay.add_argument("--renderer", choices=RENDERER_CHOICES, default="auto",
                         help="auto = OpenGL if a context can be had, else OpenCV (default: auto)")
    add_output_arguments(parser)
    return parser


class _VersionAction(argparse.Action):
    """``--version``: the package and model versions (read only when asked for)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from .about import version_text

        print(version_text())
        parser.exit(0)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def thread_count(text: str) -> int:
    """An argparse type: a thread count within :func:`frnet.limits.check_threads`' bound."""
    from .limits import check_threads

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of threads, got {text!r}") from None
    try:
        return check_threads(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _camera_number(text: str) -> int:
    from .errors import CameraError
    from .limits import check_camera_index

    try:
        return check_camera_index(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a camera number, got {text!r}") from None
    except CameraError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pipeline_options(args: argparse.Namespace, mode: str):
    """The one :class:`~frnet.pipeline.PipelineOptions` a job runs with."""
    from .pipeline import PipelineOptions

    dense = mode == "image" or not args.no_mesh or args.wireframe
    return PipelineOptions(
        mode=mode,
        device=args.device,
        threads=args.threads,
        precision=args.precision,
        min_detection_confidence=args.min_confidence,
        max_faces=args.max_faces,
        redetect_every=args.redetect_every,
        smoothing="none" if args.no_smoothing else args.smoothing,
        dense=dense,
    )


def overlay_options(args: argparse.Namespace):
    from .render import OverlayOptions

    return OverlayOptions(
        landmarks=not args.no_landmarks,
        mesh=not args.no_mesh,
        wireframe=args.wireframe,
        axes=args.axes,
        colouring=args.colouring,
        mesh_opacity=args.mesh_opacity,
    )


def engine_options(args: argparse.Namespace, mode: str):
    """The :class:`~frnet.engine.EngineOptions` of a job."""
    from .engine import EngineOptions

    return EngineOptions(pipeline=pipeline_options(args, mode), overlay=overlay_options(args), renderer=args.renderer)


def video_job(args: argparse.Namespace):
    """``--video`` arguments → :class:`~frnet.jobs.VideoJob`."""
    from .jobs import VideoJob

    return VideoJob(source=args.video, out=args.out, engine=engine_options(args, "video"),
                    landmarks_out=args.landmarks_out, max_frames=args.max_frames, preset=args.preset,
                    anim_out=args.anim_out, anim_format=args.anim_format)


def webcam_job(args: argparse.Namespace):
    """``--webcam`` arguments → :class:`~frnet.jobs.WebcamJob`."""
    from .jobs import WebcamJob

    return WebcamJob(camera=args.webcam, out=args.out, engine=engine_options(args, "video"),
                     landmarks_out=args.landmarks_out, max_frames=args.max_frames, preset=args.preset)


def images_job(args: argparse.Namespace):
    """``--image`` arguments → :class:`~frnet.jobs.ImagesJob`."""
    from .jobs import ImagesJob

    return ImagesJob(inputs=list(args.image), out_dir=args.out, engine=engine_options(args, "image"),
                     mesh_format=args.mesh_format, texture_size=args.texture)


# ----------------------------------------------------------------------------------------- entry


def main(argv: list[str] | None = None) -> int:
    """Run ``frnet-app`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    The signal and stream policy (:mod:`frnet.signals`) holds for the whole call; the console
    script (:mod:`frnet.entry`) enters it even before this module is imported.
    """
    with signals.process_policy():
        try:
            return _main(argv)
        except KeyboardInterrupt as exc:
            error_line(signals.describe(exc))
            return signals.exit_code(exc)


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = sum(len(a) - 1 for a in argv if re.fullmatch(r"-v+", a)) + argv.count("--verbose")
    quiet = "-q" in argv or "--quiet" in argv
    configure_logging(verbose, quiet)
    if not argv:
        return _guarded(lambda: launch_gui(), verbose)
    if argv[0] in SUBCOMMANDS:
        name = argv[0]
        module_name, function_name = SUBCOMMANDS[name].split(":")
        with native_stderr_muted(verbose == 0):
            return _guarded(
                lambda: getattr(importlib.import_module(module_name), function_name)(argv[1:], f"{PROG} {name}"),
                verbose,
            )
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return int(exc.code or 0)
    if args.video is None and args.image is None and args.webcam is None:
        if args.out is not None:
            return _usage_error(parser, "--out needs a job: --video, --image or --webcam")
        return _guarded(lambda: launch_gui(), verbose)
    problem = _check_job_arguments(args)
    if problem:
        return _usage_error(parser, problem)
    if args.webcam is not None and args.out is None:
        return _guarded(lambda: launch_gui(camera=args.webcam), verbose)
    with native_stderr_muted(verbose == 0):
        if args.video is not None:
            return _guarded(lambda: _run_video(args), verbose)
        if args.image is not None:
            return _guarded(lambda: _run_images(args), verbose)
        return _guarded(lambda: _run_webcam(args), verbose)


def _check_job_arguments(args: argparse.Namespace) -> str | None:
    if args.image is not None and args.out is None:
        return "--out is required with --image"
    if args.video is not None and args.out is None and args.anim_out is None:
        return "--out is required with --video (or --anim-out FACE.glb for the face animation alone)"
    if args.anim_out is not None and args.video is None:
        return "--anim-out is for --video"
    if args.anim_format is not None and args.anim_out is None:
        return "--anim-format needs --anim-out"
    if args.anim_out is not None:
        from .animation import animation_format

        try:
            animation_format(args.anim_out, args.anim_format)
        except ValueError as exc:
            return str(exc)
    if args.texture is not None and args.image is None:
        return "--texture is for --image"
    if args.landmarks_out is not None and args.image is not None:
        return "--landmarks-out is for --video/--webcam; --image writes <name>_landmarks.json files"
    if not 0.0 <= args.min_confidence <= 1.0:
        return f"--min-confidence must be in [0, 1], not {args.min_confidence}"
    if not 0.0 <= args.mesh_opacity <= 1.0:
        return f"--mesh-opacity must be in [0, 1], not {args.mesh_opacity}"
    return None


def _usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_usage(sys.stderr)
    error_line(message)
    return EXIT_USER_ERROR


def _guarded(job: Callable[[], int], verbose: int) -> int:
    """Run ``job``; user errors → one line and 2, a stop signal → one line and 128 + its number."""
    try:
        return int(job() or 0)
    except KeyboardInterrupt as exc:
        error_line(signals.describe(exc))
        return signals.exit_code(exc)
    except (FrnetError, OSError) as exc:
        if verbose:
            log.info("the error below came from:", exc_info=True)
        error_line(exc)
        return EXIT_USER_ERROR


def launch_gui(camera: int | None = None) -> int:
    """Open the desktop app (optionally on camera ``camera``)."""
    try:
        from frnet.gui.app import run_app
    except ImportError as exc:
        error_line(f"the desktop app cannot start ({exc}); the command-line jobs still work: "
                   f"{PROG} --video IN --out OUT, --image FILES --out DIR, --webcam N --out FILE (see {PROG} --help)")
        return EXIT_USER_ERROR
    from .doctor import gui_start_problem

    problem = gui_start_problem()  # Qt would abort (SIGABRT) instead of saying this
    if problem:
        error_line(f"the desktop app cannot start: {problem}. The command-line jobs still work; "
                   f"{PROG} doctor checks the rest")
        return EXIT_USER_ERROR
    return int((run_app() if camera is None else run_app(camera=camera)) or 0)


# ------------------------------------------------------------------------------------------- jobs


def _run_video(args: argparse.Namespace) -> int:
    """``--video IN --out OUT``: H.264 at the input's size and frame rate, audio copied; with
    ``--anim-out`` also (or only) the tracked faces' animation."""
    from .jobs import run_video

    try:
        summary = run_video(video_job(args), progress=progress_bar(args.quiet))
    except KeyboardInterrupt as exc:
        error_line(f"{signals.describe(exc)}; {args.out or args.anim_out} was not written")
        return signals.exit_code(exc)
    say(args.quiet, summary.line())
    if summary.anim_out is not None and not summary.animation_files:
        error_line(f"no face was tracked in {args.video}; {args.anim_out} was not written")
        return EXIT_USER_ERROR
    return EXIT_OK


def _run_webcam(args: argparse.Namespace) -> int:
    """``--webcam N --out FILE``: record the overlay until Ctrl-C or ``--max-frames`` (the file is kept)."""
    from .jobs import run_webcam

    summary = run_webcam(webcam_job(args), progress=progress_bar(args.quiet))
    say(args.quiet, summary.line())
    if summary.camera_failed:
        error_line(f"{summary.stopped_by}; the recording so far is in {args.out}")
        return EXIT_USER_ERROR
    return EXIT_OK


def _run_images(args: argparse.Namespace) -> int:
    """``--image FILES|DIRS --out OUTDIR``: per image an overlay PNG, one mesh per face and a
    landmark JSON; one ``landmarks68.csv`` (largest face per image) for all of them."""
    from .jobs import run_images

    summary = run_images(images_job(args), progress=progress_bar(args.quiet), on_problem=error_line)
    say(args.quiet, summary.line())
    return EXIT_USER_ERROR if summary.failures else EXIT_OK


if __name__ == "__main__":  # python -m frnet.cli
    sys.exit(main())
