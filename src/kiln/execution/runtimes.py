"""Images are runtimes: an image URI names what to run, not something to pull.

`sagemaker.image_uris.retrieve` returns ECR URIs such as
`763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310`. Kiln recognises the
repository name (any registry account or region) and runs the user's script in a Python environment
that has the framework, or Kiln's own implementation of a built-in algorithm.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from dataclasses import dataclass

# repository name -> (framework id, module to import, distribution for its version)
FRAMEWORKS: dict[str, tuple[str, str, str]] = {
    "pytorch-training": ("pytorch", "torch", "torch"),
    "pytorch-inference": ("pytorch", "torch", "torch"),
    "sagemaker-scikit-learn": ("sklearn", "sklearn", "scikit-learn"),
    "sagemaker-xgboost": ("xgboost", "xgboost", "xgboost"),
    "huggingface-pytorch-training": ("huggingface", "transformers", "transformers"),
    "huggingface-pytorch-inference": ("huggingface", "transformers", "transformers"),
    "tensorflow-training": ("tensorflow", "tensorflow", "tensorflow"),
    "tensorflow-inference": ("tensorflow", "tensorflow", "tensorflow"),
}
# Built-in algorithms Kiln implements: repository -> python module run as `python -m <module> train`.
ALGORITHMS: dict[str, str] = {"sagemaker-xgboost": "kiln.algorithms.xgboost"}

_IMAGE = re.compile(r"^(?:(?P<registry>[^/]+\.[^/]+)/)?(?P<repo>[^:@]+)(?::(?P<tag>[^@]+))?(?:@.*)?$")


class UnknownImage(Exception):
    """No runtime for this image; the job fails with this message."""


@dataclass(frozen=True, slots=True)
class Runtime:
    repo: str
    tag: str
    framework: str
    python: str
    algorithm_module: str | None  # set: run Kiln's built-in algorithm instead of a user script
    installed_version: str | None

    @property
    def requested_version(self) -> str:
        return self.tag.split("-", 1)[0] if self.tag else ""

    def version_note(self) -> str | None:
        """A log line when the framework that runs differs from the one requested."""
        req, have = self.requested_version, self.installed_version or ""
        if req and have and not have.startswith(req):
            return (f"Kiln: image {self.repo}:{self.tag} requests {self.framework} {req}; "
                    f"running {self.framework} {have} from {self.python}.")
        return None


def parse_image(image: str) -> tuple[str, str]:
    m = _IMAGE.match(image.strip())
    if not m:
        raise UnknownImage(f"Cannot parse image URI {image!r}.")
    repo = m.group("repo").rsplit("/", 1)[-1]
    return repo, m.group("tag") or "latest"


def _installed(module: str, dist: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def resolve(image: str, *, script_mode: bool, python: str | None = None) -> Runtime:
    """The runtime for `image`. `script_mode` is true when the job names an entry point
    (`sagemaker_program`) or a container entrypoint; built-in algorithm images run Kiln's algorithm
    otherwise."""
    repo, tag = parse_image(image)
    if repo not in FRAMEWORKS:
        known = ", ".join(sorted(FRAMEWORKS))
        raise UnknownImage(f"Kiln has no runtime for image {image} (repository {repo!r}). Known "
                           f"repositories: {known}.")
    framework, module, dist = FRAMEWORKS[repo]
    algorithm = None if script_mode else ALGORITHMS.get(repo)
    if not script_mode and algorithm is None:
        raise UnknownImage(f"Image {image} needs an entry point (sagemaker_program): Kiln runs "
                           f"{framework} images in script mode only.")
    version = _installed(module, dist)
    if version is None:
        hint = "pip install torch==2.13.0" if framework == "pytorch" else f"pip install {dist}"
        raise UnknownImage(f"The {framework} runtime for image {image} is not installed: Python module "
                           f"{module!r} is missing from {python or sys.executable} ({hint}).")
    return Runtime(repo, tag, framework, python or sys.executable, algorithm, version)
