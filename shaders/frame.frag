#version 330 core
// The frame, composited *under* what is already drawn (premultiplied colour, alpha = coverage):
// drawn with blend factors (ONE_MINUS_DST_ALPHA, ONE), so out = frame·(1 − α) + colour.

uniform sampler2D u_frame;

in vec2 v_uv;
out vec4 f_colour;

void main() {
    f_colour = vec4(texture(u_frame, v_uv).rgb, 1.0);
}
