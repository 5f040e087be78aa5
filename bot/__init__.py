"""Studybot: a study assistant for a course on distributed systems."""
