"""The mini NAS-Bench-101: sampled cells trained in PyTorch, written as NAS-Bench records."""
