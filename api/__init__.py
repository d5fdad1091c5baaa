"""The FastAPI app, the command line and the web pages."""
