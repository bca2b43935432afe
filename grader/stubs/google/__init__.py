"""`google` as a pkgutil-style namespace: google.colab from here, google.protobuf etc. from site."""
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
