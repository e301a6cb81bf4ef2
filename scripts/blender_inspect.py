"""Import a glTF file into Blender (``bpy`` from PyPI) headless and print what Blender made of it, as JSON.

    .venv-blender/bin/python scripts/blender_inspect.py FACE.glb [--fps 30]

Prints ``{"samples": [...], "objects": [...], "meshes": [{"name", "vertices", "shape_keys", "materials", "images"}],
"actions": [{"name", "frame_range", "fcurves"}], "scene_fps"}``. The scene's frame rate is set to
``--fps`` before the import, so keys at the video's timestamps land on the video's frame numbers.
Used by tests/test_animation.py; run it in an environment with ``bpy`` (see the Makefile's
``blender-env``).
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--sample-frames", default="", help="comma-separated frames at which to report the "
                        "first mesh's shape-key values and its object's location (Blender axes, z up)")
    args = parser.parse_args(argv)
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = max(1, round(args.fps))
    scene.render.fps_base = scene.render.fps / args.fps
    result = bpy.ops.import_scene.gltf(filepath=args.path)
    if "FINISHED" not in result:
        print(json.dumps({"error": f"import failed: {result}"}))
        return 1
    meshes = []
    for obj in bpy.data.objects:
        if obj.type != "MESH":
            continue
        mesh = obj.data
        keys = mesh.shape_keys.key_blocks if mesh.shape_keys else []
        meshes.append({"name": obj.name, "vertices": len(mesh.vertices), "polygons": len(mesh.polygons),
                       "shape_keys": [k.name for k in keys][1:],  # without the basis
                       "slider_range": [[k.slider_min, k.slider_max] for k in keys][1:],
                       "materials": [m.name for m in mesh.materials if m],
                       "uv_layers": [uv.name for uv in mesh.uv_layers]})
    actions = []
    for action in bpy.data.actions:
        actions.append({"name": action.name, "frame_range": list(action.frame_range),
                        "fcurves": len(getattr(action, "fcurves", []) or [])})
    samples = []
    mesh_objects = [o for o in bpy.data.objects if o.type == "MESH"]
    for frame in [int(f) for f in args.sample_frames.split(",") if f]:
        scene.frame_set(frame)
        obj = mesh_objects[0]
        keys = obj.data.shape_keys.key_blocks if obj.data.shape_keys else []
        samples.append({"frame": frame, "shape_key_values": [k.value for k in keys][1:],
                        "location": list(obj.location)})
    print(json.dumps({"samples": samples, "objects": [o.type for o in bpy.data.objects], "meshes": meshes, "actions": actions,
                      "images": [i.name for i in bpy.data.images], "scene_fps": scene.render.fps / scene.render.fps_base,
                      "cameras": [c.name for c in bpy.data.cameras]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
