"""DetectNet_v2 decoding and encoding, box matching, and golden detections."""
