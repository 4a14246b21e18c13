"""One module per pipeline stage; each has ``run(state) -> final metrics`` (see ``genkit.stages.pipeline``)."""
