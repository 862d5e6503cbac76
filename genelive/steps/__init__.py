"""Which arrows each note row gets: row states, the step-selection LSTM, and its sampler under
playability rules."""
