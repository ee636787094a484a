"""facefuse: a FaceFusion-style face swapper."""
