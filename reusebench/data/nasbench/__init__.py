"""NAS-Bench-101 record reader: TFRecord framing, metrics protobuf, cell hashing, tables."""
