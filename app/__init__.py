"""The face of GenéLive Studio: the `studio` command line and the Gradio web app."""
