"""Size limits for input files: large enough for any real radiograph, small enough to stop bombs."""

# A large-detector radiograph is about 4300 x 3500 pixels (15 MP); leave room, stop bombs.
MAX_PIXELS = 40_000_000
MAX_SIDE = 12_000
MIN_SIDE = 64
MAX_FILE_BYTES = 300 * 1024 * 1024
