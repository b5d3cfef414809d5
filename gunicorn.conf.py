# Read by gunicorn from the working directory (`./run` and the README's production command).
# The access log (when enabled) never shows the tokens of /c/ and /u/ links.
logger_class = "campaigns.accesslog.GunicornLogger"
