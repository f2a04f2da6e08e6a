"""Data: data sets, downloads, the NAS-Bench-101 reader, ingest of outside logs, synthetic
curves. Files in, typed objects out; imports only core."""
