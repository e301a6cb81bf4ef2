"""The network and the face model must belong together: checked when a pipeline is built.

The network's 62 outputs are coefficients of one face model; the ONNX metadata names the SHA-256 of
the face model file it was exported with. A different face model (through ``FRNET_MODELS_DIR`` or
``Pipeline(face_model=…)``) must stop with a ``ModelFileError``, not give wrong meshes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from frnet import cli
from frnet.errors import ModelFileError
from frnet.facemodel import FACE_MODEL_FILE, load_face_model
from frnet.pipeline import Pipeline, PipelineOptions
from frnet.regressor import Regressor, check_face_model_match
from frnet.resources import resource_path

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def regressor():
    return Regressor(device="cpu", threads=1)


@pytest.fixture(scope="module")
def other_face_model(tmp_path_factory):
    """The shipped face model with its mean face moved by 1 mm, saved as a new file."""
    shipped = load_face_model()
    moved = dataclasses.replace(shipped, mean_shape=shipped.mean_shape + np.float32(1.0))
    path = tmp_path_factory.mktemp("facemodel") / FACE_MODEL_FILE
    moved.save(path)
    return load_face_model(path)


def test_loaded_face_model_knows_its_file_and_hash():
    model = load_face_model()
    path = resource_path("models", FACE_MODEL_FILE)
    assert model.source_file == path
    assert model.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_shipped_network_and_face_model_match(regressor):
    check_face_model_match(regressor, load_face_model())  # no error
    regressor.check_face_model(load_face_model())


def test_other_face_model_is_refused_when_the_pipeline_is_built(regressor, other_face_model):
    with pytest.raises(ModelFileError) as caught:
        Pipeline(PipelineOptions(mode="image"), face_model=other_face_model, regressor=regressor)
    message = str(caught.value)
    assert regressor.model_path.name in message and str(other_face_model.source_file) in message
    assert "SHA-256" in message and "FRNET_MODELS_DIR" in message


def test_parameter_count_mismatch_is_refused(regressor):
    class SixtyParams:
        num_params = 60
        metadata: dict = {}

    with pytest.raises(ModelFileError, match="60 parameters"):
        check_face_model_match(SixtyParams(), load_face_model())


def test_face_model_built_in_memory_cannot_be_hashed_and_passes(regressor):
    shipped = load_face_model()
    in_memory = dataclasses.replace(shipped, source_file=None, file_sha256=None)
    check_face_model_match(regressor, in_memory)


def test_models_dir_with_another_face_model_is_one_error_line(capsys, tmp_path, monkeypatch, other_face_model):
    folder = tmp_path / "models"
    folder.mkdir()
    for path in MODELS.iterdir():
        if path.is_file() and path.name != FACE_MODEL_FILE and not path.name.endswith(".md"):
            os.symlink(path, folder / path.name)
    os.symlink(other_face_model.source_file, folder / FACE_MODEL_FILE)
    monkeypatch.setenv("FRNET_MODELS_DIR", str(folder))
    image = tmp_path / "in" / "grey.png"
    image.parent.mkdir()
    from frnet.files import write_image_atomic

    write_image_atomic(image, np.full((64, 64, 3), 128, np.uint8))
    code = cli.main(["--image", str(image), "--out", str(tmp_path / "out"), "--renderer", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("frnet-app: error:")]
    assert len(errors) == 1 and "was trained for" in errors[0] and "Traceback" not in err
    assert not any((tmp_path / "out").glob("grey*"))
