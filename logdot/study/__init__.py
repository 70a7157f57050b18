"""The paper study: the digits data set, its CNN and training loop."""
