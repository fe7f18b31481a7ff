"""The decision sidecar: a raw ASGI app over a hot-reloaded bundle, served by uvicorn."""

from tenet.server.app import Sidecar
from tenet.server.auth import Tokens
from tenet.server.reload import BundleWatcher
from tenet.server.runner import ServeOptions, serve

__all__ = ["BundleWatcher", "ServeOptions", "Sidecar", "Tokens", "serve"]
