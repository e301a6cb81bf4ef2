"""Reading and writing video files (PyAV): decoded frames in, H.264 out.

* :class:`VideoReader` yields upright :class:`VideoFrame` s (rotation metadata applied), skipping
  packets that fail to decode.
* :class:`VideoWriter` encodes H.264 into a temporary file next to the destination, copies the audio
  of another file, and renames the result into place on :meth:`VideoWriter.close`.

Still images, atomic writes and the frame check live in :mod:`frnet.files` (no PyAV there); their
names are re-exported here for older imports. Images are ``H×W×3`` uint8 RGB numpy arrays throughout.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from . import limits
from .errors import InputError, OutputError
from .files import (  # noqa: F401 - re-exported: frnet.video.read_image etc. keep working
    IMAGE_SUFFIXES,
    atomic_write,
    check_rgb_image,
    read_image,
    write_image_atomic,
)
from .outputs import OutputTarget, discard

logger = logging.getLogger(__name__)

# Colour handling: frames are converted from RGB with BT.709 and tagged so (limited range), the usual
# choice for H.264; the reader converts with whatever the file is tagged with.
_BT709 = 1
_LIMITED_RANGE = 1
# PCM is legal in MP4/MOV on paper but few players play it there, so it is re-encoded.
_NEVER_REMUX_PREFIXES = ("pcm_",)
# A badly damaged file can fail on every packet: warn about the first few, count the rest.
MAX_DECODE_WARNINGS = 3
# Sample rates the AAC encoder takes; others are resampled to limits.AAC_SAMPLE_RATE.
_AAC_SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
# Containers that get their index first ("faststart": playable while downloading).
_FASTSTART_SUFFIXES = (".mov",)


# ------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One decoded frame: its position, its time from the stream's start, and its pixels."""

    index: int
    timestamp_ms: int
    image_rgb: np.ndarray


def _open_input(path: Path, what: str) -> av.container.InputContainer:
    if not path.is_file():
        raise InputError(f"cannot read {what} {path}: no such file")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"cannot read {what} {path}: not a video file FFmpeg can open ({exc})") from exc


class VideoReader:
    """Frames of a video file's first video stream, upright, in RGB.

    Iterate once: ``for frame in reader: ...`` yields :class:`VideoFrame` s. Packets that fail to
    decode are skipped and counted in :attr:`decode_errors` (the first
    :data:`MAX_DECODE_WARNINGS` with a warning each, then one warning with the total at the end);
    a file cut short ends early with the frames it has.

    Attributes:
        fps: average frame rate (frames per second).
        frame_count: number of frames from the container, or estimated from duration × fps when the
            container does not say (then ``frame_count_is_estimate`` is True).
        size: ``(width, height)`` of the frames as yielded (after rotation).
        frame_rate: the same as an exact ``Fraction`` (e.g. 30000/1001), for :class:`VideoWriter`.
        rotation: counter-clockwise rotation in degrees applied to the stored frames (0, ±90, 180).
        duration: seconds.
        decode_errors: packets that failed to decode so far.

    Raises:
        InputError: the file is missing, unreadable, has no video stream, or no decodable frame.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._container = _open_input(self.path, "video")
        try:
            self._setup()
        except BaseException:
            self._container.close()
            raise

    def _setup(self) -> None:
        if not self._container.streams.video:
            raise InputError(f"cannot read video {self.path}: the file has no video stream")
        stream = self._stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            logger.warning("%s does not state a frame rate; assuming 30 fps", self.path)
            rate = Fraction(30)
        try:
            limits.check_frame_rate(rate)
        except ValueError as exc:
            logger.warning("%s: %s; assuming 30 fps", self.path, exc)
            rate = Fraction(30)
        self.frame_rate = Fraction(rate)
        self.fps = float(rate)
        time_base = stream.time_base
        if stream.duration and time_base:
            self.duration = float(stream.duration * time_base)
        elif self._container.duration:
            self.duration = self._container.duration / av.time_base
        else:
            self.duration = 0.0
        self.frame_count_is_estimate = not stream.frames
        self.frame_count = stream.frames or round(self.duration * self.fps)
        self._start_pts = stream.start_time
        self.decode_errors = 0
        self._index = 0
        self._frames = self._decoded_frames()
        # Decode the first frame now: it tells the rotation (hence the size) and proves the file
        # is decodable before anyone starts processing.
        self._first = next(self._frames, None)
        if self._first is None:
            raise InputError(f"cannot read video {self.path}: no frame could be decoded")
        rotation = round(self._first.rotation or 0) % 360
        self.rotation = rotation - 360 if rotation > 180 else rotation  # in (-180, 180]
        if self.rotation % 90:
            logger.warning("%s: rotation %d° is not a multiple of 90°; ignored", self.path, self.rotation)
        self._quarter_turns = round(self.rotation / 90) % 4 if self.rotation % 90 == 0 else 0
        width, height = self._first.width, self._first.height
        self._stored_size = (width, height)
        self._resized_frames = 0
        self.size = (height, width) if self._quarter_turns % 2 else (width, height)
        self._started = False

    def _decoded_frames(self) -> Iterator[av.VideoFrame]:
        stream = self._stream
        packets = self._container.demux(stream)
        while True:
            try:
                packet = next(packets)  # the last one is empty and flushes the decoder
            except StopIteration:
                break
            except av.FFmpegError as exc:
                self._count_error(f"stopped reading at a damaged part of the file ({exc})")
                with contextlib.suppress(av.FFmpegError):  # flush what the decoder still holds
                    yield from stream.codec_context.decode(None)
                break
            try:
                yield from packet.decode()
            except av.FFmpegError as exc:
                self._count_error(f"skipped a packet that does not decode ({exc})")
        short = not self.frame_count_is_estimate and self._index < self.frame_count
        if self.decode_errors:
            of = f" of {self.frame_count}" if not self.frame_count_is_estimate else ""
            logger.warning("%s: %d damaged packet(s) skipped; %d%s frames decoded",
                           self.path, self.decode_errors, self._index, of)
        elif short:
            logger.warning(
                "%s: ended after %d of %d frames (the file may be truncated)",
                self.path, self._index, self.frame_count,
            )

    def _count_error(self, message: str) -> None:
        self.decode_errors += 1
        if self.decode_errors <= MAX_DECODE_WARNINGS:
            more = "; further damaged packets are counted quietly" if self.decode_errors == MAX_DECODE_WARNINGS else ""
            logger.warning("%s: %s%s", self.path, message, more)
        else:
            logger.debug("%s: %s", self.path, message)

    def _to_video_frame(self, frame: av.VideoFrame) -> VideoFrame:
        image = frame.to_ndarray(format="rgb24")
        if (frame.width, frame.height) != self._stored_size:
            image = self._fit_to_first_size(image)
        if self._quarter_turns:
            image = np.ascontiguousarray(np.rot90(image, self._quarter_turns))
        if frame.pts is not None and frame.time_base is not None:
            start = self._start_pts if self._start_pts is not None else 0
            timestamp_ms = round(float((frame.pts - start) * frame.time_base) * 1000)
        else:
            timestamp_ms = round(self._index * 1000 / self.fps)
        result = VideoFrame(self._index, timestamp_ms, image)
        self._index += 1
        return result

    def _fit_to_first_size(self, image: np.ndarray) -> np.ndarray:
        """A frame whose size differs from the first frame's (the stream changed resolution mid-way),
        scaled to fit the first size with its aspect ratio kept and black bars around it: every
        frame of a reader has :attr:`size`, so writers and trackers keep working."""
        import cv2

        width, height = self._stored_size
        in_height, in_width = image.shape[:2]
        self._resized_frames += 1
        if self._resized_frames == 1:
            logger.warning("%s: the resolution changes at frame %d (%dx%d, the video started at %dx%d); "
                           "such frames are scaled to fit the first size", self.path, self._index,
                           in_width, in_height, width, height)
        scale = min(width / in_width, height / in_height)
        fit_width = min(width, max(1, round(in_width * scale)))
        fit_height = min(height, max(1, round(in_height * scale)))
        scaled = cv2.resize(image, (fit_width, fit_height), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        out = np.zeros((height, width, 3), np.uint8)
        x0, y0 = (width - fit_width) // 2, (height - fit_height) // 2
        out[y0:y0 + fit_height, x0:x0 + fit_width] = scaled
        return out

    @property
    def resized_frames(self) -> int:
        """Frames so far that were scaled to the first frame's size (a mid-stream resolution change)."""
        return self._resized_frames

    def __iter__(self) -> Iterator[VideoFrame]:
        if self._started:
            raise RuntimeError(f"{self.path} has already been read; open a new VideoReader to read it again")
        self._started = True
        if self._container is None:
            return
        yield self._to_video_frame(self._first)
        self._first = None
        for frame in self._frames:
            yield self._to_video_frame(frame)

    def close(self) -> None:
        if self._container is not None:
            self._frames.close()
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"VideoReader({str(self.path)!r}, size={self.size}, fps={self.fps:.3f}, "
            f"frame_count={self.frame_count}, rotation={self.rotation})"
        )


# ------------------------------------------------------------------------------------------- writing


def _output_frame_rate(rate: Fraction) -> Fraction:
    """``rate`` with a denominator of at most 1001 (30000/1001 stays exact) when that is within
    0.1 % of it; slow rates (a time-lapse at 1/5000 fps) keep their exact value."""
    rounded = rate.limit_denominator(1001)
    if rounded > 0 and abs(rounded - rate) <= rate / 1000:
        return rounded
    return rate.limit_denominator(10**9)


def _named_layout(layout: av.AudioLayout) -> av.AudioLayout:
    """``layout``, or mono/stereo when it only gives a channel count (encoders like AAC need names)."""
    if not layout.name.endswith("channels"):
        return layout
    return av.AudioLayout("mono" if layout.nb_channels == 1 else "stereo")


class VideoWriter:
    """Write RGB frames to an H.264 video, optionally with the audio of another file.

    ``size`` is ``(width, height)``; frames must match it exactly and the file keeps it exactly.
    Even sizes use ``yuv420p`` (plays everywhere). H.264 cannot store odd sizes in 4:2:0, so odd
    widths or heights are encoded in ``yuv444p`` (High 4:4:4 profile) instead of being padded or
    scaled: FFmpeg-based players (VLC, mpv, ffplay) play it, browsers and QuickTime do not.

    With ``audio_from``, that file's first audio stream is copied alongside, in sync with its video
    stream, and cut where the written video ends. Packets are copied as they are when the output
    container takes the codec, otherwise re-encoded (AAC for MP4/MOV); :attr:`audio_mode` says
    which (``"copy"``, ``"re-encode"``, or ``None`` when there is no audio).

    Frames go to a temporary file next to ``path``; :meth:`close` moves it into place, :meth:`abort`
    (or an exception inside ``with``) deletes it, so ``path`` never holds a half-written video.

    Args:
        path: destination; the container follows the suffix (``.mp4``, ``.mov``, ``.mkv``).
        fps: frames per second (a ``Fraction`` keeps rates like 30000/1001 exact).
        size: ``(width, height)`` in pixels.
        audio_from: a video or audio file whose audio is copied.
        crf: x264 constant rate factor (0 lossless … 51 worst; 18–23 is visually good).
        preset: x264 speed preset (``ultrafast`` … ``veryslow``).
        threads: encoder threads; 0 picks a number from the CPU count, 1 makes the bytes of the
            file independent of the machine.

    Raises:
        ValueError: bad ``fps``, ``size`` or ``crf``.
        OutputError: the destination cannot be written or its type cannot hold H.264; raised here,
            before any frame is processed.
        InputError: ``audio_from`` cannot be read.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float | Fraction,
        size: tuple[int, int],
        audio_from: str | os.PathLike | None = None,
        crf: int = 20,
        preset: str = "veryfast",
        threads: int = 0,
    ) -> None:
        self.path = Path(path)
        if isinstance(fps, bool) or not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        rate = limits.check_frame_rate(fps, "fps")
        width, height = (int(v) for v in size)
        if width <= 0 or height <= 0 or (width, height) != tuple(size):
            raise ValueError(f"size must be two positive integers (width, height), got {size!r}")
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {crf}")
        self.size = (width, height)
        self.frame_rate = _output_frame_rate(rate)
        self.frames_written = 0
        self.audio_mode: str | None = None  # "copy", "re-encode", or None (no audio)
        self._container = None
        self._audio_in = None
        self._target = OutputTarget(self.path)
        self._temp = self._target.temp()
        try:
            self._open(crf, preset, threads)
            if audio_from is not None:
                self._open_audio(Path(audio_from))
        except BaseException:
            self.abort()
            raise

    def _open(self, crf: int, preset: str, threads: int) -> None:
        # Muxer options go to av.open: Container.options is read-only in PyAV >= 14.
        faststart = self.path.suffix.lower() in _FASTSTART_SUFFIXES
        container_options = {"movflags": "+faststart"} if faststart else {}
        try:
            self._container = av.open(str(self._temp), mode="w", container_options=container_options)
        except (av.FFmpegError, ValueError) as exc:
            raise OutputError(
                f"cannot write {self.path}: unknown video type {self.path.suffix!r}; use .mp4, .mov or .mkv"
            ) from exc
        if "h264" not in self._container.supported_codecs:
            raise OutputError(
                f"cannot write {self.path}: {self.path.suffix} files cannot hold H.264; use .mp4"
            )
        width, height = self.size
        stream = self._video = self._container.add_stream("libx264", rate=self.frame_rate)
        stream.width, stream.height = width, height
        self._pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        if self._pix_fmt != "yuv420p":
            logger.info("%s: odd size %dx%d, encoding yuv444p to keep it exact", self.path, width, height)
        stream.pix_fmt = self._pix_fmt
        stream.codec_context.time_base = 1 / self.frame_rate
        options = {"crf": str(crf), "preset": preset}
        if threads > 0:
            options["threads"] = str(threads)
        stream.codec_context.options = options
        ctx = stream.codec_context
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = _BT709
        ctx.color_range = _LIMITED_RANGE

    def _open_audio(self, source: Path) -> None:
        self._audio_in = _open_input(source, "audio of")
        if not self._audio_in.streams.audio:
            logger.info("%s has no audio stream; writing %s without audio", source, self.path)
            self._audio_in.close()
            self._audio_in = None
            return
        audio = self._audio_source = self._audio_in.streams.audio[0]
        # Keep the source's audio/video offset: time zero is where its video starts.
        videos = self._audio_in.streams.video
        if videos and videos[0].start_time is not None:
            self._audio_zero_s = float(videos[0].start_time * videos[0].time_base)
        elif audio.start_time is not None:
            self._audio_zero_s = float(audio.start_time * audio.time_base)
        else:
            self._audio_zero_s = 0.0
        codec = audio.codec_context.name
        supported = self._container.supported_codecs
        self._remux_audio = codec in supported and not codec.startswith(_NEVER_REMUX_PREFIXES)
        self.audio_mode = "copy" if self._remux_audio else "re-encode"
        if self._remux_audio:
            self._audio_out = self._container.add_stream_from_template(audio)
        else:
            target = "aac" if "aac" in supported else self._container.default_audio_codec
            rate = audio.codec_context.sample_rate
            if target == "aac" and rate not in _AAC_SAMPLE_RATES:
                # PyAV's encoder resamples the decoded frames to the stream's rate.
                logger.info("%s: AAC takes at most %d Hz; resampling the %d Hz audio of %s to %d Hz",
                            self.path, limits.AAC_MAX_SAMPLE_RATE, rate, source, limits.AAC_SAMPLE_RATE)
                rate = limits.AAC_SAMPLE_RATE
            logger.info("%s: re-encoding %s audio from %s to %s", self.path, codec, source, target)
            self._audio_out = self._container.add_stream(target, rate=rate)
            self._audio_out.codec_context.layout = _named_layout(audio.codec_context.layout)
        self._audio_packets = self._audio_in.demux(audio)
        self._pending_audio = None
        self._audio_done = False

    def write(self, image_rgb: np.ndarray) -> None:
        """Append one ``H×W×3`` uint8 RGB frame of the writer's size.

        Raises:
            ValueError: wrong type, dtype or size.
            OutputError: encoding or writing failed (the temporary file is removed).
        """
        if self._container is None:
            raise RuntimeError(f"the writer of {self.path} is closed")
        image_rgb = check_rgb_image(image_rgb)
        width, height = self.size
        if image_rgb.shape[:2] != (height, width):
            raise ValueError(
                f"frame is {image_rgb.shape[1]}x{image_rgb.shape[0]}, the video is {width}x{height}"
            )
        frame = av.VideoFrame.from_ndarray(image_rgb, format="rgb24")
        frame = frame.reformat(format=self._pix_fmt, dst_colorspace="itu709")
        frame.colorspace, frame.color_range = _BT709, _LIMITED_RANGE
        frame.pts = self.frames_written
        frame.time_base = self._video.codec_context.time_base
        try:
            self._container.mux(self._video.encode(frame))
            self.frames_written += 1
            self._copy_audio_until(self.frames_written / self.frame_rate)
        except (av.FFmpegError, OSError) as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {exc}") from exc

    def _copy_audio_until(self, end_s: float, final: bool = False) -> None:
        """Mux the source audio that starts before ``end_s`` seconds of output time.

        Called after every frame, so audio and video reach the muxer roughly together; the final
        call drops the rest of the source audio (past the video's end) and flushes the encoder.
        """
        if self._audio_in is None:
            return
        while not self._audio_done:
            packet = self._pending_audio
            if packet is None:
                try:
                    packet = next(self._audio_packets)
                except (StopIteration, av.FFmpegError):
                    self._audio_done = True
                    break
                if packet.pts is None or packet.size == 0:
                    continue
            time_s = float(packet.pts * packet.time_base) - self._audio_zero_s
            if time_s >= end_s:
                self._pending_audio = packet  # belongs after a later video frame, or past the end
                break
            self._pending_audio = None
            self._mux_audio(packet, time_s)
        if final:
            self._flush_audio_encoder()

    def _mux_audio(self, packet: av.Packet, time_s: float) -> None:
        if self._remux_audio:
            shift = round(self._audio_zero_s / packet.time_base)
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = self._audio_out
            self._container.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            logger.warning("%s: skipped an audio packet that does not decode (%s)", self.path, exc)
            return
        for frame in frames:
            if frame.pts is not None:
                time_s = float(frame.pts * frame.time_base) - self._audio_zero_s
            if time_s < 0:  # before the video starts
                continue
            frame.pts = None  # the encoder numbers samples itself
            self._container.mux(self._audio_out.encode(frame))

    def _flush_audio_encoder(self) -> None:
        if not self._remux_audio:
            self._container.mux(self._audio_out.encode(None))

    def close(self) -> None:
        """Finish the file and move it to ``path``. Calling it again does nothing.

        Raises:
            OutputError: finishing or renaming failed (the temporary file is removed).
        """
        if self._container is None:
            return
        if self.frames_written == 0:
            logger.warning("%s: no frames were written", self.path)
        try:
            self._container.mux(self._video.encode(None))
            self._copy_audio_until(self.frames_written / self.frame_rate, final=True)
            self._container.close()
        except (av.FFmpegError, OSError) as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {exc}") from exc
        self._container = None
        self._close_audio_input()
        self._target.commit(self._temp)
        logger.info("wrote %s (%d frames)", self.path, self.frames_written)

    def abort(self) -> None:
        """Stop writing and delete the temporary file; ``path`` is left untouched."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        self._close_audio_input()
        discard(self._temp)

    def _close_audio_input(self) -> None:
        if self._audio_in is not None:
            with contextlib.suppress(Exception):
                self._audio_in.close()
            self._audio_in = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        if getattr(self, "_container", None) is not None:
            with contextlib.suppress(Exception):
                logger.warning("%s: writer dropped without close(); discarding the partial file", self.path)
                self.abort()
