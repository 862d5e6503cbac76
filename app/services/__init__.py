"""What the web app does, as plain Python (tested without Gradio): one service per tab, each
keeping its results as job folders (app/jobs.py) and calling the model packages' one way in."""
