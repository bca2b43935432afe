"""Grader stand-in for google.colab.files."""

UPLOAD_ERROR = ("file uploads don't work in the autograder; read the course data from the "
                "working directory (e.g. open('names.txt'))")


def upload(*args, **kwargs):
    raise RuntimeError(UPLOAD_ERROR)


def download(filename):
    pass
