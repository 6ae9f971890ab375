"""Importing ray, or one error that says how to install it."""

from __future__ import annotations

from spanqa.errors import MissingExtraError

INSTALL_HINT = 'pip install "spanqa[ray]"'


def import_ray():
    """The ray module (with ray.data loaded); MissingExtraError naming the pip install without it."""
    try:
        import ray
        import ray.data  # Ray Data ships in the ray[data] extra
    except ImportError as error:
        raise MissingExtraError(f"--engine ray needs Ray Data, which is not installed: {INSTALL_HINT}") from error
    return ray
