#version 330 core
// Normal colouring: RGB = n/2 + 1/2 in view space (x right, y up, z towards the camera).

uniform float u_opacity;

in vec3 v_normal;
in float v_depth01;
out vec4 f_colour;

void main() {
    vec3 n = normalize(v_normal);
    if (n.z < 0.0) n = -n;
    f_colour = vec4((n * 0.5 + 0.5) * u_opacity, u_opacity);  // premultiplied alpha
}
