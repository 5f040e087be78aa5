"""Local stand-ins for the platforms' APIs, for the bench and the tests."""
