#version 330 core
// Depth colouring: a 256-entry colour map (frnet.render.shading.depth_lut) indexed by nearness.

uniform sampler2D u_depth_lut;  // 256 × 1 RGB
uniform float u_opacity;

in vec3 v_normal;
in float v_depth01;
out vec4 f_colour;

void main() {
    float u = (clamp(v_depth01, 0.0, 1.0) * 255.0 + 0.5) / 256.0;
    f_colour = vec4(texture(u_depth_lut, vec2(u, 0.5)).rgb * u_opacity, u_opacity);  // premultiplied
}
