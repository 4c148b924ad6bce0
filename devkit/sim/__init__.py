"""A simulated world for tests, demos and benchmarks: bank transaction lines, a calibrated
frontier teacher that labels them, and an OpenAI-compatible HTTP server in front of it."""
