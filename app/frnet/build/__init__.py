"""Build tools: the face model and the teacher labels.

These run in the build environment (``make build-env``: legacy ``mediapipe==0.10.21`` installed
``--no-deps`` beside numpy 2), never in the runtime, which uses current mediapipe's Tasks API.
"""
