"""Training: Study A segmentation (PyTorch), Study B (TensorFlow/Keras) and the mini
NAS-Bench-101. The only layer that imports torch or TensorFlow; imports data and core."""
