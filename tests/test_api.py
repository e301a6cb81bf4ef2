"""The library API: ``import frnet`` stays light, the BLAS thread cap where stages are built, and
(after the library API lands) the docs/api.md example run as written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("threadpoolctl", reason="threadpoolctl is not installed (a dependency of frnet)")


def run_python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                               "MKL_NUM_THREADS")}
    environ |= {"PYTHONPATH": os.pathsep.join(sys.path)} | env
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


BLAS_THREADS = ("import numpy, threadpoolctl\n"
                "def blas():\n"
                "    return sorted({p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas'})\n"
                "before = blas()\n"
                "from frnet.pipeline import Pipeline, PipelineOptions\n"
                "pipeline = Pipeline(PipelineOptions(mode='image'))\n"
                "print(before, blas())\n")


def test_pipeline_caps_blas_threads_even_after_numpy_loaded():
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: BLAS runs one thread anyway")
    before, after = run_python(BLAS_THREADS).strip().split("] [")
    assert before.strip("[]") != "1", f"BLAS already ran one thread ({before}); the test would prove nothing"
    assert after.strip("[]") == "1"


def test_a_thread_count_the_user_chose_is_kept():
    before, after = run_python(BLAS_THREADS, OPENBLAS_NUM_THREADS="2").strip().split("] [")
    assert before.strip("[]") == after.strip("[]") == "2"


# ----------------------------------------------------------------------------------- the public API

import re  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import frnet  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "assets" / "sample.mp4"
HEAVY = ("numpy", "cv2", "onnxruntime", "mediapipe", "PyQt6", "av", "moderngl", "trimesh")


def doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "docs" / "api.md").read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def face_jpg(tmp_path_factory) -> Path:
    from frnet.video import VideoReader

    folder = tmp_path_factory.mktemp("api")
    with VideoReader(SAMPLE) as reader:
        frame = next(iter(reader)).image_rgb
    frnet.write_image(folder / "face.jpg", frame)
    return folder / "face.jpg"


def test_import_frnet_loads_nothing_heavy():
    loaded = run_python(f"import sys, frnet; print([m for m in {HEAVY!r} if m in sys.modules])")
    assert loaded.strip() == "[]"


def test_help_shows_the_api():
    text = run_python("import frnet, pydoc; print(pydoc.render_doc(frnet, renderer=pydoc.plaintext))")
    for name in ("Pipeline", "PipelineOptions", "FrameResult", "read_image", "draw", "export_mesh", "VideoReader",
                 "Engine", "FrnetError"):
        assert re.search(rf"\b{name}\b", text), name
    assert "class Pipeline" in text and "export_mesh(path" in text  # documented members, not just names


def test_every_public_name_resolves_and_is_documented():
    for name in frnet.__all__:
        value = getattr(frnet, name)
        if name != "__version__":
            assert (value.__doc__ or "").strip(), f"frnet.{name} has no docstring"
    with pytest.raises(AttributeError):
        frnet.no_such_name  # noqa: B018


def test_the_five_line_example_runs_as_written(face_jpg, monkeypatch):
    import trimesh

    monkeypatch.chdir(face_jpg.parent)
    namespace: dict = {}
    exec(compile(doc_blocks()[0], "docs/api.md", "exec"), namespace)  # noqa: S102 - the documented example
    result, image = namespace["result"], namespace["image"]
    assert len(result.faces) == 1 and result.faces[0].landmarks68.shape == (68, 3)
    overlay = frnet.read_image("overlay.png")
    assert overlay.shape == image.shape and np.abs(overlay.astype(int) - image).mean() > 1  # something drawn
    mesh = trimesh.load("face.glb", force="mesh")
    assert len(mesh.vertices) == result.face_model.num_dense_vertices


def test_the_video_example_runs_as_written(tmp_path, monkeypatch):
    import shutil

    from frnet.video import VideoReader

    shutil.copy(SAMPLE, tmp_path / "in.mp4")
    monkeypatch.chdir(tmp_path)
    exec(compile(doc_blocks()[1], "docs/api.md", "exec"), {})  # noqa: S102 - the documented example
    with VideoReader(tmp_path / "out.mp4") as out, VideoReader(SAMPLE) as source:
        assert out.frame_count == source.frame_count and out.size == source.size


def test_no_face_draws_the_image_and_exports_nothing(tmp_path):
    blank = np.full((120, 160, 3), 90, np.uint8)
    with frnet.Pipeline(frnet.PipelineOptions(mode="image")) as pipeline:
        result = pipeline.process(blank)
    assert result.faces == []
    assert np.array_equal(frnet.draw(blank, result), blank)
    with pytest.raises(frnet.NoFaceError):
        frnet.export_mesh(tmp_path / "none.obj", result, blank)
    assert not list(tmp_path.iterdir())
