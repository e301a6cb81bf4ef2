"""``frnet-app``: the desktop app (no arguments), or a job on videos, images or a webcam.

::

    frnet-app                                   # the desktop app
    frnet-app --video IN.mp4 --out OUT.mp4      # overlay a video (audio copied)
    frnet-app --image a.jpg photos/ --out OUTDIR  # overlays, meshes, landmark JSON and CSV
    frnet-app --webcam 0 --out rec.mp4          # record the overlay until Ctrl-C
    frnet-app bench [...]                       # the benchmark (frnet.bench)
    frnet-app eval --pred P.csv --gt GT         # landmark NME vs ground truth (frnet.evaluate)

Every option is in docs/cli.md. Exit codes: 0 done, 2 a user error (one line ``frnet-app: error:
…`` on stderr, no traceback unless ``-v``), 130 interrupted (Ctrl-C; a video being written is
discarded, never left half-written).

Subcommands live in :data:`SUBCOMMANDS` (name → ``"module:function"``); each function takes
``(argv, prog)`` and returns an exit code, and runs under the same error handling as the jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# numpy's BLAS otherwise starts a spinning thread per core for the small per-face products; next to
# the decode, detect and encode threads that made the reconstruct stage ~25x slower. Set before
# numpy loads (the console script imports this module first).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from .errors import CameraError, FrnetError, InputError, OutputError

log = logging.getLogger("frnet.cli")

PROG = "frnet-app"
EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
CSV_NAME = "landmarks68.csv"
ENCODER_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")

# name → "module:function"; the function takes (argv: list[str], prog: str) and returns an exit code.
SUBCOMMANDS: dict[str, str] = {
    "bench": "frnet.bench:main",
    "eval": "frnet.evaluate:main",
}


# ------------------------------------------------------------------------------------- arguments


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``-q``/``-v``, shared by the jobs and the subcommands."""
    group = parser.add_argument_group("messages")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary, errors only")
    group.add_argument("-v", "--verbose", action="count", default=0,
                       help="more messages (-vv: debug), tracebacks with errors, native libraries' own logs")


def build_parser() -> argparse.ArgumentParser:
    from .export import MESH_FORMATS
    from .regressor import AUTO_ORDER, PRECISIONS
    from .render import COLOURINGS, RENDERER_CHOICES

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Real-time face alignment and dense 3D face reconstruction (Mobile-FRNet). "
                    "With no arguments: the desktop app.",
        epilog=f"subcommands: {', '.join(f'{PROG} {name} --help' for name in SUBCOMMANDS)}. "
               "Exit codes: 0 ok, 2 user error, 130 interrupted. Details: docs/cli.md",
    )
    job = parser.add_argument_group("job (choose one)").add_mutually_exclusive_group()
    job.add_argument("--video", metavar="IN", type=Path, help="overlay a video file; needs --out OUT.mp4")
    job.add_argument("--image", metavar="PATH", type=Path, nargs="+",
                     help="image files and/or folders of images; needs --out OUTDIR")
    job.add_argument("--webcam", metavar="N", type=int,
                     help="camera number; with --out FILE.mp4 record the overlay until Ctrl-C or "
                          "--max-frames, without --out open it in the desktop app")
    parser.add_argument("--out", metavar="PATH", type=Path,
                        help="output video (.mp4, .mov, .mkv) or, with --image, output folder")
    parser.add_argument("--landmarks-out", metavar="FILE.jsonl", type=Path,
                        help="with --video/--webcam: also write every frame's faces as JSON lines")
    parser.add_argument("--mesh-format", choices=MESH_FORMATS, default="obj",
                        help="with --image: format of the per-face meshes (default: obj)")
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
    engine.add_argument("--threads", metavar="N", type=_positive_int,
                        help="CPU threads for the network, OpenCV and the encoder (default: all cores)")
    engine.add_argument("--max-faces", metavar="N", type=_positive_int, default=8,
                        help="at most N faces per frame, largest first (default: 8)")
    engine.add_argument("--redetect-every", metavar="N", type=_positive_int, default=10,
                        help="video: run the face detector every N frames, track in between (default: 10)")
    engine.add_argument("--no-smoothing", action="store_true", help="video: no temporal smoothing")
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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


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
        smoothing=not args.no_smoothing,
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


# -------------------------------------------------------------------------------------- messages


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest's capture, the muted-native set-up)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.levelname_lower = record.levelname.lower()
        return super().format(record)


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Messages of frnet's loggers go to stderr as ``frnet-app: warning: …`` lines."""
    logger = logging.getLogger("frnet")
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_Formatter(f"{PROG}: %(levelname_lower)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    if quiet:
        logger.setLevel(logging.ERROR)
    else:
        logger.setLevel({0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG))


def error_line(message: object) -> None:
    """One ``frnet-app: error: …`` line on stderr."""
    text = " ".join(str(message).split()) or type(message).__name__
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, flush=True)


@contextlib.contextmanager
def _native_stderr_muted(enabled: bool) -> Iterator[None]:
    """Silence what native libraries write straight to file descriptor 2.

    MediaPipe's LiteRT runtime prints several INFO lines whenever a detector is created, first run
    or closed; they cannot be switched off from Python. Python's own ``sys.stderr`` (errors, log
    messages, the progress bar) is moved to a duplicate of the real stderr, and descriptor 2 to
    ``/dev/null``, for the duration. Nothing happens when ``sys.stderr`` is not descriptor 2
    (e.g. under pytest's ``capsys``).
    """
    try:
        use = enabled and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        use = False
    if not use:
        yield
        return
    sys.stderr.flush()
    saved_fd = os.dup(2)
    python_stderr = os.fdopen(saved_fd, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                              errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    previous, sys.stderr = sys.stderr, python_stderr
    try:
        yield
    finally:
        python_stderr.flush()
        sys.stderr = previous
        os.dup2(saved_fd, 2)
        python_stderr.close()


# ----------------------------------------------------------------------------------------- entry


def main(argv: list[str] | None = None) -> int:
    """Run ``frnet-app`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = sum(len(a) - 1 for a in argv if re.fullmatch(r"-v+", a)) + argv.count("--verbose")
    quiet = "-q" in argv or "--quiet" in argv
    configure_logging(verbose, quiet)
    if not argv:
        return _guarded(lambda: launch_gui(), verbose)
    if argv[0] in SUBCOMMANDS:
        name = argv[0]
        module_name, function_name = SUBCOMMANDS[name].split(":")
        with _native_stderr_muted(verbose == 0):
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
    if args.threads:
        import cv2

        cv2.setNumThreads(args.threads)
    with _native_stderr_muted(verbose == 0):
        if args.video is not None:
            return _guarded(lambda: run_video(args), verbose)
        if args.image is not None:
            return _guarded(lambda: run_images(args), verbose)
        return _guarded(lambda: run_webcam(args), verbose)


def _check_job_arguments(args: argparse.Namespace) -> str | None:
    if (args.video is not None or args.image is not None) and args.out is None:
        return "--out is required with --video and --image"
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
    """Run ``job``; user errors → one line and 2, Ctrl-C → one line and 130."""
    try:
        return int(job() or 0)
    except KeyboardInterrupt:
        error_line("interrupted")
        return EXIT_INTERRUPTED
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
    return int((run_app() if camera is None else run_app(camera=camera)) or 0)


# ------------------------------------------------------------------------------------ shared bits


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


@dataclass
class _Engine:
    """The pipeline, renderer and overlay options of one job."""

    pipeline: object
    renderer: object
    overlay: object

    def close(self) -> None:
        self.renderer.close()
        self.pipeline.close()

    def run(self, frame_rgb: np.ndarray, timestamp_ms: int | None = None):
        from .render.from_result import drawings_for

        result = self.pipeline.process(frame_rgb, timestamp_ms)
        t0 = time.perf_counter()
        image = self.renderer.render(frame_rgb, drawings_for(result, self.pipeline.face_model), self.overlay)
        result.timings_ms["render"] = (time.perf_counter() - t0) * 1e3
        return result, image


@contextlib.contextmanager
def _engine(args: argparse.Namespace, mode: str) -> Iterator[_Engine]:
    from .pipeline import Pipeline
    from .render import create_renderer

    options = pipeline_options(args, mode)
    pipeline = Pipeline(options)
    try:
        log.info("network %s (%s) on %s (%s)", pipeline.regressor.model_path.name, pipeline.regressor.precision,
                 pipeline.regressor.device, ", ".join(pipeline.regressor.providers))
        renderer = create_renderer(args.renderer)
    except BaseException:
        pipeline.close()
        raise
    log.info("renderer: %s", renderer.name)
    engine = _Engine(pipeline, renderer, overlay_options(args))
    try:
        yield engine
    finally:
        engine.close()


def _progress(total: int | None, unit: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit=f" {unit}s", file=sys.stderr, dynamic_ncols=True, leave=False,
                disable=quiet or not sys.stderr.isatty(), smoothing=0.1)


class BackgroundWriter:
    """A :class:`~frnet.video.VideoWriter` fed through a worker thread, so that encoding (PyAV
    releases the GIL while x264 works) overlaps with processing the next frame.

    Same ``write``/``close``/``abort`` and ``with`` behaviour as the writer it wraps; an error in the
    worker is raised by the next ``write`` or by ``close``. ``encode_ms`` holds each frame's time.
    """

    def __init__(self, writer, depth: int = 3) -> None:
        import queue
        import threading

        self.writer = writer
        self.encode_ms: list[float] = []
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="frnet-encoder", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            image = self._queue.get()
            if image is None:
                return
            if self._error is not None:
                continue  # failed: drop the rest
            try:
                start = time.perf_counter()
                self.writer.write(image)
                self.encode_ms.append((time.perf_counter() - start) * 1e3)
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc

    @property
    def frames_written(self) -> int:
        return self.writer.frames_written

    @property
    def audio_mode(self) -> str | None:
        return self.writer.audio_mode

    def write(self, image_rgb: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(image_rgb)

    def _finish_worker(self, drop_pending: bool) -> None:
        import queue

        if drop_pending:
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def close(self) -> None:
        """Encode what is queued, then finish the file (see ``VideoWriter.close``)."""
        self._finish_worker(drop_pending=False)
        if self._error is not None:
            self.writer.abort()
            raise self._error
        self.writer.close()

    def abort(self) -> None:
        """Drop queued frames and delete the partial file (see ``VideoWriter.abort``)."""
        self._finish_worker(drop_pending=True)
        self.writer.abort()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@dataclass(frozen=True)
class _Failure:
    error: BaseException


class Prefetcher:
    """Iterates ``frames`` in a worker thread, up to ``depth`` items ahead, so decoding overlaps
    with processing. Iterate once; :meth:`close` (or leaving ``with``) stops the worker — do that
    before closing the source. ``decode_ms`` holds each item's time."""

    _END = object()

    def __init__(self, frames, depth: int = 3) -> None:
        import queue
        import threading

        self.decode_ms: list[float] = []
        self._source = iter(frames)
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="frnet-decoder", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                start = time.perf_counter()
                item = next(self._source, self._END)
                if item is self._END:
                    break
                self.decode_ms.append((time.perf_counter() - start) * 1e3)
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the caller's thread
            self._put(_Failure(exc))
            return
        self._put(self._END)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@dataclass
class _StreamStats:
    frames: int = 0
    frames_with_faces: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        share = 100.0 * self.frames_with_faces / self.frames if self.frames else 0.0
        fps = self.frames / self.seconds if self.seconds > 0 else 0.0
        return f"{self.frames} frames, faces in {self.frames_with_faces} ({share:.1f} %), {fps:.1f} fps"


def _process_stream(frames: Iterator[tuple[np.ndarray, int | None]], engine: _Engine, writer, sidecar,
                    progress, max_frames: int | None) -> _StreamStats:
    """Frames → overlay → writer (and JSON lines to ``sidecar``), until the frames end or ``max_frames``."""
    from .export import frame_to_dict

    stats = _StreamStats()
    start = time.perf_counter()
    for image, timestamp_ms in frames:
        result, rendered = engine.run(image, timestamp_ms)
        writer.write(rendered)
        if sidecar is not None:
            sidecar.write(json.dumps(frame_to_dict(result), separators=(",", ":")) + "\n")
        stats.frames += 1
        stats.frames_with_faces += bool(result.faces)
        progress.set_postfix_str(f"faces in {stats.frames_with_faces}", refresh=False)
        progress.update(1)
        if max_frames is not None and stats.frames >= max_frames:
            break
    stats.seconds = time.perf_counter() - start
    return stats


@contextlib.contextmanager
def _sidecar(path: Path | None) -> Iterator[io.TextIOBase | None]:
    """A JSON-lines file written atomically (discarded when the job fails or is interrupted)."""
    if path is None:
        yield None
        return
    from .video import atomic_write

    with atomic_write(path) as temp, open(temp, "w", encoding="utf-8") as handle:
        yield handle


# ----------------------------------------------------------------------------------------- --video


def run_video(args: argparse.Namespace) -> int:
    """``--video IN --out OUT``: H.264 at the input's size and frame rate, audio copied."""
    from .video import VideoReader, VideoWriter

    source, out = args.video, args.out
    for name, path in (("--out", out), ("--landmarks-out", args.landmarks_out)):
        if path is not None and _same_file(source, path):
            raise OutputError(f"{name} {path} is the input video; choose another file name")
    if args.landmarks_out is not None and _same_file(out, args.landmarks_out):
        raise OutputError(f"--landmarks-out and --out are the same file ({out})")
    if not source.is_file():
        raise InputError(f"cannot read video {source}: no such file")
    try:
        with contextlib.ExitStack() as stack:
            reader = stack.enter_context(VideoReader(source))
            writer = stack.enter_context(VideoWriter(out, reader.frame_rate, reader.size, audio_from=source,
                                                     preset=args.preset, threads=args.threads or 0))
            sidecar = stack.enter_context(_sidecar(args.landmarks_out))
            engine = stack.enter_context(_engine(args, "video"))
            total = reader.frame_count if args.max_frames is None else min(reader.frame_count, args.max_frames)
            progress = stack.enter_context(_progress(total or None, "frame", args.quiet))
            # Decoding and encoding run in their own threads, overlapping the processing.
            frames = stack.enter_context(Prefetcher((f.image_rgb, f.timestamp_ms) for f in reader))
            encoder = stack.enter_context(BackgroundWriter(writer))
            started = time.perf_counter()
            stats = _process_stream(iter(frames), engine, encoder, sidecar, progress, args.max_frames)
            audio = {"copy": ", audio copied", "re-encode": ", audio re-encoded"}.get(writer.audio_mode, "")
    except KeyboardInterrupt:
        error_line(f"interrupted; {out} was not written")
        return EXIT_INTERRUPTED
    stats.seconds = time.perf_counter() - started  # up to the finished file
    width, height = reader.size
    damaged = f"; {reader.decode_errors} damaged packet(s) of the input skipped" if reader.decode_errors else ""
    _say(args.quiet, f"wrote {out}: {width}x{height} at {reader.fps:.3f} fps{audio}; {stats.line()}{damaged}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------- --webcam


def _camera_frames(capture, camera: int, start: float) -> Iterator[tuple[np.ndarray, int]]:
    import cv2

    frames = 0
    while True:
        ok, bgr = capture.read()
        if not ok or bgr is None:
            raise CameraError(f"camera {camera} stopped delivering frames after {frames} frames")
        frames += 1
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), round((time.perf_counter() - start) * 1000)


def open_camera(camera: int):
    """An opened ``cv2.VideoCapture`` for camera ``camera``.

    Raises:
        CameraError: it cannot be opened or gives no frame.
    """
    import cv2

    capture = cv2.VideoCapture(camera)
    if not capture.isOpened():
        capture.release()
        raise CameraError(f"cannot open camera {camera}: no such camera, or another program is using it "
                          f"(on Linux, list cameras with: ls /dev/video*)")
    return capture


def run_webcam(args: argparse.Namespace) -> int:
    """``--webcam N --out FILE``: record the overlay until Ctrl-C or ``--max-frames`` (the file is kept)."""
    import cv2

    from .video import VideoWriter

    capture = open_camera(args.webcam)
    try:
        start = time.perf_counter()
        frames = _camera_frames(capture, args.webcam, start)
        try:
            first = next(frames)
        except CameraError:
            raise CameraError(f"camera {args.webcam} opened but gives no frames; is it in use?") from None
        fps = capture.get(cv2.CAP_PROP_FPS)
        fps = fps if 1.0 <= fps <= 240.0 else 30.0
        height, width = first[0].shape[:2]
        stopped_by: str | None = None
        with contextlib.ExitStack() as stack:
            video_writer = stack.enter_context(VideoWriter(args.out, fps, (width, height), preset=args.preset,
                                                           threads=args.threads or 0))
            sidecar = stack.enter_context(_sidecar(args.landmarks_out))
            engine = stack.enter_context(_engine(args, "video"))
            progress = stack.enter_context(_progress(args.max_frames, "frame", args.quiet))
            writer = stack.enter_context(BackgroundWriter(video_writer))

            def all_frames():
                yield first
                yield from frames

            stats = _StreamStats()
            try:
                stats = _process_stream(all_frames(), engine, writer, sidecar, progress, args.max_frames)
            except KeyboardInterrupt:
                stopped_by = "Ctrl-C"  # the normal way to stop recording: keep the file
            except CameraError as exc:
                stopped_by = str(exc)
        if stopped_by is not None:
            stats.frames = video_writer.frames_written  # all queued frames are encoded by now
            stats.seconds = time.perf_counter() - start
    finally:
        capture.release()
    _say(args.quiet, f"wrote {args.out}: {width}x{height} at {fps:.1f} fps; {stats.frames} frames"
                     + (" (stopped with Ctrl-C)" if stopped_by == "Ctrl-C" else ""))
    if stopped_by not in (None, "Ctrl-C"):
        error_line(f"{stopped_by}; the recording so far is in {args.out}")
        return EXIT_USER_ERROR
    return EXIT_OK


# ----------------------------------------------------------------------------------------- --image


def collect_images(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Files given (as given, even if missing), plus the images (by suffix, sorted) of folders
    given; and one problem per folder without images."""
    from .video import IMAGE_SUFFIXES

    images: list[Path] = []
    problems: list[str] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            images.extend(found)
        else:  # a file, or a missing path that read_image reports (with an empty CSV row)
            images.append(path)
    return images, problems


def prepare_out_dir(out_dir: Path, inputs: list[Path], input_args: list[Path]) -> Path:
    """Create ``out_dir`` if needed and prove it writable, before any processing.

    Raises:
        OutputError: it is a file, an input folder, or cannot be created or written.
    """
    for path in [*input_args, *inputs]:
        if _same_file(path, out_dir):
            raise OutputError(f"--out {out_dir} is an input; choose a separate output folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} is a file; with --image, --out names a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".frnet-write-test-", dir=out_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"cannot write to {out_dir}: {exc.strerror or exc}; choose a folder you can write to"
        ) from exc
    return out_dir


def run_images(args: argparse.Namespace) -> int:
    """``--image FILES|DIRS --out OUTDIR``: per image an overlay PNG, one mesh per face and a
    landmark JSON; one ``landmarks68.csv`` (largest face per image) for all of them."""
    from .export import export_face_mesh, export_landmarks_json, largest_face, write_landmarks_csv
    from .video import read_image, write_image_atomic

    images, problems = collect_images(args.image)
    stems: dict[str, Path] = {}
    for path in images:
        if path.stem in stems and not _same_file(stems[path.stem], path):
            raise InputError(f"{stems[path.stem]} and {path} share the name {path.stem!r}, so their outputs "
                             f"would overwrite each other; process them in separate runs")
        stems[path.stem] = path
    images = list(stems.values())  # a file named twice is processed once
    out_dir = prepare_out_dir(args.out, images, args.image)
    for problem in problems:
        error_line(problem)
    failures = len(problems)
    rows: list[tuple[str, np.ndarray | None]] = []
    faces_total = meshes = 0
    with _engine(args, "image") as engine, _progress(len(images), "image", args.quiet) as progress:
        triangles = engine.pipeline.face_model.render_triangles
        for path in images:
            progress.update(1)
            try:
                image = read_image(path)
            except InputError as exc:
                error_line(exc)
                failures += 1
                rows.append((path.name, None))
                continue
            result, overlay = engine.run(image)
            write_image_atomic(out_dir / f"{path.stem}_overlay.png", overlay)
            export_landmarks_json(out_dir / f"{path.stem}_landmarks.json", result, image=path.name)
            for k, face in enumerate(result.faces):
                export_face_mesh(out_dir / f"{path.stem}_face{k}.{args.mesh_format}", face, triangles, image)
                meshes += 1
            if not result.faces:
                log.warning("no face found in %s", path)
            faces_total += len(result.faces)
            largest = largest_face(result)
            rows.append((path.name, None if largest is None else largest.landmarks68))
    write_landmarks_csv(out_dir / CSV_NAME, rows)
    with_faces = sum(landmarks is not None for _, landmarks in rows)
    _say(args.quiet, f"wrote {out_dir}: {len(rows)} images, {faces_total} faces ({with_faces} images with a face), "
                     f"{meshes} .{args.mesh_format} meshes, {CSV_NAME}"
                     + (f"; {failures} inputs failed" if failures else ""))
    return EXIT_USER_ERROR if failures else EXIT_OK


if __name__ == "__main__":  # python -m frnet.cli
    sys.exit(main())
