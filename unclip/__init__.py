"""unCLIP images from text (issue 6): not built yet."""
