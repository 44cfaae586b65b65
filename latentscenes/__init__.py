"""latentscenes: learn thousands of 3D scenes as Tri-Planes in a 3D-aware latent space."""

__version__ = "0.1.0"
