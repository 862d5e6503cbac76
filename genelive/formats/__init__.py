"""Charts as the files games load (StepMania .sm/.ssc, osu!mania .osu, our JSON), written and read,
the song folder that holds them, and the previews beside it."""
