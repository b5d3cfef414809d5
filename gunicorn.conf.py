# Read by gunicorn from the working directory (`./run` and the README's production command).
# The access log (when enabled) never shows the tokens of /c/ and /u/ links.
logger_class = "campaigns.accesslog.GunicornLogger"


def post_worker_init(worker) -> None:
    """The app is loaded in this worker: freeze its heap for the garbage collector (runtime.settle_heap)."""
    from campaigns.runtime import settle_heap  # in the worker: the master stays light

    settle_heap()
