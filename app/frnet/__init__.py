"""frnet: real-time face alignment and dense 3D face reconstruction with Mobile-FRNet."""

__version__ = "0.1.0"
