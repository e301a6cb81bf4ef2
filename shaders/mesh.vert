#version 330 core
// Image pixels (x right, y down, larger z nearer; integer coordinates at pixel centres) → clip space.
// Row 0 of the image maps to the bottom of the framebuffer, so glReadPixels returns the image top
// row first and the frame texture needs no flip either.

uniform vec2 u_viewport_px;    // (width, height)
uniform vec2 u_depth_range;    // (far z, near z) of everything drawn this frame
uniform float u_depth_bias;    // NDC units pulled towards the camera (wireframe over its mesh)

in vec3 in_position;
in vec3 in_normal;             // view space: x right, y up, z towards the camera
in float in_depth01;           // 0 farthest … 1 nearest, per face

out vec3 v_normal;
out float v_depth01;

void main() {
    vec2 ndc_xy = 2.0 * (in_position.xy + 0.5) / u_viewport_px - 1.0;
    float nearness = (in_position.z - u_depth_range.x) / (u_depth_range.y - u_depth_range.x);
    float ndc_z = 1.0 - 2.0 * nearness - u_depth_bias;
    gl_Position = vec4(ndc_xy, ndc_z, 1.0);
    v_normal = in_normal;
    v_depth01 = in_depth01;
}
