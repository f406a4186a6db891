"""Writers: the C's stdout lines, log file and .bst network file."""
