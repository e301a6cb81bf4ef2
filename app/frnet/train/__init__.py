"""Training-side code for frnet: the Mobile-FRNet network, its losses and profiling tools.

This is the only package that imports torch. The runtime (``frnet`` outside ``frnet.train``) runs
the exported ONNX model through ONNX Runtime, so an end user never needs torch installed; keep
every ``import torch`` below this package and never import ``frnet.train`` from runtime modules.
"""
