"""Side-by-side benchmarks of edge-asr against offline peers (bench-peers, bench-scaling)."""
