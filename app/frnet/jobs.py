"""The jobs behind ``frnet-app --video``, ``--image`` and ``--webcam``, as plain functions with typed options.

* :func:`run_video` — a video file → the overlay as H.264 at the input's size and frame rate, audio
  copied; optionally every frame's faces as JSON lines, and the tracked faces' performance as glTF
  animations or a CSV (:mod:`frnet.animation`; then the overlay video is optional).
* :func:`run_images` — image files and folders → per image an overlay PNG, one mesh per face
  (optionally UV-textured, :mod:`frnet.texture`) and a landmarks JSON; one ``landmarks68.csv``
  (largest face per image) for all of them.
* :func:`run_webcam` — a camera → the overlay recorded until Ctrl-C, ``max_frames`` or the camera
  stops (the recording so far is kept).

Each job builds one :class:`~frnet.engine.Engine` and streams frames through it (decoding and
encoding overlap the processing, :mod:`frnet.stream`). Jobs return a summary and never print:
the shell (:mod:`frnet.cli`) turns summaries into messages and exit codes. What a shell wants to
see while a job runs comes in through ``progress`` (a tqdm-like bar), ``on_problem`` (an input
that failed; the job goes on) and ``on_frame`` (every processed frame, e.g. ``scripts/soak.py``).
Errors are :class:`~frnet.errors.FrnetError` s; Ctrl-C (``KeyboardInterrupt``) leaves no partial
output, except for a webcam recording, where it is the normal way to stop.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .engine import Engine, EngineOptions
from .errors import CameraError, InputError, OutputError
from .files import (
    IMAGE_SUFFIXES,
    atomic_write,
    distinct_files,
    is_output_name,
    output_names,
    same_file,
    unique_stems,
)
from .outputs import check_output, refuse_inputs_among_outputs
from .pipeline import FrameResult, PipelineOptions

log = logging.getLogger(__name__)

CSV_NAME = "landmarks68.csv"
ENCODER_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


# ----------------------------------------------------------------------------------------- options


def _video_engine() -> EngineOptions:
    return EngineOptions(pipeline=PipelineOptions(mode="video"))


def _image_engine() -> EngineOptions:
    return EngineOptions(pipeline=PipelineOptions(mode="image"))


def _check_mode(engine: EngineOptions, mode: str, job: str) -> None:
    if engine.pipeline.mode != mode:
        raise ValueError(f"{job} runs the pipeline in {mode} mode, not {engine.pipeline.mode!r}")


@dataclass(frozen=True)
class VideoJob:
    """``frnet-app --video SOURCE --out OUT [--anim-out FACE.glb]``. ``engine.pipeline.threads``
    also sets the encoder's and OpenCV's threads. ``out`` may be ``None`` when ``anim_out`` is
    given (nothing is drawn then); ``anim_format`` is ``"glb"`` or ``"csv"`` (default: the suffix)."""

    source: Path
    out: Path | None
    engine: EngineOptions = field(default_factory=_video_engine)
    landmarks_out: Path | None = None
    max_frames: int | None = None
    preset: str = "veryfast"
    anim_out: Path | None = None
    anim_format: str | None = None

    def __post_init__(self) -> None:
        from .animation import animation_format

        _check_mode(self.engine, "video", "a video job")
        if self.out is None and self.anim_out is None:
            raise ValueError("a video job needs an output video or an animation file")
        if self.anim_out is not None:
            animation_format(self.anim_out, self.anim_format)


@dataclass(frozen=True)
class WebcamJob:
    """``frnet-app --webcam CAMERA --out OUT``."""

    camera: int
    out: Path
    engine: EngineOptions = field(default_factory=_video_engine)
    landmarks_out: Path | None = None
    max_frames: int | None = None
    preset: str = "veryfast"
    open_capture: Callable[[int], object] | None = None  # a cv2.VideoCapture-like factory (tests)

    def __post_init__(self) -> None:
        _check_mode(self.engine, "video", "a webcam job")


@dataclass(frozen=True)
class ImagesJob:
    """``frnet-app --image INPUTS… --out OUT_DIR``; ``inputs`` are files and/or folders."""

    inputs: list[Path]
    out_dir: Path
    engine: EngineOptions = field(default_factory=_image_engine)
    mesh_format: str = "obj"
    texture_size: int | None = None  # UV texture side (frnet.texture.TEXTURE_SIZES); None: vertex colours

    def __post_init__(self) -> None:
        from .export import check_mesh_format
        from .texture import TEXTURE_SIZES

        _check_mode(self.engine, "image", "an image job")
        check_mesh_format(self.mesh_format)
        if self.texture_size is not None and self.texture_size not in TEXTURE_SIZES:
            raise ValueError(f"texture size must be one of {TEXTURE_SIZES}, not {self.texture_size}")


# --------------------------------------------------------------------------------------- summaries


@dataclass
class StreamStats:
    """Frames processed, how many had a face, and the seconds it took."""

    frames: int = 0
    frames_with_faces: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        share = 100.0 * self.frames_with_faces / self.frames if self.frames else 0.0
        fps = self.frames / self.seconds if self.seconds > 0 else 0.0
        return f"{self.frames} frames, faces in {self.frames_with_faces} ({share:.1f} %), {fps:.1f} fps"


@dataclass(frozen=True)
class VideoSummary:
    """``out`` is ``None`` when only an animation was asked for; ``animation_files`` are the files
    written for ``anim_out`` (empty when no face was tracked)."""

    out: Path | None
    size: tuple[int, int]
    fps: float
    audio_mode: str | None
    stats: StreamStats
    decode_errors: int = 0
    source: Path | None = None
    anim_out: Path | None = None
    animation_files: tuple[Path, ...] = ()
    tracked_faces: int = 0

    def line(self) -> str:
        width, height = self.size
        audio = {"copy": ", audio copied", "re-encode": ", audio re-encoded"}.get(self.audio_mode, "")
        damaged = f"; {self.decode_errors} damaged packet(s) of the input skipped" if self.decode_errors else ""
        what = f"wrote {self.out}" if self.out is not None else f"read {self.source}"
        line = f"{what}: {width}x{height} at {self.fps:.3f} fps{audio}; {self.stats.line()}{damaged}"
        if self.animation_files:
            line += (f"\nwrote {', '.join(str(p) for p in self.animation_files)}: {self.tracked_faces} tracked "
                     f"face(s)")
        return line


# How a recording stopped by a signal says so; every stop signal keeps the recording (frnet.signals).
STOPPED_BY_SIGNAL = ("Ctrl-C", "SIGTERM", "SIGHUP")


@dataclass(frozen=True)
class WebcamSummary:
    """``stopped_by``: ``None`` (``max_frames`` reached), ``"Ctrl-C"``, ``"SIGTERM"``, ``"SIGHUP"``
    (:data:`STOPPED_BY_SIGNAL`), or the camera's error message."""

    out: Path
    size: tuple[int, int]
    fps: float
    stats: StreamStats
    stopped_by: str | None = None

    @property
    def camera_failed(self) -> bool:
        return self.stopped_by is not None and self.stopped_by not in STOPPED_BY_SIGNAL

    def line(self) -> str:
        width, height = self.size
        return (f"wrote {self.out}: {width}x{height} at {self.fps:.1f} fps; {self.stats.frames} frames"
                + (f" (stopped with {self.stopped_by})" if self.stopped_by in STOPPED_BY_SIGNAL else ""))


@dataclass(frozen=True)
class ImagesSummary:
    out_dir: Path
    images: int
    faces: int
    images_with_faces: int
    meshes: int
    mesh_format: str
    failures: int
    textured: bool = False

    def line(self) -> str:
        return (f"wrote {self.out_dir}: {self.images} images, {self.faces} faces ({self.images_with_faces} images "
                f"with a face), {self.meshes} .{self.mesh_format} meshes{' (textured)' if self.textured else ''}, "
                f"{CSV_NAME}"
                + (f"; {self.failures} inputs failed" if self.failures else ""))


# ---------------------------------------------------------------------------------------- plumbing


class _NoProgress:
    """The progress bar of a job nobody watches (tqdm's interface, doing nothing)."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass


ProgressFactory = Callable[[int | None, str], contextlib.AbstractContextManager]


def no_progress(total: int | None, unit: str) -> _NoProgress:
    return _NoProgress()


def _limit_threads(threads: int | None) -> None:
    if threads:
        import cv2

        cv2.setNumThreads(threads)


@contextlib.contextmanager
def _sidecar(path: Path | None) -> Iterator[io.TextIOBase | None]:
    """A JSON-lines file written atomically (discarded when the job fails or is interrupted)."""
    if path is None:
        yield None
        return
    with atomic_write(path) as temp, open(temp, "w", encoding="utf-8") as handle:
        yield handle


def _process_stream(frames: Iterable[tuple[np.ndarray, int | None]], engine: Engine, writer, sidecar,
                    progress, max_frames: int | None, on_frame: Callable[[FrameResult], None] | None,
                    stats: StreamStats, recorder=None) -> StreamStats:
    """Frames → engine → writer (and JSON lines to ``sidecar``, faces to the animation
    ``recorder``), until the frames end or ``max_frames``. Without a writer nothing is drawn."""
    from .export import frame_to_dict

    start = time.perf_counter()
    for image, timestamp_ms in frames:
        if writer is None:
            result = engine.pipeline.process(image, timestamp_ms)
        else:
            result, rendered = engine.run(image, timestamp_ms)
            writer.write(rendered)
        if recorder is not None:
            recorder.add(result, image)
        if sidecar is not None:
            sidecar.write(json.dumps(frame_to_dict(result), separators=(",", ":")) + "\n")
        stats.frames += 1
        stats.frames_with_faces += bool(result.faces)
        if on_frame is not None:
            on_frame(result)
        progress.set_postfix_str(f"faces in {stats.frames_with_faces}", refresh=False)
        progress.update(1)
        if max_frames is not None and stats.frames >= max_frames:
            break
    stats.seconds = time.perf_counter() - start
    return stats


# ------------------------------------------------------------------------------------------- video


def run_video(job: VideoJob, progress: ProgressFactory = no_progress,
              on_frame: Callable[[FrameResult], None] | None = None) -> VideoSummary:
    """Overlay a video file (see the module doc).

    Raises:
        InputError: the video cannot be read.
        OutputError: an output is the input, both outputs are one file, or they cannot be written.
        KeyboardInterrupt: passed on; no output is left behind.
    """
    from .animation import AnimationRecorder, write_animation
    from .stream import BackgroundWriter, Prefetcher
    from .video import VideoReader, VideoWriter

    source, out = job.source, job.out
    outputs = [(name, path) for name, path in (("--out", out), ("--landmarks-out", job.landmarks_out),
                                               ("--anim-out", job.anim_out)) if path is not None]
    for name, path in outputs:
        if same_file(source, path):
            raise OutputError(f"{name} {path} is the input video; choose another file name")
    for k, (name, path) in enumerate(outputs):
        for other, other_path in outputs[k + 1:]:
            if same_file(path, other_path):
                raise OutputError(f"{other} and {name} are the same file ({path})")
    if not source.is_file():
        raise InputError(f"cannot read video {source}: no such file")
    for name, path in outputs:  # every output before any work (--out is optional with --anim-out)
        check_output(path, inputs=[source], option=name)
    threads = job.engine.pipeline.threads
    _limit_threads(threads)
    stats = StreamStats()
    recorder = AnimationRecorder() if job.anim_out is not None else None
    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(VideoReader(source))
        writer = None if out is None else stack.enter_context(
            VideoWriter(out, reader.frame_rate, reader.size, audio_from=source, preset=job.preset,
                        threads=threads or 0))
        sidecar = stack.enter_context(_sidecar(job.landmarks_out))
        engine = stack.enter_context(Engine.create(job.engine))
        total = reader.frame_count if job.max_frames is None else min(reader.frame_count, job.max_frames)
        bar = stack.enter_context(progress(total or None, "frame"))
        # Decoding and encoding run in their own threads, overlapping the processing.
        frames = stack.enter_context(Prefetcher((f.image_rgb, f.timestamp_ms) for f in reader))
        encoder = None if writer is None else stack.enter_context(BackgroundWriter(writer))
        started = time.perf_counter()
        _process_stream(iter(frames), engine, encoder, sidecar, bar, job.max_frames, on_frame, stats, recorder)
    stats.seconds = time.perf_counter() - started  # up to the finished file
    animation_files: list[Path] = []
    if recorder is not None:  # after the video is complete: a failure here keeps the video
        animation_files = write_animation(job.anim_out, recorder, engine.face_model, job.anim_format)
    return VideoSummary(out=out, size=reader.size, fps=reader.fps,
                        audio_mode=None if writer is None else writer.audio_mode, stats=stats,
                        decode_errors=reader.decode_errors, source=source, anim_out=job.anim_out,
                        animation_files=tuple(animation_files),
                        tracked_faces=0 if recorder is None else len(recorder.tracks))


# ------------------------------------------------------------------------------------------ webcam


@contextlib.contextmanager
def ctrl_c_requests_stop() -> Iterator[threading.Event]:
    """While recording, Ctrl-C sets the yielded event (the frame loop stops after the frame it is
    on) instead of raising ``KeyboardInterrupt`` wherever the main thread is: inside a queue's
    lock or the encoder hand-off, that could leave a lock held and the job hung. A second Ctrl-C
    interrupts at once, as usual. Outside the main thread, or where SIGINT is ignored (a
    background job), nothing is changed."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield stop
        return
    previous = signal.getsignal(signal.SIGINT)

    def request_stop(signum, frame) -> None:
        stop.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, request_stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def run_webcam(job: WebcamJob, progress: ProgressFactory = no_progress,
               on_frame: Callable[[FrameResult], None] | None = None) -> WebcamSummary:
    """Record a camera with the overlay until Ctrl-C, ``max_frames`` or the camera stops; the file
    is kept in every case (a failing camera shows in :attr:`WebcamSummary.stopped_by`). In the main
    thread, Ctrl-C is a stop request honoured between frames (:func:`ctrl_c_requests_stop`).

    Raises:
        CameraError: the camera cannot be opened or gives no first frame.
        OutputError: the output cannot be written.
    """
    from .sources import CLI_CAMERA_HINT, CameraSource
    from .stream import BackgroundWriter
    from .video import VideoWriter

    check_output(job.out, option="--out")  # every output before the camera is opened
    if job.landmarks_out is not None:
        if same_file(job.out, job.landmarks_out):
            raise OutputError(f"--landmarks-out and --out are the same file ({job.out})")
        check_output(job.landmarks_out, option="--landmarks-out")
    threads = job.engine.pipeline.threads
    _limit_threads(threads)
    stats = StreamStats()
    stopped_by: str | None = None
    with ctrl_c_requests_stop() as stop, CameraSource(job.camera, job.open_capture, hint=CLI_CAMERA_HINT) as camera:
        start = time.perf_counter()
        info = camera.info
        with contextlib.ExitStack() as stack:
            video_writer = stack.enter_context(VideoWriter(job.out, info.fps, info.size, preset=job.preset,
                                                           threads=threads or 0))
            sidecar = stack.enter_context(_sidecar(job.landmarks_out))
            engine = stack.enter_context(Engine.create(job.engine))
            bar = stack.enter_context(progress(job.max_frames, "frame"))
            writer = stack.enter_context(BackgroundWriter(video_writer))

            def frames():
                for frame in camera.frames():
                    yield frame.image_rgb, frame.timestamp_ms
                    if stop.is_set():
                        return

            try:
                _process_stream(frames(), engine, writer, sidecar, bar, job.max_frames, on_frame, stats)
                if stop.is_set():
                    stopped_by = "Ctrl-C"  # the normal way to stop recording: keep the file
            except KeyboardInterrupt as exc:  # a second Ctrl-C, one outside the main thread, SIGTERM/SIGHUP
                name = getattr(exc, "signal_name", "SIGINT")
                stopped_by = "Ctrl-C" if name == "SIGINT" else name
            except CameraError as exc:
                stopped_by = str(exc)
        if stopped_by is not None:
            stats.frames = video_writer.frames_written  # all queued frames are encoded by now
            stats.seconds = time.perf_counter() - start
    return WebcamSummary(out=job.out, size=info.size, fps=info.fps, stats=stats, stopped_by=stopped_by)


# ------------------------------------------------------------------------------------------ images


def collect_images(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Files given (as given, even if missing), plus the images (by suffix, sorted) of folders
    given; and one problem per folder without images."""
    images: list[Path] = []
    problems: list[str] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            images.extend(found)
        else:  # a file, or a missing path (run_images refuses those before writing anything)
            images.append(path)
    return images, problems


def prepare_out_dir(out_dir: Path, inputs: list[Path], input_args: list[Path]) -> Path:
    """Create ``out_dir`` if needed and prove it writable, before any processing.

    Raises:
        OutputError: it is a file, an input folder, or cannot be created or written.
    """
    for path in [*input_args, *inputs]:
        if same_file(path, out_dir):
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


def run_images(job: ImagesJob, progress: ProgressFactory = no_progress,
               on_problem: Callable[[str], None] = log.error) -> ImagesSummary:
    """Reconstruct every face of every image (see the module doc). An image that cannot be read
    is reported through ``on_problem`` and gets an empty CSV row; the others go on. Two inputs with
    the same stem are written as ``x``, ``x-2``, … (:func:`frnet.files.unique_stems`).

    Raises:
        InputError: an input path does not exist (checked before anything is written).
        OutputError: ``out_dir`` is unusable, or an output cannot be written.
    """
    from .export import export_face_mesh, export_landmarks_json, largest_face, write_landmarks_csv
    from .files import read_image, write_image_atomic

    images, problems = collect_images(job.inputs)
    missing = [str(path) for path in images if not path.exists()]
    if missing:  # refused before anything is created (an unreadable file still gets its CSV row)
        raise InputError(f"no such image: {', '.join(missing)}; nothing was written")
    images = distinct_files(images)  # a file named twice is processed once
    stems = unique_stems(images)
    out_dir = prepare_out_dir(job.out_dir, images, list(job.inputs))
    refuse_inputs_among_outputs(images, out_dir, lambda name: is_output_name(name, stems, job.mesh_format, CSV_NAME))
    _limit_threads(job.engine.pipeline.threads)
    for problem in problems:
        on_problem(problem)
    failures = len(problems)
    rows: list[tuple[str, np.ndarray | None]] = []
    faces_total = meshes = 0
    with Engine.create(job.engine) as engine, progress(len(images), "image") as bar:
        triangles = engine.face_model.render_triangles
        for path, stem in zip(images, stems):
            bar.update(1)
            try:
                image = read_image(path)
            except InputError as exc:
                on_problem(str(exc))
                failures += 1
                rows.append((path.name, None))
                continue
            result, overlay = engine.run(image)
            names = output_names(stem, len(result.faces), job.mesh_format)
            write_image_atomic(out_dir / names.overlay, overlay)
            export_landmarks_json(out_dir / names.landmarks_json, result, image=path.name)
            for face, name in zip(result.faces, names.meshes):
                export_face_mesh(out_dir / name, face, triangles, image, texture_size=job.texture_size)
                meshes += 1
            if not result.faces:
                log.warning("no face found in %s", path)
            faces_total += len(result.faces)
            largest = largest_face(result)
            rows.append((path.name, None if largest is None else largest.landmarks68))
    write_landmarks_csv(out_dir / CSV_NAME, rows)
    return ImagesSummary(out_dir=out_dir, images=len(rows), faces=faces_total,
                         images_with_faces=sum(landmarks is not None for _, landmarks in rows),
                         meshes=meshes, mesh_format=job.mesh_format, failures=failures,
                         textured=job.texture_size is not None)
