"""Clean-image pools for training and for the embedded mini suite."""
