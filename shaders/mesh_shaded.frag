#version 330 core
// Lambert + Blinn-Phong, lit on both sides; the same formula as frnet.render.shading.shade().

uniform vec3 u_base_colour;
uniform vec3 u_light_direction;  // unit, view space
uniform float u_ambient;
uniform float u_diffuse;
uniform float u_specular;
uniform float u_shininess;
uniform float u_opacity;

in vec3 v_normal;
in float v_depth01;
out vec4 f_colour;

void main() {
    vec3 n = normalize(v_normal);
    if (n.z < 0.0) n = -n;
    vec3 half_vector = normalize(u_light_direction + vec3(0.0, 0.0, 1.0));
    float lambert = max(dot(n, u_light_direction), 0.0);
    float highlight = pow(max(dot(n, half_vector), 0.0), u_shininess);
    vec3 rgb = u_base_colour * (u_ambient + u_diffuse * lambert) + u_specular * highlight;
    f_colour = vec4(clamp(rgb, 0.0, 1.0) * u_opacity, u_opacity);  // premultiplied alpha
}
