"""The OpenGL 3.3 renderer (moderngl): z-buffered, per-pixel lit, translucent mesh over the frame.

One frame, in an offscreen framebuffer cleared to transparent black:

1. the mesh, depth-tested and *not* blended, as premultiplied colour with alpha = opacity, so a
   translucent mesh shows only its nearest surface (with no mesh, at opacity 0: depth only, which
   hides the wireframe's back edges);
2. the wireframe, depth-tested lines blended over it (premultiplied "over");
3. the frame, under everything: one full-viewport triangle blended with (1 − α_dst, 1);
4. the pixels are read back and the OpenCV overlays drawn (:mod:`frnet.render.overlay`).

A frame wider or taller than the context's limit (``GL_MAX_TEXTURE_SIZE``, the renderbuffer and
viewport limits; 16,384 px on Mesa) cannot be a texture: such frames are drawn by the OpenCV
renderer instead (one warning), the same picture without per-pixel lighting.

Textures, buffers and the framebuffer are reused while the frame size holds; the triangle and
edge indices (and the normals' set-up) only change with the topology. Normals are computed in
numpy (:class:`frnet.render.shading.VertexNormals`), lit per pixel in the shaders.

The renderer either creates a headless context (EGL on Linux, the platform's default elsewhere) or
draws in one it is given (e.g. the GUI's ``QOpenGLWidget`` context: make it current before each
call). OpenGL contexts belong to one thread: create and use the renderer in the same thread.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import moderngl
import numpy as np

from ..errors import FrnetError
from ..resources import resource_path
from . import shading
from .base import MergedMesh, Renderer, check_frame, merge_faces
from .overlay import draw_overlays
from .types import FaceDrawing, OverlayOptions

log = logging.getLogger(__name__)

REQUIRED_GL_VERSION = 330
MESH_VERTEX_SHADER = "mesh.vert"
MESH_FRAGMENT_SHADERS = {
    "shaded": "mesh_shaded.frag",
    "depth": "mesh_depth.frag",
    "normals": "mesh_normals.frag",
    "wireframe": "wireframe.frag",
}
FRAME_SHADERS = ("frame.vert", "frame.frag")
_INITIAL_BUFFER_BYTES = 1 << 20
_FRAME_UNIT, _DEPTH_LUT_UNIT = 0, 1


class GLUnavailableError(FrnetError):
    """No usable OpenGL 3.3 context (no EGL/Mesa, too old a driver, or shaders that fail to build)."""


def create_headless_context() -> moderngl.Context:
    """A standalone OpenGL ≥ 3.3 context: EGL on Linux (no display needed), else the default backend.

    Raises:
        GLUnavailableError: no backend gave a context.
    """
    backends = ("egl", None) if sys.platform.startswith("linux") else (None,)
    failures = []
    for backend in backends:
        kwargs = {"require": REQUIRED_GL_VERSION} | ({"backend": backend} if backend else {})
        try:
            return moderngl.create_standalone_context(**kwargs)
        except Exception as exc:  # glcontext raises plain Exceptions with the driver's message
            failures.append(f"{backend or 'default'}: {exc}")
    raise GLUnavailableError(
        "cannot create a headless OpenGL 3.3 context (" + "; ".join(failures) + "); install Mesa's "
        "EGL and GL drivers (Debian/Ubuntu: libegl1 libgl1-mesa-dri) or use the CPU renderer"
    )


def max_frame_side(ctx: moderngl.Context) -> int:
    """The largest frame side a context can draw: the least of its texture, renderbuffer and
    viewport limits."""
    info = ctx.info
    viewport = info.get("GL_MAX_VIEWPORT_DIMS", (4096, 4096))
    return int(min(info.get("GL_MAX_TEXTURE_SIZE", 4096), info.get("GL_MAX_RENDERBUFFER_SIZE", 4096), *viewport))


def load_shader_source(name: str) -> str:
    """The text of a shipped GLSL file (found through :func:`frnet.resources.resource_path`).

    Raises:
        ResourceMissingError: the file is missing.
        GLUnavailableError: it cannot be read or is not UTF-8 text (a damaged installation or a
            wrong ``FRNET_SHADERS_DIR``), so ``create_renderer("auto")`` falls back to OpenCV.
    """
    path = resource_path("shaders", name)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        what = f"not UTF-8 text ({exc})" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or str(exc))
        raise GLUnavailableError(f"cannot read shader {path}: {what}; reinstall frnet or fix FRNET_SHADERS_DIR") from exc


class GLRenderer(Renderer):
    """Render faces with OpenGL 3.3.

    Args:
        ctx: an existing moderngl context to draw in (not released by :meth:`close`); ``None``
            creates a headless one (released by :meth:`close`).

    Raises:
        GLUnavailableError: no context, OpenGL older than 3.3, or the shaders do not build.
        ResourceMissingError: a shader file is missing from the installation.
    """

    name = "gl"

    def __init__(self, ctx: moderngl.Context | None = None) -> None:
        self._owns_context = ctx is None
        self._ctx = create_headless_context() if ctx is None else ctx
        self._closed = False
        self._objects: list = []
        try:
            if self._ctx.version_code < REQUIRED_GL_VERSION:
                raise GLUnavailableError(
                    f"OpenGL {self._ctx.version_code / 100:.1f} found, frnet's renderer needs 3.3; "
                    "update the graphics driver or use the CPU renderer"
                )
            self._build()
        except BaseException:
            self.close()
            raise

    @property
    def ctx(self) -> moderngl.Context:
        return self._ctx

    @property
    def gl_renderer_name(self) -> str:
        """The driver's GL_RENDERER string, e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``."""
        return str(self._ctx.info.get("GL_RENDERER", "unknown"))

    # -- set-up -----------------------------------------------------------------------------------
    def _keep(self, obj):
        self._objects.append(obj)
        return obj

    def _program(self, vertex_name: str, fragment_name: str) -> moderngl.Program:
        vertex_source, fragment_source = load_shader_source(vertex_name), load_shader_source(fragment_name)
        try:
            program = self._ctx.program(vertex_shader=vertex_source, fragment_shader=fragment_source)
        except Exception as exc:  # moderngl.Error with the compiler's log
            raise GLUnavailableError(
                f"shaders/{vertex_name} + shaders/{fragment_name} do not build on "
                f"{self.gl_renderer_name}: {exc}"
            ) from exc
        return self._keep(program)

    def _build(self) -> None:
        ctx = self._ctx
        self._programs = {
            kind: self._program(MESH_VERTEX_SHADER, fragment) for kind, fragment in MESH_FRAGMENT_SHADERS.items()
        }
        self._set_uniform_all("u_base_colour", tuple(float(c) for c in shading.BASE_COLOUR))
        self._set_uniform_all("u_light_direction", tuple(float(c) for c in shading.LIGHT_DIRECTION))
        self._set_uniform_all("u_ambient", shading.AMBIENT)
        self._set_uniform_all("u_diffuse", shading.DIFFUSE)
        self._set_uniform_all("u_specular", shading.SPECULAR)
        self._set_uniform_all("u_shininess", shading.SHININESS)
        self._set_uniform_all("u_depth_lut", _DEPTH_LUT_UNIT)
        self._set_uniform("wireframe", "u_colour", tuple(float(c) for c in shading.WIREFRAME_COLOUR))
        self._set_uniform("wireframe", "u_opacity", shading.WIREFRAME_OPACITY)
        self._frame_program = self._program(*FRAME_SHADERS)
        self._frame_program["u_frame"].value = _FRAME_UNIT
        self._frame_vertex_array = self._keep(ctx.vertex_array(self._frame_program, []))

        lut = shading.depth_lut()
        self._depth_lut = self._keep(ctx.texture((len(lut), 1), 3, lut.tobytes(), alignment=1))
        self._depth_lut.repeat_x = self._depth_lut.repeat_y = False

        def dynamic_buffer() -> moderngl.Buffer:
            return self._keep(ctx.buffer(reserve=_INITIAL_BUFFER_BYTES, dynamic=True))

        self._position_buffer, self._normal_buffer, self._depth01_buffer = (dynamic_buffer() for _ in range(3))
        self._triangle_buffer, self._edge_buffer = dynamic_buffer(), dynamic_buffer()
        self._vertex_arrays = {
            kind: self._keep(ctx.vertex_array(
                program,
                [(self._position_buffer, "3f", "in_position"),
                 (self._normal_buffer, "3f", "in_normal"),
                 (self._depth01_buffer, "1f", "in_depth01")],
                index_buffer=self._edge_buffer if kind == "wireframe" else self._triangle_buffer,
                index_element_size=4,
                skip_errors=True,  # the GLSL compiler drops attributes a fragment shader does not use
            ))
            for kind, program in self._programs.items()
        }
        self._normals: shading.VertexNormals | None = None
        self._edge_count = 0
        self._edges_valid = False
        self._size: tuple[int, int] | None = None
        self._frame_texture = self._colour_texture = self._depth_buffer = self._framebuffer = None
        self._max_size = max_frame_side(ctx)
        self._cpu_renderer = None  # for frames over the limit, made when first needed

    def _set_uniform(self, kind: str, name: str, value) -> None:
        program = self._programs[kind]
        if name in program:  # the GLSL compiler drops uniforms a shader does not use
            program[name].value = value

    def _set_uniform_all(self, name: str, value) -> None:
        for kind in self._programs:
            self._set_uniform(kind, name, value)

    @property
    def max_frame_side(self) -> int:
        """The widest or tallest frame (pixels) drawn with OpenGL; larger ones go to OpenCV."""
        return self._max_size

    def _render_on_cpu(self, frame: np.ndarray, faces: Sequence[FaceDrawing], options: OverlayOptions) -> np.ndarray:
        from .cpu import CPURenderer

        if self._cpu_renderer is None:
            height, width = frame.shape[:2]
            log.warning("a %dx%d frame is over the OpenGL limit of %d pixels a side on %s; drawing such "
                        "frames with the OpenCV renderer", width, height, self._max_size, self.gl_renderer_name)
            self._cpu_renderer = CPURenderer()
        return self._cpu_renderer.render(frame, faces, options)

    def _ensure_target(self, width: int, height: int) -> None:
        if self._size == (width, height):
            return
        for obj in (self._framebuffer, self._colour_texture, self._depth_buffer, self._frame_texture):
            if obj is not None:
                obj.release()
                self._objects.remove(obj)
        ctx = self._ctx
        self._frame_texture = self._keep(ctx.texture((width, height), 3, alignment=1))
        self._frame_texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._colour_texture = self._keep(ctx.texture((width, height), 4))
        self._depth_buffer = self._keep(ctx.depth_renderbuffer((width, height)))
        self._framebuffer = self._keep(
            ctx.framebuffer(color_attachments=[self._colour_texture], depth_attachment=self._depth_buffer)
        )
        self._size = (width, height)

    # -- per frame --------------------------------------------------------------------------------
    @staticmethod
    def _write(buffer: moderngl.Buffer, data: np.ndarray) -> None:
        if data.nbytes > buffer.size:
            buffer.orphan(max(data.nbytes, 2 * buffer.size))
        buffer.write(data)

    def _upload(self, mesh: MergedMesh, need_edges: bool) -> None:
        n = len(mesh.vertices)
        if self._normals is None or not self._normals.matches(mesh.triangles, n):
            self._normals = shading.VertexNormals(mesh.triangles, n)
            self._write(self._triangle_buffer, self._normals.triangles)
            self._edges_valid = False
        self._write(self._position_buffer, mesh.vertices)
        self._write(self._normal_buffer, self._normals(mesh.vertices))
        self._write(self._depth01_buffer, mesh.depth01)
        if need_edges and not self._edges_valid:
            edges = shading.mesh_edges(mesh.triangles)
            self._write(self._edge_buffer, edges)
            self._edge_count = edges.size
            self._edges_valid = True

    def render(
        self, frame_rgb: np.ndarray, faces: Sequence[FaceDrawing], options: OverlayOptions | None = None
    ) -> np.ndarray:
        if self._closed:
            raise RuntimeError("this GLRenderer is closed")
        options = options or OverlayOptions()
        frame = check_frame(frame_rgb)
        mesh = merge_faces(faces)
        draw_mesh = options.mesh and options.mesh_opacity > 0 and not mesh.empty
        draw_wireframe = options.wireframe and not mesh.empty
        if not (draw_mesh or draw_wireframe):
            return draw_overlays(frame.copy(), faces, options)
        height, width = frame.shape[:2]
        if max(width, height) > self._max_size:
            return self._render_on_cpu(frame, faces, options)
        self._ensure_target(width, height)
        self._upload(mesh, need_edges=draw_wireframe)
        self._frame_texture.write(np.ascontiguousarray(frame), alignment=1)
        out = np.empty((height, width, 3), dtype=np.uint8)
        # The scope binds our framebuffer and afterwards restores the caller's (e.g. the GUI's) and
        # its enable flags; it is made per frame because it remembers the framebuffer bound *now*.
        # Blend and depth functions are left as this renderer set them.
        scope = self._ctx.scope(self._framebuffer, enable_only=moderngl.NOTHING)
        try:
            with scope:
                self._framebuffer.viewport = (0, 0, width, height)
                self._framebuffer.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
                self._draw(mesh, options, draw_mesh, draw_wireframe, (width, height))
                self._framebuffer.read_into(out, components=3, alignment=1)
        finally:
            scope.release()
        return draw_overlays(out, faces, options)

    def _draw(
        self, mesh: MergedMesh, options: OverlayOptions, draw_mesh: bool, draw_wireframe: bool,
        size: tuple[int, int],
    ) -> None:
        ctx = self._ctx
        depth = mesh.vertices[:, 2]
        far, near = float(depth.min()), float(depth.max())
        margin = max(1.0, 0.01 * (near - far))
        far, near = far - margin, near + margin
        self._set_uniform_all("u_viewport_px", (float(size[0]), float(size[1])))
        self._set_uniform_all("u_depth_range", (far, near))
        self._set_uniform_all("u_depth_bias", 0.0)
        self._depth_lut.use(location=_DEPTH_LUT_UNIT)
        self._frame_texture.use(location=_FRAME_UNIT)

        ctx.enable_only(moderngl.DEPTH_TEST)
        ctx.depth_func = "<"
        surface = options.colouring if draw_mesh else "shaded"
        self._set_uniform(surface, "u_opacity", float(options.mesh_opacity) if draw_mesh else 0.0)
        self._vertex_arrays[surface].render(moderngl.TRIANGLES, vertices=mesh.triangles.size)

        ctx.enable_only(moderngl.DEPTH_TEST | moderngl.BLEND)
        ctx.blend_equation = moderngl.FUNC_ADD
        if draw_wireframe:
            ctx.depth_func = "<="
            ctx.blend_func = moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA  # premultiplied "over"
            # Lines and triangles interpolate depth differently: pull the lines ~1.5 px nearer.
            self._set_uniform("wireframe", "u_depth_bias", 2.0 * 1.5 / (near - far))
            self._vertex_arrays["wireframe"].render(moderngl.LINES, vertices=self._edge_count)

        ctx.enable_only(moderngl.BLEND)
        ctx.blend_func = moderngl.ONE_MINUS_DST_ALPHA, moderngl.ONE  # the frame goes *under*
        self._frame_vertex_array.render(moderngl.TRIANGLES, vertices=3)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if getattr(self, "_cpu_renderer", None) is not None:
            self._cpu_renderer.close()
        for obj in reversed(self._objects):
            try:
                obj.release()
            except Exception:  # the context may already be gone
                log.debug("releasing %r failed", obj, exc_info=True)
        self._objects.clear()
        if self._owns_context and getattr(self, "_ctx", None) is not None:
            self._ctx.release()


