#version 330 core
// Mesh edges (GL_LINES over the unique edges), depth-tested against the mesh.

uniform vec3 u_colour;
uniform float u_opacity;

in vec3 v_normal;
in float v_depth01;
out vec4 f_colour;

void main() {
    f_colour = vec4(u_colour * u_opacity, u_opacity);  // premultiplied alpha
}
