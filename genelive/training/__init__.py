"""Training on a corpus of human charts: reading the corpus, features and targets, augmentation,
and the training loops of the onset and step models."""
