"""The driver's Ray session: join or start a cluster once per process, and size work to it."""

from __future__ import annotations

import logging
from typing import Any

import ray

from mir_ref.config import ExecutionConfig
from mir_ref.errors import ConfigError, MirRefError
from mir_ref.experiment import Experiment

log = logging.getLogger(__name__)

# A worker killed mid-shard (preempted node, OOM kill, crash) is restarted and its shard rerun
# this many times before the run gives up; reruns skip what the store already holds.
RETRIES = 3


def connect(execution: ExecutionConfig) -> None:
    """Make sure this process is connected to Ray, as ``execution.address`` says.

    An existing connection (``ray.init`` called by the user, a notebook or a test) is used as
    it is; otherwise ``local`` starts a private instance on this machine, ``auto`` joins the
    cluster this machine is part of and ``ray://host:port`` connects through Ray Client. The
    connection lasts until the process exits, so the extraction and training stages share it.
    """
    if ray.is_initialized():
        return
    options: dict[str, Any] = {"logging_level": logging.WARNING}
    if execution.address == "local":  # a new instance even where RAY_ADDRESS is set
        options["include_dashboard"] = False
    try:
        ray.init(address=execution.address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ConfigError(
            f"execution.address: cannot reach a Ray cluster at '{execution.address}' ({error}); "
            f"start one with `ray start --head`, or use address: local"
        ) from None
    resources = ray.cluster_resources()
    log.info(
        "ray: %d node(s), %g CPUs, %g GPUs",
        len([node for node in ray.nodes() if node.get("Alive")]),
        resources.get("CPU", 0),
        resources.get("GPU", 0),
    )


def worker_count(execution: ExecutionConfig) -> int:
    """How many extraction workers to start: ``execution.workers``, else as many as the
    cluster's CPUs and GPUs hold at ``num_cpus_per_worker`` / ``num_gpus_per_model`` each."""
    resources = ray.cluster_resources()
    count = execution.workers or int(resources.get("CPU", 1) // execution.num_cpus_per_worker)
    if execution.num_gpus_per_model > 0:
        fit = int(resources.get("GPU", 0) // execution.num_gpus_per_model)
        if fit == 0:
            raise ConfigError(
                f"execution.num_gpus_per_model: {execution.num_gpus_per_model:g}, but the Ray "
                f"cluster has {resources.get('GPU', 0):g} GPUs; set it to 0 to run on CPUs"
            )
        count = min(count, fit)
    return max(1, count)


def share(experiment: Experiment) -> list[ray.ObjectRef]:
    """The experiment in the object store, boxed in a list so that Ray passes the reference
    and each worker process deserializes it once (:func:`shared`), not once per task."""
    return [ray.put(experiment)]


_SHARED: dict[str, Experiment] = {}


def shared(box: list[ray.ObjectRef]) -> Experiment:
    """The experiment :func:`share` put in the object store, cached in this worker process."""
    key = box[0].hex()
    if key not in _SHARED:
        _SHARED.clear()  # one experiment at a time; a worker outlives runs in a notebook
        _SHARED[key] = ray.get(box[0])
    return _SHARED[key]


def unwrap(error: ray.exceptions.RayError, where: str) -> MirRefError:
    """Our own error raised on a worker, as itself; anything else as a :class:`MirRefError`."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, MirRefError):
        return cause
    return MirRefError(f"{where} failed on the Ray cluster: {error}")
