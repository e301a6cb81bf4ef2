"""The renderer stage: both renderers on synthetic meshes, their agreement, and the GL fallback."""

from __future__ import annotations

import logging

import cv2
import moderngl
import numpy as np
import pytest

from frnet.errors import ResourceMissingError
from frnet.render import (
    COLOURINGS,
    CPURenderer,
    FaceDrawing,
    GLRenderer,
    GLUnavailableError,
    OverlayOptions,
    create_renderer,
    render_mesh_preview,
)
from frnet.render import gl as gl_module
from frnet.render import shading
from frnet.render.overlay import axis_endpoints
from frnet.render.preview import fit_to_view
from frnet.resources import resource_path

FRAME_HW = (120, 160)
BACKGROUND_RGB = (30, 60, 90)
MESH_ONLY = OverlayOptions(landmarks=False, mesh=True, mesh_opacity=1.0)


# -- synthetic geometry ---------------------------------------------------------------------------
def hemisphere(centre_xy=(70.0, 50.0), radius_px=30.0, steps=24) -> FaceDrawing:
    """A hemisphere facing the camera in image pixels (y down, larger z nearer), triangles
    counter-clockwise seen from the camera in y-up space; off-centre so a flip would show."""
    u, v = np.meshgrid(np.linspace(-1, 1, steps), np.linspace(-1, 1, steps))
    x = u * np.sqrt(1 - v**2 / 2)  # square → disc, so every triangle is kept
    y = v * np.sqrt(1 - u**2 / 2)
    z = np.sqrt(np.clip(1 - x**2 - y**2, 0, None))
    vertices = np.stack([centre_xy[0] + radius_px * x, centre_xy[1] - radius_px * y, radius_px * z], -1)
    index = np.arange(steps * steps).reshape(steps, steps)
    v00, v01, v10, v11 = index[:-1, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, :-1].ravel(), index[1:, 1:].ravel()
    triangles = np.concatenate([np.stack([v00, v01, v11], 1), np.stack([v00, v11, v10], 1)])
    vertices = vertices.reshape(-1, 3)
    return FaceDrawing(vertices, triangles, landmarks68=vertices[np.linspace(0, len(vertices) - 1, 68).astype(int)])


def flat_triangle(corners_xy, depth, tilt=0.0) -> FaceDrawing:
    """One triangle at constant depth, or tilted (depth grows with x by ``tilt`` per pixel)."""
    corners = np.asarray(corners_xy, dtype=np.float64)
    z = depth + tilt * (corners[:, 0] - corners[:, 0].min())
    return FaceDrawing(np.c_[corners, z], [[0, 2, 1]])


def projected_mask(faces, shape_hw) -> np.ndarray:
    """Pixels inside any projected triangle (cv2.fillPoly; integer coordinates = pixel centres)."""
    mask = np.zeros(shape_hw, dtype=np.uint8)
    for face in faces:
        polygons = np.round(face.vertices[face.triangles][:, :, :2] * 16).astype(np.int32)
        cv2.fillPoly(mask, list(polygons), 255, cv2.LINE_8, 4)
    return mask > 0


def background(shape_hw=FRAME_HW) -> np.ndarray:
    frame = np.empty((*shape_hw, 3), dtype=np.uint8)
    frame[:] = BACKGROUND_RGB
    return frame


def changed(out: np.ndarray, frame: np.ndarray) -> np.ndarray:
    return (out != frame).any(axis=2)


# -- renderers ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gl_renderer():
    try:
        renderer = GLRenderer()
    except GLUnavailableError as exc:
        pytest.skip(f"no headless OpenGL 3.3 (EGL) here: {exc}")
    yield renderer
    renderer.close()


@pytest.fixture(scope="module")
def cpu_renderer():
    return CPURenderer()


@pytest.fixture(params=["gl", "cpu"])
def renderer(request):
    return request.getfixturevalue(f"{request.param}_renderer")


def test_output_is_rgb_uint8_of_the_frame_size_and_the_input_is_untouched(renderer):
    frame = background()
    before = frame.copy()
    out = renderer.render(frame, [hemisphere()], OverlayOptions(wireframe=True, axes=False))
    assert out.shape == (*FRAME_HW, 3) and out.dtype == np.uint8
    assert np.array_equal(frame, before)


def test_no_faces_returns_the_frame(renderer):
    frame = np.random.default_rng(1).integers(0, 256, (*FRAME_HW, 3), dtype=np.uint8)
    assert np.array_equal(renderer.render(frame, [], OverlayOptions()), frame)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                                 np.zeros((10, 10, 4), np.uint8)])
def test_rejects_frames_that_are_not_rgb_uint8(renderer, bad):
    with pytest.raises(ValueError, match="uint8 RGB"):
        renderer.render(bad, [], OverlayOptions())


@pytest.mark.parametrize("options", [MESH_ONLY, OverlayOptions(landmarks=False, mesh_opacity=0.6),
                                     OverlayOptions(landmarks=False, mesh=False, wireframe=True)])
def test_pixels_change_only_where_the_mesh_projects(renderer, options):
    face = hemisphere()
    frame = background()
    out = renderer.render(frame, [face], options)
    mask = projected_mask([face], FRAME_HW)
    near_mask = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    inside = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    diff = changed(out, frame)
    assert not diff[~near_mask].any(), "pixels changed outside the projected mesh"
    assert diff[inside].mean() > (0.99 if options.mesh else 0.2)
    ys, xs = np.nonzero(diff)
    assert abs(xs.mean() - 70) < 2 and abs(ys.mean() - 50) < 2  # not flipped, not shifted


@pytest.mark.parametrize("opacity", [1.0, 0.5])
def test_the_nearer_triangle_hides_the_farther_in_any_draw_order(renderer, opacity):
    far = flat_triangle([(20, 20), (140, 20), (80, 110)], depth=0.0)
    near = flat_triangle([(40, 10), (120, 10), (80, 90)], depth=50.0, tilt=0.5)  # tilted: another colour
    options = OverlayOptions(landmarks=False, colouring="normals", mesh_opacity=opacity)
    frame = background()
    alone = renderer.render(frame, [near], options)[40, 80].astype(int)
    far_alone = renderer.render(frame, [far], options)[40, 80].astype(int)
    assert np.abs(alone - far_alone).max() > 20
    one_mesh = FaceDrawing(np.r_[near.vertices, far.vertices], [[0, 2, 1], [3, 5, 4]])
    one_mesh_reversed = FaceDrawing(np.r_[far.vertices, near.vertices], [[0, 2, 1], [3, 5, 4]])
    for faces in ([far, near], [near, far], [one_mesh], [one_mesh_reversed]):
        pixel = renderer.render(frame, faces, options)[40, 80].astype(int)
        # Translucent too: the far triangle must not show through the near one.
        assert np.abs(pixel - alone).max() <= 2, faces


def test_gl_and_cpu_agree(gl_renderer, cpu_renderer):
    faces = [hemisphere(steps=40)]
    frame = background()
    for options in (MESH_ONLY, OverlayOptions(landmarks=False, mesh_opacity=0.6)):
        gl_out, cpu_out = gl_renderer.render(frame, faces, options), cpu_renderer.render(frame, faces, options)
        gl_mask, cpu_mask = changed(gl_out, frame), changed(cpu_out, frame)
        assert (gl_mask & cpu_mask).sum() / (gl_mask | cpu_mask).sum() >= 0.9
        both = gl_mask & cpu_mask
        mean_difference = np.abs(gl_out[both].astype(int) - cpu_out[both].astype(int)).mean()
        assert mean_difference < 8, mean_difference


@pytest.mark.parametrize("colouring", COLOURINGS)
def test_every_colouring_runs_and_both_renderers_roughly_agree(gl_renderer, cpu_renderer, colouring):
    options = OverlayOptions(landmarks=False, colouring=colouring, mesh_opacity=1.0)
    frame = background()
    face = hemisphere()
    gl_out, cpu_out = gl_renderer.render(frame, [face], options), cpu_renderer.render(frame, [face], options)
    inside = cv2.erode(projected_mask([face], FRAME_HW).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert np.abs(gl_out[inside].astype(int) - cpu_out[inside].astype(int)).mean() < 12


def test_normal_colours_follow_view_space_axes(renderer):
    out = renderer.render(background(), [hemisphere()], OverlayOptions(landmarks=False, colouring="normals",
                                                                       mesh_opacity=1.0)).astype(int)
    top, bottom, left, right = out[24, 70], out[76, 70], out[50, 44], out[50, 96]
    assert top[1] > bottom[1] + 60  # +y is up: the top of the sphere is greener
    assert right[0] > left[0] + 60  # +x is right: the right side is redder
    assert out[50, 70, 2] > 240  # the middle faces the camera


def test_depth_colouring_is_warm_near_and_cool_far(renderer):
    out = renderer.render(background(), [hemisphere()], OverlayOptions(landmarks=False, colouring="depth",
                                                                       mesh_opacity=1.0)).astype(int)
    centre, rim = out[50, 70], out[50, 42]
    assert centre[0] > centre[2] and rim[2] > rim[0]


def test_landmarks_and_axes_are_drawn_by_the_shared_overlay(gl_renderer, cpu_renderer):
    face = hemisphere()
    rotation = np.eye(3)
    face = FaceDrawing(face.vertices, face.triangles, face.landmarks68, rotation, (70, 50), 25.0)
    tips = axis_endpoints(face)
    assert np.allclose(tips, [[95, 50], [70, 25], [70, 50]])  # x right, y up the image, z at us
    frame = background()
    for options in (OverlayOptions(mesh=False, landmarks=False, axes=True),
                    OverlayOptions(mesh=False, landmarks=True, axes=False)):
        gl_out, cpu_out = gl_renderer.render(frame, [face], options), cpu_renderer.render(frame, [face], options)
        assert np.array_equal(gl_out, cpu_out)  # no mesh: only the shared OpenCV overlay
        if options.axes:
            assert gl_out[50, 82, 0] > 200 and gl_out[50, 82, 1] < 100  # red x axis
            assert gl_out[38, 70, 1] > 150 and gl_out[38, 70, 0] < 100  # green y axis
        else:
            x, y = np.round(face.landmarks68[:, :2]).astype(int).T
            assert changed(gl_out, frame)[y, x].all()


def test_gl_reuses_buffers_across_sizes_and_topologies(gl_renderer):
    sphere, triangle = hemisphere(), flat_triangle([(10, 10), (60, 10), (30, 50)], 5.0)
    small, large = background((60, 80)), background((150, 200))
    first = gl_renderer.render(large, [sphere], OverlayOptions(landmarks=False, wireframe=True))
    gl_renderer.render(small, [triangle], OverlayOptions(landmarks=False, wireframe=True))
    gl_renderer.render(large, [sphere, triangle], OverlayOptions(landmarks=False, wireframe=True))
    again = gl_renderer.render(large, [sphere], OverlayOptions(landmarks=False, wireframe=True))
    assert np.array_equal(first, again)
    ctx = gl_renderer.ctx
    callers_framebuffer = ctx.simple_framebuffer((8, 8))
    callers_framebuffer.use()
    with GLRenderer(ctx) as shared:  # an existing context (the GUI's) is borrowed
        assert np.array_equal(shared.render(large, [sphere], OverlayOptions(landmarks=False, wireframe=True)),
                              first)
    ctx.clear(1.0, 0.0, 0.0, 1.0)  # lands in the caller's framebuffer, which render() restored
    assert callers_framebuffer.read(components=3)[:3] == b"\xff\x00\x00"
    callers_framebuffer.release()
    assert gl_renderer.render(small, [sphere], MESH_ONLY).shape == (60, 80, 3)  # context still alive


# -- construction and fallback --------------------------------------------------------------------
def test_create_renderer_falls_back_to_cpu_with_one_warning(monkeypatch, caplog):
    def no_context(**kwargs):
        raise RuntimeError("no EGL display (test)")

    monkeypatch.setattr(moderngl, "create_standalone_context", no_context)
    with caplog.at_level(logging.WARNING):
        renderer = create_renderer("auto")
    assert isinstance(renderer, CPURenderer)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "no EGL display (test)" in warnings[0].getMessage()
    with pytest.raises(GLUnavailableError, match="libegl1"):
        create_renderer("gl")


def test_create_renderer_choices(gl_renderer):
    with create_renderer("cpu") as renderer:
        assert isinstance(renderer, CPURenderer)
    with create_renderer("auto") as renderer:
        assert isinstance(renderer, GLRenderer)
    with pytest.raises(ValueError, match="prefer"):
        create_renderer("vulkan")


def test_shaders_are_found_through_resource_path():
    names = [gl_module.MESH_VERTEX_SHADER, *gl_module.MESH_FRAGMENT_SHADERS.values(), *gl_module.FRAME_SHADERS]
    for name in names:
        path = resource_path("shaders", name)
        assert path.parent.name == "shaders"
        assert path.read_text().startswith("#version 330 core")


def test_missing_shaders_fall_back_to_cpu(gl_renderer, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("FRNET_SHADERS_DIR", str(tmp_path))
    with pytest.raises(ResourceMissingError, match="mesh.vert"):
        GLRenderer()
    with caplog.at_level(logging.WARNING):
        assert isinstance(create_renderer("auto"), CPURenderer)
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


# -- inputs ---------------------------------------------------------------------------------------
def test_inputs_are_checked():
    with pytest.raises(ValueError, match="colouring"):
        OverlayOptions(colouring="rainbow")
    with pytest.raises(ValueError, match="mesh_opacity"):
        OverlayOptions(mesh_opacity=1.5)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        FaceDrawing(np.zeros((4, 2)), [[0, 1, 2]])
    with pytest.raises(ValueError, match="indices"):
        FaceDrawing(np.zeros((3, 3)), [[0, 1, 3]])
    with pytest.raises(ValueError, match="NaN"):
        FaceDrawing(np.full((3, 3), np.nan), [[0, 1, 2]])


def test_face_drawing_from_crop_pose():
    pose = np.c_[2.0 * np.eye(3), [60.0, 60.0, 0.0]]
    face = FaceDrawing.from_crop_pose(np.zeros((3, 3)), [[0, 1, 2]], None, pose, (100, 100, 340, 340), 30.0)
    assert np.allclose(face.axes_origin, [220, 220])  # crop centre → image, y flipped
    assert np.isclose(face.axes_length_px, 30.0 * 2.0 * 2.0)  # mm × pose scale × crop→image scale
    assert np.allclose(face.rotation, np.eye(3))


def test_vertex_normals_point_out_of_a_counter_clockwise_mesh():
    face = hemisphere()
    normals = shading.vertex_normals(face.vertices, face.triangles)
    centre = np.argmin(np.linalg.norm(face.vertices[:, :2] - [70, 50], axis=1))
    assert normals[centre, 2] > 0.99
    top = np.argmin(face.vertices[:, 1])  # smallest image y = top of the sphere
    assert normals[top, 1] > 0.5  # view space: y up


# -- previews -------------------------------------------------------------------------------------
def test_preview_fits_the_mesh_and_turns_it(cpu_renderer):
    sphere = hemisphere()
    model = sphere.vertices * [1, -1, 1]  # back to y up
    model[:, 2] += 10 * np.exp(-((model[:, 0] - 70) ** 2 + (model[:, 1] + 50) ** 2) / 20)  # a nose
    nose = np.argmax(model[:, 2])
    turned = fit_to_view(model, (200, 100), yaw_deg=30)
    assert turned[nose, 0] > 100  # positive yaw: the nose goes to the image's right
    assert turned[:, 1].min() >= 0 and turned[:, 1].max() <= 99
    picture = render_mesh_preview(model, sphere.triangles, (200, 100), yaw_deg=30, renderer=cpu_renderer)
    assert picture.shape == (100, 200, 3)
    assert (picture[0, 0] == 255).all() and (picture[50, 100] < 250).any()
