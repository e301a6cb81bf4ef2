#version 330 core
// One triangle that covers the viewport (no vertex buffer): the frame behind the mesh.

out vec2 v_uv;

void main() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));  // (0,0) (2,0) (0,2)
    v_uv = corner;  // texture row 0 (the image's top row) lands on framebuffer row 0, as in mesh.vert
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
