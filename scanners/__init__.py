"""Images, video and live cameras to traceability codes."""
