"""StyTr² style transfer (issue 5): not built yet."""
