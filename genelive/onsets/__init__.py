"""Where notes go: the GenéLive! onset network and its baselines, their configs, running a model
folder on either backend, and the one peak picker that turns activations into onsets."""
