"""Quizzes: the quiz bank, FSRS scheduling, grading, progress, groups and daily pushes."""
